package pluginsdk

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flowctl/flowctl/proto/wire"
)

// Serve runs p as a plugin process and exits when the host is done with it.
// Call it from main. It reads the program's arguments (os.Args[1:]): with
// the single argument `describe` it prints the plugin's schema as JSON and
// exits without a handshake. A binary that serves plugins as one of several
// modes (flowctl itself) sets os.Args to the program name and the plugin's
// arguments before it calls Serve.
func Serve(p Plugin) {
	os.Exit(serve(p, os.Args[1:], os.Stdout, os.Stderr))
}

// serve is Serve without the exit; it returns the exit code.
func serve(p Plugin, args []string, stdout, stderr io.Writer) int {
	if err := p.validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if len(args) > 0 {
		switch args[0] {
		case "describe":
			return describe(p, stdout, stderr)
		case "-h", "-help", "--help", "help":
			fmt.Fprintf(stdout, "%s %s is a flowctl plugin. flowctl starts it; run it with the argument `describe` to print its components and their configuration as JSON.\n", p.Name, p.Version)
			return 0
		}
	}
	wire.SetGCDefaults(wire.PluginMemoryLimit)
	log := newHCLogger(p.Name)
	stopProfile, err := wire.StartCPUProfile(p.Name)
	if err != nil {
		log.Warn("cannot profile", "error", err)
	}
	defer stopProfile()
	if addr := os.Getenv(wire.EnvListen); addr != "" {
		return serveNetwork(p, addr, log, stdout)
	}
	var stop atomic.Pointer[func(context.Context)]
	register := func(s *grpc.Server) {
		fn := registerServices(s, p, log).teardown
		stop.Store(&fn)
	}
	go watchParent(log, os.Getppid(), func() {
		if fn := stop.Load(); fn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			(*fn)(ctx)
		}
	})
	ann := announce(p, log) // nil unless FLOWCTL_ENDPOINT is set
	defer ann.stop()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.HandshakeConfig(),
		VersionedPlugins: wire.VersionedPlugins(register),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return ann.grpcServer(append(opts, wire.ServerOptions()...))
		},
		Logger: log,
	})
	return 0
}

func describe(p Plugin, stdout, stderr io.Writer) int {
	out, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(p.schema())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, string(out))
	return 0
}

// watchParent exits the process when the host that started it is gone, so
// no plugin outlives a SIGKILLed host. The kernel's parent-death signal
// covers most cases; this covers the rest (and hosts on other systems).
func watchParent(log hclog.Logger, ppid int, cleanup func()) {
	if ppid <= 1 {
		return // started by init or a container runtime: nothing to watch
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			log.Error("flowctl host exited; stopping plugin", "host_pid", ppid)
			cleanup()
			os.Exit(2)
		}
	}
}
