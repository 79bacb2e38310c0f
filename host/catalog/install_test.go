package catalog

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// entry is one file of a test archive.
type entry struct {
	name    string
	content string
	mode    int64
}

func zipArchive(t *testing.T, path string, entries ...entry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(os.FileMode(e.mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFileT(t, path, buf.String(), 0o644)
}

func tarGz(t *testing.T, path string, entries ...entry) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFileT(t, path, buf.String(), 0o644)
}

// opts are the options of a plain install of acme/upper 1.0.0 into root.
func opts(root string) InstallOptions {
	return InstallOptions{Root: root, Address: upper, Describe: describeAs("upper", "1.0.0")}
}

// assertInstalled asserts that root holds exactly the binary of res (no staging
// left behind) with content and mode 0755.
func assertInstalled(t *testing.T, root string, res *InstallResult, version string, content string) {
	t.Helper()
	want := BinaryPath(root, upper, version, CurrentPlatform())
	if res.Path != want || res.Root != root || res.Version.String() != version || res.Address != upper || res.Platform != CurrentPlatform() {
		t.Errorf("result %+v, want path %s", res.Installed, want)
	}
	data, err := os.ReadFile(want)
	if err != nil || string(data) != content {
		t.Fatalf("installed file: %q, %v", data, err)
	}
	if fi, _ := os.Stat(want); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", fi.Mode())
	}
	if h1, _, _ := Hash(want); res.Hash != h1 {
		t.Errorf("result hash %s, file hash %s", res.Hash, h1)
	}
	rel, _ := filepath.Rel(root, want)
	if got := tree(t, root); !slices.Equal(got, []string{filepath.ToSlash(rel)}) {
		t.Errorf("root holds %v, want only %s", got, rel)
	}
	for _, dir := range []string{pluginDir(root, upper), filepath.Join(pluginDir(root, upper), version)} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("staging left behind: %s", filepath.Join(dir, e.Name()))
			}
		}
	}
}

func TestInstallSources(t *testing.T) {
	src := t.TempDir()
	named := entry{"dist/flowctl-plugin-upper_v1.0.0", script, 0o755}
	readme := entry{"README.md", "# upper", 0o644}
	tests := []struct {
		name string
		src  string
	}{
		{"binary", writeFileT(t, filepath.Join(src, "upper"), script, 0o755)},
		{"binary without +x", writeFileT(t, filepath.Join(src, "upper-noexec"), script, 0o644)},
		{"directory, named binary below", dirWith(t, map[string]entry{"a": readme, "b": named, "c": {"tools/helper.sh", script, 0o755}})},
		{"directory, bare name", dirWith(t, map[string]entry{"a": readme, "b": {"flowctl-plugin-upper", script, 0o755}})},
		{"directory, only executable", dirWith(t, map[string]entry{"a": readme, "b": {"upper-linux-amd64", script, 0o755}, "c": {".git/hooks/pre-commit", script, 0o755}})},
		{"zip", zipArchive(t, filepath.Join(src, "upper.zip"), readme, named)},
		{"tar.gz", tarGz(t, filepath.Join(src, "upper.tar.gz"), readme, named)},
		{"tgz with ./ names", tarGz(t, filepath.Join(src, "upper.tgz"), entry{"./LICENSE", "MIT", 0o644}, entry{"./upper", script, 0o755})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "plugins") // created by Install
			res, err := Install(t.Context(), tc.src, opts(root))
			if err != nil {
				t.Fatal(err)
			}
			if res.AlreadyInstalled || res.Replaced {
				t.Errorf("result %+v", res)
			}
			assertInstalled(t, root, res, "1.0.0", script)
			found, problems := Scan([]string{root})
			if len(found) != 1 || len(problems) != 0 || found[0].Path != res.Path {
				t.Errorf("Scan after install: %v, %v", found, problems)
			}
		})
	}
}

func dirWith(t *testing.T, files map[string]entry) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range files {
		writeFileT(t, filepath.Join(dir, filepath.FromSlash(e.name)), e.content, os.FileMode(e.mode))
	}
	return dir
}

