package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Describe runs the plugin with the argument `describe` (no handshake) and
// returns its schema.
func (c *Catalog) Describe(ctx context.Context, p *Plugin) (*flowctlv1.GetSchemaResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DescribeTimeout)
	defer cancel()
	args := append(slices.Clone(p.Args), "describe")
	cmd := exec.CommandContext(ctx, p.Path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A child the plugin started may hold stdout open after the plugin is
	// killed; do not wait for it past the timeout.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("plugin %s (%s): describe: %w%s", p.Name, p.Path, c.runError(ctx, p, err), outputHint(stderr.String()))
	}
	var schema flowctlv1.GetSchemaResponse
	if err := protojson.Unmarshal(stdout.Bytes(), &schema); err != nil {
		return nil, fmt.Errorf("plugin %s (%s): describe printed no valid schema (is it a flowctl plugin?): %w", p.Name, p.Path, err)
	}
	return &schema, nil
}

// runError turns a failed `describe` run into what the user can act on:
// the raw errno of a failed exec ("permission denied", "exec format error")
// does not say that the file lacks +x or is built for another platform.
func (c *Catalog) runError(ctx context.Context, p *Plugin, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &timeoutError{d: c.opts.DescribeTimeout, err: ctx.Err()}
	case ctx.Err() != nil:
		return fmt.Errorf("canceled: %w", ctx.Err())
	case errors.Is(err, syscall.EACCES):
		return execError(p.Path, err, "%s cannot be executed (permission denied): check that its directories can be searched and that its file system is not mounted noexec")
	case errors.Is(err, syscall.ENOEXEC):
		pl := CurrentPlatform()
		return execError(p.Path, err, "%s is not a program this machine can run (exec format error): install the "+pl.String()+" build of the plugin")
	}
	return err
}

// execError explains a failed exec by what CheckBinary finds wrong with the
// file, falling back to format (with the path) when the file looks fine.
func execError(path string, err error, format string) error {
	var be *BinaryError
	if errors.As(CheckBinary(path, CurrentPlatform()), &be) {
		return &BinaryError{Path: path, Problem: be.Problem, Err: err}
	}
	return &BinaryError{Path: path, Problem: fmt.Sprintf(format, path), Err: err}
}

// timeoutError keeps the message short ("no answer within 10s") while still
// matching context.DeadlineExceeded for callers.
type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string { return fmt.Sprintf("no answer within %v", e.d) }
func (e *timeoutError) Unwrap() error { return e.err }

func outputHint(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return "\n  " + strings.ReplaceAll(s, "\n", "\n  ")
}
