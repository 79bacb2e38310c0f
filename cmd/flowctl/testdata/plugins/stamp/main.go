// Command stamp is a third-party-style plugin for flowctl's catalog tests: a
// processor that writes its own version into every event's "stamped_by"
// attribute, so a test can see which installed version ran.
//
// The build sets its version and, for the bad-plugin tests, a misbehaviour
// (-ldflags "-X main.version=1.2.0 -X main.mode=stdout"):
//
//	stdout     prints a line on stdout before the handshake
//	cookie     answers with another program's magic cookie
//	protocol9  speaks (and describes) plugin protocol version 9 only
//	protocol9-handshake  describes itself as protocol 1 but handshakes as 9
//	exit       writes an error to stderr and exits 3 when started
//	hang       never completes the handshake
//	probe      when opened, tries what a plugin may and may not do on the
//	           run's control plane (probe.go) and writes probe.json
//	slow-describe  takes a minute to answer `describe`
//	multi      also serves the sinks "counter" (writes how many events it
//	           was sent to a file) and "discard" (a built-in's name; it
//	           refuses every batch, so a run that uses it fails)
//	badsocket  completes the handshake with a socket that does not exist
//	protocol2  handshakes as protocol 2 at most, as a plugin built with the
//	           SDK before parallel components would
//
// `stamp probe ENDPOINT VICTIM` runs the same probe as a plain client.
// `describe` works in every mode except protocol9, which describes itself
// honestly as a version 9 plugin, and slow-describe.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/proto/wire"
)

var (
	version = "1.0.0"
	mode    = ""
)

func main() {
	p := pluginsdk.Plugin{
		Name:    "stamp",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewProcessor("stamp", "Writes the plugin's version into the stamped_by attribute.",
				pluginsdk.NewSpec(pluginsdk.String("attribute", "Attribute to write; default stamped_by."),
					pluginsdk.String("probe_victim", "In mode probe: the component whose registration the probe tries to change.")),
				func(init pluginsdk.Init) (pluginsdk.Processor, error) {
					attr := init.Config.String("attribute")
					if attr == "" {
						attr = "stamped_by"
					}
					return &stamper{attr: attr, probeVictim: init.Config.String("probe_victim")}, nil
				}),
		},
	}
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		probeCommand(os.Args[2:])
	}
	if mode == "multi" {
		p.Components = append(p.Components,
			pluginsdk.NewSink("counter", "Writes how many events it was sent to path.",
				pluginsdk.NewSpec(pluginsdk.String("path", "File to write the count to.").Required()),
				func(init pluginsdk.Init) (pluginsdk.Sink, error) {
					return &counter{path: init.Config.String("path")}, nil
				}),
			pluginsdk.NewSink("discard", "Refuses everything: flowctl's own discard must win its name.",
				pluginsdk.NewSpec(),
				func(pluginsdk.Init) (pluginsdk.Sink, error) { return refuser{}, nil }))
	}
	describing := len(os.Args) > 1 && os.Args[1] == "describe"
	switch {
	case mode == "protocol9":
		if describing {
			fmt.Printf(`{"name": "stamp", "version": %q, "protocol_versions": [9], "components": []}`+"\n", version)
			os.Exit(0)
		}
		serveWith(9, wire.MagicCookieValue)
	case describing && mode == "slow-describe":
		time.Sleep(time.Minute)
	case describing:
	case mode == "protocol9-handshake":
		serveWith(9, wire.MagicCookieValue)
	case mode == "stdout":
		fmt.Println("stamp: warming up")
	case mode == "cookie":
		serveWith(1, "some-other-program")
	case mode == "exit":
		fmt.Fprintln(os.Stderr, "stamp: cannot read /etc/stamp/license: no such file or directory")
		os.Exit(3)
	case mode == "hang":
		time.Sleep(time.Hour)
	case mode == "protocol2":
		// go-plugin answers with the highest version both sides list.
		if err := os.Setenv(wire.EnvProtocolVersions, "1,2"); err != nil {
			panic(err)
		}
	case mode == "badsocket":
		fmt.Printf("1|%d|unix|/nonexistent/flowctl-stamp.sock|grpc|\n", wire.ProtocolVersions[0])
		time.Sleep(time.Hour)
	}
	pluginsdk.Serve(p)
}

// serveWith serves with a handshake flowctl does not accept.
func serveWith(protocol int, cookie string) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion: uint(protocol), MagicCookieKey: wire.MagicCookieKey, MagicCookieValue: cookie,
		},
		VersionedPlugins: map[int]plugin.PluginSet{protocol: {wire.PluginSetName: &wire.GRPCPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
	os.Exit(0)
}

type stamper struct{ attr, probeVictim string }

func (s *stamper) Open(context.Context) error {
	if mode == "probe" {
		go probeAsPlugin(s.probeVictim)
	}
	return nil
}

func (s *stamper) Process(_ context.Context, in pluginsdk.Event, emit func(pluginsdk.Event)) error {
	in.SetAttribute(s.attr, "stamp "+version)
	emit(in)
	return nil
}

func (s *stamper) Teardown(context.Context) error { return nil }

type counter struct {
	path string
	n    int
}

func (c *counter) Open(context.Context) error { return nil }

func (c *counter) Write(_ context.Context, batch []pluginsdk.Event) error {
	c.n += len(batch)
	return os.WriteFile(c.path, []byte(strconv.Itoa(c.n)), 0o644)
}

func (c *counter) Teardown(context.Context) error { return nil }

type refuser struct{}

func (refuser) Open(context.Context) error { return nil }

func (refuser) Write(context.Context, []pluginsdk.Event) error {
	return errors.New("stamp's discard sink was used instead of flowctl's")
}

func (refuser) Teardown(context.Context) error { return nil }
