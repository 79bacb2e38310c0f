package http

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	nethttp "net/http"

	"github.com/flowctl/flowctl/plugins/internal/testserver"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
)

// Hostile clients, over real loopback connections to the real source: what
// they can hold is bounded, and they are disconnected after the timeouts.

// hostileConfig is small enough for a test to reach every limit.
func hostileConfig(addr string) map[string]any {
	return map[string]any{
		"address": addr, "ack_timeout": "10s",
		"read_header_timeout": "1s", "read_body_timeout": "2s",
		"max_body_bytes": 4 << 20, "max_pending_bytes": 8 << 20, "max_connections": 64,
	}
}

// dialWhenUp connects once the source listens.
func dialWhenUp(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens at %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// closedWithin reads c until the server closes it and returns the status
// of the answer it got first (0 for none); it fails when c is still open
// after d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	br := bufio.NewReader(c)
	code := 0
	if resp, err := nethttp.ReadResponse(br, nil); err == nil {
		code = resp.StatusCode
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s (answer %d)", d, code)
	}
	return code
}

// Twenty uploads that send 3 MiB and stall, and three that send a byte of
// body every 500 ms: the source's heap grows by at most max_pending_bytes
// plus 8 MiB (without the bounds it held every stalled body: 60 MiB and
// more), every connection is closed once read_body_timeout has passed, and
// afterwards a full request is taken again (the budget was given back).
func TestSourceBoundsStalledAndSlowUploads(t *testing.T) {
	addr := testserver.FreeAddr(t)
	st := openSource(t, hostileConfig(addr))
	dialWhenUp(t, addr)
	// The clients' memory counts in the heap too: they share one payload,
	// made before the baseline, and write it without copying.
	payload := bytes.Repeat([]byte("x"), 3<<20)
	base := heapInUse()

	var wg sync.WaitGroup
	slow := make([]net.Conn, 3)
	stop := make(chan struct{})
	for i := range slow {
		c := dialWhenUp(t, addr)
		slow[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.WriteString(c, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
			for {
				if _, err := io.WriteString(c, "["); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // the slow uploads are admitted first
	stalled := make([]net.Conn, 20)
	for i := range stalled {
		c := dialWhenUp(t, addr)
		stalled[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half declare a length the budget cannot take for all, half
			// are chunked; write errors are the server refusing them.
			if i%2 == 0 {
				_, _ = fmt.Fprintf(c, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(payload)+1)
				_, _ = c.Write(payload)
			} else {
				_, _ = io.WriteString(c, "POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
				_, _ = fmt.Fprintf(c, "%x\r\n", len(payload))
				_, _ = c.Write(payload)
			}
		}()
	}
	start := time.Now()
	time.Sleep(1500 * time.Millisecond) // the uploads are in, and stalled
	grown := int64(heapInUse()) - int64(base)
	runtime.KeepAlive(payload)

	const bound = 8<<20 + 8<<20 // max_pending_bytes + 8 MiB
	t.Logf("heap grew by %.1f MiB under 20 stalled and 3 slow uploads (bound %d MiB)", float64(grown)/(1<<20), bound>>20)
	if grown > bound {
		t.Errorf("heap grew by %d bytes, over the bound of %d", grown, bound)
	}

	// read_body_timeout is 2s: everything is closed by then, with slack
	// for a loaded machine.
	limit := 2*time.Second + 5*time.Second - time.Since(start)
	codes := map[int]int{}
	for i, c := range append(slow, stalled...) {
		code := closedWithin(t, c, limit)
		if i < len(slow) && code != nethttp.StatusRequestTimeout {
			t.Errorf("slow upload %d answered %d, want 408", i, code)
		}
		codes[code]++
	}
	close(stop)
	wg.Wait()
	t.Logf("answers: %v", codes)
	if codes[nethttp.StatusRequestTimeout] < len(slow)+1 {
		t.Errorf("%d answers 408, want the %d slow uploads' and those of the stalled ones the budget took", codes[nethttp.StatusRequestTimeout], len(slow))
	}
	if codes[nethttp.StatusServiceUnavailable] == 0 {
		t.Error("no upload was refused 503: the budget took them all")
	}

	// The budget is free again: a body of nearly max_body_bytes is taken.
	body := eventsBody(1, 30000)
	if len(body) < 2<<20 {
		t.Fatalf("body of %d bytes is too small to need the freed budget", len(body))
	}
	answer := post("http://"+addr+"/events", body, nil)
	for got := 0; got < 30000; {
		evs, pos := st.batch()
		got += len(evs)
		st.ack(pos) // and a credit back
	}
	if r := <-answer; r.code != 200 {
		t.Fatalf("after the hostile clients: %+v", r)
	}
}

// answerOf reads one answer from c.
func answerOf(t *testing.T, c net.Conn, within time.Duration) *nethttp.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", within, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

func bodyOf(r *nethttp.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// Admission comes before the body: a request over max_pending_requests or
// max_pending_bytes is answered 503 with Retry-After having sent only its
// headers, and a declared length over max_body_bytes 413.
func TestSourceAdmitsBeforeReadingTheBody(t *testing.T) {
	addr := testserver.FreeAddr(t)
	cfg := hostileConfig(addr)
	cfg["max_pending_requests"] = 2
	cfg["max_pending_bytes"] = 6 << 20
	openSource(t, cfg)
	hold := dialWhenUp(t, addr) // admitted, reserves 4 MiB, sends nothing more
	_, _ = fmt.Fprintf(hold, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 4<<20)
	time.Sleep(200 * time.Millisecond)

	headersOnly := func(length int) *nethttp.Response {
		c := dialWhenUp(t, addr)
		_, _ = fmt.Fprintf(c, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", length)
		return answerOf(t, c, time.Second) // well before read_body_timeout
	}
	r := headersOnly(4 << 20)
	if body := bodyOf(r); r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(body, "(max_pending_bytes)") {
		t.Errorf("over max_pending_bytes: %d %q, Retry-After %q", r.StatusCode, body, r.Header.Get("Retry-After"))
	}
	r = headersOnly(5 << 20)
	if body := bodyOf(r); r.StatusCode != 413 || !strings.Contains(body, "(max_body_bytes)") {
		t.Errorf("over max_body_bytes: %d %q", r.StatusCode, body)
	}
	second := dialWhenUp(t, addr) // the second admitted request
	_, _ = io.WriteString(second, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	r = headersOnly(10)
	if body := bodyOf(r); r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(body, "2 requests are waiting for the pipeline (max_pending_requests)") {
		t.Errorf("over max_pending_requests: %d %q, Retry-After %q", r.StatusCode, body, r.Header.Get("Retry-After"))
	}
}

// Headers sent a byte at a time are cut off after read_header_timeout.
func TestSourceClosesSlowHeaders(t *testing.T) {
	addr := testserver.FreeAddr(t)
	openSource(t, hostileConfig(addr))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	conns := make([]net.Conn, 3)
	for i := range conns {
		c := dialWhenUp(t, addr)
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range []byte("POST /events HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)) {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
	}
	for _, c := range conns {
		closedWithin(t, c, 1*time.Second+5*time.Second)
	}
	close(stop)
	wg.Wait()
}

// Connections over max_connections wait until one closes.
func TestSourceCapsConnections(t *testing.T) {
	addr := testserver.FreeAddr(t)
	cfg := hostileConfig(addr)
	cfg["max_connections"] = 2
	cfg["read_header_timeout"] = "1500ms"
	openSource(t, cfg)
	idle := []net.Conn{dialWhenUp(t, addr), dialWhenUp(t, addr)}
	time.Sleep(200 * time.Millisecond) // both accepted
	third := dialWhenUp(t, addr)       // in the backlog
	_, _ = io.WriteString(third, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, err := third.Read(make([]byte, 1)); n > 0 || err == nil {
		t.Fatal("a third connection was served while two were open")
	}
	idle[0].Close()
	if r := answerOf(t, third, 5*time.Second); r.StatusCode != 405 {
		t.Fatalf("third connection answered %d, want 405", r.StatusCode)
	}
}

func TestSourceLimitConfigErrors(t *testing.T) {
	tests := []struct {
		config map[string]any
		path   string
		want   string
	}{
		{map[string]any{"max_body_bytes": 100, "max_pending_bytes": 99}, "max_pending_bytes", "must be at least max_body_bytes (100)"},
		{map[string]any{"max_connections": 0}, "max_connections", "must be at least 1"},
		{map[string]any{"read_header_timeout": "0s"}, "read_header_timeout", "must be positive"},
		{map[string]any{"read_body_timeout": "-1s"}, "read_body_timeout", "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h := sdktest.New(t, Plugin(version))
			diags, err := h.Configure(t.Context(), sdktest.KindSource, "http", tt.config)
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 || strings.Join(diags[0].GetAttributePath(), ".") != tt.path || !strings.Contains(diags[0].GetDetail(), tt.want) {
				t.Fatalf("diagnostics %v, want one at %s with %q", diags, tt.path, tt.want)
			}
		})
	}
}
