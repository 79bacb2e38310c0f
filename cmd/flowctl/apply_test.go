package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// line is what the file sink writes per event.
type line struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Time       string            `json:"time"`
	Attributes map[string]string `json:"attributes"`
	Data       json.RawMessage   `json:"data"`
}

func readLines(t *testing.T, path string) []line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s:%d: %v", path, len(out)+1, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%08d", prefix, i))
	}
	return out
}

func idsOf(lines []line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.ID
	}
	return out
}

func sameSeq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %q, want %q", what, i, got[i], want[i])
		}
	}
}

// filterPrefix keeps the ids with prefix, in order.
func filterPrefix(all []string, prefix string) []string {
	var out []string
	for _, id := range all {
		if strings.HasPrefix(id, prefix) {
			out = append(out, id)
		}
	}
	return out
}

func TestApplyTopologies(t *testing.T) {
	tests := []struct {
		name     string
		pipeline string
		check    func(t *testing.T, dir string)
	}{
		{
			name: "linear",
			pipeline: `
source "generator" "ticks" {
  count = 2500
  batch {
    size = 100
  }
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { env = "test" }
  type   = "tagged"
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "out.jsonl"
}`,
			check: func(t *testing.T, dir string) {
				lines := readLines(t, filepath.Join(dir, "out.jsonl"))
				sameSeq(t, "out", idsOf(lines), ids("", 1, 2500))
				for _, l := range lines {
					if l.Attributes["env"] != "test" || l.Type != "tagged" {
						t.Fatalf("event %s not transformed: %+v", l.ID, l)
					}
				}
			},
		},
		{
			name: "fan-out",
			pipeline: `
source "generator" "ticks" {
  count = 1200
}
sink "file" "a" {
  inputs = [source.ticks]
  path   = "a.jsonl"
}
sink "file" "b" {
  inputs = [source.ticks]
  path   = "b.jsonl"
}`,
			check: func(t *testing.T, dir string) {
				sameSeq(t, "sink a", idsOf(readLines(t, filepath.Join(dir, "a.jsonl"))), ids("", 1, 1200))
				sameSeq(t, "sink b", idsOf(readLines(t, filepath.Join(dir, "b.jsonl"))), ids("", 1, 1200))
			},
		},
		{
			name: "fan-in",
			pipeline: `
source "generator" "a" {
  count     = 700
  id_prefix = "a-"
}
source "generator" "b" {
  count     = 900
  id_prefix = "b-"
}
sink "file" "out" {
  inputs = [source.a, source.b]
  path   = "out.jsonl"
}`,
			check: func(t *testing.T, dir string) {
				all := idsOf(readLines(t, filepath.Join(dir, "out.jsonl")))
				if len(all) != 1600 {
					t.Fatalf("sink got %d events, want 700+900", len(all))
				}
				// Per-edge FIFO: each source's events arrive in order.
				sameSeq(t, "from source.a", filterPrefix(all, "a-"), ids("a-", 1, 700))
				sameSeq(t, "from source.b", filterPrefix(all, "b-"), ids("b-", 1, 900))
			},
		},
		{
			name: "diamond",
			pipeline: `
source "generator" "ticks" {
  count = 800
}
processor "transform" "left" {
  inputs = [source.ticks]
  set    = { branch = "left" }
}
processor "transform" "right" {
  inputs = [source.ticks]
  set    = { branch = "right" }
}
sink "file" "out" {
  inputs = [processor.left, processor.right]
  path   = "out.jsonl"
}`,
			check: func(t *testing.T, dir string) {
				lines := readLines(t, filepath.Join(dir, "out.jsonl"))
				var left, right []string
				for _, l := range lines {
					switch l.Attributes["branch"] {
					case "left":
						left = append(left, l.ID)
					case "right":
						right = append(right, l.ID)
					default:
						t.Fatalf("event %s came through no branch: %+v", l.ID, l.Attributes)
					}
				}
				sameSeq(t, "left branch", left, ids("", 1, 800))
				sameSeq(t, "right branch", right, ids("", 1, 800))
			},
		},
		{
			name: "processor drops events",
			pipeline: `
source "generator" "ticks" {
  count = 300
}
processor "transform" "drop" {
  inputs  = [source.ticks]
  drop_if = "id == \"00000007\""
}
processor "transform" "drop_more" {
  inputs  = [processor.drop]
  drop_if = "attributes.seq == \"250\""
}
sink "file" "out" {
  inputs = [processor.drop_more]
  path   = "out.jsonl"
}`,
			check: func(t *testing.T, dir string) {
				want := append(ids("", 1, 6), ids("", 8, 249)...)
				want = append(want, ids("", 251, 300)...)
				sameSeq(t, "out", idsOf(readLines(t, filepath.Join(dir, "out.jsonl"))), want)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "pipeline.hcl"), tt.pipeline)
			r := flowctl(t, dir, "apply", "pipeline.hcl")
			if r.code != 0 {
				t.Fatalf("apply exited %d\nstderr:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "completed in") {
				t.Errorf("no summary in output:\n%s", r.stderr)
			}
			tt.check(t, dir)
		})
	}
}

// TestApplySummary checks the counts a user reads in the summary.
func TestApplySummary(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), `
pipeline "counted" {}
source "generator" "ticks" {
  count = 500
}
processor "transform" "drop" {
  inputs  = [source.ticks]
  drop_if = "id == \"00000001\""
}
sink "discard" "null" {
  inputs = [processor.drop]
}`)
	r := flowctl(t, dir, "apply", "p.hcl")
	if r.code != 0 {
		t.Fatalf("apply exited %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		`Pipeline "counted" completed in`,
		"source.ticks", "processor.drop", "sink.null",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
	rows := summaryRows(r.stderr)
	check := func(addr string, in, out, acked string) {
		t.Helper()
		row, ok := rows[addr]
		if !ok {
			t.Fatalf("no summary row for %s:\n%s", addr, r.stderr)
		}
		if row[0] != in || row[1] != out || row[2] != acked {
			t.Errorf("%s: in/out/acked = %v, want %s/%s/%s", addr, row, in, out, acked)
		}
	}
	check("source.ticks", "-", "500", "500")
	check("processor.drop", "500", "499", "-")
	check("sink.null", "499", "-", "499")
}

// summaryRows maps each component row of the summary table to its IN, OUT,
// ACKED, FAILED, RETRIED, DEAD-LETTERED and RESTARTS columns.
func summaryRows(out string) map[string][]string {
	rows := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 11 || !strings.Contains(f[0], ".") {
			continue
		}
		// COMPONENT PLUGIN VERSION [(built-in)] DRIVER IN OUT ACKED FAILED RETRIED DEAD-LETTERED RESTARTS
		rows[f[0]] = f[len(f)-7:]
	}
	return rows
}
