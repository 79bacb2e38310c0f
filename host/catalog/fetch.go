package catalog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
)

const (
	// maxBinarySize bounds what a download or an archive entry may write,
	// so that a hostile server or a zip bomb cannot fill the disk.
	maxBinarySize = 1 << 30
	// maxChecksumsSize bounds a SHA256SUMS file, which is a few lines.
	maxChecksumsSize = 1 << 20
	// checksumsName is the file looked for next to a download.
	checksumsName = "SHA256SUMS"
)

// isURL reports whether s is an http(s) URL rather than a path.
func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// siblingURL is the URL of name in the same directory as rawURL.
func siblingURL(rawURL, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	return u.ResolveReference(&url.URL{Path: name}).String(), nil
}

// urlBase is the file name a URL downloads, the name its SHA256SUMS line
// carries.
func urlBase(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return path.Base(u.Path)
}

// get starts a GET of rawURL and fails on any status but 200, so that an
// error page is never taken for a binary.
func get(ctx context.Context, client *http.Client, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("download %s: HTTP %s", rawURL, resp.Status)
	}
	return resp, nil
}

// download writes rawURL to dst and returns the SHA-256 of what it wrote.
func download(ctx context.Context, client *http.Client, rawURL, dst string) ([]byte, error) {
	resp, err := get(ctx, client, rawURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	if err := writeFile(dst, io.TeeReader(resp.Body, h), 0o644); err != nil {
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	return h.Sum(nil), nil
}

// writeFile creates dst (which must not exist) from r, with mode perm
// whatever the umask, and syncs it: a binary renamed into place must be
// complete on disk before its directory entry is.
func writeFile(dst string, r io.Reader, perm os.FileMode) (err error) {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	n, err := io.Copy(f, io.LimitReader(r, maxBinarySize+1))
	if err != nil {
		return err
	}
	if n > maxBinarySize {
		return fmt.Errorf("larger than %d MiB, which no plugin binary is", maxBinarySize>>20)
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	return f.Sync()
}

// checksums is a parsed SHA256SUMS file.
type checksums struct {
	source string
	sums   map[string][]string // base name -> hex sums
}

// loadChecksums reads a SHA256SUMS file from a path or an http(s) URL.
func loadChecksums(ctx context.Context, client *http.Client, source string) (*checksums, error) {
	data, err := readChecksums(ctx, client, source)
	if err != nil {
		return nil, err
	}
	return parseChecksums(source, data), nil
}

func readChecksums(ctx context.Context, client *http.Client, source string) ([]byte, error) {
	if !isURL(source) {
		data, err := os.ReadFile(source)
		if err != nil {
			return nil, fmt.Errorf("read checksum file: %w", err)
		}
		return data, nil
	}
	resp, err := get(ctx, client, source)
	if err != nil {
		return nil, fmt.Errorf("fetch checksum file: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxChecksumsSize))
	if err != nil {
		return nil, fmt.Errorf("fetch checksum file %s: %w", source, err)
	}
	return data, nil
}

// parseChecksums reads lines as sha256sum prints them: "<hex>  <name>", or
// "<hex> *<name>" in binary mode. Other lines are ignored: the file only
// has to vouch for the one file being installed.
func parseChecksums(source string, data []byte) *checksums {
	c := &checksums{source: source, sums: map[string][]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		sum, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok || len(sum) != sha256.Size*2 {
			continue
		}
		if _, err := hex.DecodeString(sum); err != nil {
			continue
		}
		name = strings.TrimPrefix(strings.TrimLeft(name, " "), "*")
		base := path.Base(strings.ReplaceAll(name, `\`, "/"))
		c.sums[base] = append(c.sums[base], strings.ToLower(sum))
	}
	return c
}

// verify checks got, the SHA-256 of the file called name, against its line.
func (c *checksums) verify(name string, got []byte) error {
	want := c.sums[name]
	if len(want) == 0 {
		return fmt.Errorf("the checksum file %s has no line for %s: refusing to install a file nothing vouches for", c.source, name)
	}
	gotHex := hex.EncodeToString(got)
	for _, w := range want {
		if w != gotHex {
			return fmt.Errorf("checksum mismatch for %s: %s lists sha256 %s, the file has %s; it was corrupted or replaced, so it is not installed",
				name, c.source, w, gotHex)
		}
	}
	return nil
}
