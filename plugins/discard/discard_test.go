package discard

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
)

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Plugin("0.0.0-test"),
		sdktest.Case{Name: "discard", Kind: pluginsdk.KindSink, Component: "discard",
			Input: []pluginsdk.Event{{ID: "a", Data: []byte("x")}, {ID: "b"}}},
	)
}

func TestAcksEverythingAndLogsTheTotal(t *testing.T) {
	h := sdktest.New(t, Plugin("0.0.0-test"))
	h.MustConfigure(t, pluginsdk.KindSink, "discard", nil)
	acks, err := h.Write(t.Context(), make([]pluginsdk.Event, 3), make([]pluginsdk.Event, 1000))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range acks {
		if !a.GetOk() {
			t.Errorf("batch %d nacked: %s", i+1, a.GetError())
		}
	}

	// The log line is what a user sees; check it on a sink built directly.
	var logs bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	s, err := newSink(pluginsdk.Init{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, n := range []int{3, 1000} {
		if err := s.Write(ctx, make([]pluginsdk.Event, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[INFO]", "discarded events", "events=1003", "batches=2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("teardown log %q does not contain %q", logs.String(), want)
		}
	}
}
