package host

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// environObserver reads /proc/PID/environ of each plugin process as soon as
// it serves, while it runs.
type environObserver struct {
	mu      sync.Mutex
	environ map[string][]string
	errs    []error
	serving chan struct{}
	want    int
}

func (o *environObserver) RunStarted(RunView)                                     {}
func (o *environObserver) BatchDone(flowhcl.Address, flowhcl.Kind, time.Duration) {}
func (o *environObserver) RunEnded(*Summary)                                      {}
func (o *environObserver) ComponentChanged(ev ComponentEvent) {
	if ev.Type != EventServing {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	addr := ev.Address.String()
	if _, seen := o.environ[addr]; seen {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", ev.Pid))
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s: %w", addr, err))
		return
	}
	o.environ[addr] = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(o.environ) == o.want {
		close(o.serving)
	}
}

// TestPluginEnvironmentIsMinimal: a plugin process's environment holds no
// FLOWCTL_VAR_ value, no control-plane token and nothing its component did
// not list; what it lists is there.
func TestPluginEnvironmentIsMinimal(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("needs /proc to read a process's environment")
	}
	const secret = "tok-4f9c1e2b7a"
	t.Setenv("FLOWCTL_VAR_secret", secret)
	t.Setenv("FLOWCTL_TOKEN", "cp-token-83bd0e")
	t.Setenv("UNLISTED_SETTING", "must-not-pass")
	t.Setenv("PASSED_SETTING", "passed-through")
	t.Setenv("LC_TIME", "C")

	h, ui := testHost(t)
	path := filepath.Join(t.TempDir(), "p.hcl")
	src := `
variable "secret" {
  type      = string
  sensitive = true
}
source "generator" "ticks" {
  env = ["PASSED_SETTING", "NOT_SET_ANYWHERE"]
}
sink "discard" "null" {
  inputs = [source.ticks]
  env    = { API_TOKEN = var.secret, MODE = "strict" }
}`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, files, diags := h.Load(t.Context(), path, flowhcl.VarSources{Environ: os.Environ()})
	if diags.HasErrors() {
		t.Fatalf("load:\n%s", flowhcl.FormatDiagnostics(files, diags))
	}
	obs := &environObserver{environ: map[string][]string{}, serving: make(chan struct{}), want: 2}
	interrupt := make(chan struct{})
	go func() {
		select {
		case <-obs.serving:
		case <-time.After(30 * time.Second):
		}
		close(interrupt)
	}()
	if _, err := h.Apply(t.Context(), plan, ApplyOptions{StateDir: t.TempDir(), Interrupt: interrupt, Observers: []Observer{obs}}); err != nil {
		t.Fatalf("apply: %v\n%s", err, ui.String())
	}
	if len(obs.errs) > 0 {
		t.Fatal(obs.errs)
	}
	if len(obs.environ) != 2 {
		t.Fatalf("read the environment of %d plugins, want 2", len(obs.environ))
	}
	lookup := func(env []string, name string) (string, bool) {
		for _, kv := range env {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return v, true
			}
		}
		return "", false
	}
	for addr, env := range obs.environ {
		for _, kv := range env {
			name, _, _ := strings.Cut(kv, "=")
			switch {
			case strings.HasPrefix(name, "FLOWCTL_VAR_"):
				t.Errorf("%s: %s in the plugin's environment", addr, name)
			case strings.Contains(kv, "cp-token-83bd0e") || kv != "FLOWCTL_TOKEN=" && name == "FLOWCTL_TOKEN":
				// The host sets FLOWCTL_TOKEN only to a plugin's own
				// credential (ApplyOptions.PluginEnv, none here).
				t.Errorf("%s: a control-plane token in the plugin's environment (%s)", addr, name)
			case name == "UNLISTED_SETTING" || name == "NOT_SET_ANYWHERE":
				t.Errorf("%s: %s in the plugin's environment, but its component does not list it (or it is unset)", addr, name)
			}
		}
		if _, ok := lookup(env, "PATH"); !ok {
			t.Errorf("%s: no PATH", addr)
		}
		if v, _ := lookup(env, "LC_TIME"); v != "C" {
			t.Errorf("%s: LC_TIME = %q, want the locale inherited", addr, v)
		}
	}
	src0, sink := obs.environ["source.ticks"], obs.environ["sink.null"]
	if v, _ := lookup(src0, "PASSED_SETTING"); v != "passed-through" {
		t.Errorf("source: PASSED_SETTING = %q, want it passed through", v)
	}
	if _, ok := lookup(sink, "PASSED_SETTING"); ok {
		t.Error("sink: PASSED_SETTING present, but only the source lists it")
	}
	if v, _ := lookup(sink, "API_TOKEN"); v != secret {
		t.Errorf("sink: API_TOKEN = %q, want the sensitive variable's value it lists", v)
	}
	if v, _ := lookup(sink, "MODE"); v != "strict" {
		t.Errorf("sink: MODE = %q, want strict", v)
	}
	for _, kv := range src0 {
		if strings.Contains(kv, secret) {
			t.Errorf("source: the sensitive value reached it (%s)", strings.SplitN(kv, "=", 2)[0])
		}
	}
	if bytes.Contains(ui.Bytes(), []byte(secret)) {
		t.Error("the sensitive value was shown")
	}
}
