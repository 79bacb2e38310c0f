package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: what a program writes to tty, the test
// reads from pty.
func openPTY(t *testing.T) (pty, tty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(pty.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(pty.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open tty: %v", err)
	}
	t.Cleanup(func() { pty.Close(); tty.Close() })
	return pty, tty
}

// onTerminal runs flowctl with its stderr on a terminal and returns what
// it wrote there.
func onTerminal(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	pty, tty := openPTY(t)
	cmd := exec.CommandContext(t.Context(), flowctlBin, args...)
	cmd.Dir, cmd.Stderr = dir, tty
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds it
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, pty) // ends with EIO once no one holds the tty
	}()
	_ = cmd.Wait()
	select {
	case <-copied:
	case <-time.After(5 * time.Second): // a grandchild still holds the tty
		pty.Close()
		<-copied
	}
	return out.String()
}

// TestDiagnosticsHonourNoColor: on a terminal the diagnostics are coloured,
// unless NO_COLOR is set (to anything but the empty string).
func TestDiagnosticsHonourNoColor(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), "source \"generator\" \"ticks\" {\n  cuont = 3\n}\n")
	colored := onTerminal(t, dir, []string{"NO_COLOR="}, "validate", "p.hcl")
	if !strings.Contains(colored, "\x1b[1;31mError") || !strings.Contains(colored, "cuont") {
		t.Fatalf("diagnostics on a terminal are not coloured:\n%q", colored)
	}
	plain := onTerminal(t, dir, []string{"NO_COLOR=1"}, "validate", "p.hcl")
	if strings.Contains(plain, "\x1b[") {
		t.Errorf("NO_COLOR=1, yet the diagnostics carry escape sequences:\n%q", plain)
	}
	if !strings.Contains(plain, "Error: ") || !strings.Contains(plain, "cuont") {
		t.Errorf("NO_COLOR=1 lost the diagnostic itself:\n%q", plain)
	}
}
