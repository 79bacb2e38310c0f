package catalog

import (
	"errors"
	"slices"
	"testing"

	"github.com/hashicorp/go-version"
)

func TestSelect(t *testing.T) {
	roots, _ := scanTree(t)
	all, _ := Scan(roots)
	tests := []struct {
		name       string
		addr       Address
		constraint string
		platform   Platform
		want       string // "version rootN"
	}{
		{"any version: highest, prerelease included", upper, "", linuxAMD, "1.10.0-beta.1 root0"},
		{"constraint excludes prereleases", upper, ">= 1.0", linuxAMD, "1.1.0 root0"},
		{"pessimistic", upper, "~> 1.0.0", linuxAMD, "1.0.0 root0"},
		{"other platform", upper, "", linuxARM, "1.1.0 root0"},
		{"only in the later root", upper, "", darwinARM, "2.0.0 root2"},
		{"other host", Address{"example.com", "acme", "kafka"}, "0.3.0", linuxAMD, "0.3.0 root0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Select(all, roots, tc.addr, constraints(t, tc.constraint), tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			if got := in.Version.String() + " root" + string(rune('0'+slices.Index(roots, in.Root))); got != tc.want {
				t.Errorf("selected %s, want %s", got, tc.want)
			}
		})
	}

	t.Run("earliest root wins, whatever the order of all", func(t *testing.T) {
		rev := slices.Clone(all)
		slices.Reverse(rev)
		in, err := Select(rev, roots, upper, constraints(t, "= 1.1.0"), linuxAMD)
		if err != nil {
			t.Fatal(err)
		}
		if in.Root != roots[0] {
			t.Errorf("selected the binary in %s, want %s", in.Root, roots[0])
		}
	})
}

func constraints(t *testing.T, s string) version.Constraints {
	t.Helper()
	if s == "" {
		return nil
	}
	c, err := version.NewConstraint(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNoVersionError(t *testing.T) {
	root := t.TempDir()
	installFake(t, root, upper, "1.0.0", linuxAMD, script)
	installFake(t, root, upper, "1.1.0", linuxAMD, script)
	installFake(t, root, upper, "1.1.0", linuxARM, script)
	other := t.TempDir()
	installFake(t, other, upper, "1.1.0", linuxARM, script) // listed once
	roots := []string{"/a", root, other}
	all, _ := Scan(roots)
	tests := []struct {
		name       string
		addr       Address
		constraint string
		platform   Platform
		want       string
	}{
		{"constraint", upper, "~> 2.0", linuxAMD,
			`no installed version of plugins.flowctl.dev/acme/upper matches "~> 2.0" for linux_amd64; installed: 1.0.0 (linux_amd64), 1.1.0 (linux_amd64, linux_arm64)`},
		{"two constraints", upper, ">= 1.0, < 1.1", linuxARM,
			`no installed version of plugins.flowctl.dev/acme/upper matches ">= 1.0, < 1.1" for linux_arm64; installed: 1.0.0 (linux_amd64), 1.1.0 (linux_amd64, linux_arm64)`},
		{"platform", upper, "", darwinARM,
			`no installed version of plugins.flowctl.dev/acme/upper is installed for darwin_arm64; installed: 1.0.0 (linux_amd64), 1.1.0 (linux_amd64, linux_arm64)`},
		{"not installed", Address{DefaultHostname, "acme", "lower"}, "~> 1.0", linuxAMD,
			`plugins.flowctl.dev/acme/lower is not installed in any plugin directory (searched: /a, ` + root + `, ` + other + `)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Select(all, roots, tc.addr, constraints(t, tc.constraint), tc.platform)
			var nv *NoVersionError
			if !errors.As(err, &nv) {
				t.Fatalf("error %v is not a *NoVersionError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			if !slices.Equal(nv.Roots, roots) || nv.Address != tc.addr || nv.Platform != tc.platform {
				t.Errorf("fields: %+v", nv)
			}
		})
	}
	empty := &NoVersionError{Address: upper}
	if got, want := empty.Error(), "plugins.flowctl.dev/acme/upper is not installed in any plugin directory (the search path is empty)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
