package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Store keeps runs and registrations. Its methods are safe for concurrent
// use; what they return belongs to the caller.
type Store interface {
	PutRun(*flowctlv1.Run) error
	// Runs returns every run, in no particular order.
	Runs() ([]*flowctlv1.Run, error)
	PutService(*flowctlv1.Service) error
	// Services returns the services of one run, or of every run when
	// runID is empty.
	Services(runID string) ([]*flowctlv1.Service, error)
	Close() error
}

// Memory is a Store that forgets everything when the process ends
// (`--no-persistence`).
type Memory struct {
	mu       sync.Mutex
	runs     map[string]*flowctlv1.Run
	services map[string]*flowctlv1.Service // by serviceKey
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	return &Memory{runs: map[string]*flowctlv1.Run{}, services: map[string]*flowctlv1.Service{}}
}

// PutRun implements Store.
func (m *Memory) PutRun(r *flowctlv1.Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs[r.GetId()] = proto.CloneOf(r)
	return nil
}

// Runs implements Store.
func (m *Memory) Runs() ([]*flowctlv1.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*flowctlv1.Run, 0, len(m.runs))
	for _, r := range m.runs {
		out = append(out, proto.CloneOf(r))
	}
	return out, nil
}

// PutService implements Store.
func (m *Memory) PutService(s *flowctlv1.Service) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.services[serviceKey(s.GetRunId(), s.GetId())] = proto.CloneOf(s)
	return nil
}

// Services implements Store.
func (m *Memory) Services(runID string) ([]*flowctlv1.Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*flowctlv1.Service
	for _, s := range m.services {
		if runID == "" || s.GetRunId() == runID {
			out = append(out, proto.CloneOf(s))
		}
	}
	return out, nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }

// FileName is the bbolt file a Bolt store keeps in its directory.
const FileName = "controlplane.db"

var (
	runsBucket     = []byte("runs")
	servicesBucket = []byte("services")
)

// ErrInUse means another process holds the store's file.
var ErrInUse = errors.New("in use by another flowctl process")

// Bolt is a Store in a bbolt file; every Put is a synced transaction.
type Bolt struct {
	db   *bolt.DB
	path string
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating) dir/controlplane.db, waiting at most lockWait
// for another process to let go of it. Like the checkpoints, the file is
// 0600 and a directory it creates 0700: registrations name the run's
// components and their last errors.
func OpenBolt(dir string, lockWait time.Duration) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control plane state directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// NoSync: a heartbeat lost with the machine's power is harmless (the
	// next run starts afresh), and a killed process loses nothing, since
	// every write reaches the page cache; syncing each one would cost more
	// than the heartbeat.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait, NoSync: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("control plane state %s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open control plane state %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("control plane state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{runsBucket, servicesBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open control plane state %s: %w", path, err)
	}
	return &Bolt{db: db, path: path}, nil
}

// Path is the file's path.
func (b *Bolt) Path() string { return b.path }

// PutRun implements Store.
func (b *Bolt) PutRun(r *flowctlv1.Run) error {
	return b.put(runsBucket, []byte(r.GetId()), r)
}

// PutService implements Store.
func (b *Bolt) PutService(s *flowctlv1.Service) error {
	return b.put(servicesBucket, []byte(serviceKey(s.GetRunId(), s.GetId())), s)
}

func (b *Bolt) put(bucket, key []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	err = b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, v) })
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", bucket, b.path, err)
	}
	return nil
}

// Runs implements Store.
func (b *Bolt) Runs() ([]*flowctlv1.Run, error) {
	var out []*flowctlv1.Run
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(runsBucket).ForEach(func(k, v []byte) error {
			r := &flowctlv1.Run{}
			if err := proto.Unmarshal(v, r); err != nil {
				return fmt.Errorf("run %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read runs from %s: %w", b.path, err)
	}
	return out, nil
}

// Services implements Store.
func (b *Bolt) Services(runID string) ([]*flowctlv1.Service, error) {
	var out []*flowctlv1.Service
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(servicesBucket).Cursor()
		prefix := []byte(serviceKey(runID, ""))
		for k, v := c.Seek(prefix); k != nil && (runID == "" || hasPrefix(k, prefix)); k, v = c.Next() {
			s := &flowctlv1.Service{}
			if err := proto.Unmarshal(v, s); err != nil {
				return fmt.Errorf("service %q: %w", k, err)
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read services from %s: %w", b.path, err)
	}
	return out, nil
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && slices.Equal(k[:len(prefix)], prefix)
}

// Close implements Store.
func (b *Bolt) Close() error { return b.db.Close() }

// serviceKey orders services by run, then id; NUL cannot occur in a run id.
func serviceKey(runID, id string) string {
	if runID == "" {
		return ""
	}
	return runID + "\x00" + id
}
