package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// fetch stages the plugin binary that the source holds at in.staged, after
// checking the source against a SHA256SUMS line when there is one.
func (in *install) fetch(ctx context.Context) error {
	if isURL(in.src) {
		return in.fetchURL(ctx)
	}
	fi, err := os.Stat(in.src)
	if err != nil {
		return fmt.Errorf("install %s: %w", in.opts.Address, err)
	}
	file := in.src
	if fi.IsDir() {
		if file, err = findInDir(in.src, in.opts.Address.Name); err != nil {
			return err
		}
		in.shown = file
		in.progress("Found %s", file)
	}
	if in.opts.Checksums != "" {
		if err := in.verifyLocal(ctx, file); err != nil {
			return err
		}
	}
	return in.stage(file)
}

// verifyLocal checks a local file against the checksum file the user named.
func (in *install) verifyLocal(ctx context.Context, file string) error {
	sums, err := loadChecksums(ctx, in.opts.Client, in.opts.Checksums)
	if err != nil {
		return err
	}
	sum, err := sha256File(file)
	if err != nil {
		return err
	}
	if err := sums.verify(filepath.Base(file), sum); err != nil {
		return err
	}
	in.progress("Verified checksum sha256:%x of %s against %s", sum, filepath.Base(file), sums.source)
	return nil
}

// fetchURL downloads the source into the staging directory and verifies it
// against its SHA256SUMS line before anything opens it. The checksum file
// is fetched first, so that a download nothing vouches for is not even
// started.
func (in *install) fetchURL(ctx context.Context) error {
	name := urlBase(in.src)
	if name == "" || name == "/" || name == "." {
		return fmt.Errorf("install from %s: the URL names no file to download", in.src)
	}
	source := in.opts.Checksums
	if source == "" {
		var err error
		if source, err = siblingURL(in.src, checksumsName); err != nil {
			return err
		}
	}
	sums, err := loadChecksums(ctx, in.opts.Client, source)
	if err != nil {
		return fmt.Errorf("%w: a download is installed only when a %s file vouches for it; publish one next to it, or name one with --checksums", err, checksumsName)
	}
	if len(sums.sums[name]) == 0 {
		return sums.verify(name, nil)
	}
	dir := filepath.Join(in.staging, "download")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return writableError(in.opts.Root, err)
	}
	in.progress("Downloading %s...", in.src)
	file := filepath.Join(dir, name)
	sum, err := download(ctx, in.opts.Client, in.src, file)
	if err != nil {
		return err
	}
	if err := sums.verify(name, sum); err != nil {
		return err
	}
	in.progress("Verified checksum sha256:%x of %s against %s", sum, name, sums.source)
	return in.stage(file)
}

// stage writes the binary of file (itself, or the one in it when it is an
// archive) to in.staged, mode 0755, synced.
func (in *install) stage(file string) error {
	if kind := archiveKind(file); kind != "" {
		entry, err := extractBinary(file, in.shown, kind, in.opts.Address.Name, in.staged)
		if err != nil {
			return err
		}
		in.shown = fmt.Sprintf("%s (entry %s)", in.shown, entry)
		in.progress("Extracted %s", in.shown)
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("install %s: %w", in.opts.Address, err)
	}
	defer f.Close()
	if err := writeFile(in.staged, f, 0o755); err != nil {
		return fmt.Errorf("stage %s: %w", in.shown, err)
	}
	return nil
}
