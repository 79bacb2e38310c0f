package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// RunFileName is the run file's name in a state directory.
const RunFileName = "controlplane.run"

// RunFile is what a served control plane leaves for its clients: where it
// listens and its tokens. It is written 0600 into the state directory
// (made 0700), so only the user who started the run (and root) can read
// it, and a copy under RunsDir is named after the address, so that
// `flowctl status --endpoint ADDR` finds the token from anywhere. Both go
// when the control plane stops; one left by a killed flowctl names a dead
// pid and is ignored.
type RunFile struct {
	Endpoint  string `json:"endpoint"`
	RunID     string `json:"run_id"`
	Pipeline  string `json:"pipeline,omitempty"`
	Pid       int    `json:"pid"`
	TLS       bool   `json:"tls,omitempty"`
	Token     string `json:"token,omitempty"`
	ReadToken string `json:"read_token,omitempty"`
	// Path is where the file was read from (not written).
	Path string `json:"-"`
}

// RunsDir is the per-user directory of run files by address:
// $XDG_RUNTIME_DIR/flowctl/runs, else $XDG_STATE_HOME/flowctl/runs, else
// ~/.local/state/flowctl/runs.
func RunsDir() (string, error) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "flowctl", "runs"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "flowctl", "runs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the directory of run files: %w", err)
	}
	return filepath.Join(home, ".local", "state", "flowctl", "runs"), nil
}

func runsEntry(dir, endpoint string) string {
	return filepath.Join(dir, strings.NewReplacer(":", "_", "/", "_", "[", "", "]", "").Replace(endpoint)+".run")
}

// WriteRunFile writes rf into stateDir and under RunsDir; remove deletes
// what is still this process's.
func WriteRunFile(stateDir string, rf RunFile) (remove func(), err error) {
	rf.Pid = os.Getpid()
	b, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return nil, err
	}
	paths := []string{filepath.Join(stateDir, RunFileName)}
	if dir, err := RunsDir(); err == nil {
		paths = append(paths, runsEntry(dir, rf.Endpoint))
	}
	var written []string
	remove = func() {
		for _, p := range written {
			if old, err := readRunFile(p); err == nil && old.Pid == rf.Pid && old.Endpoint == rf.Endpoint {
				_ = os.Remove(p)
			}
		}
	}
	for i, p := range paths {
		if err := writePrivate(p, b); err != nil {
			if i == 0 {
				remove()
				return nil, fmt.Errorf("write the control plane's run file: %w", err)
			}
			continue // the index is a convenience
		}
		written = append(written, p)
	}
	return remove, nil
}

// writePrivate writes b to path, 0600, in a directory made 0700, by a
// rename so a reader never sees half a file.
func writePrivate(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".run-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func readRunFile(path string) (*RunFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rf RunFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rf.Path = path
	return &rf, nil
}

// alive reports whether the run file's process still runs.
func (rf *RunFile) alive() bool {
	if rf.Pid <= 0 {
		return false
	}
	err := syscall.Kill(rf.Pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ErrNoRun: no live run file was found.
var ErrNoRun = errors.New("no running flowctl control plane found")

// FindRun looks for the run file of a live control plane. With stateDir,
// only there; else with endpoint, the one of that address; else first in
// ./.flowctl/state/*/ (the runs of the pipeline in this directory), and
// only when none runs there in RunsDir and the extra directories. Where it
// looks last, it must find exactly one live run.
func FindRun(endpoint, stateDir string, extra ...string) (*RunFile, error) {
	var tiers [][]string
	switch {
	case stateDir != "":
		tiers = [][]string{{filepath.Join(stateDir, RunFileName)}}
	case endpoint != "":
		if dir, err := RunsDir(); err == nil {
			tiers = [][]string{{runsEntry(dir, endpoint)}}
		}
	default:
		local, _ := filepath.Glob(filepath.Join(".flowctl", "state", "*", RunFileName))
		var elsewhere []string
		if dir, err := RunsDir(); err == nil {
			elsewhere, _ = filepath.Glob(filepath.Join(dir, "*.run"))
		}
		for _, d := range extra {
			elsewhere = append(elsewhere, filepath.Join(d, RunFileName))
		}
		tiers = [][]string{local, elsewhere}
	}
	var denied error
	for _, paths := range tiers {
		found, err := liveRuns(paths, endpoint)
		if err != nil {
			denied = err
		}
		switch {
		case len(found) == 1:
			return found[0], nil
		case len(found) > 1:
			var eps []string
			for _, f := range found {
				eps = append(eps, f.Endpoint+" ("+filepath.Dir(f.Path)+")")
			}
			return nil, fmt.Errorf("several flowctl control planes are running: %s: choose one with --endpoint or --state-dir", strings.Join(eps, ", "))
		}
	}
	if denied != nil {
		return nil, fmt.Errorf("%w: %w (run files are readable only by the user who started the run)", ErrNoRun, denied)
	}
	return nil, ErrNoRun
}

// liveRuns reads the run files at paths and keeps those of live processes
// (of endpoint, when set), one per endpoint; err is a permission error met
// on the way.
func liveRuns(paths []string, endpoint string) (found []*RunFile, denied error) {
	for _, p := range paths {
		rf, err := readRunFile(p)
		if errors.Is(err, os.ErrPermission) {
			denied = err
		}
		if err != nil || !rf.alive() || (endpoint != "" && rf.Endpoint != endpoint) {
			continue
		}
		if !slices.ContainsFunc(found, func(f *RunFile) bool { return f.Endpoint == rf.Endpoint }) {
			found = append(found, rf)
		}
	}
	return found, denied
}
