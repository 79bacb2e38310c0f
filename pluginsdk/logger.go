package pluginsdk

import (
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/flowctl/flowctl/proto/wire"
)

// newHCLogger returns the logger a plugin process writes: hclog JSON on
// stderr, which the host (go-plugin) parses and relays under the
// component's name. The level comes from FLOWCTL_LOG_LEVEL.
func newHCLogger(name string) hclog.Logger {
	level := hclog.LevelFromString(strings.TrimSpace(os.Getenv(wire.EnvLogLevel)))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// hcLogger is the SDK's Logger over hclog, the host's logging library, so
// plugin authors need not import it.
type hcLogger struct{ l hclog.Logger }

var _ Logger = hcLogger{}

func (h hcLogger) Debug(msg string, args ...any) { h.l.Debug(msg, args...) }
func (h hcLogger) Info(msg string, args ...any)  { h.l.Info(msg, args...) }
func (h hcLogger) Warn(msg string, args ...any)  { h.l.Warn(msg, args...) }
func (h hcLogger) Error(msg string, args ...any) { h.l.Error(msg, args...) }
func (h hcLogger) With(args ...any) Logger       { return hcLogger{h.l.With(args...)} }
func (h hcLogger) Named(name string) Logger      { return hcLogger{h.l.Named(name)} }
