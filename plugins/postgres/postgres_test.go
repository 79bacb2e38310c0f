package postgres

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flowctl/flowctl/plugins/internal/testserver"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

const version = "0.0.0-test"

func events(from, to int) []pluginsdk.Event {
	var out []pluginsdk.Event
	for i := from; i <= to; i++ {
		out = append(out, pluginsdk.Event{
			ID: fmt.Sprintf("e%04d", i), Type: "order", Time: time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC),
			Attributes: []pluginsdk.Attribute{{Key: "n", Value: fmt.Sprint(i)}}, ContentType: "application/json",
			Data: fmt.Appendf(nil, `{"seq":%d}`, i),
		})
	}
	return out
}

// TestConformance runs the checks that need no server: the schema and
// configuration errors at attribute paths.
func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Plugin(version))
}

func TestAccConformance(t *testing.T) {
	testserver.Acc(t, "a PostgreSQL server (apt-get install postgresql)")
	pg := testserver.StartPostgres(t)
	sdktest.Conformance(t, Plugin(version), sdktest.Case{
		Name: "sink", Kind: sdktest.KindSink, Component: "postgres",
		Config: map[string]any{"connection": pg.URL("flowctl"), "table": "conformance"},
		Input:  events(1, 10),
	})
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]any
		path   string
		want   string
	}{
		{"bad table", map[string]any{"connection": "postgres://u@h/db", "table": "a.b.c"}, "table", `"a.b.c" is not a table name`},
		{"quoted table", map[string]any{"connection": "postgres://u@h/db", "table": `"x"`}, "table", "is not a table name"},
		{"bad connection", map[string]any{"connection": "postgres://u:secret@h:notaport/db", "table": "t"}, "connection", "cannot parse the connection string"},
		{"bad timeout", map[string]any{"connection": "postgres://u@h/db", "table": "t", "connect_timeout": "0s"}, "connect_timeout", "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.New(t, Plugin(version))
			diags, err := h.Configure(t.Context(), sdktest.KindSink, "postgres", tt.config)
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 || strings.Join(diags[0].GetAttributePath(), ".") != tt.path {
				t.Fatalf("diagnostics %v, want one at %s", diags, tt.path)
			}
			if d := diags[0].GetDetail(); !strings.Contains(d, tt.want) || strings.Contains(d, "secret") {
				t.Errorf("detail %q: want it to contain %q and never the password", d, tt.want)
			}
		})
	}
}

func write(t *testing.T, config map[string]any, batches ...[]pluginsdk.Event) []string {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "postgres", config)
	acks, err := h.Write(t.Context(), batches...)
	if err != nil {
		t.Fatal(err)
	}
	var nacks []string
	for _, a := range acks {
		if !a.GetOk() {
			nacks = append(nacks, a.GetError())
		}
	}
	return nacks
}

