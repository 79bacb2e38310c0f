package catalog

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"runtime"
)

// BinaryError says why a plugin binary cannot run.
type BinaryError struct {
	Path string
	// Problem is the whole message, path and remedy included.
	Problem string
	// Err is the underlying error, if any.
	Err error
}

func (e *BinaryError) Error() string { return e.Problem }
func (e *BinaryError) Unwrap() error { return e.Err }

// CheckBinary checks, before anything executes it, that path is a regular
// file with executable bits that can run on p. Executing a file that cannot
// run fails with errno texts ("exec format error") that do not tell the
// user which build to install; this names the problem and the remedy.
//
// ELF files must be built for p's architecture (and an operating system
// that uses ELF). Other files pass the platform check: scripts run
// anywhere, and Mach-O or PE binaries cannot be confused with the ELF
// builds this check exists for.
func CheckBinary(path string, p Platform) error {
	return checkBinary(path, path, p)
}

// checkBinary checks the file at path and names it shown in messages, so
// that a staged copy is reported as what the user installed.
func checkBinary(path, shown string, p Platform) error {
	fi, err := os.Stat(path)
	if err != nil {
		return &BinaryError{Path: path, Problem: fmt.Sprintf("%s cannot be read: %v", shown, err), Err: err}
	}
	if !fi.Mode().IsRegular() {
		return &BinaryError{Path: path, Problem: fmt.Sprintf("%s is not a regular file (mode %v): reinstall the plugin", shown, fi.Mode())}
	}
	// Windows has no executable bits; os.Stat reports none.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
		return &BinaryError{Path: path, Problem: fmt.Sprintf("%s is not executable (mode %v): run chmod +x on it, or reinstall the plugin", shown, fi.Mode())}
	}
	return checkELF(path, shown, p)
}

var elfMagic = []byte(elf.ELFMAG)

func checkELF(path, shown string, p Platform) error {
	f, err := os.Open(path)
	if err != nil {
		return &BinaryError{Path: path, Problem: fmt.Sprintf("%s cannot be read: %v", shown, err), Err: err}
	}
	defer f.Close()
	magic := make([]byte, len(elfMagic))
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, elfMagic) {
		return nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return &BinaryError{Path: path, Problem: fmt.Sprintf("%s is a damaged ELF file (%v): reinstall the plugin", shown, err), Err: err}
	}
	osName, arch := elfOS(ef), elfArch(ef)
	if arch == p.Arch && (osName == p.OS || osName == "linux" && !nonELFOS(p.OS)) {
		return nil
	}
	return &BinaryError{Path: path, Problem: fmt.Sprintf("%s is built for %s/%s, not %s: install the %s build of the plugin", shown, osName, arch, p, p)}
}

// elfOS names the operating system an ELF file declares. Linux (and Go's
// builds for several other systems) leave the ABI byte at "System V",
// reported as linux; the caller accepts that for any ELF system.
func elfOS(f *elf.File) string {
	switch f.OSABI {
	case elf.ELFOSABI_FREEBSD:
		return "freebsd"
	case elf.ELFOSABI_NETBSD:
		return "netbsd"
	case elf.ELFOSABI_OPENBSD:
		return "openbsd"
	case elf.ELFOSABI_SOLARIS:
		return "solaris"
	}
	return "linux"
}

// nonELFOS reports whether goos runs executables of another format, so
// that no ELF file can run there.
func nonELFOS(goos string) bool {
	switch goos {
	case "darwin", "ios", "windows", "plan9", "js", "wasip1", "aix":
		return true
	}
	return false
}

// elfArch names an ELF file's architecture as GOARCH does; machines Go
// does not build for keep their ELF names (e.g. EM_SPARCV9).
func elfArch(f *elf.File) string {
	is64 := f.Class == elf.ELFCLASS64
	little := f.Data == elf.ELFDATA2LSB
	switch f.Machine {
	case elf.EM_X86_64:
		if is64 {
			return "amd64"
		}
	case elf.EM_386:
		return "386"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		if is64 {
			return "riscv64"
		}
	case elf.EM_PPC64:
		if little {
			return "ppc64le"
		}
		return "ppc64"
	case elf.EM_S390:
		if is64 {
			return "s390x"
		}
	case elf.EM_LOONGARCH:
		if is64 {
			return "loong64"
		}
	case elf.EM_MIPS:
		return mipsArch(is64, little)
	}
	return f.Machine.String()
}

func mipsArch(is64, little bool) string {
	arch := "mips"
	if is64 {
		arch += "64"
	}
	if little {
		arch += "le"
	}
	return arch
}
