package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRemove(t *testing.T) {
	kafka := Address{Hostname: "example.com", Namespace: "acme", Name: "kafka"}
	setup := func(t *testing.T) string {
		root := t.TempDir()
		installFake(t, root, upper, "1.0.0", linuxAMD, script)
		installFake(t, root, upper, "1.1.0", linuxAMD, script)
		installFake(t, root, upper, "1.1.0", linuxARM, script)
		installFake(t, root, kafka, "0.3.0", linuxAMD, script)
		return root
	}
	versions := func(in []Installed) []string {
		var out []string
		for _, i := range in {
			out = append(out, fmt.Sprintf("%s %s %s", i.Address.Name, i.Version, i.Platform))
		}
		return out
	}

	t.Run("one version, all its platforms", func(t *testing.T) {
		root := setup(t)
		removed, err := Remove(root, upper, "v1.1") // any spelling of 1.1.0
		if err != nil {
			t.Fatal(err)
		}
		if got, want := versions(removed), []string{"upper 1.1.0 linux_amd64", "upper 1.1.0 linux_arm64"}; !slices.Equal(got, want) {
			t.Errorf("removed %v, want %v", got, want)
		}
		found, problems := Scan([]string{root})
		if got, want := versions(found), []string{"kafka 0.3.0 linux_amd64", "upper 1.0.0 linux_amd64"}; !slices.Equal(got, want) || len(problems) != 0 {
			t.Errorf("left %v (%v), want %v", got, problems, want)
		}
	})

	t.Run("every version, pruning up to the root", func(t *testing.T) {
		root := setup(t)
		removed, err := Remove(root, upper, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(removed) != 3 {
			t.Errorf("removed %v", versions(removed))
		}
		if _, err := os.Stat(filepath.Join(root, DefaultHostname)); !os.IsNotExist(err) {
			t.Errorf("empty hostname directory left: %v", err)
		}
		if _, err := Remove(root, kafka, "0.3.0"); err != nil {
			t.Fatal(err)
		}
		if entries, err := os.ReadDir(root); err != nil || len(entries) != 0 {
			t.Errorf("root holds %v (%v), want it empty and still there", entries, err)
		}
	})

	t.Run("not installed", func(t *testing.T) {
		root := setup(t)
		for _, tc := range []struct {
			addr    Address
			version string
			want    string
		}{
			{upper, "2.0.0", "plugins.flowctl.dev/acme/upper 2.0.0 is not installed in " + root},
			{Address{DefaultHostname, "acme", "lower"}, "", "plugins.flowctl.dev/acme/lower is not installed in " + root},
			{upper, "newest", `invalid version "newest" for plugins.flowctl.dev/acme/upper: want a semantic version like 1.2.0: malformed version: newest`},
		} {
			if _, err := Remove(root, tc.addr, tc.version); err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		}
		if found, _ := Scan([]string{root}); len(found) != 4 {
			t.Errorf("a failed remove changed the root: %v", versions(found))
		}
	})
}
