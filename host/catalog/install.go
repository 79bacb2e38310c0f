package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-version"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// InstallOptions configure Install.
type InstallOptions struct {
	// Root is the plugin directory to install into; created if missing.
	Root    string
	Address Address
	// Version is the version to install as. It is required when Platform
	// is not the current one, because such a binary cannot run here to
	// report its version; when set for the current platform, the binary
	// must report exactly this version.
	Version string
	// Platform the binary is for; zero means CurrentPlatform().
	Platform Platform
	// Describe asks a binary for its schema (name, version, protocol
	// versions); required. The CLI passes Catalog.Describe.
	Describe func(ctx context.Context, path string) (*flowctlv1.GetSchemaResponse, error)
	// Checksums is the path or http(s) URL of a SHA256SUMS file
	// ("<hex>  <filename>" lines, as sha256sum prints them). For an http(s)
	// source it defaults to SHA256SUMS next to the download and is
	// required: a download without a matching line is refused.
	Checksums string
	// Client downloads; default http.DefaultClient.
	Client *http.Client
	// Force replaces an installed binary whose hash differs.
	Force bool
	// Progress, when set, receives one human-readable line per step.
	Progress io.Writer
}

// InstallResult is what Install did.
type InstallResult struct {
	Installed
	// Hash is the installed binary's "h1:" hash.
	Hash string
	// AlreadyInstalled: the same binary was there; nothing changed.
	AlreadyInstalled bool
	// Replaced: a binary with another hash was replaced (Force).
	Replaced bool
}

// Install installs the plugin binary that src holds under opts.Root, in
// the catalog's layout. src is a binary, a directory holding one, a .zip,
// .tar.gz or .tgz archive, or an http(s) URL of a binary or an archive.
//
// Nothing is executed or placed before it is verified: the download
// against its SHA256SUMS line, then the binary with CheckBinary and, for
// the current platform, Describe (it must be the plugin of opts.Address, of
// a semantic version, speaking a protocol this flowctl speaks). The binary
// is written and synced under a hidden staging directory of the plugin's
// directory and renamed into place, so a crash or a concurrent Scan never
// sees a half-written binary. The staging directory is always removed.
func Install(ctx context.Context, src string, opts InstallOptions) (*InstallResult, error) {
	in, err := newInstall(src, opts)
	if err != nil {
		return nil, err
	}
	if err := in.makeStaging(); err != nil {
		return nil, err
	}
	defer in.cleanup()
	if err := in.fetch(ctx); err != nil {
		return nil, err
	}
	v, err := in.verify(ctx)
	if err != nil {
		return nil, err
	}
	return in.place(v)
}

// install is one Install call in progress.
type install struct {
	src  string
	opts InstallOptions
	// want is opts.Version parsed; nil when not given.
	want *version.Version
	// shown names the binary in messages: the source, the file found in a
	// source directory, or an archive entry.
	shown string
	// dir holds every version of the plugin; staging is a hidden directory
	// in it, platDir the staged <os>_<arch> directory and staged the binary
	// in it, named without a version until the version is known.
	dir, staging, platDir, staged string
}

func newInstall(src string, opts InstallOptions) (*install, error) {
	if opts.Platform == (Platform{}) {
		opts.Platform = CurrentPlatform()
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if err := checkInstallOptions(opts); err != nil {
		return nil, err
	}
	in := &install{src: src, opts: opts, shown: src, dir: pluginDir(opts.Root, opts.Address)}
	if opts.Version != "" {
		v, err := version.NewSemver(opts.Version)
		if err != nil {
			return nil, fmt.Errorf("invalid version %q for %s: want a semantic version like 1.2.0: %w", opts.Version, opts.Address, err)
		}
		in.want = v
	}
	return in, nil
}

func checkInstallOptions(opts InstallOptions) error {
	a := opts.Address
	switch {
	case opts.Root == "":
		return errors.New("install: no plugin directory to install into")
	case opts.Describe == nil:
		return errors.New("install: no Describe function to check the binary with")
	case a.invalid() != "":
		return fmt.Errorf("install: invalid plugin address %q: %s", a, a.invalid())
	case a.IsBuiltin():
		return fmt.Errorf("%s is in the namespace of the plugins built into flowctl, which need no install: choose another namespace", a)
	case opts.Version == "" && opts.Platform != CurrentPlatform():
		return fmt.Errorf("installing a %s build on %s needs the version (--version): the binary cannot run here to report it", opts.Platform, CurrentPlatform())
	}
	if _, err := ParsePlatform(opts.Platform.String()); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}

// makeStaging creates the hidden staging directory next to the versions,
// on the same file system, so that the final step is a rename.
func (in *install) makeStaging() error {
	staging, err := mkdirTemp(in.dir, ".install-")
	if err != nil {
		return writableError(in.opts.Root, err)
	}
	in.staging = staging
	in.platDir = filepath.Join(staging, in.opts.Platform.String())
	in.staged = filepath.Join(in.platDir, binaryPrefix+in.opts.Address.Name)
	if err := os.Mkdir(in.platDir, 0o755); err != nil {
		return writableError(in.opts.Root, err)
	}
	return nil
}

// mkdirTemp creates a temporary directory in dir, creating dir first. It
// retries because a concurrent Remove or failed Install may prune dir, empty,
// between the two steps.
func mkdirTemp(dir, pattern string) (string, error) {
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		d, err := os.MkdirTemp(dir, pattern)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 2 {
			return d, err
		}
	}
}

