package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateGolden runs `flowctl validate` on each testdata/validate/*.hcl
// and compares what the user sees (exit code, stdout, stderr) with the
// .golden file beside it.
func TestValidateGolden(t *testing.T) {
	dir := filepath.Join("testdata", "validate")
	files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no validate cases: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".hcl"), func(t *testing.T) {
			r := flowctl(t, dir, "validate", name)
			got := fmt.Sprintf("exit code: %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
			golden := strings.TrimSuffix(f, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("validate %s:\n%s\nwant:\n%s", name, got, want)
			}
		})
	}
}
