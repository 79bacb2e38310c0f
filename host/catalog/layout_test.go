package catalog

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestBinaryPath(t *testing.T) {
	got := BinaryPath("/r", upper, "1.2.0", linuxARM)
	want := filepath.FromSlash("/r/plugins.flowctl.dev/acme/upper/1.2.0/linux_arm64/flowctl-plugin-upper_v1.2.0")
	if got != want {
		t.Errorf("BinaryPath = %s, want %s", got, want)
	}
	if got := BinaryName("upper", "1.2.0"); got != "flowctl-plugin-upper_v1.2.0" {
		t.Errorf("BinaryName = %s", got)
	}
}

func TestDefaultSearchPath(t *testing.T) {
	sep := string(filepath.ListSeparator)
	tests := []struct {
		name string
		dirs []string
		env  map[string]string
		want []string
	}{
		{
			name: "everything",
			dirs: []string{"/flag1", "/flag2"},
			env:  map[string]string{"FLOWCTL_PLUGIN_PATH": "/env1" + sep + sep + "/env2", "XDG_DATA_HOME": "/xdg", "HOME": "/home/u"},
			want: []string{"/flag1", "/flag2", "/env1", "/env2", "/work/.flowctl/plugins", "/xdg/flowctl/plugins", "/usr/local/share/flowctl/plugins"},
		},
		{
			name: "HOME when no XDG_DATA_HOME",
			env:  map[string]string{"HOME": "/home/u"},
			want: []string{"/work/.flowctl/plugins", "/home/u/.local/share/flowctl/plugins", "/usr/local/share/flowctl/plugins"},
		},
		{
			name: "neither XDG_DATA_HOME nor HOME",
			want: []string{"/work/.flowctl/plugins", "/usr/local/share/flowctl/plugins"},
		},
		{
			name: "duplicates keep the first",
			dirs: []string{"/usr/local/share/flowctl/plugins/", "/a"},
			env:  map[string]string{"FLOWCTL_PLUGIN_PATH": "/a" + sep + "/work/.flowctl/plugins" + sep + "/b"},
			want: []string{"/usr/local/share/flowctl/plugins/", "/a", "/work/.flowctl/plugins", "/b"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DefaultSearchPath(tc.dirs, func(k string) string { return tc.env[k] }, "/work")
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = filepath.FromSlash(w)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}
