package host

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/host/router"
)

// PermanentError is a component's failure that its plugin marked as one a
// restart cannot cure (pluginsdk.Permanent: a port in use, a permission
// denied). The run stops at once instead of restarting the plugin, and the
// error names where the pipeline declares the component.
type PermanentError struct {
	// Component is the component's address; Where its block's file:line.
	Component, Where string
	// Reason is the plugin's own message.
	Reason string
	Err    error
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("%s: %s (a restart would not fix this, so the run stopped at once)", e.Where, e.Reason)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// permanent returns err as a *PermanentError when a plugin marked it so,
// else err.
func (r *run) permanent(err error) error {
	var ne *router.NodeError
	if !errors.As(err, &ne) {
		return err
	}
	// The status's own message, without the wrapping's "rpc error: ...".
	var gs interface{ GRPCStatus() *status.Status }
	if !errors.As(ne.Err, &gs) || gs.GRPCStatus().Code() != codes.FailedPrecondition {
		return err
	}
	st := gs.GRPCStatus()
	for _, c := range r.plan.Components {
		if c.Address().String() != ne.Node {
			continue
		}
		rng := c.Node.Component.DeclRange
		return &PermanentError{Component: ne.Node, Where: fmt.Sprintf("%s:%d", rng.Filename, rng.Start.Line), Reason: st.Message(), Err: err}
	}
	return err
}
