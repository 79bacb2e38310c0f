// Package redact scrubs a run's sensitive values out of text on its way to
// a person or a file.
//
// The pipeline language keeps sensitive values marked (see the hcl
// package), so flowctl itself never formats one into a message. Plugins
// receive them as plain configuration, though, and a plugin's error or log
// line can quote one: an HTTP client's error names the URL it posted to,
// token and all. A Redactor knows the text of the run's sensitive values and
// replaces each occurrence, also in its common encodings (URL query and path
// escaping, JSON string escaping), with Placeholder. The host passes
// everything a plugin says through one before it is logged, shown, stored
// in the registry or returned as an error.
//
// Values shorter than MinLength are not scrubbed from free text: replacing
// every "1" or "on" would destroy the message and protect nothing. They are
// still never printed by flowctl itself.
//
// A nil *Redactor redacts nothing, so code paths without sensitive values
// need no special case.
package redact

import (
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Placeholder replaces a sensitive value.
const Placeholder = "(sensitive value)"

// MinLength is the shortest value that is scrubbed.
const MinLength = 4

// Redactor replaces known sensitive values in text. It is safe for
// concurrent use; Add may be called while others redact.
type Redactor struct {
	mu       sync.RWMutex
	values   map[string]bool
	replacer *strings.Replacer
}

// New returns a Redactor for values.
func New(values ...string) *Redactor {
	r := &Redactor{values: map[string]bool{}}
	r.Add(values...)
	return r
}

// Add makes r scrub values too.
func (r *Redactor) Add(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		for _, form := range forms(v) {
			if len(form) >= MinLength && !r.values[form] {
				r.values[form] = true
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	// Longest first, so a value that contains another is replaced whole.
	all := make([]string, 0, len(r.values))
	for v := range r.values {
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, Placeholder)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// forms are the ways v is commonly written into a message.
func forms(v string) []string {
	out := []string{v, url.QueryEscape(v), url.PathEscape(v)}
	if b, err := json.Marshal(v); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	// A multi-line value (a PEM key) may be quoted line by line.
	if strings.Contains(v, "\n") {
		for _, line := range strings.Split(v, "\n") {
			if len(strings.TrimSpace(line)) >= 16 {
				out = append(out, line)
			}
		}
	}
	return out
}

// Empty says whether r scrubs nothing.
func (r *Redactor) Empty() bool {
	if r == nil {
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.replacer == nil
}

// String returns s with every sensitive value replaced.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Strings redacts each element of ss in place and returns ss.
func (r *Redactor) Strings(ss []string) []string {
	for i, s := range ss {
		ss[i] = r.String(s)
	}
	return ss
}

// Error returns err with a redacted message. The result unwraps to err, so
// errors.Is and errors.As still see what it wraps; only the text changes.
// It returns err itself when there is nothing to redact.
func (r *Redactor) Error(err error) error {
	if err == nil || r.Empty() {
		return err
	}
	msg := err.Error()
	red := r.String(msg)
	if red == msg {
		return err
	}
	return &redacted{msg: red, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// Writer returns a writer that redacts each Write before passing it to w.
// It relies on writers above it writing whole lines (hclog does, and so do
// fmt.Fprintf calls): a value split across two writes is not seen.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	return &writer{r: r, w: w}
}

type writer struct {
	r *Redactor
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if w.r.Empty() {
		return w.w.Write(p)
	}
	s := w.r.String(string(p))
	if _, err := io.WriteString(w.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
