package hcl

import (
	"maps"
	"slices"
	"testing"
)

// TestParseDriver reads driver blocks: the pipeline's default, a
// component's own replacing it whole, and every option of both remote
// drivers.
func TestParseDriver(t *testing.T) {
	cfg, diags := ParseFile("testdata/driver.hcl")
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%s", FormatDiagnostics(cfg.Files, diags))
	}
	ticks := cfg.Component(Address{Kind: KindSource, Name: "ticks"}).Driver
	if ticks.Name != DriverProcess || ticks.Image != "" {
		t.Errorf("source.ticks driver = %+v, want its own process block", ticks)
	}
	tag := cfg.Component(Address{Kind: KindProcessor, Name: "tag"}).Driver
	if tag != cfg.Pipeline.Driver {
		t.Errorf("processor.tag driver = %+v, want the pipeline's", tag)
	}
	want := Driver{Name: DriverDocker, Image: "flowctl:test", Network: "flowctl-test", CPU: 0.5, Memory: 256 << 20}
	if tag.Name != want.Name || tag.Image != want.Image || tag.Network != want.Network || tag.CPU != want.CPU || tag.Memory != want.Memory {
		t.Errorf("docker driver = %+v, want %+v", tag, want)
	}
	if !slices.Equal(tag.Mounts, []string{"./out:/out", "/etc/hosts:/etc/hosts:ro"}) || !maps.Equal(tag.Env, map[string]string{"MODE": "test"}) {
		t.Errorf("docker mounts %q env %v", tag.Mounts, tag.Env)
	}
	out := cfg.Component(Address{Kind: KindSink, Name: "out"}).Driver
	if out.Name != DriverKubernetes || out.Namespace != "flowctl" || out.Image != "flowctl-plugin/stdout:1" || out.PullPolicy != "Never" ||
		out.ServiceAccount != "runner" || out.Kubeconfig != "/tmp/kubeconfig" ||
		!maps.Equal(out.Resources, map[string]string{"cpu": "250m", "memory": "64Mi"}) || !maps.Equal(out.Labels, map[string]string{"team": "data"}) {
		t.Errorf("kubernetes driver = %+v", out)
	}
	if got := out.DeclRange.String(); got != "testdata/driver.hcl:22,3-22" {
		t.Errorf("DeclRange = %s", got)
	}
}

// TestDefaultDriver: without driver blocks every component runs as a
// local process.
func TestDefaultDriver(t *testing.T) {
	cfg, diags := ParseFile("testdata/hello.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, c := range cfg.Components {
		if c.Driver == nil || c.Driver.Name != DriverProcess {
			t.Errorf("%s driver = %v, want process", c.Address, c.Driver)
		}
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"256MiB", 256 << 20, false},
		{"512m", 512 << 20, false},
		{"2g", 2 << 30, false},
		{"1.5GiB", 3 << 29, false},
		{"8388608", 8 << 20, false},
		{"1k", 0, true},
		{"-1m", 0, true},
		{"lots", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMemory(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
