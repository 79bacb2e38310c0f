package catalog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// scanTree builds two roots with several versions, two platforms, a
// duplicate across roots, and junk the scan must report or skip.
func scanTree(t *testing.T) (roots []string, junk map[string]string) {
	t.Helper()
	a, b := t.TempDir(), t.TempDir()
	kafka := Address{Hostname: "example.com", Namespace: "acme", Name: "kafka"}
	installFake(t, a, upper, "1.0.0", linuxAMD, script)
	installFake(t, a, upper, "1.1.0", linuxAMD, script)
	installFake(t, a, upper, "1.1.0", linuxARM, script)
	installFake(t, a, upper, "1.10.0-beta.1", linuxAMD, script)
	installFake(t, a, kafka, "0.3.0", linuxAMD, script)
	installFake(t, b, upper, "1.1.0", linuxAMD, script)
	installFake(t, b, upper, "2.0.0", darwinARM, script)

	dir := pluginDir(a, upper)
	junk = map[string]string{
		filepath.Join(dir, "latest"):                 `not a version directory: "latest" is not a semantic version like 1.2.0`,
		filepath.Join(dir, "v3.0.0"):                 `not a version directory: "v3.0.0" is not a semantic version like 1.2.0`,
		filepath.Join(dir, "1.0.0", "linux-amd64"):   `not a platform directory: invalid platform "linux-amd64": want os_arch in Go's names, e.g. linux_amd64 or darwin_arm64`,
		filepath.Join(dir, "1.1.0", "windows_amd64"): `no plugin binary: want a file named flowctl-plugin-upper_v1.1.0 in it`,
		filepath.Join(a, "README.md"):                `not a directory: the plugin layout has only directories down to <os>_<arch>`,
		filepath.Join(a, "example.com", "Acme"):      `not a namespace directory: "Acme" may hold only lower-case letters, digits, '-' and '_'`,
	}
	for _, d := range []string{"latest", "v3.0.0", "1.0.0/linux-amd64", "1.1.0/windows_amd64", ".install-123/linux_amd64", "2.0.0/.hidden"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFileT(t, filepath.Join(dir, "1.1.0", "windows_amd64", "flowctl-plugin-upper.exe"), script, 0o755)
	writeFileT(t, filepath.Join(dir, "1.1.0", "linux_amd64", "README"), "not the binary", 0o644)
	writeFileT(t, filepath.Join(a, "README.md"), "hi", 0o644)
	writeFileT(t, filepath.Join(a, ".DS_Store"), "", 0o644)
	if err := os.MkdirAll(filepath.Join(a, "example.com", "Acme"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{a, filepath.Join(t.TempDir(), "missing"), b}, junk
}

func describeFound(found []Installed, roots []string) []string {
	var out []string
	for _, in := range found {
		out = append(out, fmt.Sprintf("%s %s %s root%d", in.Address, in.Version, in.Platform, slices.Index(roots, in.Root)))
		if in.Path != BinaryPath(in.Root, in.Address, in.Version.String(), in.Platform) {
			out = append(out, "BAD PATH "+in.Path)
		}
	}
	return out
}

func TestScan(t *testing.T) {
	roots, junk := scanTree(t)
	want := []string{
		"example.com/acme/kafka 0.3.0 linux_amd64 root0",
		"plugins.flowctl.dev/acme/upper 2.0.0 darwin_arm64 root2",
		"plugins.flowctl.dev/acme/upper 1.10.0-beta.1 linux_amd64 root0",
		"plugins.flowctl.dev/acme/upper 1.1.0 linux_amd64 root0",
		"plugins.flowctl.dev/acme/upper 1.1.0 linux_amd64 root2",
		"plugins.flowctl.dev/acme/upper 1.1.0 linux_arm64 root0",
		"plugins.flowctl.dev/acme/upper 1.0.0 linux_amd64 root0",
	}
	check := func(t *testing.T) {
		found, problems := Scan(roots)
		if got := describeFound(found, roots); !slices.Equal(got, want) {
			t.Errorf("found:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		var gotProblems, wantProblems []string
		for _, p := range problems {
			gotProblems = append(gotProblems, p.Error())
		}
		for path, what := range junk {
			wantProblems = append(wantProblems, path+": "+what)
		}
		slices.Sort(gotProblems)
		slices.Sort(wantProblems)
		if !slices.Equal(gotProblems, wantProblems) {
			t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(gotProblems, "\n  "), strings.Join(wantProblems, "\n  "))
		}
	}
	t.Run("writable", check)

	// CI images ship plugins in read-only directories; Scan only reads.
	// (Run as root, the kernel ignores the bits, and this still shows that
	// Scan writes nothing.)
	for _, r := range []string{roots[0], roots[2]} {
		if out, err := exec.Command("chmod", "-R", "a-w", r).CombinedOutput(); err != nil {
			t.Fatalf("chmod: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chmod", "-R", "u+w", r).Run() })
	}
	t.Run("read-only", check)
}

func TestScanNoRoots(t *testing.T) {
	found, problems := Scan([]string{filepath.Join(t.TempDir(), "nope"), ""})
	if len(found) != 0 || len(problems) != 0 {
		t.Errorf("found %v, problems %v; want nothing", found, problems)
	}
	f := writeFileT(t, filepath.Join(t.TempDir(), "file"), "", 0o644)
	_, problems = Scan([]string{f})
	if len(problems) != 1 || problems[0].Error() != f+": plugin directory is not a directory" {
		t.Errorf("problems = %v", problems)
	}
}
