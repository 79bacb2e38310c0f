// Package wire is the flowctl plugin protocol's shared vocabulary: what the
// host and pluginsdk must agree on beyond the generated messages of
// proto/flowctl/v1.
//
// It holds the component Kind and the on_error ErrorMode (one type each,
// used by the language, the host and the SDK alike), the go-plugin
// handshake and protocol versions, the environment variables and file
// names through which the host configures a plugin process, the gRPC
// transport settings both ends of a plugin connection use, and the process
// defaults (garbage collection, profiling) of every flowctl process.
//
// Plugin authors never import it: pluginsdk is their API. The host
// imports it instead of pluginsdk's internals, so the SDK's exported
// surface is only what authors use. It imports nothing of the host or the
// SDK.
package wire
