package host

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// CheckConfig has every component's plugin check its configuration the way
// apply will: it starts each plugin, sends Configure and stops it again.
// Component constructors validate and have no side effects (the pluginsdk
// contract), so nothing is opened, connected or written. What the plugins
// reject comes back as diagnostics at the attribute they name; an error is
// a plugin that could not be started or asked.
//
// Load alone checks each block against its plugin's schema (types, names,
// required attributes); CheckConfig adds what only the plugin knows, such as
// a value out of range or an expression that does not compile.
func (h *Host) CheckConfig(ctx context.Context, plan *Plan, startTimeout time.Duration) (hcl.Diagnostics, error) {
	r := &run{
		h: h, plan: plan, members: map[flowhcl.Address]*member{},
		opts: ApplyOptions{StartTimeout: startTimeout, StopTimeout: 10 * time.Second},
	}
	cleanup, err := r.makeSocketDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	defer r.stopAll(context.WithoutCancel(ctx))
	if err := r.startAll(ctx); err != nil {
		return nil, err
	}
	err = r.configureAll(ctx)
	if ce := (*ConfigError)(nil); errors.As(err, &ce) {
		return ce.Diagnostics, nil
	}
	return nil, err
}
