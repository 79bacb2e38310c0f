package dataplane

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// item is one batch on its way into a node.
type item struct {
	ticket *flowctlv1.Ticket
	weight uint64
	batch  *flowctlv1.Batch
	at     time.Time // arrival from an edge, for NodeReport.batch_nanos
}

// inbox is a node's input queue, fed by every edge stream into it: FIFO per
// edge, any interleaving across edges, bounded as a whole.
type inbox struct {
	ch   chan item
	done chan struct{} // closed when the node stops taking input
}

// inboxSize bounds the batches queued at a node's input; the gRPC streams
// behind it hold a few more before their senders block.
const inboxSize = 4

func newInbox() *inbox { return &inbox{ch: make(chan item, inboxSize), done: make(chan struct{})} }

// Mux is the Edge service of one process: it hands each incoming edge stream
// to the node it is for. A plugin process has one node; the host has one per
// protocol-1 plugin it serves on the direct data plane. Register it on the
// gRPC server before any edge can arrive.
type Mux struct {
	flowctlv1.UnimplementedEdgeServer

	mu      sync.Mutex
	nodes   map[uint32]*inbox
	changed chan struct{} // closed and replaced when nodes changes
}

// NewMux returns a Mux with no node.
func NewMux() *Mux {
	return &Mux{nodes: map[uint32]*inbox{}, changed: make(chan struct{})}
}

// Register registers the Edge service on s.
func (m *Mux) Register(s grpc.ServiceRegistrar) { flowctlv1.RegisterEdgeServer(s, m) }

func (m *Mux) attach(node uint32, in *inbox) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[node] = in
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Mux) detach(node uint32, in *inbox) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodes[node] == in {
		delete(m.nodes, node)
	}
}

// attachWait is how long an edge waits for its node to open: an upstream
// may connect before the host's NodeOpen reached the downstream.
const attachWait = 30 * time.Second

func (m *Mux) lookup(ctx context.Context, node uint32) (*inbox, error) {
	timer := time.NewTimer(attachWait)
	defer timer.Stop()
	for {
		m.mu.Lock()
		in, changed := m.nodes[node], m.changed
		m.mu.Unlock()
		if in != nil {
			return in, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, status.Errorf(codes.Unavailable, "no component with node index %d serves here", node)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Send receives one edge.
func (m *Mux) Send(stream flowctlv1.Edge_SendServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Error(codes.InvalidArgument, "the first edge message must be hello")
	}
	ctx := stream.Context()
	in, err := m.lookup(ctx, hello.GetTo())
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&flowctlv1.EdgeClosed{})
		}
		if err != nil {
			return err
		}
		b := msg.GetBatch()
		if b == nil || b.GetTicket() == nil {
			return status.Error(codes.InvalidArgument, "edge message without a batch and its ticket")
		}
		select {
		case in.ch <- item{ticket: b.GetTicket(), weight: b.GetWeight(), batch: b.GetBatch(), at: time.Now()}:
		case <-in.done:
			return status.Error(codes.Unavailable, "the component stopped taking input")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
