package redact

import (
	"fmt"
	"io"
	"log"

	"github.com/hashicorp/go-hclog"
)

// Logger returns l with every message and argument redacted by r: the
// host's log carries plugins' errors and relayed plugin log lines, any of
// which may quote a sensitive value. Loggers derived from it (Named, With)
// redact too.
func Logger(l hclog.Logger, r *Redactor) hclog.Logger {
	if r == nil {
		return l
	}
	if rl, ok := l.(*logger); ok && rl.r == r {
		return l
	}
	return &logger{Logger: l, r: r}
}

type logger struct {
	hclog.Logger
	r *Redactor
}

var _ hclog.Logger = (*logger)(nil)

// args redacts key/value arguments. Values that are not strings are
// formatted only when that shows a sensitive value, so numbers and
// durations keep their type for JSON output.
func (l *logger) args(args []any) []any {
	if l.r.Empty() {
		return args
	}
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case nil:
			out[i] = v
		case string:
			out[i] = l.r.String(v)
		case error:
			out[i] = l.r.Error(v)
		case bool, int, int32, int64, uint, uint32, uint64, float32, float64:
			out[i] = v
		default:
			s := fmt.Sprint(v)
			if red := l.r.String(s); red != s {
				out[i] = red
			} else {
				out[i] = v
			}
		}
	}
	return out
}

func (l *logger) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, l.r.String(msg), l.args(args)...)
}
func (l *logger) Trace(msg string, args ...any) { l.Logger.Trace(l.r.String(msg), l.args(args)...) }
func (l *logger) Debug(msg string, args ...any) { l.Logger.Debug(l.r.String(msg), l.args(args)...) }
func (l *logger) Info(msg string, args ...any)  { l.Logger.Info(l.r.String(msg), l.args(args)...) }
func (l *logger) Warn(msg string, args ...any)  { l.Logger.Warn(l.r.String(msg), l.args(args)...) }
func (l *logger) Error(msg string, args ...any) { l.Logger.Error(l.r.String(msg), l.args(args)...) }

func (l *logger) With(args ...any) hclog.Logger {
	return &logger{Logger: l.Logger.With(l.args(args)...), r: l.r}
}
func (l *logger) Named(name string) hclog.Logger {
	return &logger{Logger: l.Logger.Named(name), r: l.r}
}
func (l *logger) ResetNamed(name string) hclog.Logger {
	return &logger{Logger: l.Logger.ResetNamed(name), r: l.r}
}

func (l *logger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *logger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return l.r.Writer(l.Logger.StandardWriter(opts))
}
