package pluginsdk

import (
	"errors"
)

// Permanent marks err as a failure that restarting the plugin cannot cure:
// a port already in use, a permission denied, a missing directory, a path
// that cannot be written. Returned from Open, Read, Ack, Process or Write,
// it stops the run at once with the component's name and place in the
// pipeline file, instead of being retried by the component's restart
// policy (which would only repeat it, with a log each time). The host sees
// it as the gRPC code FailedPrecondition.
//
// Prefer finding such problems in the constructor (NewSource, NewProcessor,
// NewSink), which `flowctl validate` runs too: an error there is reported
// at the attribute it concerns (NewAttrError), before anything starts.
// Permanent is for what can only be known when the component opens.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// isPermanent reports whether err (or an error it wraps) was marked by
// Permanent.
func isPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

func (e *permanentError) Unwrap() error { return e.err }
