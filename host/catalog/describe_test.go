package catalog

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestDescribe(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses shell scripts and ELF headers as plugins")
	}
	dir := t.TempDir()
	c := New(Options{DescribeTimeout: 300 * time.Millisecond})
	plugin := func(name, content string, mode uint32) *Plugin {
		return &Plugin{Name: "upper", Path: writeFileT(t, filepath.Join(dir, name), content, fileMode(mode))}
	}

	t.Run("schema", func(t *testing.T) {
		p := plugin("ok", "#!/bin/sh\necho '{\"name\":\"upper\",\"version\":\"1.0.0\",\"protocolVersions\":[1]}'\n", 0o755)
		s, err := c.Describe(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.GetName() != "upper" || s.GetVersion() != "1.0.0" || len(s.GetProtocolVersions()) != 1 {
			t.Errorf("schema = %v", s)
		}
	})

	foreign := elf.EM_SPARCV9 // no test machine runs it
	tests := []struct {
		name, content string
		mode          uint32
		want          string
	}{
		{"noexec", script, 0o644, "describe: {path} is not executable (mode -rw-r--r--): run chmod +x on it, or reinstall the plugin"},
		{"foreign", elf64(t, foreign), 0o755, "describe: {path} is built for linux/EM_SPARCV9, not " + CurrentPlatform().String() + ": install the " + CurrentPlatform().String() + " build of the plugin"},
		{"garbage", "\x00\x01\x02\x03", 0o755, "describe: {path} is not a program this machine can run (exec format error): install the " + CurrentPlatform().String() + " build of the plugin"},
		{"slow", "#!/bin/sh\nexec sleep 10\n", 0o755, "describe: no answer within 300ms"},
		{"fails", "#!/bin/sh\necho boom >&2\nexit 3\n", 0o755, "describe: exit status 3\n  boom"},
		{"not a plugin", "#!/bin/sh\necho hello\n", 0o755, "describe printed no valid schema (is it a flowctl plugin?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := plugin(tc.name, tc.content, tc.mode)
			start := time.Now()
			_, err := c.Describe(t.Context(), p)
			if err == nil {
				t.Fatal("describe succeeded")
			}
			want := "plugin upper (" + p.Path + "): " + strings.ReplaceAll(tc.want, "{path}", p.Path)
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got  %s\nwant %s", err, want)
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("describe took %v", time.Since(start))
			}
		})
	}

	t.Run("timeout matches DeadlineExceeded", func(t *testing.T) {
		_, err := c.Describe(t.Context(), plugin("slow2", "#!/bin/sh\nexec sleep 10\n", 0o755))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded in its chain", err)
		}
	})
}

// TestDescribeWithoutRunning: a built-in is described from its compiled
// schema, and an installed binary once per hash: describing must not start
// a process per plugin on every command (issue 17).
func TestDescribeWithoutRunning(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses a shell script as the plugin")
	}
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	script := "#!/bin/sh\necho run >> " + runs + "\necho '{\"name\":\"upper\",\"version\":\"1.0.0\",\"protocolVersions\":[1]}'\n"
	bin := writeFileT(t, filepath.Join(dir, "flowctl-plugin-upper_v1.0.0"), script, 0o755)
	h1, _, err := Hash(bin)
	if err != nil {
		t.Fatal(err)
	}
	builtin := &flowctlv1.GetSchemaResponse{Name: "gen", Version: "0.1.0", ValidateOnly: true}
	c := New(Options{
		Executable: filepath.Join(dir, "no-such-flowctl"), Builtins: []string{"gen"}, Version: "0.1.0",
		BuiltinArgs:    func(name string) []string { return []string{"__plugin", name} },
		BuiltinSchemas: map[string]*flowctlv1.GetSchemaResponse{"gen": builtin},
		CacheDir:       filepath.Join(dir, "cache"),
	})
	ran := func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run\n")
	}

	p, err := c.Lookup("gen")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Describe(t.Context(), p)
	if err != nil || !proto.Equal(s, builtin) {
		t.Fatalf("built-in described as %v, %v; want its compiled schema (its executable does not exist)", s, err)
	}

	installed := &Plugin{Name: "upper", Path: bin, Hash: h1}
	for i := range 3 {
		s, err := c.Describe(t.Context(), installed)
		if err != nil || s.GetName() != "upper" || s.GetVersion() != "1.0.0" {
			t.Fatalf("describe %d: %v, %v", i+1, s, err)
		}
	}
	if n := ran(); n != 1 {
		t.Errorf("the binary ran %d times for three describes of one hash, want 1", n)
	}
	if _, err := c.Describe(t.Context(), &Plugin{Name: "upper", Path: bin}); err != nil || ran() != 2 {
		t.Errorf("without a hash the binary must run: %v, %d runs", err, ran())
	}
	other := &Plugin{Name: "upper", Path: bin, Hash: "h1:" + strings.Repeat("A", 43) + "="}
	if _, err := c.Describe(t.Context(), other); err != nil || ran() != 3 {
		t.Errorf("another hash must run the binary again: %v, %d runs", err, ran())
	}
}
