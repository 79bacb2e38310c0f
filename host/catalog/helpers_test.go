package catalog

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// script is a binary any Unix can "run"; CheckBinary passes it for every
// platform because it is not ELF.
const script = "#!/bin/sh\necho upper\n"

var (
	upper     = Address{Hostname: DefaultHostname, Namespace: "acme", Name: "upper"}
	linuxAMD  = Platform{OS: "linux", Arch: "amd64"}
	linuxARM  = Platform{OS: "linux", Arch: "arm64"}
	darwinARM = Platform{OS: "darwin", Arch: "arm64"}
)

// writeFileT writes content to path with mode, creating the directories.
func writeFileT(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// installFake puts a binary into root's layout by hand.
func installFake(t *testing.T, root string, a Address, version string, p Platform, content string) string {
	t.Helper()
	return writeFileT(t, BinaryPath(root, a, version, p), content, 0o755)
}

// fakeELF returns a bare ELF header (no sections, no program headers),
// which is all debug/elf and CheckBinary read.
func fakeELF(t *testing.T, class elf.Class, data elf.Data, machine elf.Machine, abi elf.OSABI) string {
	t.Helper()
	var order binary.ByteOrder = binary.LittleEndian
	if data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS], ident[elf.EI_DATA], ident[elf.EI_VERSION], ident[elf.EI_OSABI] = byte(class), byte(data), byte(elf.EV_CURRENT), byte(abi)
	var buf bytes.Buffer
	var err error
	if class == elf.ELFCLASS64 {
		err = binary.Write(&buf, order, elf.Header64{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT), Ehsize: 64})
	} else {
		err = binary.Write(&buf, order, elf.Header32{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT), Ehsize: 52})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func elf64(t *testing.T, m elf.Machine) string {
	return fakeELF(t, elf.ELFCLASS64, elf.ELFDATA2LSB, m, elf.ELFOSABI_NONE)
}

// describeAs is a Describe func for a binary that says it is name at
// version, speaking protocols (default: the SDK's).
func describeAs(name, version string, protocols ...uint32) func(context.Context, string) (*flowctlv1.GetSchemaResponse, error) {
	if protocols == nil {
		protocols = []uint32{1}
	}
	return func(context.Context, string) (*flowctlv1.GetSchemaResponse, error) {
		return &flowctlv1.GetSchemaResponse{Name: name, Version: version, ProtocolVersions: protocols}, nil
	}
}

// tree lists the files under root (slash paths with their modes' type),
// to assert that nothing but the layout is left behind.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func fileMode(m uint32) os.FileMode { return os.FileMode(m) }

func testExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find the test binary:", err)
	}
	return exe
}
