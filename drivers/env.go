package drivers

import (
	"strings"

	"github.com/flowctl/flowctl/proto/wire"
)

// A local plugin does not inherit flowctl's environment. That environment
// holds the run's secrets (FLOWCTL_VAR_ values of sensitive variables, the
// control plane's FLOWCTL_TOKEN, a shell's cloud credentials), and a plugin
// is third-party code that needs none of them unless the pipeline gives them
// to it. A plugin gets:
//
//   - what any program needs to run: PATH, HOME, TMPDIR, the locale (LANG,
//     LC_*) and TZ, taken from flowctl's environment when set there;
//   - flowctl's protocol variables that tune every flowctl process
//     (InheritedProtocolEnv), likewise;
//   - what the host sets for it (Spec.Env: the log level, the socket
//     directory, the component's env attribute), and go-plugin's handshake
//     variables.
//
// Remote drivers never pass flowctl's environment to begin with: a container
// or pod starts from its image's.

// InheritedEnv are the variables a local plugin takes over from flowctl's
// environment; LC_* variables are inherited too.
var InheritedEnv = []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"}

// InheritedProtocolEnv are flowctl's own variables (proto/wire) that a
// plugin inherits: they carry nothing secret and tune every flowctl process
// alike. The control plane's (wire.EnvEndpoint, wire.EnvToken and their TLS
// files) are not among them: the host registers the plugins it starts.
var InheritedProtocolEnv = []string{wire.EnvLogLevel, wire.EnvCPUProfileDir}

// PluginEnv returns a local plugin's environment: the inherited variables
// found in environ (flowctl's, as os.Environ returns it), then extra, whose
// entries win over inherited ones of the same name.
func PluginEnv(environ, extra []string) []string {
	env := make([]string, 0, len(InheritedEnv)+len(extra)+4)
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && inherited(name) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func inherited(name string) bool {
	if strings.HasPrefix(name, "LC_") {
		return true
	}
	for _, n := range InheritedEnv {
		if n == name {
			return true
		}
	}
	for _, n := range InheritedProtocolEnv {
		if n == name {
			return true
		}
	}
	return false
}