func TestInstallFindErrors(t *testing.T) {
	src := t.TempDir()
	noneDir := dirWith(t, map[string]entry{"a": {"README.md", "", 0o644}})
	twoExec := dirWith(t, map[string]entry{"a": {"a.sh", script, 0o755}, "b": {"sub/b.sh", script, 0o755}})
	twoNamed := dirWith(t, map[string]entry{"a": {"flowctl-plugin-upper_v1.0.0", script, 0o755}, "b": {"old/flowctl-plugin-upper_v0.9.0", script, 0o755}})
	tests := []struct {
		name, src, want string
	}{
		{"empty directory", noneDir, "no plugin binary in " + noneDir + ": want a file named flowctl-plugin-upper or flowctl-plugin-upper_v<version>, or a single executable file"},
		{"two executables", twoExec, twoExec + " holds several executable files (a.sh, sub/b.sh) and none is named flowctl-plugin-upper or flowctl-plugin-upper_v<version>: install the plugin binary by its path"},
		{"two named", twoNamed, twoNamed + " holds several binaries named for the plugin (flowctl-plugin-upper_v1.0.0, old/flowctl-plugin-upper_v0.9.0): install one of them by its path"},
		{"tar.gz climbing out", tarGz(t, filepath.Join(src, "evil.tar.gz"), entry{"flowctl-plugin-upper", script, 0o755}, entry{"../../etc/cron.d/x", "boom", 0o644}),
			"archive " + filepath.Join(src, "evil.tar.gz") + ` has an entry with an unsafe path "../../etc/cron.d/x" (absolute or with ..): refusing to install from it`},
		{"zip with an absolute path", zipArchive(t, filepath.Join(src, "evil.zip"), entry{"/usr/local/bin/flowctl-plugin-upper", script, 0o755}),
			"archive " + filepath.Join(src, "evil.zip") + ` has an entry with an unsafe path "/usr/local/bin/flowctl-plugin-upper" (absolute or with ..): refusing to install from it`},
		{"zip climbing out", zipArchive(t, filepath.Join(src, "evil2.zip"), entry{"a/../../flowctl-plugin-upper", script, 0o755}),
			"archive " + filepath.Join(src, "evil2.zip") + ` has an entry with an unsafe path "a/../../flowctl-plugin-upper" (absolute or with ..): refusing to install from it`},
		{"zip without the binary", zipArchive(t, filepath.Join(src, "docs.zip"), entry{"README.md", "", 0o644}),
			"no plugin binary in " + filepath.Join(src, "docs.zip") + ": want a file named flowctl-plugin-upper or flowctl-plugin-upper_v<version>, or a single executable file"},
		{"missing source", filepath.Join(src, "nope"), "install plugins.flowctl.dev/acme/upper: stat " + filepath.Join(src, "nope") + ": no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			_, err := Install(t.Context(), tc.src, opts(root))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if got := tree(t, root); len(got) != 0 {
				t.Errorf("a failed install left %v", got)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("a failed install left directories in the root: %v", entries)
			}
		})
	}
}

func TestInstallExisting(t *testing.T) {
	root := t.TempDir()
	dir := t.TempDir()
	v1 := writeFileT(t, filepath.Join(dir, "v1"), script, 0o755)
	v1b := writeFileT(t, filepath.Join(dir, "v1b"), script+"# rebuilt\n", 0o755)
	first, err := Install(t.Context(), v1, opts(root))
	if err != nil {
		t.Fatal(err)
	}

	again, err := Install(t.Context(), v1, opts(root))
	if err != nil || !again.AlreadyInstalled || again.Replaced || again.Hash != first.Hash {
		t.Fatalf("same binary again: %+v, %v", again, err)
	}
	assertInstalled(t, root, again, "1.0.0", script)

	_, err = Install(t.Context(), v1b, opts(root))
	want := fmt.Sprintf("plugins.flowctl.dev/acme/upper 1.0.0 (%s) is already installed at %s with a different hash (%s); use --force to replace it",
		CurrentPlatform(), first.Path, first.Hash)
	if err == nil || err.Error() != want {
		t.Fatalf("different binary: got %v\nwant %s", err, want)
	}
	assertInstalled(t, root, first, "1.0.0", script)

	o := opts(root)
	o.Force = true
	forced, err := Install(t.Context(), v1b, o)
	if err != nil || !forced.Replaced || forced.AlreadyInstalled || forced.Hash == first.Hash {
		t.Fatalf("forced: %+v, %v", forced, err)
	}
	assertInstalled(t, root, forced, "1.0.0", script+"# rebuilt\n")
}

