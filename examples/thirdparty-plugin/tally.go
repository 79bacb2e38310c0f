package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowctl/flowctl/pluginsdk"
)

// tally is the plugin's second component, a sink: one required_plugins
// entry for "upper" also makes `sink "tally"` usable under its own name.
// It counts events by type and keeps the counts in a JSON object at path,
// replaced after every batch, so the file always holds every event that
// was acked.
type tally struct {
	path   string
	counts map[string]int64
}

var _ pluginsdk.Sink = (*tally)(nil)

func tallyComponent() pluginsdk.Component {
	return pluginsdk.NewSink("tally", "Counts events by type into a JSON file.",
		pluginsdk.NewSpec(
			pluginsdk.String("path", "JSON file of the counts, relative to the pipeline's directory.").Required(),
		),
		newTally)
}

func newTally(init pluginsdk.Init) (pluginsdk.Sink, error) {
	path := init.Config.String("path")
	if filepath.Ext(path) != ".json" {
		return nil, pluginsdk.NewAttrError(errors.New(`want a file name ending in ".json"`), "path")
	}
	return &tally{path: path, counts: map[string]int64{}}, nil
}

// Open starts from the counts an earlier run left, so that a resumed
// pipeline keeps counting.
func (t *tally) Open(context.Context) error {
	b, err := os.ReadFile(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &t.counts)
}

// Write counts the batch and returns once the new counts are on disk: the
// host acks the batch's events only then.
func (t *tally) Write(_ context.Context, batch []pluginsdk.Event) error {
	for _, e := range batch {
		t.counts[e.Type]++
	}
	b, err := json.Marshal(t.counts)
	if err != nil {
		return err
	}
	return replaceFile(t.path, b)
}

func (t *tally) Teardown(context.Context) error { return nil }

// replaceFile writes data to a temporary file beside path, syncs it and
// renames it over path, so a crash leaves the old counts or the new ones.
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tally-*")
	if err != nil {
		return fmt.Errorf("tally: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("tally: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("tally: %w", err)
	}
	return nil
}
