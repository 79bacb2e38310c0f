package catalog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Describe returns the plugin's schema. A built-in plugin's is compiled into
// flowctl (Options.BuiltinSchemas). Any other binary is run with the
// argument `describe` (no handshake); when the plugin's Hash is known and
// Options.CacheDir is set, the answer is kept under that hash and the
// binary is not run again. The hash covers the binary's bytes, so a
// changed binary is described afresh.
func (c *Catalog) Describe(ctx context.Context, p *Plugin) (*flowctlv1.GetSchemaResponse, error) {
	if p.Builtin {
		if s, ok := c.opts.BuiltinSchemas[p.Name]; ok {
			return proto.CloneOf(s), nil
		}
	}
	cached := c.cachePath(p.Hash)
	if s := readCached(cached); s != nil {
		return s, nil
	}
	s, err := c.run(ctx, p)
	if err == nil && cached != "" {
		writeCached(cached, s)
	}
	return s, err
}

// run runs the plugin with the argument `describe`.
func (c *Catalog) run(ctx context.Context, p *Plugin) (*flowctlv1.GetSchemaResponse, error) {
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

// cachePath is where the schema of the binary with hash h1 is kept; "" when
// there is no cache or no hash.
func (c *Catalog) cachePath(h1 string) string {
	sum, ok := strings.CutPrefix(h1, "h1:")
	if c.opts.CacheDir == "" || !ok {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(sum)
	if err != nil {
		return ""
	}
	return filepath.Join(c.opts.CacheDir, "describe", hex.EncodeToString(raw)+".json")
}

// readCached returns the schema kept at path, or nil: a missing or
// unreadable entry only means the binary is run.
func readCached(path string) *flowctlv1.GetSchemaResponse {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var s flowctlv1.GetSchemaResponse
	if protojson.Unmarshal(b, &s) != nil || s.GetName() == "" {
		return nil
	}
	return &s
}

// writeCached keeps s at path, renamed into place so a reader never sees
// half an entry. A cache that cannot be written costs only time.
func writeCached(path string, s *flowctlv1.GetSchemaResponse) {
	b, err := protojson.Marshal(s)
	if err != nil || os.MkdirAll(filepath.Dir(path), 0o700) != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".describe-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), path) != nil {
		_ = os.Remove(f.Name())
	}
}
