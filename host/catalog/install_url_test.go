package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// server serves files at /dl/<name> and counts the requests for each.
type server struct {
	*httptest.Server
	files map[string]string
	hits  map[string]*atomic.Int32
}

func newServer(t *testing.T, files map[string]string) *server {
	s := &server{files: files, hits: map[string]*atomic.Int32{}}
	for name := range files {
		s.hits[name] = &atomic.Int32{}
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/dl/")
		body, ok := s.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.hits[name].Add(1)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func sumLine(content, name string) string {
	return fmt.Sprintf("%x  %s\n", sha256.Sum256([]byte(content)), name)
}

func TestInstallURL(t *testing.T) {
	archive := tarGz(t, filepath.Join(t.TempDir(), "a.tar.gz"), entry{"flowctl-plugin-upper_v1.0.0", script, 0o755})
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	const tgz, bin = "upper_1.0.0_linux_amd64.tar.gz", "flowctl-plugin-upper_1.0.0"
	good := newServer(t, map[string]string{
		tgz:          string(data),
		bin:          script,
		"SHA256SUMS": sumLine("other", "other.zip") + sumLine(string(data), tgz) + fmt.Sprintf("%x *%s\n", sha256.Sum256([]byte(script)), bin),
		"OTHERSUMS":  sumLine(script, "dist/"+bin),
	})
	noSums := newServer(t, map[string]string{tgz: string(data)})
	wrong := newServer(t, map[string]string{tgz: string(data), "SHA256SUMS": sumLine("tampered", tgz)})
	noLine := newServer(t, map[string]string{tgz: string(data), "SHA256SUMS": sumLine("x", "upper_1.0.0_darwin_arm64.tar.gz")})

	t.Run("archive with SHA256SUMS", func(t *testing.T) {
		root := t.TempDir()
		var progress bytes.Buffer
		o := opts(root)
		o.Progress = &progress
		res, err := Install(t.Context(), good.URL+"/dl/"+tgz, o)
		if err != nil {
			t.Fatal(err)
		}
		assertInstalled(t, root, res, "1.0.0", script)
		sum := sha256.Sum256(data)
		for _, want := range []string{
			"Downloading " + good.URL + "/dl/" + tgz + "...",
			fmt.Sprintf("Verified checksum sha256:%x of %s against %s/dl/SHA256SUMS", sum, tgz, good.URL),
		} {
			if !strings.Contains(progress.String(), want+"\n") {
				t.Errorf("progress %q lacks %q", progress.String(), want)
			}
		}
	})
	t.Run("binary, binary-mode line", func(t *testing.T) {
		root := t.TempDir()
		res, err := Install(t.Context(), good.URL+"/dl/"+bin, opts(root))
		if err != nil {
			t.Fatal(err)
		}
		assertInstalled(t, root, res, "1.0.0", script)
	})
	t.Run("checksum file named", func(t *testing.T) {
		root := t.TempDir()
		o := opts(root)
		o.Checksums = good.URL + "/dl/OTHERSUMS"
		res, err := Install(t.Context(), good.URL+"/dl/"+bin, o)
		if err != nil {
			t.Fatal(err)
		}
		assertInstalled(t, root, res, "1.0.0", script)
	})

	failures := []struct {
		name string
		srv  *server
		want string
	}{
		{"no SHA256SUMS", noSums, "fetch checksum file: download " + noSums.URL + "/dl/SHA256SUMS: HTTP 404 Not Found: a download is installed only when a SHA256SUMS file vouches for it; publish one next to it, or name one with --checksums"},
		{"no line for the file", noLine, "the checksum file " + noLine.URL + "/dl/SHA256SUMS has no line for " + tgz + ": refusing to install a file nothing vouches for"},
		{"wrong sum", wrong, fmt.Sprintf("checksum mismatch for %s: %s/dl/SHA256SUMS lists sha256 %x, the file has %x; it was corrupted or replaced, so it is not installed",
			tgz, wrong.URL, sha256.Sum256([]byte("tampered")), sha256.Sum256(data))},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			o := opts(root)
			o.Describe = func(context.Context, string) (*flowctlv1.GetSchemaResponse, error) {
				t.Error("an unverified download was described")
				return nil, errors.New("no")
			}
			_, err := Install(t.Context(), tc.srv.URL+"/dl/"+tgz, o)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("a failed install left %v", entries)
			}
		})
	}
	if n := noSums.hits[tgz].Load() + noLine.hits[tgz].Load(); n != 0 {
		t.Errorf("downloads nothing vouched for were started %d times", n)
	}
}

func TestInstallLocalChecksums(t *testing.T) {
	dir := t.TempDir()
	bin := writeFileT(t, filepath.Join(dir, "flowctl-plugin-upper"), script, 0o755)
	good := writeFileT(t, filepath.Join(dir, "SHA256SUMS"), sumLine(script, "./flowctl-plugin-upper"), 0o644)
	bad := writeFileT(t, filepath.Join(dir, "BADSUMS"), sumLine("x", "flowctl-plugin-upper"), 0o644)

	o := opts(t.TempDir())
	o.Checksums = good
	if _, err := Install(t.Context(), bin, o); err != nil {
		t.Fatal(err)
	}
	o = opts(t.TempDir())
	o.Checksums = bad
	if _, err := Install(t.Context(), bin, o); err == nil || !strings.HasPrefix(err.Error(), "checksum mismatch for flowctl-plugin-upper: "+bad+" lists sha256 ") {
		t.Errorf("bad checksum: %v", err)
	}
}
