package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pythonPluginPrereqs says what the Python example plugin needs that the
// machine lacks; empty when it has everything.
func pythonPluginPrereqs() []string {
	var missing []string
	for bin, pkg := range map[string]string{"protoc": "protobuf-compiler", "grpc_python_plugin": "protobuf-compiler-grpc"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian: %s)", bin, pkg))
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import grpc, google.protobuf").Run(); err != nil {
		missing = append(missing, "grpcio and protobuf for /usr/bin/python3 (Debian: python3-grpcio python3-protobuf)")
	}
	return missing
}

// TestAccPythonPlugin runs examples/python-plugin as its README tells it:
// build the Python plugin (stubs generated from proto/flowctl/v1), install
// and lock it, and apply generator → pyenrich → file, over a plain unix
// socket and again with go-plugin's automatic mutual TLS. Every event must
// arrive, once, transformed by the Python code. A pipeline whose events the
// plugin cannot process must fail with the plugin's per-event error.
func TestAccPythonPlugin(t *testing.T) {
	requireAcc(t, "Python 3 with grpcio and protobuf, protoc and grpc_python_plugin from Debian")
	if missing := pythonPluginPrereqs(); len(missing) > 0 {
		t.Skipf("the Python plugin example needs %s (.ci/run installs them)", strings.Join(missing, ", "))
	}
	example, err := filepath.Abs(filepath.Join("..", "..", "examples", "python-plugin"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "flowctl-plugin-pyenrich")
	build := exec.CommandContext(t.Context(), filepath.Join(example, "build.sh"), bin)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}

	w := newWorkspace(t)
	copyFile(t, filepath.Join(example, "pipeline.hcl"), filepath.Join(w.dir, "pipeline.hcl"), 0o644)
	mustRun := func(args ...string) result {
		t.Helper()
		r := w.run(t, args...)
		if r.code != 0 {
			t.Fatalf("flowctl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	mustRun("plugins", "install", "example.com/acme/pyenrich", bin)
	mustRun("plugins", "lock")
	mustRun("validate")
	lock, err := os.ReadFile(filepath.Join(w.dir, ".flowctl.lock.hcl"))
	if err != nil || !strings.Contains(string(lock), "example.com/acme/pyenrich") || !strings.Contains(string(lock), "h1:") {
		t.Fatalf("lock file does not pin the plugin (%v):\n%s", err, lock)
	}

	const n = 500
	out := filepath.Join(w.dir, "out.jsonl")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unix socket", nil},
		{"automatic mutual TLS", []string{"--plugin-tls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(out)
			r := mustRun(append([]string{"apply", "--reset", "--var", fmt.Sprintf("count=%d", n)}, tc.args...)...)
			rows, want := summaryRows(r.stderr), fmt.Sprint(n)
			if p := rows["processor.enrich"]; len(p) < 4 || p[0] != want || p[1] != want || p[3] != "0" {
				t.Errorf("Python processor's summary row (in, out, acked, failed ...) = %v, want %d in and out, 0 failed:\n%s", p, n, r.stderr)
			}
			if s := rows["sink.out"]; len(s) < 3 || s[2] != want {
				t.Errorf("sink's summary row (in, out, acked ...) = %v, want %d acked:\n%s", s, n, r.stderr)
			}
			checkEnriched(t, readLines(t, out), n)
		})
	}

	t.Run("per-event errors", func(t *testing.T) {
		// Without payload the events carry no JSON, which pyenrich
		// reports per event; on_error defaults to fail.
		src, err := os.ReadFile(filepath.Join(example, "pipeline.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		pipeline := strings.Replace(string(src), "count = var.count", "count = var.count\n  payload_size = 0", 1)
		writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), pipeline)
		r := w.run(t, "apply", "--reset", "--var", "count=20")
		if r.code == 0 {
			t.Fatalf("apply succeeded although the plugin failed every event:\n%s", r.stdout)
		}
		for _, want := range []string{"processor.enrich", "event 00000001: data is not JSON"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("error does not name %q:\n%s", want, r.stderr)
			}
		}
	})
}

// checkEnriched checks that lines hold each generator event 1..n once, with
// the field and attribute the Python plugin adds and the generator's own
// data and attributes kept.
func checkEnriched(t *testing.T, lines []line, n int) {
	t.Helper()
	if len(lines) != n {
		t.Fatalf("%d events written, want %d", len(lines), n)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var data struct {
			Seq        int    `json:"seq"`
			EnrichedBy string `json:"enriched_by"`
		}
		if err := json.Unmarshal(l.Data, &data); err != nil {
			t.Fatalf("event %s: data is not a JSON object: %v: %s", l.ID, err, l.Data)
		}
		if data.EnrichedBy != "python" || l.Attributes["language"] != "python" {
			t.Fatalf("event %s not transformed by the Python plugin: %+v %s", l.ID, l.Attributes, l.Data)
		}
		if want := fmt.Sprintf("%08d", data.Seq); l.ID != want || l.Attributes["seq"] != fmt.Sprint(data.Seq) {
			t.Fatalf("event %s lost the generator's data or attributes: %+v %s", l.ID, l.Attributes, l.Data)
		}
		if seen[l.ID] {
			t.Fatalf("event %s written twice", l.ID)
		}
		seen[l.ID] = true
	}
	for i := 1; i <= n; i++ {
		if !seen[fmt.Sprintf("%08d", i)] {
			t.Fatalf("event %08d missing", i)
		}
	}
}
