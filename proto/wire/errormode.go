package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrorMode is what a processor or sink does with events it fails: its
// on_error setting. The zero value is ErrorFail, the default.
type ErrorMode int

// The error modes.
const (
	// ErrorFail stops the pipeline; nothing past the failure is acked.
	ErrorFail ErrorMode = iota
	// ErrorRetry sends the failed events again with backoff; events whose
	// retries run out go to the dead-letter sink when there is one, and
	// otherwise fail the run.
	ErrorRetry
	// ErrorDeadLetter sends the failed events, with the error attached, to
	// the dead-letter sink.
	ErrorDeadLetter
)

// ErrorModes lists the valid modes in the order diagnostics name them.
var ErrorModes = []ErrorMode{ErrorFail, ErrorRetry, ErrorDeadLetter}

// ErrInvalidErrorMode is returned (wrapped) by ParseErrorMode for a word
// that names no mode.
var ErrInvalidErrorMode = errors.New("invalid on_error mode")

// String returns the mode as written in on_error.
func (m ErrorMode) String() string {
	switch m {
	case ErrorFail:
		return "fail"
	case ErrorRetry:
		return "retry"
	case ErrorDeadLetter:
		return "dead_letter"
	}
	return "ErrorMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseErrorMode parses an on_error value ("fail", "retry", "dead_letter").
func ParseErrorMode(s string) (ErrorMode, error) {
	for _, m := range ErrorModes {
		if m.String() == s {
			return m, nil
		}
	}
	quoted := make([]string, len(ErrorModes))
	for i, m := range ErrorModes {
		quoted[i] = strconv.Quote(m.String())
	}
	return 0, fmt.Errorf("%w %q: want %s or %s", ErrInvalidErrorMode, s,
		strings.Join(quoted[:len(quoted)-1], ", "), quoted[len(quoted)-1])
}