func TestInstallVerifies(t *testing.T) {
	dir := t.TempDir()
	bin := writeFileT(t, filepath.Join(dir, "upper"), script, 0o755)
	failing := func(context.Context, string) (*flowctlv1.GetSchemaResponse, error) {
		return nil, errors.New("exit status 2")
	}
	tests := []struct {
		name     string
		describe func(context.Context, string) (*flowctlv1.GetSchemaResponse, error)
		version  string
		want     string
	}{
		{"another plugin", describeAs("lower", "1.0.0"), "", `the binary at ` + bin + ` is the plugin "lower", not "upper": check the address`},
		{"no semantic version", describeAs("upper", "dev"), "", `the binary at ` + bin + ` reports version "dev", which is not a semantic version like 1.2.0: malformed version: dev`},
		{"not the version asked for", describeAs("upper", "1.1.0"), "1.0.0", `the binary at ` + bin + ` is version 1.1.0, not 1.0.0: check the version, or install the right release`},
		{"foreign protocol", describeAs("upper", "1.0.0", 7, 8), "", `the binary at ` + bin + ` speaks plugin protocol [7 8], but this flowctl speaks ` + fmt.Sprint(wire.ProtocolVersions) + `: install a release of the plugin built for one of those`},
		{"describe fails", failing, "", `the binary at ` + bin + ` did not describe itself: exit status 2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			o := opts(root)
			o.Describe, o.Version = tc.describe, tc.version
			_, err := Install(t.Context(), bin, o)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("a refused install left %v", entries)
			}
		})
	}

	t.Run("version given and reported", func(t *testing.T) {
		root := t.TempDir()
		o := opts(root)
		o.Version = "v1.0.0"
		res, err := Install(t.Context(), bin, o)
		if err != nil {
			t.Fatal(err)
		}
		assertInstalled(t, root, res, "1.0.0", script)
	})
}

func TestInstallOtherPlatform(t *testing.T) {
	dir := t.TempDir()
	other := linuxARM
	if CurrentPlatform() == linuxARM {
		other = linuxAMD
	}
	machine := map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}[other.Arch]
	bin := writeFileT(t, filepath.Join(dir, "flowctl-plugin-upper"), elf64(t, machine), 0o755)
	noDescribe := func(context.Context, string) (*flowctlv1.GetSchemaResponse, error) {
		t.Error("a binary of another platform was described")
		return nil, errors.New("no")
	}

	root := t.TempDir()
	res, err := Install(t.Context(), bin, InstallOptions{Root: root, Address: upper, Platform: other, Version: "2.0.0", Describe: noDescribe})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != BinaryPath(root, upper, "2.0.0", other) || res.Platform != other {
		t.Errorf("installed %+v", res.Installed)
	}

	_, err = Install(t.Context(), bin, InstallOptions{Root: t.TempDir(), Address: upper, Platform: other, Describe: noDescribe})
	want := fmt.Sprintf("installing a %s build on %s needs the version (--version): the binary cannot run here to report it", other, CurrentPlatform())
	if err == nil || err.Error() != want {
		t.Errorf("no version: got %v\nwant %s", err, want)
	}

	wrongArch := Platform{OS: "linux", Arch: "riscv64"}
	_, err = Install(t.Context(), bin, InstallOptions{Root: t.TempDir(), Address: upper, Platform: wrongArch, Version: "2.0.0", Describe: noDescribe})
	want = fmt.Sprintf("%s is built for linux/%s, not linux_riscv64: install the linux_riscv64 build of the plugin", bin, other.Arch)
	if err == nil || err.Error() != want {
		t.Errorf("wrong arch: got %v\nwant %s", err, want)
	}
}

func TestInstallRefuses(t *testing.T) {
	bin := writeFileT(t, filepath.Join(t.TempDir(), "upper"), script, 0o755)
	builtin := Address{Hostname: DefaultHostname, Namespace: BuiltinNamespace, Name: "upper"}
	tests := []struct {
		name string
		o    InstallOptions
		want string
	}{
		{"built-in namespace", InstallOptions{Root: t.TempDir(), Address: builtin, Describe: describeAs("upper", "1.0.0")},
			"plugins.flowctl.dev/flowctl/upper is in the namespace of the plugins built into flowctl, which need no install: choose another namespace"},
		{"no root", InstallOptions{Address: upper, Describe: describeAs("upper", "1.0.0")}, "install: no plugin directory to install into"},
		{"no describe", InstallOptions{Root: t.TempDir(), Address: upper}, "install: no Describe function to check the binary with"},
		{"bad version", InstallOptions{Root: t.TempDir(), Address: upper, Version: "latest", Describe: describeAs("upper", "1.0.0")},
			`invalid version "latest" for plugins.flowctl.dev/acme/upper: want a semantic version like 1.2.0: malformed version: latest`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Install(t.Context(), bin, tc.o)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestInstallReadOnlyRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which writes into read-only directories anyway, so the error cannot be provoked")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(root, 0o755) })
	bin := writeFileT(t, filepath.Join(t.TempDir(), "upper"), script, 0o755)
	_, err := Install(t.Context(), bin, opts(root))
	want := "cannot install into plugin directory " + root + ": it is not writable (mkdir " + filepath.Join(root, DefaultHostname) +
		": permission denied); choose a writable directory with --plugin-dir"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
