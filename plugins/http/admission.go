package http

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	nethttp "net/http"
)

// What a hostile or broken client can hold, and for how long, is bounded:
//
//   - connections: max_connections (the listener accepts no more; further
//     ones wait in the kernel's backlog);
//   - headers: read_header_timeout and maxHeaderBytes per request;
//   - requests: max_pending_requests admitted at once, counted from before
//     the body is read until the answer, so a refusal costs no body bytes;
//   - bodies: read_body_timeout to send one, max_body_bytes each, and
//     max_pending_bytes for all admitted requests together. A body of
//     declared length reserves it all at admission; one of unknown length
//     (chunked) reserves each step of its buffer's growth before reading
//     into it. The buffer grows with the bytes that arrive, so a stalled
//     upload holds little memory, and never more than it reserved.
//
// Body memory is thus at most max_pending_bytes; decoded events, held until
// their request is answered, are about as large again.

// maxHeaderBytes bounds one request's headers (net/http's default is 1 MiB).
const maxHeaderBytes = 64 << 10

// firstRead is the buffer a body of unknown length starts with.
const firstRead = 4 << 10

// admission is an admitted request's share of the limits.
type admission struct {
	s    *Source
	held int64 // bytes reserved
}

// admit takes a request in before its body is read, or says why not.
// declared is its Content-Length, -1 when unknown.
func (s *Source) admit(declared int64) (*admission, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return nil, "the pipeline is stopping"
	case s.pending >= s.maxPending:
		return nil, fmt.Sprintf("%d requests are waiting for the pipeline (max_pending_requests)", s.maxPending)
	case declared > 0 && s.held+declared > s.maxBytes:
		return nil, fmt.Sprintf("%d bytes of requests are waiting for the pipeline (max_pending_bytes)", s.held)
	}
	s.pending++
	a := &admission{s: s, held: max(declared, 0)}
	s.held += a.held
	return a, ""
}

// reserve raises the admission's reservation to n bytes, if the budget
// allows.
func (a *admission) reserve(n int64) bool {
	if n <= a.held {
		return true
	}
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held+n-a.held > s.maxBytes {
		return false
	}
	s.held += n - a.held
	a.held = n
	return true
}

// release gives the admission back, once its request is answered.
func (a *admission) release() {
	s := a.s
	s.mu.Lock()
	s.pending--
	s.held -= a.held
	a.held = 0
	s.mu.Unlock()
}

// bodyDeadline gives every request, on any path, read_body_timeout to send
// its body: net/http drops the header deadline once the headers are in, and
// would wait for ever to drain the body of a request answered unread.
func (s *Source) bodyDeadline(h nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		// net/http's writers support it; the error is for other servers'.
		_ = nethttp.NewResponseController(w).SetReadDeadline(time.Now().Add(s.bodyWait))
		h.ServeHTTP(w, r)
	})
}

// readBody reads the body within read_body_timeout and the admission's
// reservation. On failure it returns the status to answer and why.
func (s *Source) readBody(w nethttp.ResponseWriter, r *nethttp.Request, a *admission) ([]byte, int, string) {
	src := nethttp.MaxBytesReader(w, r.Body, s.maxBody)
	declared := r.ContentLength
	limit := s.maxBody + 1 // MaxBytesReader reads one byte past the limit to notice it
	if declared >= 0 {
		limit = declared
	}
	first := min(limit, firstRead)
	if !a.reserve(first) {
		return nil, nethttp.StatusServiceUnavailable, fullBudget(s)
	}
	buf := make([]byte, 0, first)
	for declared < 0 || int64(len(buf)) < declared {
		if len(buf) == cap(buf) {
			next := min(int64(cap(buf))*2, limit)
			if next <= int64(cap(buf)) { // MaxBytesReader has said so already
				return bodyError(&nethttp.MaxBytesError{Limit: s.maxBody}, s)
			}
			// The byte past max_body_bytes is not worth a 503.
			if !a.reserve(min(next, s.maxBody)) {
				return nil, nethttp.StatusServiceUnavailable, fullBudget(s)
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bodyError(err, s)
		}
	}
	return buf, 0, ""
}

func fullBudget(s *Source) string {
	return fmt.Sprintf("bodies of waiting requests fill max_pending_bytes (%d bytes)", s.maxBytes)
}

// bodyError maps a failed body read to its answer.
func bodyError(err error, s *Source) ([]byte, int, string) {
	var tooBig *nethttp.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, nethttp.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes (max_body_bytes)", s.maxBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, nethttp.StatusRequestTimeout, fmt.Sprintf("body not received within %s (read_body_timeout)", s.bodyWait)
	}
	return nil, nethttp.StatusBadRequest, "read body: " + err.Error()
}
