package http

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	nethttp "net/http"

	"golang.org/x/net/netutil"

	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
)

func sourceSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.String("address", "host:port to listen on.").Default("127.0.0.1:8080"),
		pluginsdk.String("path", "URL path that takes events; other paths answer 404.").Default("/events"),
		pluginsdk.String("format", `"events": the body holds event objects (one, an array, or JSON lines); "raw": the body is the data of one event.`).Default("events"),
		pluginsdk.String("type", `Event type of raw requests.`).Default("http.request"),
		pluginsdk.Duration("ack_timeout", "How long a request waits for the pipeline's ack before it is answered 503 (the sender retries).").Default("30s"),
		pluginsdk.Duration("read_header_timeout", "Time a client has to send a request's headers (and the TLS handshake); also how long a kept-alive connection may idle.").Default("10s"),
		pluginsdk.Duration("read_body_timeout", "Time a client has to send a request's whole body once its headers are in; a slower one is answered 408 and disconnected.").Default("60s"),
		pluginsdk.Number("max_body_bytes", "Largest request body; larger ones are answered 413 (before reading, when the request declares its length).").Default(10<<20),
		pluginsdk.Number("max_pending_requests", "Most requests being read or waiting for their ack; more are answered 503 at once, before their body is read.").Default(1000),
		pluginsdk.Number("max_pending_bytes", "Most body bytes held for requests being read or waiting for their ack; a request that would exceed it is answered 503 (before reading, when it declares its length). At least max_body_bytes.").Default(64<<20),
		pluginsdk.Number("max_connections", "Most connections open at once; further ones wait in the listen backlog until one closes.").Default(1024),
		pluginsdk.String("auth_token", "When set, requests must carry `Authorization: Bearer <token>`. Sensitive.").Sensitive(),
		pluginsdk.String("tls_cert_file", "PEM certificate to serve HTTPS with, with tls_key_file."),
		pluginsdk.String("tls_key_file", "PEM key of tls_cert_file."),
	)
}

// Source is an HTTP server whose requests become events.
type Source struct {
	log        pluginsdk.Logger
	address    string
	path       string
	raw        bool
	rawType    string
	ackTimeout time.Duration
	headerWait time.Duration // read_header_timeout
	bodyWait   time.Duration // read_body_timeout
	maxBody    int64
	maxPending int
	maxBytes   int64 // max_pending_bytes
	maxConns   int
	token      string
	tls        *tls.Config

	srv  *nethttp.Server
	done chan struct{} // closed when Serve returned

	mu       sync.Mutex
	pending  int           // admitted requests not yet answered
	held     int64         // body bytes reserved by them
	epoch    uint64        // start time of this process's positions
	seq      uint64        // events handed to Read
	ids      uint64        // ids made for events without one
	queue    []*request    // not yet wholly read, oldest first
	inflight []*request    // wholly read, awaiting the ack, by lastSeq
	ready    chan struct{} // closed and replaced when the queue grows
	stopping chan struct{} // closed by Teardown
	stopped  bool
}

// request is one HTTP request's events on their way.
type request struct {
	events  []pluginsdk.Event
	next    int           // events handed to Read
	lastSeq uint64        // position of the last event, once all are read
	acked   chan struct{} // closed by Ack
}

var _ pluginsdk.Source = (*Source)(nil)

