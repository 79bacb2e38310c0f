package catalog

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// archiveKind says how to read an archive by its name; "" is not one.
func archiveKind(name string) string {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".zip"):
		return "zip"
	case strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"):
		return "tgz"
	}
	return ""
}

// unsafeEntry reports whether an archive entry's name is absolute or climbs
// out with "..". Only the binary is extracted, to a path of our choosing,
// but an archive holding such names was built to attack extractors and is
// refused whole.
func unsafeEntry(name string) bool {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) >= 2 && n[1] == ':') {
		return true
	}
	for c := range strings.SplitSeq(n, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

func unsafeEntryError(archive, name string) error {
	return fmt.Errorf("archive %s has an entry with an unsafe path %q (absolute or with ..): refusing to install from it", archive, name)
}

// extractBinary finds the plugin binary in the archive at src (shown in
// messages as shown) and writes it to dst with mode 0755. It returns the
// entry's name.
func extractBinary(src, shown, kind, plugin, dst string) (string, error) {
	if kind == "zip" {
		return extractZip(src, shown, plugin, dst)
	}
	return extractTarGz(src, shown, plugin, dst)
}

func extractZip(src, shown, plugin, dst string) (string, error) {
	r, err := zip.OpenReader(src)
	// ErrInsecurePath (only under GODEBUG=zipinsecurepath=0) still returns
	// the reader; unsafeEntry below refuses those names.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return "", fmt.Errorf("open zip archive %s: %w", shown, err)
	}
	defer r.Close()
	var files []candidate
	byName := map[string]*zip.File{}
	for _, f := range r.File {
		if unsafeEntry(f.Name) {
			return "", unsafeEntryError(shown, f.Name)
		}
		if mode := f.FileInfo().Mode(); mode.IsRegular() {
			name := path.Clean(f.Name)
			files = append(files, candidate{name: name, exec: mode.Perm()&0o111 != 0})
			byName[name] = f
		}
	}
	c, err := choose(shown, plugin, files)
	if err != nil {
		return "", err
	}
	rc, err := byName[c.name].Open()
	if err != nil {
		return "", fmt.Errorf("extract %s from %s: %w", c.name, shown, err)
	}
	defer rc.Close()
	if err := writeFile(dst, rc, 0o755); err != nil {
		return "", fmt.Errorf("extract %s from %s: %w", c.name, shown, err)
	}
	return c.name, nil
}

// extractTarGz reads the archive twice, to list and then to extract,
// because a compressed tar stream cannot seek back to the chosen entry.
func extractTarGz(src, shown, plugin, dst string) (string, error) {
	var files []candidate
	unsafe := ""
	err := walkTarGz(src, func(h *tar.Header, _ io.Reader) (bool, error) {
		if unsafeEntry(h.Name) {
			unsafe = h.Name
			return false, nil
		}
		if h.Typeflag == tar.TypeReg {
			files = append(files, candidate{name: path.Clean(h.Name), exec: h.Mode&0o111 != 0})
		}
		return true, nil
	})
	if err != nil {
		return "", fmt.Errorf("read tar.gz archive %s: %w", shown, err)
	}
	if unsafe != "" {
		return "", unsafeEntryError(shown, unsafe)
	}
	c, err := choose(shown, plugin, files)
	if err != nil {
		return "", err
	}
	err = walkTarGz(src, func(h *tar.Header, r io.Reader) (bool, error) {
		if h.Typeflag != tar.TypeReg || path.Clean(h.Name) != c.name {
			return true, nil
		}
		return false, writeFile(dst, r, 0o755)
	})
	if err != nil {
		return "", fmt.Errorf("extract %s from %s: %w", c.name, shown, err)
	}
	return c.name, nil
}

// walkTarGz calls fn for each entry until it returns false or an error.
func walkTarGz(src string, fn func(*tar.Header, io.Reader) (bool, error)) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		// ErrInsecurePath (only under GODEBUG=tarinsecurepath=0) comes
		// with a valid header; fn applies unsafeEntry to it.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && h != nil) {
			return err
		}
		more, err := fn(h, tr)
		if err != nil || !more {
			return err
		}
	}
}
