package catalog

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/dirhash"
)

// Hash returns the lock-file hash of the plugin binary at path, the "h1:"
// dirhash (the Go module hash scheme) of a tree holding only that file
// under its base name, and the file's plain SHA-256, which go-plugin's
// SecureConfig checks before it starts the process. The file is read once
// for both, so the two always describe the same bytes.
//
// The base name is part of h1, and it names the version
// ([BinaryName]), so a binary copied under another version does not match.
func Hash(path string) (h1 string, sum []byte, err error) {
	plain := sha256.New()
	name := filepath.Base(path)
	open := func(string) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		return teeCloser{Reader: io.TeeReader(f, plain), Closer: f}, nil
	}
	h1, err = dirhash.Hash1([]string{name}, open)
	if err != nil {
		return "", nil, fmt.Errorf("hash plugin binary %s: %w", path, err)
	}
	return h1, plain.Sum(nil), nil
}

type teeCloser struct {
	io.Reader
	io.Closer
}

// sha256File returns the SHA-256 of the file at path.
func sha256File(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}
