// Package describe gives, in-process, the description a plugin binary
// prints when run with the argument `describe` (its name, version, protocol
// versions and component schemas). flowctl describes its built-in plugins
// this way, without starting them. Plugin authors do not need it.
package describe

import (
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/internal/sdkhooks"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Schema is p's description.
func Schema(p pluginsdk.Plugin) *flowctlv1.GetSchemaResponse {
	return sdkhooks.Schema(p)
}
