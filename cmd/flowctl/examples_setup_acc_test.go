package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmeSetup stands in for the README lines that set up the machine, the
// README's prerequisites. Each line is matched at its start; the rest run
// as written. The substitutions:
//
//	[sudo] apt-get install PKG...    the packages must be installed (dpkg), else the test skips
//	nats-server ... -sd DIR ...      run as written, "in a terminal of its own", by the test,
//	                                 with DIR inside a temporary directory; stopped at the end
//	[sudo] pg_ctlcluster V C start   the test starts a PostgreSQL cluster of its own from Debian's
//	                                 binaries on 127.0.0.1:5432 (superuser postgres, local
//	                                 connections trusted) and sets PGHOST to its socket directory
//	sudo -u postgres CMD             runuser -u postgres -- CMD as root, PGUSER=postgres CMD otherwise
//	sudo CMD                         CMD
type readmeSetup struct {
	tmp      string
	packages []string
	nats     []string // nats-server command lines, their -sd moved to tmp
	postgres bool
	env      []string // what the README's commands need to reach the servers
}

var (
	aptInstall   = regexp.MustCompile(`^(sudo\s+)?apt-get\s+install\s+([^#]*)`)
	natsServer   = regexp.MustCompile(`^nats-server\s`)
	natsStoreDir = regexp.MustCompile(`(-sd\s+)(\S+)`)
	pgCtlStart   = regexp.MustCompile(`^(sudo\s+)?pg_ctlcluster\s+\S+\s+\S+\s+start\b`)
	sudoPostgres = regexp.MustCompile(`^sudo\s+-u\s+postgres\s+`)
	sudo         = regexp.MustCompile(`^sudo\s+`)
)

// substitute returns what the test's script runs for line, noting what the
// test must provide instead.
func (s *readmeSetup) substitute(line string) string {
	l := strings.TrimSpace(line)
	switch {
	case aptInstall.MatchString(l):
		for _, f := range strings.Fields(aptInstall.FindStringSubmatch(l)[2]) {
			if !strings.HasPrefix(f, "-") {
				s.packages = append(s.packages, f)
			}
		}
		return "# checked by the test: " + l
	case natsServer.MatchString(l):
		s.nats = append(s.nats, natsStoreDir.ReplaceAllStringFunc(l, func(m string) string {
			sub := natsStoreDir.FindStringSubmatch(m)
			return sub[1] + filepath.Join(s.tmp, "nats", filepath.Base(sub[2]))
		}))
		return "# started by the test: " + l
	case pgCtlStart.MatchString(l):
		s.postgres = true
		return "# the test starts a cluster of its own instead: " + l
	case sudoPostgres.MatchString(l):
		if os.Getuid() == 0 {
			return sudoPostgres.ReplaceAllString(l, "runuser -u postgres -- ")
		}
		return sudoPostgres.ReplaceAllString(l, "PGUSER=postgres ")
	case sudo.MatchString(l):
		return sudo.ReplaceAllString(l, "")
	}
	return line
}

// missingPackages names the Debian packages in pkgs that are not installed.
func missingPackages(pkgs []string) []string {
	if len(pkgs) == 0 {
		return nil
	}
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return []string{fmt.Sprintf("dpkg-query, to check for the Debian packages %s", strings.Join(pkgs, " "))}
	}
	var missing []string
	for _, p := range pkgs {
		out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if !strings.HasSuffix(string(out), " installed") {
			missing = append(missing, p+" (Debian package)")
		}
	}
	return missing
}

// portBusy says whether something listens on 127.0.0.1:port.
func portBusy(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// provide starts the servers the README's prerequisites start; they stop
// when t ends.
func (s *readmeSetup) provide(t *testing.T) {
	t.Helper()
	for _, line := range s.nats {
		// As written, with exec so that the server is the process the
		// test stops.
		srv := startReadmeServer(t, "", nil, "bash", "-c", "exec "+line)
		waitReady(t, srv, "nats-server on 127.0.0.1:4222", func() bool { return portBusy(4222) })
	}
	if s.postgres {
		s.env = append(s.env, "PGHOST="+startReadmePostgres(t))
	}
}

// readmeServer is a process the test started for the README.
type readmeServer struct {
	cmd    *exec.Cmd
	out    *readmeOutput
	exited chan struct{}
}

type readmeOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *readmeOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *readmeOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startReadmeServer starts name in its own process group as cred (nil: the
// test's user), stopped with SIGINT (the servers' fast shutdown) when t
// ends and killed if that takes longer than 20s.
func startReadmeServer(t *testing.T, dir string, cred *syscall.Credential, name string, args ...string) *readmeServer {
	t.Helper()
	s := &readmeServer{cmd: exec.Command(name, args...), out: &readmeOutput{}, exited: make(chan struct{})}
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "LC_ALL=C")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	})
	return s
}

// waitReady waits up to 30s for ready, failing early if srv exits.
func waitReady(t *testing.T, srv *readmeServer, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case <-srv.exited:
			t.Fatalf("%s exited while starting:\n%s", what, srv.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30s:\n%s", what, srv.out.String())
		}
	}
}

// startReadmePostgres initialises a cluster in a temporary directory and
// runs it on 127.0.0.1:5432, the README's address, as the postgres user
// when the test runs as root (PostgreSQL refuses root, and the README runs
// psql as postgres). It returns the socket directory.
func startReadmePostgres(t *testing.T) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Sort(sort.Reverse(sort.StringSlice(bins)))
	if len(bins) == 0 {
		t.Skip("the README needs PostgreSQL's server: /usr/lib/postgresql/*/bin/initdb is missing (apt-get install postgresql)")
	}
	binDir := filepath.Dir(bins[0])
	var cred *syscall.Credential
	base := "" // t.TempDir's parents are private to the test's user
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("the README runs psql as the postgres user, which does not exist (apt-get install postgresql creates it)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred, base = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, "/tmp"
	}
	dir, err := os.MkdirTemp(base, "flowctl-readme-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	initdb := exec.Command(bins[0], "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
	initdb.Dir = dir
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// fsync off: nothing here outlives the test.
	srv := startReadmeServer(t, dir, cred, filepath.Join(binDir, "postgres"), "-D", filepath.Join(dir, "data"),
		"-p", "5432", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir, "-c", "fsync=off")
	waitReady(t, srv, "PostgreSQL on 127.0.0.1:5432", func() bool {
		return exec.Command(filepath.Join(binDir, "pg_isready"), "-q", "-h", dir, "-p", "5432").Run() == nil
	})
	return dir
}
