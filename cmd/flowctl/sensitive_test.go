package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// closedPort returns a loopback port nothing listens on: connections to it
// are refused at once.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func sensitivePipeline(port int, onError string) string {
	dlq := ""
	if strings.Contains(onError, "dead_letter") {
		dlq = "\nsink \"file\" \"dlq\" {\n  path = \"dead.jsonl\"\n}\n"
	}
	return fmt.Sprintf(`variable "token" {
  type      = string
  sensitive = true
}

source "generator" "ticks" {
  count = 1000000
  rate  = 50
}

sink "http" "hook" {
  inputs      = [source.ticks]
  url         = "http://127.0.0.1:%d/hook?token=${var.token}"
  max_retries = 0
  %s
}
%s`, port, onError, dlq)
}

// TestSensitiveValueNeverShown interpolates a sensitive variable into the
// URL of an http sink that cannot reach its server, so the sink's errors
// quote the URL. The value must appear nowhere flowctl writes: stdout,
// stderr (the log at debug level, progress, the summary, the final error),
// `status -o json`, `list -o json`, /metrics, the dead-letter attributes,
// the state files; and the state files are private.
func TestSensitiveValueNeverShown(t *testing.T) {
	const secret = "tok5ecret71c9a3e0"
	port := closedPort(t)
	dir := t.TempDir()
	env := []string{"FLOWCTL_VAR_token=" + secret}
	seen := map[string]string{} // where → what was written there

	// First run: failed batches go to a dead-letter file while the run is
	// watched.
	writeFile(t, filepath.Join(dir, "p.hcl"), sensitivePipeline(port, `on_error    = "dead_letter"
  dead_letter = sink.dlq`))
	p := startFlowctlCP(t, dir, env, "apply", "--log-level", "debug", "--control-plane-port", "0", "--metrics-address", "127.0.0.1:0", "p.hcl")
	ep := p.waitFor(controlPlaneRE)
	base := p.waitFor(`Metrics: (http://127\.0\.0\.1:\d+)/metrics`)
	p.waitFor(`sent to the dead-letter sink`)
	for _, args := range [][]string{
		{"status", "--endpoint", ep, "-o", "json"},
		{"status", "--endpoint", ep, "-o", "json", "sink.hook"},
		{"list", "--all", "--endpoint", ep, "-o", "json"},
	} {
		r := flowctl(t, ".", args...)
		if r.code != 0 {
			t.Fatalf("flowctl %v: exit %d: %s", args, r.code, r.stderr)
		}
		seen[strings.Join(args, " ")] = r.stdout + r.stderr
	}
	resp, err := http.Get(base + "/metrics") //nolint:noctx // a test against loopback
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	seen["/metrics"] = string(body)
	if code := p.interrupt(); code != exitInterrupted {
		t.Fatalf("interrupted apply exited %d:\n%s", code, p.stderr.String())
	}
	seen["dead-letter apply stdout"], seen["dead-letter apply stderr"] = p.stdout.String(), p.stderr.String()
	dead, err := os.ReadFile(filepath.Join(dir, "dead.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var first struct {
		Attributes map[string]string `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(string(dead), "\n", 2)[0]), &first); err != nil {
		t.Fatalf("dead.jsonl: %v\n%.600s", err, dead)
	}
	deadErr := strings.ReplaceAll(first.Attributes["flowctl.error"], fmt.Sprint(port), "$PORT")

	// Second run: the failure stops the pipeline; its error is printed and
	// stored in the control plane's state.
	writeFile(t, filepath.Join(dir, "p.hcl"), sensitivePipeline(port, `on_error = "fail"`))
	r := flowctlEnv(t, dir, env, "apply", "--log-level", "debug", "p.hcl")
	if r.code != 1 {
		t.Fatalf("apply exited %d, want 1:\n%s", r.code, r.stderr)
	}
	seen["failing apply stdout"], seen["failing apply stderr"] = r.stdout, r.stderr
	for _, cmd := range []string{"validate", "plan"} {
		r := flowctlEnv(t, dir, env, cmd, "p.hcl")
		seen[cmd] = r.stdout + r.stderr
	}

	// What the user sees of the failure, as a golden file.
	var errLines []string
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "Error: ") || strings.Contains(line, "[WARN]") {
			line = regexp.MustCompile(`^\S+ \[WARN\]`).ReplaceAllString(line, "[WARN]")
			line = regexp.MustCompile(` timestamp=\S+`).ReplaceAllString(line, "")
			errLines = append(errLines, strings.ReplaceAll(line, fmt.Sprint(port), "$PORT"))
		}
	}
	golden := "dead-lettered event's flowctl.error: " + deadErr + "\n" + strings.Join(errLines, "\n") + "\n"
	checkGoldenFile(t, filepath.Join("testdata", "sensitive", "failing_sink.golden"), golden)

	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() && strings.Contains(path, ".flowctl") {
				if fi, _ := d.Info(); fi != nil && fi.Mode().Perm() != 0o700 {
					t.Errorf("%s: mode %v, want 0700", path, fi.Mode().Perm())
				}
			}
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		seen[rel] = string(b)
		if strings.HasSuffix(path, ".db") {
			if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", rel, fi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".flowctl/state/p/state.db", ".flowctl/state/p/controlplane.db"} {
		if _, ok := seen[f]; !ok {
			t.Errorf("%s was not written", f)
		}
	}
	for where, text := range seen {
		if strings.Contains(text, secret) {
			i := strings.Index(text, secret)
			t.Errorf("%s shows the sensitive value: …%s…", where, text[max(0, i-120):min(len(text), i+40)])
		}
	}
	if !strings.Contains(seen["failing apply stderr"], "(sensitive value)") {
		t.Errorf("the failing run does not say that a sensitive value was hidden:\n%s", seen["failing apply stderr"])
	}
}