func newSource(init pluginsdk.Init) (pluginsdk.Source, error) {
	cfg := init.Config
	s := &Source{
		log: init.Logger, address: cfg.String("address"), path: cfg.String("path"),
		rawType: cfg.String("type"), ackTimeout: cfg.Duration("ack_timeout"),
		headerWait: cfg.Duration("read_header_timeout"), bodyWait: cfg.Duration("read_body_timeout"),
		maxBody: cfg.Int("max_body_bytes"), maxPending: int(cfg.Int("max_pending_requests")),
		maxBytes: cfg.Int("max_pending_bytes"), maxConns: int(cfg.Int("max_connections")),
		token: cfg.String("auth_token"),
		ready: make(chan struct{}), stopping: make(chan struct{}),
	}
	if _, _, err := net.SplitHostPort(s.address); err != nil {
		return nil, pluginsdk.NewAttrError(fmt.Errorf("%q is not host:port", s.address), "address")
	}
	if !strings.HasPrefix(s.path, "/") {
		return nil, pluginsdk.NewAttrError(fmt.Errorf("%q must start with /", s.path), "path")
	}
	switch f := cfg.String("format"); f {
	case "events":
	case "raw":
		s.raw = true
	default:
		return nil, pluginsdk.NewAttrError(fmt.Errorf(`%q: want "events" or "raw"`, f), "format")
	}
	switch {
	case s.ackTimeout <= 0:
		return nil, pluginsdk.NewAttrError(errors.New("must be positive"), "ack_timeout")
	case s.maxBody < 1:
		return nil, pluginsdk.NewAttrError(errors.New("must be at least 1"), "max_body_bytes")
	case s.headerWait <= 0:
		return nil, pluginsdk.NewAttrError(errors.New("must be positive"), "read_header_timeout")
	case s.bodyWait <= 0:
		return nil, pluginsdk.NewAttrError(errors.New("must be positive"), "read_body_timeout")
	case s.maxPending < 1:
		return nil, pluginsdk.NewAttrError(errors.New("must be at least 1"), "max_pending_requests")
	case s.maxBytes < s.maxBody:
		return nil, pluginsdk.NewAttrError(fmt.Errorf("must be at least max_body_bytes (%d), or no full-size body could be taken", s.maxBody), "max_pending_bytes")
	case s.maxConns < 1:
		return nil, pluginsdk.NewAttrError(errors.New("must be at least 1"), "max_connections")
	}
	t, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}
	s.tls = t
	if err := checkListen(s.address); err != nil {
		return nil, pluginsdk.NewAttrError(err, "address")
	}
	return s, nil
}

// checkListen finds an address that cannot be listened on (in use, not an
// address of this machine, a privileged port) before the pipeline runs, so
// validate reports it at the attribute. It listens and closes at once; a
// port taken between this and Open still fails Open, permanently.
func checkListen(address string) error {
	l, err := net.Listen("tcp", address)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s is in use by another process (or by this pipeline running already): choose another port", address)
		}
		return fmt.Errorf("cannot listen on %s: %w", address, err)
	}
	return l.Close()
}

// permanentListenError is a listen error a restart cannot cure.
func permanentListenError(err error) bool {
	for _, e := range []error{syscall.EADDRINUSE, syscall.EADDRNOTAVAIL, syscall.EACCES} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Position is an http source position: the epoch (its process's start
// time) and the event counter.
func Position(epoch, seq uint64) pluginsdk.Position {
	p := binary.BigEndian.AppendUint64(make(pluginsdk.Position, 0, 16), epoch)
	return binary.BigEndian.AppendUint64(p, seq)
}

// Open listens and starts serving. The position to resume from is
// ignored: HTTP senders retry what was not answered 200.
func (s *Source) Open(ctx context.Context, _ pluginsdk.Position) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", s.address)
	if err != nil {
		err = fmt.Errorf("http source: %w", err)
		if permanentListenError(err) {
			return pluginsdk.Permanent(err)
		}
		return err
	}
	// The cap counts TLS handshakes too: it wraps the TCP listener.
	l = netutil.LimitListener(l, s.maxConns)
	if s.tls != nil {
		l = tls.NewListener(l, s.tls)
	}
	s.epoch = uint64(time.Now().UnixNano())
	mux := nethttp.NewServeMux()
	mux.HandleFunc(s.path, s.handle)
	// ReadHeaderTimeout also bounds the TLS handshake; the body has its
	// own deadline, set per request (bodyDeadline). An idle kept-alive
	// connection gets as long as a new one has for its headers.
	s.srv = &nethttp.Server{Handler: s.bodyDeadline(mux), ReadHeaderTimeout: s.headerWait, IdleTimeout: s.headerWait,
		MaxHeaderBytes: maxHeaderBytes,
		// Failed handshakes and the like are the clients' trouble, and a
		// hostile client must not fill the pipeline's log with them.
		ErrorLog: log.New(debugWriter{s.log}, "", 0)}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
			s.log.Error("http server stopped", "error", err)
		}
	}()
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	s.log.Info("listening", "url", scheme+"://"+l.Addr().String()+s.path)
	return nil
}

