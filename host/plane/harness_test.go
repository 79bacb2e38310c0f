package plane

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/flowctl/flowctl/host/router"
	"github.com/flowctl/flowctl/proto/dataplane"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// The harness runs each component as a real gRPC server on a unix socket
// of its own, serving Node and Edge through proto/dataplane as a plugin
// does; only the components' logic is test code. Killing a component stops
// its server, which breaks its streams as a crash would.

// plugin is one running component.
type plugin struct {
	srv  *grpc.Server
	sock string
	cc   *grpc.ClientConn
}

type nodeServer struct {
	flowctlv1.UnimplementedNodeServer
	mux     *dataplane.Mux
	handler any
	name    string
}

func (s *nodeServer) Run(stream flowctlv1.Node_RunServer) error {
	return dataplane.Run(stream, s.mux, s.handler, dataplane.Options{Component: s.name})
}

// cluster is a pipeline's components and the coordinator's view of them.
type cluster struct {
	t       *testing.T
	dir     string
	mu      sync.Mutex
	plugins map[string]*plugin
	starts  map[string]int
	make    map[string]func(start int) any // handler for a component's start-th start (0 first)
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, dir: t.TempDir(), plugins: map[string]*plugin{}, starts: map[string]int{}, make: map[string]func(int) any{}}
}

// start runs name's next plugin and opens its control stream.
func (c *cluster) start(ctx context.Context, name string) (Conn, error) {
	c.mu.Lock()
	i := c.starts[name]
	c.starts[name]++
	h := c.make[name](i)
	sock := filepath.Join(c.dir, fmt.Sprintf("%d-%d.sock", len(c.plugins), i))
	c.mu.Unlock()
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	mux := dataplane.NewMux()
	mux.Register(srv)
	flowctlv1.RegisterNodeServer(srv, &nodeServer{mux: mux, handler: h, name: name})
	go func() { _ = srv.Serve(lis) }()
	cc, err := grpc.NewClient("unix:"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		return nil, err
	}
	conn, err := flowctlv1.NewNodeClient(cc).Run(ctx)
	if err != nil {
		srv.Stop()
		return nil, err
	}
	c.mu.Lock()
	c.plugins[name+"#"+strconv.Itoa(i)] = &plugin{srv: srv, sock: sock, cc: cc}
	c.plugins[name] = c.plugins[name+"#"+strconv.Itoa(i)]
	c.mu.Unlock()
	return conn, nil
}

// kill stops name's current plugin at once.
func (c *cluster) kill(name string) {
	c.mu.Lock()
	p := c.plugins[name]
	c.mu.Unlock()
	p.srv.Stop()
}

func (c *cluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.plugins {
		p.srv.Stop()
		_ = p.cc.Close()
	}
}

func (c *cluster) peer(_, to string) *flowctlv1.Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &flowctlv1.Peer{Address: "unix:" + c.plugins[to].sock}
}

// spec is a node of a test pipeline.
type spec struct {
	name    string
	kind    router.Kind
	inputs  []string
	handler func(start int) any
	onError router.ErrorPolicy
	restart bool
	// stage and partition make the node an instance of a parallel stage.
	stage     string
	partition flowctlv1.Partition
}

// runPipeline starts every component and runs the coordinator until it
// returns; drain, when set, is called with the coordinator once it runs.
func runPipeline(t *testing.T, specs []spec, opts Options, during func(*Coordinator, *cluster)) (*Coordinator, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCluster(t)
	defer c.close()
	var nodes []Node
	for _, s := range specs {
		c.make[s.name] = s.handler
	}
	for _, s := range specs {
		conn, err := c.start(ctx, s.name)
		if err != nil {
			t.Fatal(err)
		}
		n := Node{Name: s.name, Kind: s.kind, Inputs: s.inputs, Conn: conn, OnError: s.onError, Stage: s.stage, Partition: s.partition}
		if s.restart {
			name := s.name
			n.Restart = func(ctx context.Context, _ error) (Conn, error) {
				c.kill(name)
				return c.start(ctx, name)
			}
		}
		nodes = append(nodes, n)
	}
	opts.Peer = c.peer
	co, err := New(nodes, opts)
	if err != nil {
		t.Fatal(err)
	}
	if during != nil {
		go during(co, c)
	}
	return co, co.Run(ctx)
}

// --- components -------------------------------------------------------------

