// Package checkpoint keeps each source's last acknowledged position in a
// bbolt file inside the pipeline's state directory, so that apply resumes
// every source where the last run's sinks stopped confirming.
//
// A position is written before the source is told it is acked (the router
// calls Put first), and every Put is a committed, synced bbolt transaction:
// after a crash of the host at any moment the file holds a position no later
// than what any source was acked up to, so nothing acked is lost and nothing
// unacked is skipped.
//
// One state directory belongs to one running pipeline: Open takes bbolt's
// file lock and fails with ErrInUse when another flowctl holds it.
//
// # Fingerprints
//
// A position is only meaningful under the configuration it was reached
// with: a source given another file or topic would resume at an offset of
// something else, and a sink given another destination never received what
// came before the position. So every checkpoint also records a Fingerprint
// of its source and of each sink the source reaches, and the host compares
// them with the pipeline it is about to run (Fingerprint.Changes). A
// fingerprint keeps one keyed hash (HMAC-SHA-256, with a random key made
// once per state file) per attribute, never a value: some values are
// secrets, and per-attribute hashes let the host name what changed.
package checkpoint

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the state file's name inside the state directory.
const FileName = "state.db"

var (
	bucket = []byte("checkpoints")
	// meta holds the fingerprint key.
	meta           = []byte("meta")
	fingerprintKey = []byte("fingerprint-key")
)

// ErrInUse means another process holds the state directory.
var ErrInUse = errors.New("state directory is in use by another flowctl process")

// Checkpoint is what is stored per source.
type Checkpoint struct {
	// Position is the last acked position, opaque to the host.
	Position []byte `json:"position"`
	// Type is the source's component type; a position means nothing to a
	// different plugin.
	Type string `json:"type"`
	// Events counts the events acked across all runs.
	Events uint64 `json:"events"`
	// Time is when it was written.
	Time time.Time `json:"time"`
	// Source is the source's configuration, and Sinks that of each sink it
	// reaches by address, when the position was written. Both are absent
	// from checkpoints written before fingerprints existed.
	Source *Fingerprint           `json:"source,omitempty"`
	Sinks  map[string]Fingerprint `json:"sinks,omitempty"`
}

// Fingerprint identifies a component's configuration without holding it
// (see the package doc).
type Fingerprint struct {
	// Type is the component type, e.g. "file".
	Type string `json:"type"`
	// Attributes maps each configured attribute to a keyed hash of its
	// value.
	Attributes map[string]string `json:"attributes"`
}

// Changes names what differs between f, the configuration a checkpoint was
// written under, and now: "type" when the component type differs, else the
// attributes set, changed or unset since, sorted. None means the same
// configuration.
func (f Fingerprint) Changes(now Fingerprint) []string {
	if f.Type != now.Type {
		return []string{"type"}
	}
	var out []string
	for name, h := range now.Attributes {
		if f.Attributes[name] != h {
			out = append(out, name)
		}
	}
	for name := range f.Attributes {
		if _, ok := now.Attributes[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Store is an open state file. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	key  []byte // of fingerprints
}

// Open creates dir if needed and opens its state file, waiting at most
// lockWait for another process to release it.
//
// State is private to its user: a new directory is made 0700 and the file
// is 0600, also when an older flowctl made it with wider permissions (an
// existing directory keeps its mode: --state-dir may name one the user
// shares on purpose).
func Open(dir string, lockWait time.Duration) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// NoFreelistSync: the free list is rebuilt on open (a small file scans
	// in microseconds) instead of written with each checkpoint, a page less
	// per synced write.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait, NoFreelistSync: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucket); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(meta)
		if err != nil {
			return err
		}
		if k := m.Get(fingerprintKey); k != nil {
			s.key = bytes.Clone(k)
			return nil
		}
		s.key = make([]byte, 32)
		if _, err := rand.Read(s.key); err != nil {
			return err
		}
		return m.Put(fingerprintKey, s.key)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return s, nil
}

// Fingerprint returns the fingerprint of a component of type typ
// configured with configJSON (a JSON object of attribute values).
func (s *Store) Fingerprint(typ string, configJSON []byte) (Fingerprint, error) {
	var attrs map[string]json.RawMessage
	if len(configJSON) > 0 {
		if err := json.Unmarshal(configJSON, &attrs); err != nil {
			return Fingerprint{}, fmt.Errorf("fingerprint a %s configuration: %w", typ, err)
		}
	}
	fp := Fingerprint{Type: typ, Attributes: make(map[string]string, len(attrs))}
	for name, v := range attrs {
		if bytes.Equal(v, []byte("null")) {
			continue // unset
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return Fingerprint{}, fmt.Errorf("fingerprint a %s configuration: %w", typ, err)
		}
		mac := hmac.New(sha256.New, s.key)
		mac.Write([]byte(name))
		mac.Write([]byte{0})
		mac.Write(compact.Bytes())
		fp.Attributes[name] = hex.EncodeToString(mac.Sum(nil)[:16])
	}
	return fp, nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Get returns the checkpoint of source; ok is false when there is none.
func (s *Store) Get(source string) (cp Checkpoint, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(source))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &cp)
	})
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint of %s from %s: %w", source, s.path, err)
	}
	return cp, ok, nil
}

// All returns every stored checkpoint by source.
func (s *Store) All() (map[string]Checkpoint, error) {
	out := map[string]Checkpoint{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var cp Checkpoint
			if err := json.Unmarshal(v, &cp); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			out[string(k)] = cp
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpoints from %s: %w", s.path, err)
	}
	return out, nil
}

// Put stores cp for source and syncs it to disk before returning.
func (s *Store) Put(source string, cp Checkpoint) error {
	v, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(source), v)
	})
	if err != nil {
		return fmt.Errorf("write checkpoint of %s to %s: %w", source, s.path, err)
	}
	return nil
}

// Reset deletes every checkpoint, so every source starts from its
// beginning.
func (s *Store) Reset() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucket); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucket)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset checkpoints in %s: %w", s.path, err)
	}
	return nil
}

// Close releases the file and its lock.
func (s *Store) Close() error { return s.db.Close() }
