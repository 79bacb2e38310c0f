package hcl

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParallelismParses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.hcl")
	src := `
source "generator" "s" {}
processor "transform" "t" {
  inputs       = [source.s]
  parallelism  = 3
  partition_by = "key"
}
sink "stdout" "out" {
  inputs      = [processor.t]
  parallelism = 2
}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := ParseFile(path)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want := map[string]Parallelism{"source.s": {Instances: 1}, "processor.t": {Instances: 3, ByKey: true}, "sink.out": {Instances: 2}}
	for _, c := range cfg.Components {
		got := c.Parallelism
		got.Range = want[c.Address.String()].Range
		if got != want[c.Address.String()] {
			t.Errorf("%s: %+v, want %+v", c.Address, c.Parallelism, want[c.Address.String()])
		}
	}
}