func encode(t testing.TB, events []*flowctlv1.Event) dataplane.Batch {
	b, err := proto.Marshal(&flowctlv1.EventList{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return dataplane.Batch{Events: b, Count: uint32(len(events))}
}

func decode(t testing.TB, b dataplane.Batch) []*flowctlv1.Event {
	var l flowctlv1.EventList
	if err := proto.Unmarshal(b.Events, &l); err != nil {
		t.Error(err)
	}
	return l.Events
}

func pos(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

// counter is a source of events "0" .. total-1, size per batch; the
// position of an event is its number.
type counter struct {
	t           testing.TB
	total, size int
	next        int
	failAt      int // batches after which Next fails (0: never)
	keys        int // events get keys "k0" .. "k<keys-1>" in turn (0: none)
	sent        int
	mu          sync.Mutex
	acked       int // last acked event, -1 for none
}

func (s *counter) Open(_ context.Context, from []byte, _ dataplane.Shape) error {
	s.next, s.acked = 0, -1
	if len(from) == 8 {
		s.next = int(binary.BigEndian.Uint64(from)) + 1
	}
	return nil
}

func (s *counter) Next(ctx context.Context) (dataplane.Batch, []byte, bool, error) {
	if s.failAt > 0 && s.sent == s.failAt {
		return dataplane.Batch{}, nil, false, errors.New("source crashed")
	}
	if s.next >= s.total {
		return dataplane.Batch{}, nil, true, nil
	}
	var evs []*flowctlv1.Event
	for ; s.next < s.total && len(evs) < s.size; s.next++ {
		e := &flowctlv1.Event{Id: strconv.Itoa(s.next), Data: []byte("payload")}
		if s.keys > 0 {
			e.Key = []byte("k" + strconv.Itoa(s.next%s.keys))
		}
		evs = append(evs, e)
	}
	s.sent++
	return encode(s.t, evs), pos(s.next - 1), s.next >= s.total, nil
}

func (s *counter) Ack(_ context.Context, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked = int(binary.BigEndian.Uint64(p))
	return nil
}

func (s *counter) Release(uint32) {}

// relay is a processor that passes events on; fail decides per event
// whether it fails, crashAt makes the crashAt-th batch break the plugin.
type relay struct {
	t       testing.TB
	fail    func(e *flowctlv1.Event) string
	crashAt int
	// permanent makes the crash one a restart cannot cure.
	permanent bool
	batches   int
	batchErr  func(n int) string
}

func (p *relay) Open(context.Context) error { return nil }

func (p *relay) Process(_ context.Context, in dataplane.Batch) (dataplane.Result, error) {
	p.batches++
	if p.crashAt > 0 && p.batches == p.crashAt {
		if p.permanent {
			return dataplane.Result{}, status.Error(codes.FailedPrecondition, "listen: address already in use")
		}
		return dataplane.Result{}, errors.New("processor crashed")
	}
	if p.batchErr != nil {
		if msg := p.batchErr(p.batches); msg != "" {
			return dataplane.Result{Error: msg}, nil
		}
	}
	var out []*flowctlv1.Event
	var res dataplane.Result
	for i, e := range decode(p.t, in) {
		if p.fail != nil {
			if msg := p.fail(e); msg != "" {
				res.Errors = append(res.Errors, &flowctlv1.EventError{Index: uint32(i), Message: msg})
				continue
			}
		}
		out = append(out, e)
	}
	if len(out) > 0 {
		res.Out = encode(p.t, out)
	}
	return res, nil
}

// store collects what sinks write, by sink and event id.
type store struct {
	mu   sync.Mutex
	seen map[string]map[string]int
	evs  map[string][]*flowctlv1.Event
}

func newStore() *store {
	return &store{seen: map[string]map[string]int{}, evs: map[string][]*flowctlv1.Event{}}
}

func (s *store) count(sink, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[sink][id]
}

// collect is a sink writing into a store; nack decides per batch whether it
// fails, crashAt makes the crashAt-th batch break the plugin.
type collect struct {
	t       testing.TB
	name    string
	st      *store
	crashAt int
	batches int
	nack    func(n int, evs []*flowctlv1.Event) string
	wait    chan struct{}
}

func (k *collect) Open(context.Context) error { return nil }

func (k *collect) Write(ctx context.Context, in dataplane.Batch) (dataplane.WriteResult, error) {
	k.batches++
	if k.crashAt > 0 && k.batches == k.crashAt {
		return dataplane.WriteResult{}, errors.New("sink crashed")
	}
	if k.wait != nil {
		select {
		case <-k.wait:
		case <-ctx.Done():
			return dataplane.WriteResult{}, ctx.Err()
		}
	}
	evs := decode(k.t, in)
	if k.nack != nil {
		if msg := k.nack(k.batches, evs); msg != "" {
			return dataplane.WriteResult{Error: msg}, nil
		}
	}
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	if k.st.seen[k.name] == nil {
		k.st.seen[k.name] = map[string]int{}
	}
	for _, e := range evs {
		k.st.seen[k.name][e.Id]++
		k.st.evs[k.name] = append(k.st.evs[k.name], e)
	}
	return dataplane.WriteResult{}, nil
}

// checkpoints records Options.Checkpoint calls per source.
type checkpoints struct {
	mu     sync.Mutex
	last   map[string]int
	events map[string]uint64
}

func newCheckpoints() *checkpoints {
	return &checkpoints{last: map[string]int{}, events: map[string]uint64{}}
}

func (c *checkpoints) save(source string, p []byte, events uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := int(binary.BigEndian.Uint64(p))
	if prev, ok := c.last[source]; ok && at <= prev {
		return fmt.Errorf("checkpoint of %s went from %d to %d", source, prev, at)
	}
	c.last[source] = at
	c.events[source] += events
	return nil
}