func TestAccSinkUpsertsOneRowPerEvent(t *testing.T) {
	testserver.Acc(t, "a PostgreSQL server (apt-get install postgresql)")
	pg := testserver.StartPostgres(t)
	cfg := map[string]any{"connection": pg.URL("flowctl"), "table": "public.orders"}
	// 1..100, then 51..150 again (a redelivery overlapping the first), and
	// a batch holding the same id twice: the last one wins.
	dup := events(7, 7)
	dup[0].Attributes = []pluginsdk.Attribute{{Key: "n", Value: "second"}}
	if nacks := write(t, cfg, events(1, 100), events(51, 150), append(events(7, 7), dup...)); len(nacks) > 0 {
		t.Fatalf("nacked: %v", nacks)
	}
	conn := pg.Connect(t)
	var rows, distinct int
	var minID, maxID string
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT id), min(id), max(id) FROM orders`).Scan(&rows, &distinct, &minID, &maxID); err != nil {
		t.Fatal(err)
	}
	if rows != 150 || distinct != 150 || minID != "e0001" || maxID != "e0150" {
		t.Fatalf("%d rows (%d distinct ids) from %s to %s, want 150 rows e0001..e0150", rows, distinct, minID, maxID)
	}
	var typ, n, ct string
	var seq int
	var at time.Time
	var data []byte
	err := conn.QueryRow(t.Context(), `SELECT type, attributes->>'n', content_type, (data_json->>'seq')::int, time, data FROM orders WHERE id = 'e0007'`).
		Scan(&typ, &n, &ct, &seq, &at, &data)
	if err != nil {
		t.Fatal(err)
	}
	if typ != "order" || n != "second" || ct != "application/json" || seq != 7 || !at.Equal(time.Date(2025, 1, 1, 0, 0, 7, 0, time.UTC)) || data != nil {
		t.Errorf("row e0007: type %q n %q content type %q seq %d time %v data %q", typ, n, ct, seq, at, data)
	}
}

func TestAccSinkStoresEveryKindOfPayload(t *testing.T) {
	testserver.Acc(t, "a PostgreSQL server (apt-get install postgresql)")
	pg := testserver.StartPostgres(t)
	cfg := map[string]any{"connection": pg.URL("flowctl"), "table": "mixed"}
	batch := []pluginsdk.Event{
		{ID: "text", Type: "t", ContentType: "text/plain", Data: []byte("hello"), Key: []byte{0, 1}},
		{ID: "binary", Type: "t", ContentType: "application/json", Data: []byte{0xff, 0x00}}, // claims JSON, is not
		{ID: "empty", Type: "t"},
	}
	if nacks := write(t, cfg, batch); len(nacks) > 0 {
		t.Fatalf("nacked: %v", nacks)
	}
	conn := pg.Connect(t)
	for _, e := range batch {
		var data, key []byte
		var hasJSON bool
		if err := conn.QueryRow(t.Context(), `SELECT data, key, data_json IS NOT NULL FROM mixed WHERE id = $1`, e.ID).Scan(&data, &key, &hasJSON); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		if string(data) != string(e.Data) || string(key) != string(e.Key) || hasJSON {
			t.Errorf("%s: data %q key %q json %v, want data %q key %q in bytea", e.ID, data, key, hasJSON, e.Data, e.Key)
		}
	}
}

func TestAccSinkErrors(t *testing.T) {
	testserver.Acc(t, "a PostgreSQL server (apt-get install postgresql)")
	pg := testserver.StartPostgres(t)
	conn := pg.Connect(t)
	if _, err := conn.Exec(t.Context(), `CREATE TABLE narrow (id text PRIMARY KEY, type text)`); err != nil {
		t.Fatal(err)
	}
	t.Run("missing table without create_table", func(t *testing.T) {
		h := sdktest.New(t, Plugin(version))
		h.MustConfigure(t, sdktest.KindSink, "postgres", map[string]any{"connection": pg.URL("flowctl"), "table": "absent", "create_table": false})
		_, err := h.Write(t.Context(), events(1, 1))
		if err == nil || !strings.Contains(err.Error(), `table "absent" does not exist (set create_table = true`) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("table lacks columns", func(t *testing.T) {
		h := sdktest.New(t, Plugin(version))
		h.MustConfigure(t, sdktest.KindSink, "postgres", map[string]any{"connection": pg.URL("flowctl"), "table": "narrow"})
		_, err := h.Write(t.Context(), events(1, 1))
		if err == nil || !strings.Contains(err.Error(), `table "narrow" lacks the columns time, key, attributes, content_type, data_json, data`) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		h := sdktest.New(t, Plugin(version))
		url := strings.Replace(pg.URL("flowctl"), pg.Password, "wrong", 1)
		h.MustConfigure(t, sdktest.KindSink, "postgres", map[string]any{"connection": url, "table": "t"})
		_, err := h.Write(t.Context(), events(1, 1))
		if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("event without id is nacked", func(t *testing.T) {
		nacks := write(t, map[string]any{"connection": pg.URL("flowctl"), "table": "t"}, []pluginsdk.Event{{Type: "x"}})
		if len(nacks) != 1 || !strings.Contains(nacks[0], "event 1 of the batch has no id") {
			t.Fatalf("nacks %v", nacks)
		}
	})
}

// A batch that fails because the connection was lost is nacked; the next
// one reconnects.
func TestAccSinkReconnects(t *testing.T) {
	testserver.Acc(t, "a PostgreSQL server (apt-get install postgresql)")
	pg := testserver.StartPostgres(t)
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "postgres", map[string]any{"connection": pg.URL("flowctl"), "table": "re"})
	stream, err := h.Sink.Stream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	send := func(seq uint64, evs []pluginsdk.Event) *flowctlv1.SinkAck {
		t.Helper()
		req := &flowctlv1.SinkRequest{Seq: seq, Batch: &flowctlv1.Batch{Count: uint32(len(evs)), Events: sdktest.AppendEvents(nil, evs)}}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		ack, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	if ack := send(1, events(1, 10)); !ack.GetOk() {
		t.Fatalf("first batch: %v", ack)
	}
	conn := pg.Connect(t)
	var killed int
	if err := conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'flowctl sink.test'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d sink connections: %v", killed, err)
	}
	if ack := send(2, events(11, 20)); ack.GetOk() || !strings.Contains(ack.GetError(), "write 10 events") {
		t.Fatalf("batch on a terminated connection: %v", ack)
	}
	if ack := send(3, events(11, 20)); !ack.GetOk() {
		t.Fatalf("batch after the reconnect: %v", ack)
	}
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM re`).Scan(&n); err != nil || n != 20 {
		t.Fatalf("%d rows, want 20: %v", n, err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream end: %v", err)
	}
}