// handle takes one request: parse, queue, wait for the ack.
func (s *Source) handle(w nethttp.ResponseWriter, r *nethttp.Request) {
	if r.Method != nethttp.MethodPost {
		w.Header().Set("Allow", nethttp.MethodPost)
		w.Header().Set("Connection", "close")
		reply(w, nethttp.StatusMethodNotAllowed, "use POST")
		return
	}
	if s.token != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.Header().Set("Connection", "close") // do not read what is refused
		reply(w, nethttp.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if r.ContentLength > s.maxBody {
		w.Header().Set("Connection", "close")
		reply(w, nethttp.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes (max_body_bytes)", s.maxBody))
		return
	}
	adm, why := s.admit(r.ContentLength)
	if adm == nil {
		w.Header().Set("Connection", "close")
		retryLater(w, why)
		return
	}
	defer adm.release()
	body, code, why := s.readBody(w, r, adm)
	if code != 0 {
		w.Header().Set("Connection", "close")
		if code == nethttp.StatusServiceUnavailable {
			retryLater(w, why)
			return
		}
		reply(w, code, why)
		return
	}
	// The body is in: waiting for the ack is bounded by ack_timeout, and
	// a read deadline passing meanwhile would cancel the request.
	_ = nethttp.NewResponseController(w).SetReadDeadline(time.Time{})
	events, err := s.decode(r, body)
	if err != nil {
		// An event the pipeline would refuse is refused here, before it
		// is acknowledged to the client.
		code := nethttp.StatusBadRequest
		if errors.Is(err, pluginsdk.ErrEventTooLarge) {
			code = nethttp.StatusRequestEntityTooLarge
		}
		reply(w, code, err.Error())
		return
	}
	if len(events) == 0 {
		reply(w, nethttp.StatusOK, `{"accepted":0}`)
		return
	}
	req, status := s.enqueue(events)
	if req == nil {
		retryLater(w, status)
		return
	}
	timer := time.NewTimer(s.ackTimeout)
	defer timer.Stop()
	select {
	case <-req.acked:
		reply(w, nethttp.StatusOK, fmt.Sprintf(`{"accepted":%d}`, len(events)))
		return
	case <-timer.C:
		status = "not acknowledged by the pipeline within ack_timeout"
	case <-s.stopping:
		status = "the pipeline is stopping"
	case <-r.Context().Done():
		status = "the client went away"
	}
	if s.withdraw(req) {
		status += "; nothing of it was taken"
	} else {
		status += "; retry: its events may then arrive twice, under the same ids"
	}
	retryLater(w, status)
}

func (s *Source) authorized(r *nethttp.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

func reply(w nethttp.ResponseWriter, code int, msg string) {
	if !strings.HasPrefix(msg, "{") {
		b, _ := json.Marshal(map[string]string{"error": msg})
		msg = string(b)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

func retryLater(w nethttp.ResponseWriter, why string) {
	w.Header().Set("Retry-After", "1")
	reply(w, nethttp.StatusServiceUnavailable, why)
}

// decode turns a body into events.
func (s *Source) decode(r *nethttp.Request, body []byte) ([]pluginsdk.Event, error) {
	if s.raw {
		e := pluginsdk.Event{
			ID: r.Header.Get("Idempotency-Key"), Type: s.rawType, Time: time.Now().UTC(),
			ContentType: r.Header.Get("Content-Type"), Data: body,
			Attributes: []pluginsdk.Attribute{{Key: "http.path", Value: r.URL.Path}},
		}
		if err := e.Validate(); err != nil {
			return nil, err
		}
		return []pluginsdk.Event{e}, nil
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty body: send an event object, an array of them, or JSON lines")
	}
	var raws []json.RawMessage
	if trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, fmt.Errorf("body is not a JSON array of events: %w", err)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("event %d: %w", len(raws)+1, err)
			}
			raws = append(raws, raw)
		}
	}
	events := make([]pluginsdk.Event, 0, len(raws))
	for i, raw := range raws {
		e, err := jsonl.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// enqueue queues a request's events, or says why it cannot.
func (s *Source) enqueue(events []pluginsdk.Event) (*request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, "the pipeline is stopping"
	}
	for i := range events {
		if events[i].ID == "" {
			s.ids++
			events[i].ID = fmt.Sprintf("%x-%d", s.epoch, s.ids)
		}
	}
	req := &request{events: events, acked: make(chan struct{})}
	s.queue = append(s.queue, req)
	close(s.ready)
	s.ready = make(chan struct{})
	return req, ""
}

// withdraw takes a request out of the queue if Read has not touched it,
// and reports whether it did; otherwise it forgets the request (its ack
// will find nothing).
func (s *Source) withdraw(req *request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.queue {
		if q == req {
			if q.next == 0 {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				return true
			}
			return false
		}
	}
	return false
}

// Read hands out queued events, waiting for some.
func (s *Source) Read(ctx context.Context, limit int) ([]pluginsdk.Record, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			recs := s.take(max(limit, 1))
			s.mu.Unlock()
			return recs, nil
		}
		ready := s.ready
		s.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// take hands out up to limit events; s.mu is held.
func (s *Source) take(limit int) []pluginsdk.Record {
	var recs []pluginsdk.Record
	for len(recs) < limit && len(s.queue) > 0 {
		req := s.queue[0]
		for req.next < len(req.events) && len(recs) < limit {
			s.seq++
			recs = append(recs, pluginsdk.Record{Event: req.events[req.next], Position: Position(s.epoch, s.seq)})
			req.next++
		}
		if req.next == len(req.events) {
			req.lastSeq = s.seq
			s.queue = s.queue[1:]
			s.inflight = append(s.inflight, req)
		}
	}
	return recs
}

// Ack answers every request whose events are all at or before pos.
func (s *Source) Ack(_ context.Context, pos pluginsdk.Position) error {
	epoch, seq, err := ParsePosition(pos)
	if err != nil {
		return fmt.Errorf("http source: ack: %w", err)
	}
	if epoch != s.epoch {
		return nil // an earlier process's: its senders were already answered with an error
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.inflight) && s.inflight[n].lastSeq <= seq {
		close(s.inflight[n].acked)
		n++
	}
	s.inflight = append(s.inflight[:0], s.inflight[n:]...)
	return nil
}

// Teardown answers waiting requests 503 and stops the server. It is safe
// after a failed or missing Open.
func (s *Source) Teardown(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.stopping)
	}
	s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("http source: shutdown: %w", err)
	}
	return nil
}

// ParsePosition splits an http source position (for tests and tools).
func ParsePosition(p pluginsdk.Position) (epoch, seq uint64, err error) {
	if len(p) != 16 {
		return 0, 0, errors.New("not an http position (16 bytes): " + strconv.Quote(hex.EncodeToString(p)))
	}
	return binary.BigEndian.Uint64(p[:8]), binary.BigEndian.Uint64(p[8:]), nil
}

// debugWriter logs what net/http reports about its clients at debug level.
type debugWriter struct{ log pluginsdk.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
