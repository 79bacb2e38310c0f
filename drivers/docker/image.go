package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"

	"github.com/flowctl/flowctl/drivers"
)

// LabelBinary labels a wrapped plugin image with its binary's SHA-256.
const LabelBinary = "flowctl.io/binary-sha256"

// imageBuild is one wrapped image being built or built; concurrent starts
// of the same binary wait for one build.
type imageBuild struct {
	done chan struct{}
	err  error
}

// wrapDockerfile puts the plugin binary alone into an empty image. The
// binary must be static; the entrypoint is the binary and the container's
// command its arguments (Spec.Args: `__plugin NAME` for built-ins).
const wrapDockerfile = "FROM scratch\nCOPY plugin /plugin\nENTRYPOINT [\"/plugin\"]\n"

// pluginImage returns the image wrapping spec's plugin binary, building it
// when the daemon does not have it yet. The tag names the binary's SHA-256,
// so a changed binary gets a new image and an unchanged one is reused.
func (d *Driver) pluginImage(ctx context.Context, cli *client.Client, spec drivers.Spec) (string, error) {
	sum, err := fileSHA256(spec.Path)
	if err != nil {
		return "", fmt.Errorf("plugin binary for %s: %w", spec.Component, err)
	}
	tag := "flowctl-plugin/" + strings.ToLower(unsafeName.ReplaceAllString(filepath.Base(spec.Path), "-")) + ":sha256-" + sum[:24]

	d.mu.Lock()
	b, ok := d.images[tag]
	if !ok {
		b = &imageBuild{done: make(chan struct{})}
		d.images[tag] = b
	}
	d.mu.Unlock()
	if ok {
		select {
		case <-b.done:
			return tag, b.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	b.err = d.ensureImage(ctx, cli, spec, tag, sum)
	close(b.done)
	if b.err != nil {
		d.mu.Lock()
		delete(d.images, tag) // the next start tries again
		d.mu.Unlock()
	}
	return tag, b.err
}

func (d *Driver) ensureImage(ctx context.Context, cli *client.Client, spec drivers.Spec, tag, sum string) error {
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("look up image %s: %w", tag, err)
	}
	if err := checkStatic(spec.Path); err != nil {
		return err
	}
	d.log.Info("wrapping plugin binary into an image", "binary", spec.Path, "image", tag)
	tarball, err := buildContext(spec.Path)
	if err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, tarball, build.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelBinary: sum},
	})
	if err != nil {
		return fmt.Errorf("build image %s from %s: %w", tag, spec.Path, err)
	}
	defer resp.Body.Close()
	return buildResult(resp.Body, tag)
}

// buildResult reads the daemon's JSON progress stream and returns the
// build's error, if any.
func buildResult(r io.Reader, tag string) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("build image %s: reading the daemon's answer: %w", tag, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("build image %s: %s", tag, msg.Error)
		}
	}
}

// buildContext is the tar the daemon builds the wrapper from.
func buildContext(path string) (io.Reader, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(wrapDockerfile)},
		{"plugin", 0o755, bin},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// checkStatic refuses what cannot run in an empty image: a binary that is
// not a Linux ELF executable, or one that needs a dynamic loader.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not a Linux executable, so it cannot run in a container: build the plugin for linux (GOOS=linux), or give the driver block an image", path)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked, so it cannot run alone in an empty image: build it static (CGO_ENABLED=0 go build), or give the driver block an image that has its libraries", path)
		}
	}
	return nil
}

// imagePresent checks that the daemon has image; flowctl does not pull.
func imagePresent(ctx context.Context, cli *client.Client, image string) error {
	_, err := cli.ImageInspect(ctx, image)
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("image %q is not on the Docker daemon at %s: flowctl does not pull images; `docker pull` or `docker build` it first", image, cli.DaemonHost())
	default:
		return fmt.Errorf("look up image %q: %w", image, err)
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
