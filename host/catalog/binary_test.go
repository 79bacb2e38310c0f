package catalog

import (
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string, mode uint32) string {
		return writeFileT(t, filepath.Join(dir, name), content, fileMode(mode))
	}
	noExec := file("noexec", script, 0o644)
	arm := file("arm", elf64(t, elf.EM_AARCH64), 0o755)
	amd := file("amd", elf64(t, elf.EM_X86_64), 0o755)
	x86 := file("x86", fakeELF(t, elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_386, elf.ELFOSABI_NONE), 0o755)
	ppc := file("ppc", fakeELF(t, elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_PPC64, elf.ELFOSABI_NONE), 0o755)
	sparc := file("sparc", elf64(t, elf.EM_SPARCV9), 0o755)
	bsd := file("bsd", fakeELF(t, elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64, elf.ELFOSABI_FREEBSD), 0o755)
	damaged := file("damaged", elf.ELFMAG+"\x09", 0o755)
	sh := file("script", script, 0o755)
	macho := file("macho", "\xcf\xfa\xed\xfe\x0c\x00\x00\x01", 0o755)
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o755); err != nil || os.Chmod(subdir, 0o755) != nil {
		t.Fatal(err)
	}

	tests := []struct {
		path string
		p    Platform
		want string // "" = passes
	}{
		{sh, linuxAMD, ""},
		{sh, darwinARM, ""},
		{macho, linuxAMD, ""},
		{amd, linuxAMD, ""},
		{arm, linuxARM, ""},
		{x86, Platform{"linux", "386"}, ""},
		{amd, Platform{"freebsd", "amd64"}, ""}, // Go's BSD builds may not mark their ABI
		{bsd, Platform{"freebsd", "amd64"}, ""},
		{noExec, linuxAMD, noExec + " is not executable (mode -rw-r--r--): run chmod +x on it, or reinstall the plugin"},
		{subdir, linuxAMD, subdir + " is not a regular file (mode drwxr-xr-x): reinstall the plugin"},
		{arm, linuxAMD, arm + " is built for linux/arm64, not linux_amd64: install the linux_amd64 build of the plugin"},
		{amd, linuxARM, amd + " is built for linux/amd64, not linux_arm64: install the linux_arm64 build of the plugin"},
		{amd, Platform{"darwin", "amd64"}, amd + " is built for linux/amd64, not darwin_amd64: install the darwin_amd64 build of the plugin"},
		{bsd, linuxAMD, bsd + " is built for freebsd/amd64, not linux_amd64: install the linux_amd64 build of the plugin"},
		{ppc, Platform{"linux", "ppc64le"}, ppc + " is built for linux/ppc64, not linux_ppc64le: install the linux_ppc64le build of the plugin"},
		{sparc, linuxAMD, sparc + " is built for linux/EM_SPARCV9, not linux_amd64: install the linux_amd64 build of the plugin"},
		{x86, linuxAMD, x86 + " is built for linux/386, not linux_amd64: install the linux_amd64 build of the plugin"},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path)+" on "+tc.p.String(), func(t *testing.T) {
			err := CheckBinary(tc.path, tc.p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var be *BinaryError
			if !errors.As(err, &be) || be.Path != tc.path {
				t.Fatalf("error %v is not a *BinaryError for %s", err, tc.path)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
		})
	}

	t.Run("damaged ELF", func(t *testing.T) {
		err := CheckBinary(damaged, linuxAMD)
		if err == nil {
			t.Fatal("damaged ELF passed")
		}
	})
	t.Run("missing", func(t *testing.T) {
		err := CheckBinary(filepath.Join(dir, "nope"), linuxAMD)
		if err == nil {
			t.Fatal("missing file passed")
		}
	})
}

func TestCurrentPlatformRunsItself(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test binary is ELF only on linux")
	}
	exe := testExecutable(t)
	if err := CheckBinary(exe, CurrentPlatform()); err != nil {
		t.Fatalf("the test binary fails CheckBinary: %v", err)
	}
}
