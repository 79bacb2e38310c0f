package wire

// Environment variables through which the host configures a plugin process.
const (
	// EnvLogLevel is the log level plugins should use (trace, debug, info,
	// warn, error).
	EnvLogLevel = "FLOWCTL_LOG_LEVEL"

	// EnvCPUProfileDir names a directory into which every flowctl process —
	// the host and each plugin it starts — writes a CPU profile
	// (NAME-PID.pprof) for `go tool pprof`. Unset, nothing is profiled.
	EnvCPUProfileDir = "FLOWCTL_CPUPROFILE_DIR"
)

// Network mode: a plugin in a container or a pod has no go-plugin parent to
// start it and read its handshake from a pipe. When the host sets EnvListen,
// the plugin listens on that TCP address instead, with mutual TLS from
// certificates the host issued for the run, and prints the go-plugin
// handshake line on its standard output, where the driver reads it:
//
//	CORE-PROTOCOL|APP-PROTOCOL|tcp|ADDRESS|grpc|
const (
	// EnvListen is the TCP address to serve on, e.g. ":7777". Setting it
	// selects network mode.
	EnvListen = "FLOWCTL_PLUGIN_LISTEN"
	// EnvHealthListen, when set, is a TCP address where plain HTTP GET
	// /healthz answers 200 while the component is healthy and 503 when it
	// is not: a readiness probe for orchestrators that cannot speak TLS
	// gRPC. It reveals nothing but that status.
	EnvHealthListen = "FLOWCTL_PLUGIN_HEALTH_LISTEN"
	// EnvTLSCert, EnvTLSKey and EnvTLSCA carry the plugin's certificate,
	// its key and the run's CA as PEM text.
	EnvTLSCert = "FLOWCTL_PLUGIN_TLS_CERT"
	EnvTLSKey  = "FLOWCTL_PLUGIN_TLS_KEY"
	EnvTLSCA   = "FLOWCTL_PLUGIN_TLS_CA"
	// EnvTLSDir names a directory holding the same as files (TLSCertFile,
	// TLSKeyFile, TLSCAFile), for example a mounted Kubernetes Secret. It is
	// used when EnvTLSCert is not set.
	EnvTLSDir = "FLOWCTL_PLUGIN_TLS_DIR"
	// EnvProtocolVersions is go-plugin's list of the protocol versions the
	// host speaks, comma-separated.
	EnvProtocolVersions = "PLUGIN_PROTOCOL_VERSIONS"
)

// File names inside EnvTLSDir (those of a kubernetes.io/tls Secret, plus the
// CA).
const (
	TLSCertFile = "tls.crt"
	TLSKeyFile  = "tls.key"
	TLSCAFile   = "ca.crt"
)

// Self-registration. A plugin started outside flowctl (by a container
// runtime, a test, another orchestrator) with EnvEndpoint set registers
// itself with that control plane, sends heartbeats with its metrics, and
// deregisters when it stops. The host clears EnvEndpoint for the plugins it
// starts: it registers those itself. It gives each of them instead its
// component id (EnvComponentID), its own plugin credential (EnvToken, see
// PluginCredential: never the run's token) and the run's control plane
// (EnvRunEndpoint), with which a plugin may report about itself and about
// nothing else.
const (
	EnvEndpoint = "FLOWCTL_ENDPOINT"
	// EnvComponentID names the registration; default <plugin>@<host>:<pid>.
	EnvComponentID = "FLOWCTL_COMPONENT_ID"
	// EnvToken is the bearer token sent to the control plane: a token with
	// a role for components started outside flowctl, the plugin's own
	// credential for plugins the host starts.
	EnvToken = "FLOWCTL_TOKEN"
	// EnvRunEndpoint is the address of the control plane of the run that
	// started the plugin (host:port).
	EnvRunEndpoint = "FLOWCTL_RUN_ENDPOINT"
	// EnvEndpointCA turns TLS on and verifies the control plane with this
	// CA; EnvEndpointCert and EnvEndpointKey are the client certificate for
	// mutual TLS. (EnvTLSCert and friends are network mode's.)
	EnvEndpointCA   = "FLOWCTL_TLS_CA"
	EnvEndpointCert = "FLOWCTL_TLS_CERT"
	EnvEndpointKey  = "FLOWCTL_TLS_KEY"
)

// Attributes a dead-lettered event carries: why it failed, where, and how
// often it was tried.
const (
	AttrError     = "flowctl.error"
	AttrComponent = "flowctl.component"
	AttrAttempts  = "flowctl.attempts"
)
