package host

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/drivers/process"
	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/catalog"
	"github.com/flowctl/flowctl/plugins/discard"
	"github.com/flowctl/flowctl/plugins/generator"
	"github.com/flowctl/flowctl/plugins/transform"
	"github.com/flowctl/flowctl/pluginsdk"
)

// The test binary doubles as the plugin binary: re-executed with
// `__plugin NAME` it serves that plugin, so plugins are real processes.
const pluginArg = "__plugin"

func testPlugins() []pluginsdk.Plugin {
	return []pluginsdk.Plugin{generator.Plugin("0.0.1"), transform.Plugin("0.0.1"), discard.Plugin("0.0.1")}
}

func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == pluginArg {
		for _, p := range testPlugins() {
			if p.Name == os.Args[2] {
				os.Args = append([]string{os.Args[0]}, os.Args[3:]...)
				pluginsdk.Serve(p)
			}
		}
		os.Exit(3)
	}
	goleak.VerifyTestMain(m)
}

func testHost(t *testing.T) (*Host, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range testPlugins() {
		names = append(names, p.Name)
	}
	var ui bytes.Buffer
	return &Host{
		Log: hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: os.Stderr}),
		Catalog: catalog.New(catalog.Options{
			Executable: exe, Builtins: names, Version: "0.0.1",
			BuiltinArgs: func(name string) []string { return []string{pluginArg, name} },
		}),
		Drivers: map[string]drivers.Driver{process.Name: process.Driver{}},
		UI:      &ui,
	}, &ui
}

func load(t *testing.T, h *Host, src string, vars map[string]string) *Plan {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, files, diags := h.Load(t.Context(), path, flowhcl.VarSources{Flags: vars})
	if diags.HasErrors() {
		t.Fatalf("load:\n%s", flowhcl.FormatDiagnostics(files, diags))
	}
	return plan
}

func TestApplyCountsEveryEvent(t *testing.T) {
	h, ui := testHost(t)
	plan := load(t, h, `
variable "n" {
  type = number
}
source "generator" "ticks" {
  count = var.n
}
processor "transform" "drop" {
  inputs  = [source.ticks]
  drop_if = "id == \"00000002\""
}
sink "discard" "a" {
  inputs = [processor.drop]
}
sink "discard" "b" {
  inputs = [source.ticks]
}`, map[string]string{"n": "3000"})

	sum, err := h.Apply(t.Context(), plan, ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, ui.String())
	}
	got := map[string][3]uint64{}
	for _, c := range sum.Components {
		got[c.Address.String()] = [3]uint64{c.EventsIn, c.EventsOut, c.EventsAcked}
		if c.Pid == 0 || c.Pid == os.Getpid() {
			t.Errorf("%s ran in pid %d, want its own process", c.Address, c.Pid)
		}
	}
	want := map[string][3]uint64{
		"source.ticks":   {0, 3000, 3000},
		"processor.drop": {3000, 2999, 0},
		"sink.a":         {2999, 0, 2999},
		"sink.b":         {3000, 0, 3000},
	}
	for addr, w := range want {
		if got[addr] != w {
			t.Errorf("%s in/out/acked = %v, want %v", addr, got[addr], w)
		}
	}
	pids := map[int]bool{}
	for _, c := range sum.Components {
		pids[c.Pid] = true
	}
	if len(pids) != 4 {
		t.Errorf("4 components ran in %d processes", len(pids))
	}
}

func TestApplyReportsPluginConfigErrorsAtTheirAttribute(t *testing.T) {
	h, _ := testHost(t)
	plan := load(t, h, `
source "generator" "ticks" {
  count        = 10
  payload_size = 3
}
sink "discard" "null" {
  inputs = [source.ticks]
}`, nil)
	_, err := h.Apply(t.Context(), plan, ApplyOptions{})
	cerr, ok := err.(*ConfigError)
	if !ok {
		t.Fatalf("apply: %v, want a ConfigError", err)
	}
	text := flowhcl.FormatDiagnostics(plan.Config.Files, cerr.Diagnostics)
	for _, want := range []string{"p.hcl:4:18", "payload_size = 3", "source.ticks"} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnostic lacks %q:\n%s", want, text)
		}
	}
}

const endless = `
source "generator" "ticks" {}
sink "discard" "null" {
  inputs = [source.ticks]
}`

func TestApplyDrainsOnInterrupt(t *testing.T) {
	h, _ := testHost(t)
	plan := load(t, h, endless, nil)
	interrupt := make(chan struct{})
	time.AfterFunc(300*time.Millisecond, func() { close(interrupt) })
	sum, err := h.Apply(t.Context(), plan, ApplyOptions{Interrupt: interrupt})
	if err != nil {
		t.Fatalf("drained apply: %v", err)
	}
	if !sum.Interrupted {
		t.Error("summary does not say interrupted")
	}
	src, sink := sum.Components[0], sum.Components[1]
	if src.EventsAcked != sink.EventsAcked || src.EventsOut < src.EventsAcked {
		t.Errorf("after drain: source out %d acked %d, sink acked %d; want every acked source event written",
			src.EventsOut, src.EventsAcked, sink.EventsAcked)
	}
}

func TestApplyStopsAtOnceOnCancel(t *testing.T) {
	h, _ := testHost(t)
	plan := load(t, h, endless, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Apply(ctx, plan, ApplyOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("apply: %v, want the context's error", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("apply took %v to stop after cancel", d)
	}
}

// TestApplyRefusesBinaryChangedSinceItWasChecked: a plugin's SHA-256 from
// the lock file goes to go-plugin, which checks the binary again right
// before it starts it. Here the pinned checksum is not the binary's, as if
// the file was swapped between `flowctl validate` and the start.
func TestApplyRefusesBinaryChangedSinceItWasChecked(t *testing.T) {
	h, _ := testHost(t)
	plan := load(t, h, `
source "generator" "ticks" {
  count = 10
}
sink "discard" "null" {
  inputs = [source.ticks]
}`, nil)
	for _, c := range plan.Components {
		p := *c.Plugin
		p.Checksum = make([]byte, 32) // the SHA-256 of some other file
		c.Plugin = &p
	}
	_, err := h.Apply(t.Context(), plan, ApplyOptions{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "changed after flowctl checked it against the lock file") {
		t.Fatalf("apply: %v, want the binary refused", err)
	}
}

// Local plugins listen on unix sockets in a directory of the run's own,
// which nobody else may enter and which is gone afterwards; with PluginTLS
// the connections are encrypted as well. Both carry every event.
func TestApplyPluginSockets(t *testing.T) {
	r := &run{}
	cleanup, err := r.makeSocketDir()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(r.socketDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory %s: %v, mode %v, want 0700", r.socketDir, err, fi.Mode().Perm())
	}
	cleanup()
	if _, err := os.Stat(r.socketDir); !os.IsNotExist(err) {
		t.Fatalf("socket directory left behind: %v", err)
	}

	for _, tls := range []bool{false, true} {
		h, ui := testHost(t)
		plan := load(t, h, `
source "generator" "ticks" {
  count = 500
}
sink "discard" "null" {
  inputs = [source.ticks]
}`, nil)
		sum, err := h.Apply(t.Context(), plan, ApplyOptions{StateDir: t.TempDir(), PluginTLS: tls})
		if err != nil {
			t.Fatalf("tls=%v: %v\n%s", tls, err, ui.String())
		}
		for _, c := range sum.Components {
			if c.Address.String() == "sink.null" && c.EventsAcked != 500 {
				t.Errorf("tls=%v: sink acked %d events, want 500", tls, c.EventsAcked)
			}
		}
	}
}
