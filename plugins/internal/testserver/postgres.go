package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL server of its own, with a database "flowctl"
// owned by user "flowctl" whose password is Password.
type Postgres struct {
	Port     int
	Password string
	dir      string
	cmd      *exec.Cmd
	out      *output
	exited   chan struct{}
}

// pgBinDirs are where Debian's postgresql packages put the server binaries,
// which are not on PATH.
var pgBinDirs = []string{"/usr/lib/postgresql/*/bin"}

// StartPostgres initialises a cluster in a temporary directory and starts
// it on a free loopback port; it stops and removes it when t ends. Run as
// root (PostgreSQL refuses to), the server runs as the postgres user that
// Debian's package creates, or as nobody.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	initdb, err := findBinary("initdb", pgBinDirs...)
	if err != nil {
		t.Fatalf("testserver: PostgreSQL server binaries are missing (%v): install them with `apt-get install postgresql`", err)
	}
	postgres := filepath.Join(filepath.Dir(initdb), "postgres")
	if _, err := os.Stat(postgres); err != nil {
		if postgres, err = findBinary("postgres", pgBinDirs...); err != nil {
			t.Fatalf("testserver: PostgreSQL server binary missing (%v): install it with `apt-get install postgresql`", err)
		}
	}
	cred, err := serverUser()
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	// Not t.TempDir: its parents are private to the test's user, and the
	// server may run as another, who can reach /tmp but maybe not $TMPDIR.
	base := ""
	if cred != nil {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "flowctl-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &Postgres{Password: "pw-" + strconv.FormatInt(time.Now().UnixNano(), 36), dir: dir}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		chownAll(t, dir, cred)
	}
	initOut, err := p.run(cred, initdb, "-D", filepath.Join(dir, "data"), "-U", "flowctl",
		"--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync")
	if err != nil {
		t.Fatalf("testserver: initdb: %v\n%s", err, initOut)
	}
	// A port taken between freePort and the server's bind is retried.
	for attempt := 0; ; attempt++ {
		p.Port = freePort(t)
		err := p.start(cred, postgres)
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("testserver: start postgres: %v\n%s", err, p.out.String())
		}
	}
	t.Cleanup(p.stop)
	if err := p.createDatabase(); err != nil {
		t.Fatalf("testserver: %v\n%s", err, p.out.String())
	}
	return p
}

// serverUser is who runs the server: nil (the current user) unless that is
// root.
func serverUser() (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and there is neither a postgres nor a nobody user to run PostgreSQL as")
}

func chownAll(t testing.TB, dir string, cred *syscall.Credential) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
}

func (p *Postgres) run(cred *syscall.Credential, bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return cmd.CombinedOutput()
}

func (p *Postgres) start(cred *syscall.Credential, bin string) error {
	p.out = &output{}
	p.exited = make(chan struct{})
	// fsync off: the tests crash plugins, never this server.
	p.cmd = exec.Command(bin, "-D", filepath.Join(p.dir, "data"), "-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+p.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	p.cmd.Dir = p.dir
	p.cmd.Env = append(os.Environ(), "LC_ALL=C")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cred != nil {
		p.cmd.SysProcAttr.Credential = cred
	}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-p.exited:
			return fmt.Errorf("postgres exited during startup: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("postgres did not accept connections within 30s: %w", err)
		}
	}
}

func (p *Postgres) createDatabase() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE flowctl"); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return nil
}

// stop shuts the server down fast (SIGINT), killing it if that stalls.
func (p *Postgres) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// URL is a connection string for database db (usually "flowctl").
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://flowctl:%s@127.0.0.1:%d/%s?sslmode=disable", p.Password, p.Port, db)
}

// Connect opens a connection to the flowctl database, closed when t ends.
func (p *Postgres) Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), p.URL("flowctl"))
	if err != nil {
		t.Fatalf("testserver: connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
