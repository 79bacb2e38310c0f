package testserver

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// NATS is a nats-server of its own with JetStream, storing in a temporary
// directory. Stop and Start keep the port and the stored streams, so a
// test can take the server away and bring it back.
type NATS struct {
	Port   int
	bin    string
	dir    string
	cmd    *exec.Cmd
	out    *output
	exited chan struct{}
}

// StartNATS starts nats-server -js on a free loopback port; it is stopped
// when t ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	bin, err := findBinary("nats-server", "/usr/sbin", "/usr/local/sbin")
	if err != nil {
		t.Fatalf("testserver: nats-server is missing (%v): install it with `apt-get install nats-server`", err)
	}
	n := &NATS{bin: bin, dir: t.TempDir()}
	for attempt := 0; ; attempt++ {
		n.Port = freePort(t)
		err := n.start()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("testserver: start nats-server: %v\n%s", err, n.out.String())
		}
	}
	t.Cleanup(n.Stop)
	return n
}

// URL is the server's client URL.
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }

func (n *NATS) start() error {
	n.out = &output{}
	n.exited = make(chan struct{})
	n.cmd = exec.Command(n.bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(n.Port),
		"-sd", filepath.Join(n.dir, "store"), "-n", "flowctl-test")
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	if err := waitTCP(fmt.Sprintf("127.0.0.1:%d", n.Port), n.exited, 20*time.Second); err != nil {
		n.Stop()
		return err
	}
	return nil
}

// Start starts a stopped server again on the same port and store.
func (n *NATS) Start(t testing.TB) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger briefly
		if err = n.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("testserver: restart nats-server: %v\n%s", err, n.out.String())
}

// Stop shuts the server down (SIGTERM), killing it if that stalls.
func (n *NATS) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-n.exited:
	case <-ctx.Done():
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
}

// Output is what the server logged (the last 32 KiB or more).
func (n *NATS) Output() string { return n.out.String() }
