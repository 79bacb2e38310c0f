package dataplane

import (
	"sync"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// epochs holds the current epoch of every source upstream of a node:
// batches of an older epoch were sent again after a failure and are void.
type epochs struct {
	mu sync.RWMutex
	m  map[uint32]uint32
}

func newEpochs(initial map[uint32]uint32) *epochs {
	e := &epochs{m: make(map[uint32]uint32, len(initial))}
	for k, v := range initial {
		e.m[k] = v
	}
	return e
}

// raise records source's epoch; epochs never go back.
func (e *epochs) raise(source, epoch uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if epoch > e.m[source] {
		e.m[source] = epoch
	}
}

// void reports whether t belongs to an epoch that was replaced.
func (e *epochs) void(t *flowctlv1.Ticket) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return t.GetEpoch() < e.m[t.GetSource()]
}
