package drivers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/flowctl/flowctl/proto/wire"
)

// PluginPort is the port a network-mode plugin listens on inside its
// container or pod, and HealthPort the port of its plain HTTP /healthz.
const (
	PluginPort = 7777
	HealthPort = 7778
)

// NetworkEnv is the environment of a network-mode plugin, without its TLS
// material: the magic cookie, the protocol versions this host speaks, and
// where to listen.
func NetworkEnv() []string {
	versions := make([]string, len(wire.ProtocolVersions))
	for i, v := range wire.ProtocolVersions {
		versions[i] = strconv.Itoa(v)
	}
	return []string{
		wire.MagicCookieKey + "=" + wire.MagicCookieValue,
		wire.EnvProtocolVersions + "=" + strings.Join(versions, ","),
		fmt.Sprintf("%s=:%d", wire.EnvListen, PluginPort),
		fmt.Sprintf("%s=:%d", wire.EnvHealthListen, HealthPort),
	}
}

// Handshake is what a network-mode plugin's handshake line says.
type Handshake struct {
	// Protocol is the flowctl plugin protocol version the plugin chose.
	Protocol int
	// Addr is where it listens, as it sees it (inside its container).
	Addr string
}

// ErrHandshake is wrapped by every error about a handshake line.
var ErrHandshake = errors.New("bad plugin handshake")

// ParseHandshake reads go-plugin's handshake line,
// CORE|APP|NETWORK|ADDR|PROTOCOL|..., and checks it as go-plugin does: the
// core protocol, gRPC, and an app protocol version this host speaks.
func ParseHandshake(line string) (Handshake, error) {
	parts := strings.Split(strings.TrimSpace(line), "|")
	if len(parts) < 5 {
		return Handshake{}, fmt.Errorf("%w: %q is not a go-plugin handshake line", ErrHandshake, line)
	}
	if parts[0] != strconv.Itoa(plugin.CoreProtocolVersion) {
		return Handshake{}, fmt.Errorf("%w: go-plugin core protocol %s, want %d", ErrHandshake, parts[0], plugin.CoreProtocolVersion)
	}
	v, err := strconv.Atoi(parts[1])
	if err != nil {
		return Handshake{}, fmt.Errorf("%w: protocol version %q", ErrHandshake, parts[1])
	}
	if parts[4] != string(plugin.ProtocolGRPC) {
		return Handshake{}, fmt.Errorf("%w: the plugin serves %q; flowctl plugins speak grpc", ErrHandshake, parts[4])
	}
	if !slices.Contains(wire.ProtocolVersions, v) {
		// The same words as go-plugin's, which the supervisor explains.
		return Handshake{}, fmt.Errorf("incompatible API version with plugin. Plugin version: %d, Client versions: %v", v, wire.ProtocolVersions)
	}
	return Handshake{Protocol: v, Addr: parts[3]}, nil
}

// maxHandshakeLine bounds what HandshakeWriter holds while it looks for
// the handshake line (go-plugin's is a few hundred bytes, with a
// certificate a few kilobytes).
const maxHandshakeLine = 64 << 10

// HandshakeWriter receives a network-mode plugin's standard output: it
// waits for the handshake line (lines before it go to Early, if set) and
// then passes everything on to Stdout.
type HandshakeWriter struct {
	Stdout io.Writer
	Early  io.Writer

	mu   sync.Mutex
	buf  []byte
	seen bool
	line chan string
}

// NewHandshakeWriter returns a writer whose Line channel yields the
// handshake line once.
func NewHandshakeWriter(stdout, early io.Writer) *HandshakeWriter {
	return &HandshakeWriter{Stdout: stdout, Early: early, line: make(chan string, 1)}
}

// Line yields the handshake line when it has been written.
func (w *HandshakeWriter) Line() <-chan string { return w.line }

func (w *HandshakeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen {
		if w.Stdout != nil {
			return w.Stdout.Write(p)
		}
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for !w.seen {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if strings.Count(line, "|") >= 4 {
			w.seen = true
			w.line <- line
			break
		}
		if w.Early != nil {
			_, _ = w.Early.Write([]byte(line + "\n"))
		}
	}
	if !w.seen && len(w.buf) > maxHandshakeLine {
		// No handshake line is this long: pass it on rather than hold a
		// plugin's endless line in memory.
		if w.Early != nil {
			_, _ = w.Early.Write(w.buf)
		}
		w.buf = nil
	}
	if w.seen && len(w.buf) > 0 && w.Stdout != nil {
		_, _ = w.Stdout.Write(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// Attached adapts a container or pod to go-plugin's runner.AttachedRunner:
// go-plugin marks the plugin exited when WaitFn returns, and calls KillFn
// when a polite shutdown did not end it.
type Attached struct {
	Name   string
	WaitFn func(context.Context) error
	KillFn func(context.Context) error
}

var _ runner.AttachedRunner = (*Attached)(nil)

// Wait implements runner.AttachedRunner.
func (a *Attached) Wait(ctx context.Context) error { return a.WaitFn(ctx) }

// Kill implements runner.AttachedRunner.
func (a *Attached) Kill(ctx context.Context) error { return a.KillFn(ctx) }

// ID implements runner.AttachedRunner.
func (a *Attached) ID() string { return a.Name }

// PluginToHost implements runner.AddrTranslator; drivers dial the address
// they mapped themselves.
func (a *Attached) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

// HostToPlugin implements runner.AddrTranslator.
func (a *Attached) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// Reattach is the go-plugin configuration of a network-mode plugin that
// negotiated hs and is reached at addr.
func Reattach(hs Handshake, addr string, a *Attached) (*plugin.ReattachConfig, error) {
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("plugin address %q: %w", addr, err)
	}
	return &plugin.ReattachConfig{
		Protocol:        plugin.ProtocolGRPC,
		ProtocolVersion: hs.Protocol,
		Addr:            tcp,
		ReattachFunc:    func() (runner.AttachedRunner, error) { return a, nil },
	}, nil
}
