package catalog

import (
	"context"
	"debug/elf"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
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
