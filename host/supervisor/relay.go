package supervisor

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// logRelay writes a remote plugin's log (hclog JSON lines on its stderr)
// into the host's log under the component's name, as go-plugin does for
// the stderr of a local plugin process. A line that is not JSON is logged
// as it is, at debug level, as go-plugin does.
type logRelay struct {
	log     hclog.Logger
	mu      sync.Mutex
	partial []byte
}

func (r *logRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	r.partial = append(r.partial, p...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		r.line(r.partial[:i])
		r.partial = r.partial[i+1:]
	}
	return n, nil
}

// Reserved hclog JSON keys; every other key is a field of the entry.
var hclogKeys = map[string]bool{"@level": true, "@message": true, "@timestamp": true, "@module": true, "@caller": true}

func (r *logRelay) line(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	var entry map[string]any
	if b[0] != '{' || json.Unmarshal(b, &entry) != nil {
		r.log.Debug(string(b))
		return
	}
	msg, _ := entry["@message"].(string)
	lvl, _ := entry["@level"].(string)
	var args []any
	for k, v := range entry {
		if !hclogKeys[k] {
			args = append(args, k, v)
		}
	}
	level := hclog.LevelFromString(lvl)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	r.log.Log(level, msg, args...)
}
