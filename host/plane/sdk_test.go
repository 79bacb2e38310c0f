package plane

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowctl/flowctl/host/router"
	"github.com/flowctl/flowctl/plugins/file"
	"github.com/flowctl/flowctl/plugins/generator"
	"github.com/flowctl/flowctl/plugins/transform"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// The built-in plugins' own code, served by pluginsdk as a plugin process
// serves it (the go-plugin process around it aside), runs a pipeline on
// protocol 2: generator → transform → file, plugin to plugin.
func TestSDKPluginsStreamToEachOther(t *testing.T) {
	const total = 20000
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type comp struct {
		name, component string
		kind            router.Kind
		plugin          pluginsdk.Plugin
		config          map[string]any
		inputs          []string
	}
	comps := []comp{
		{"source.ticks", "generator", router.KindSource, generator.Plugin("test"), map[string]any{"count": total}, nil},
		{"processor.tag", "transform", router.KindProcessor, transform.Plugin("test"), map[string]any{"set": map[string]string{"env": "dev"}}, []string{"source.ticks"}},
		{"sink.out", "file", router.KindSink, file.Plugin("test"), map[string]any{"path": out}, []string{"processor.tag"}},
	}
	socks := map[string]string{}
	var nodes []Node
	for _, c := range comps {
		sock := filepath.Join(dir, c.component+".sock")
		socks[c.name] = sock
		lis, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		stop := sdktest.Register(srv, c.plugin)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(func() { stop(context.Background()); srv.Stop() })
		cc, err := grpc.NewClient("unix:"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		cfg, _ := json.Marshal(c.config)
		resp, err := flowctlv1.NewPluginClient(cc).Configure(ctx, &flowctlv1.ConfigureRequest{Kind: c.kind.Proto(), Component: c.component, Address: c.name, ConfigJson: cfg})
		if err != nil || len(resp.GetDiagnostics()) > 0 {
			t.Fatalf("configure %s: %v %v", c.name, err, resp.GetDiagnostics())
		}
		conn, err := flowctlv1.NewNodeClient(cc).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, Node{Name: c.name, Kind: c.kind, Inputs: c.inputs, Conn: conn})
	}
	cp := map[string]uint64{}
	co, err := New(nodes, Options{
		Peer: func(_, to string) *flowctlv1.Peer { return &flowctlv1.Peer{Address: "unix:" + socks[to]} },
		Checkpoint: func(source string, _ []byte, events uint64) error {
			cp[source] += events
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := co.Run(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			ID         string            `json:"id"`
			Attributes map[string]string `json:"attributes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Attributes["env"] != "dev" || ids[e.ID] {
			t.Fatalf("event %s: attributes %v, seen before %v", e.ID, e.Attributes, ids[e.ID])
		}
		ids[e.ID] = true
	}
	if len(ids) != total || cp["source.ticks"] != total {
		t.Fatalf("%d events in the file, %d checkpointed; want %d", len(ids), cp["source.ticks"], total)
	}
	st := co.Stats()
	if st[0].EventsOut != total || st[1].EventsIn != total || st[2].EventsAcked != total {
		t.Fatalf("stats %+v", st)
	}
}
