package supervisor

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/go-plugin"

	"github.com/flowctl/flowctl/proto/wire"
)

// explain turns go-plugin's handshake errors, written for plugin authors,
// into what went wrong and what to do, for the person running the pipeline.
// go-plugin reports them as plain strings, so they are recognised by text;
// an unrecognised error is returned as it is.
func (in *Instance) explain(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("%s changed after flowctl checked it against the lock file (its SHA-256 no longer matches): "+
			"reinstall the plugin, or run `flowctl plugins lock` if you trust the new binary: %w", in.Path, err)
	case strings.HasPrefix(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("%s did not complete the plugin handshake within %v (--start-timeout); "+
			"it may be waiting for something at startup, or not be a flowctl plugin: %w", in.Path, in.startTimeout, err)
	case strings.Contains(msg, "Failed to read any lines from plugin's stdout"),
		strings.HasPrefix(msg, "plugin exited before we could connect"):
		if in.stderr.Contains("This binary is a plugin") {
			return fmt.Errorf("%s exited at once: it did not accept flowctl's magic cookie, so it is not a flowctl plugin "+
				"(or it was built for another program)", in.Path)
		}
		return fmt.Errorf("%s exited before completing the plugin handshake", in.Path)
	case strings.HasPrefix(msg, "Unrecognized remote plugin message: "):
		line, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n")
		return fmt.Errorf("%s printed %q on its standard output before the plugin handshake; "+
			"a plugin must write nothing to stdout before pluginsdk.Serve (log to stderr instead)", in.Path, line)
	case strings.HasPrefix(msg, "incompatible API version with plugin"):
		v := "another version"
		if m := pluginVersionRE.FindStringSubmatch(msg); m != nil {
			v = "version " + m[1]
		}
		ours := ProtocolList(wire.ProtocolVersions)
		return fmt.Errorf("%s speaks flowctl plugin protocol %s, but this flowctl speaks %s: "+
			"install a release of the plugin built for protocol %s", in.Path, v, ours, ours)
	}
	return err
}

// ProtocolList names protocol versions for a message: "1", or "1 or 2".
func ProtocolList[T int | uint32](versions []T) string {
	vs := make([]string, len(versions))
	for i, v := range versions {
		vs[i] = strconv.Itoa(int(v))
	}
	if len(vs) < 2 {
		return strings.Join(vs, "")
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}

var pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)