// notWritable reports whether err means that a directory cannot be
// written to, as in a read-only plugin directory of a CI image.
func notWritable(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

func writableError(root string, err error) error {
	if notWritable(err) {
		return fmt.Errorf("cannot install into plugin directory %s: it is not writable (%w); choose a writable directory with --plugin-dir", root, err)
	}
	return fmt.Errorf("cannot install into plugin directory %s: %w", root, err)
}

// cleanup removes the staging directory (and with it a replaced binary),
// and the plugin's directories when a failed first install left them empty.
func (in *install) cleanup() {
	os.RemoveAll(in.staging)
	pruneEmpty(in.opts.Root, in.dir)
}

func (in *install) progress(format string, args ...any) {
	if in.opts.Progress != nil {
		fmt.Fprintf(in.opts.Progress, format+"\n", args...)
	}
}

// place renames the verified binary to its versioned name and its platform
// directory into the layout.
func (in *install) place(v *version.Version) (*InstallResult, error) {
	a, p, vs := in.opts.Address, in.opts.Platform, v.String()
	if err := os.Rename(in.staged, filepath.Join(in.platDir, BinaryName(a.Name, vs))); err != nil {
		return nil, fmt.Errorf("stage %s: %w", in.shown, err)
	}
	h1, _, err := Hash(filepath.Join(in.platDir, BinaryName(a.Name, vs)))
	if err != nil {
		return nil, err
	}
	path := BinaryPath(in.opts.Root, a, vs, p)
	res := &InstallResult{Installed: Installed{Address: a, Version: v, Platform: p, Path: path, Root: in.opts.Root}, Hash: h1}
	target := filepath.Dir(path)
	if _, err := os.Lstat(target); err == nil {
		return in.replace(res, target)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("install %s: %w", res.describe(), err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return nil, writableError(in.opts.Root, err)
	}
	if err := os.Rename(in.platDir, target); err != nil {
		os.Remove(filepath.Dir(target)) // only if this call left it empty
		return nil, fmt.Errorf("install %s: %w", res.describe(), err)
	}
	syncDir(filepath.Dir(target))
	return res, nil
}

// replace handles a target that exists: the same binary is left alone, a
// different one is replaced only with Force, by renaming it aside into the
// staging directory (removed by cleanup) and the new one in.
func (in *install) replace(res *InstallResult, target string) (*InstallResult, error) {
	old, _, err := Hash(res.Path)
	if err == nil && old == res.Hash {
		res.AlreadyInstalled = true
		return res, nil
	}
	if !in.opts.Force {
		if err != nil {
			return nil, fmt.Errorf("%s is already installed at %s, but its binary cannot be read (%w); use --force to replace it", res.describe(), target, err)
		}
		return nil, fmt.Errorf("%s is already installed at %s with a different hash (%s); use --force to replace it", res.describe(), res.Path, old)
	}
	aside := filepath.Join(in.staging, "replaced")
	if err := os.Rename(target, aside); err != nil {
		return nil, fmt.Errorf("replace %s: %w", res.describe(), err)
	}
	if err := os.Rename(in.platDir, target); err != nil {
		if rerr := os.Rename(aside, target); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore the previous binary: %w", rerr))
		}
		return nil, fmt.Errorf("replace %s: %w", res.describe(), err)
	}
	syncDir(filepath.Dir(target))
	res.Replaced = true
	return res, nil
}

// describe names the installed binary: "example.com/acme/upper 1.0.0 (linux_amd64)".
func (r *InstallResult) describe() string {
	return fmt.Sprintf("%s %s (%s)", r.Address, r.Version, r.Platform)
}

// syncDir makes a rename in dir durable. It is best effort: some systems
// cannot sync a directory, and the rename itself already happened.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
