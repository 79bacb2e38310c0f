// Package testserver starts real PostgreSQL and nats-server instances for
// the plugins' acceptance tests, each on a free loopback port in its own
// temporary directory, and stops them when the test ends. Nothing depends
// on a system service: the binaries come from Debian's postgresql and
// nats-server packages (`.ci/run` installs them).
//
// Acceptance tests call Acc first: without FLOWCTL_ACC=1 the test is
// skipped with a message saying what it needs; with it, a missing binary
// fails the test, because a skipped acceptance test is not a passed one.
package testserver

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvAcc is the environment variable that turns acceptance tests on.
const EnvAcc = "FLOWCTL_ACC"

// Acc skips t unless FLOWCTL_ACC=1; needs says what the test runs against.
func Acc(t testing.TB, needs string) {
	t.Helper()
	if os.Getenv(EnvAcc) != "1" {
		t.Skipf("acceptance test: needs %s; run with %s=1 (make testacc)", needs, EnvAcc)
	}
}

// FreeAddr returns a loopback address ("127.0.0.1:port") with a TCP port
// that was free a moment ago, for a server the test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// freePort returns a loopback TCP port that was free a moment ago, chosen
// below the kernel's ephemeral range. A port the kernel hands out for
// "127.0.0.1:0" comes from that range, and once freed any client
// connection's local end may take it before the test's server binds it:
// under load the http source's tests saw "address in use" that way.
func freePort(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	for range 200 {
		port := minPort + rand.IntN(low-minPort)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatalf("testserver: no free port between %d and %d", minPort, low)
	return 0
}

// minPort is the lowest port freePort chooses: below it are the well-known
// and commonly configured ones.
const minPort = 20000

// ephemeralLow is where the kernel's ephemeral ports begin
// (/proc/sys/net/ipv4/ip_local_port_range), or Linux's default.
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	return max(low, minPort+1000)
}

// findBinary looks for name on PATH, then in dirs (glob patterns, highest
// match first).
func findBinary(name string, dirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, pattern := range dirs {
		matches, _ := filepath.Glob(filepath.Join(pattern, name))
		sort.Sort(sort.Reverse(sort.StringSlice(matches)))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode()&0o111 != 0 {
				return m, nil
			}
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in %v", name, dirs)
}

// waitTCP waits until addr accepts connections or the process exits.
func waitTCP(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the server exited during startup")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
}

// output collects a server's output for error messages, keeping the end.
type output struct {
	mu  sync.Mutex
	buf []byte
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	if len(o.buf) > 64<<10 {
		o.buf = append([]byte(nil), o.buf[len(o.buf)-32<<10:]...)
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}
