//go:build chaos

package main

import "github.com/flowctl/flowctl/plugins/chaos"

// Chaos builds (`go build -tags chaos`, used by `make chaos`) carry the
// fault-injection plugin, so the fault tests drive a real flowctl binary.
func init() { testPlugins = append(testPlugins, chaos.Plugin) }
