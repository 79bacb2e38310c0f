package catalog

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/go-version"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// verify checks the staged binary and returns the version to install it
// as: the one it reports, or for another platform the one given.
func (in *install) verify(ctx context.Context) (*version.Version, error) {
	if err := checkBinary(in.staged, in.shown, in.opts.Platform); err != nil {
		return nil, err
	}
	if in.opts.Platform != CurrentPlatform() {
		return in.want, nil
	}
	schema, err := in.opts.Describe(ctx, in.staged)
	if err != nil {
		return nil, fmt.Errorf("the binary at %s did not describe itself: %w", in.shown, err)
	}
	return in.checkSchema(schema)
}

// checkSchema refuses a binary that is not the plugin of the address, has
// no semantic version, is not the requested version, or speaks no protocol
// this flowctl speaks: each would install cleanly and fail later, far from
// the cause.
func (in *install) checkSchema(s *flowctlv1.GetSchemaResponse) (*version.Version, error) {
	a := in.opts.Address
	if s.GetName() != a.Name {
		return nil, fmt.Errorf("the binary at %s is the plugin %q, not %q: check the address", in.shown, s.GetName(), a.Name)
	}
	v, err := version.NewSemver(s.GetVersion())
	if err != nil {
		return nil, fmt.Errorf("the binary at %s reports version %q, which is not a semantic version like 1.2.0: %w", in.shown, s.GetVersion(), err)
	}
	if in.want != nil && !v.Equal(in.want) {
		return nil, fmt.Errorf("the binary at %s is version %s, not %s: check the version, or install the right release", in.shown, v, in.want)
	}
	if !sharesProtocol(s.GetProtocolVersions()) {
		return nil, fmt.Errorf("the binary at %s speaks plugin protocol %v, but this flowctl speaks %v: install a release of the plugin built for one of those",
			in.shown, s.GetProtocolVersions(), wire.ProtocolVersions)
	}
	return v, nil
}

func sharesProtocol(theirs []uint32) bool {
	for _, v := range theirs {
		if slices.Contains(wire.ProtocolVersions, int(v)) {
			return true
		}
	}
	return false
}
