package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateGolden runs `flowctl validate` on each testdata/validate/*.hcl
// (and each subdirectory, a pipeline of several files) and compares what
// the user sees (exit code, stdout, stderr) with the .golden file beside it.
// A NAME.args file adds command-line arguments, one per line; a NAME.env
// file adds environment variables, one NAME=VALUE per line.
func TestValidateGolden(t *testing.T) {
	dir := filepath.Join("testdata", "validate")
	files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no validate cases: %v", err)
	}
	dirs, err := filepath.Glob(filepath.Join(dir, "*", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			files = append(files, d)
		}
	}
	for _, f := range files {
		name := filepath.Base(f)
		base := strings.TrimSuffix(f, ".hcl")
		if strings.HasSuffix(name, ".vars.hcl") {
			continue // a -var-file of another case
		}
		t.Run(strings.TrimSuffix(name, ".hcl"), func(t *testing.T) {
			args := append([]string{"validate"}, fixtureLines(t, base+".args")...)
			r := flowctlEnv(t, dir, fixtureLines(t, base+".env"), append(args, name)...)
			got := fmt.Sprintf("exit code: %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
			golden := base + ".golden"
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

// fixtureLines reads the non-empty lines of path; none when it is absent.
func fixtureLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
