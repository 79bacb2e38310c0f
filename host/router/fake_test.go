package router

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// pipe is an in-memory bidi stream that behaves like a gRPC stream client:
// the host calls Send, Recv and CloseSend; the plugin runs on a goroutine of
// its own until it returns, which ends the stream (Recv then gives io.EOF, or
// the plugin's error). Everything unblocks when ctx is done.
type pipe[Req, Resp any] struct {
	ctx        context.Context
	reqs       chan Req  // host → plugin; closed by CloseSend
	resps      chan Resp // plugin → host
	done       chan struct{}
	err        error // the plugin's result; read after done
	sendClosed atomic.Bool
}

// plug is the plugin's end of a pipe.
type plug[Req, Resp any] struct {
	ctx   context.Context
	reqs  <-chan Req
	resps chan<- Resp
}

func startPipe[Req, Resp any](ctx context.Context, plugin func(*plug[Req, Resp]) error) *pipe[Req, Resp] {
	p := &pipe[Req, Resp]{
		ctx:   ctx,
		reqs:  make(chan Req, 4),
		resps: make(chan Resp, 4),
		done:  make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		p.err = plugin(&plug[Req, Resp]{ctx: ctx, reqs: p.reqs, resps: p.resps})
	}()
	return p
}

func (p *pipe[Req, Resp]) Send(r Req) error {
	if p.sendClosed.Load() {
		return errors.New("fake: Send after CloseSend")
	}
	select {
	case <-p.done:
		return io.EOF // like gRPC: the reason is for Recv
	default:
	}
	select {
	case p.reqs <- r:
		return nil
	case <-p.done:
		return io.EOF
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

func (p *pipe[Req, Resp]) Recv() (Resp, error) {
	var zero Resp
	select {
	case r := <-p.resps:
		return r, nil
	case <-p.done:
		select {
		case r := <-p.resps: // sent before the plugin returned
			return r, nil
		default:
		}
		if p.err != nil {
			return zero, p.err
		}
		return zero, io.EOF
	case <-p.ctx.Done():
		return zero, p.ctx.Err()
	}
}

func (p *pipe[Req, Resp]) CloseSend() error {
	if p.sendClosed.CompareAndSwap(false, true) {
		close(p.reqs)
	}
	return nil
}

func (p *plug[Req, Resp]) Recv() (Req, error) {
	var zero Req
	select {
	case r, ok := <-p.reqs:
		if !ok {
			return zero, io.EOF
		}
		return r, nil
	case <-p.ctx.Done():
		return zero, p.ctx.Err()
	}
}

func (p *plug[Req, Resp]) Send(r Resp) error {
	select {
	case p.resps <- r:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// Events travel as concatenated 8-byte big-endian ids; positions are the
// big-endian index of a batch's last event within its source.

func encodeIDs(ids []uint64) *flowctlv1.Batch {
	buf := make([]byte, 0, 8*len(ids))
	for _, id := range ids {
		buf = binary.BigEndian.AppendUint64(buf, id)
	}
	return &flowctlv1.Batch{Count: uint32(len(ids)), Events: buf}
}

func decodeIDs(b *flowctlv1.Batch) ([]uint64, error) {
	ev := b.GetEvents()
	if len(ev) != 8*int(b.GetCount()) {
		return nil, fmt.Errorf("batch count %d but %d bytes", b.GetCount(), len(ev))
	}
	ids := make([]uint64, 0, b.GetCount())
	for i := 0; i < len(ev); i += 8 {
		ids = append(ids, binary.BigEndian.Uint64(ev[i:]))
	}
	return ids, nil
}

func pos(index uint64) []byte { return binary.BigEndian.AppendUint64(nil, index) }

func unpos(p []byte) uint64 {
	if len(p) != 8 {
		return ^uint64(0)
	}
	return binary.BigEndian.Uint64(p)
}

// problems collects protocol breaches a fake notices; tests expect none.
type problems struct {
	mu   sync.Mutex
	list []string
}

func (p *problems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// fakeSource emits events base+i for i in [0, events) (or from just after the
// open position), batch at a time, honouring credits, then SourceEnd; it ends
// its stream when the host half-closes it.
type fakeSource struct {
	events int
	batch  int
	base   uint64
	greedy bool // ignores credits, to test the router's check

	problems
	mu         sync.Mutex
	open       *flowctlv1.SourceOpen
	acks       []*flowctlv1.SourceAck
	sent       []uint64 // positions of the batches sent
	ackedUpTo  int      // how many of sent are acked
	granted    uint64
	maxUnacked int
}

func (f *fakeSource) stream(ctx context.Context) SourceStream {
	return startPipe(ctx, f.run)
}

func (f *fakeSource) run(p *plug[*flowctlv1.SourceRequest, *flowctlv1.SourceResponse]) error {
	req, err := p.Recv()
	if err != nil {
		return err
	}
	open := req.GetOpen()
	if open == nil {
		return errors.New("fake source: first message is not open")
	}
	next := 0
	if len(open.GetPosition()) > 0 {
		next = int(unpos(open.GetPosition())) + 1
	}
	f.mu.Lock()
	f.open = open
	f.granted = uint64(open.GetCredits())
	f.mu.Unlock()
	credits := open.GetCredits()
	var seq uint64
	endSent := false
	for {
		var out chan<- *flowctlv1.SourceResponse
		var msg *flowctlv1.SourceResponse
		last := min(next+f.batch, f.events) - 1
		switch {
		case next < f.events && (credits > 0 || f.greedy):
			ids := make([]uint64, 0, last-next+1)
			for i := next; i <= last; i++ {
				ids = append(ids, f.base+uint64(i))
			}
			msg = &flowctlv1.SourceResponse{Msg: &flowctlv1.SourceResponse_Batch{Batch: &flowctlv1.SourceBatch{
				Seq: seq + 1, Batch: encodeIDs(ids), Position: pos(uint64(last)),
			}}}
			out = p.resps
		case next >= f.events && !endSent:
			msg = &flowctlv1.SourceResponse{Msg: &flowctlv1.SourceResponse_End{End: &flowctlv1.SourceEnd{}}}
			out = p.resps
		}
		select {
		case out <- msg:
			if msg.GetEnd() != nil {
				endSent = true
				continue
			}
			seq++
			credits = max(credits, 1) - 1
			next = last + 1
			f.mu.Lock()
			f.sent = append(f.sent, uint64(last))
			f.maxUnacked = max(f.maxUnacked, len(f.sent)-f.ackedUpTo)
			if uint64(len(f.sent)) > f.granted && !f.greedy {
				f.add("sent %d batches with %d credits", len(f.sent), f.granted)
			}
			f.mu.Unlock()
		case req, ok := <-p.reqs:
			if !ok {
				return nil // the host half-closed: done
			}
			ack := req.GetAck()
			if ack == nil {
				return errors.New("fake source: second open")
			}
			credits += ack.GetCredits()
			f.onAck(ack)
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
}

// onAck checks that ack is cumulative, in order, and on a batch boundary.
func (f *fakeSource) onAck(ack *flowctlv1.SourceAck) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, ack)
	f.granted += uint64(ack.GetCredits())
	at := unpos(ack.GetPosition())
	n := f.ackedUpTo
	for n < len(f.sent) && f.sent[n] <= at {
		n++
	}
	switch {
	case n == f.ackedUpTo:
		f.add("ack %d acks nothing new (acked up to %d batches)", at, f.ackedUpTo)
	case f.sent[n-1] != at:
		f.add("ack %d is not a batch boundary", at)
	}
	f.ackedUpTo = n
}

// ackPositions returns the positions acked so far, in order.
func (f *fakeSource) ackPositions() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint64
	for _, a := range f.acks {
		out = append(out, unpos(a.GetPosition()))
	}
	return out
}

func (f *fakeSource) ackCredits() (sum uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.acks {
		sum += uint64(a.GetCredits())
	}
	return sum
}

func (f *fakeSource) sentBatches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// fakeProcessor answers each request in order: it keeps the events keep
// accepts (all when nil) and fails batch failAt, as a whole when failEvent is
// negative, else at that event.
type fakeProcessor struct {
	keep      func(id uint64) bool
	failAt    uint64
	failEvent int
	failMsg   string
	seqSkew   uint64 // added to each answer's seq, to break the protocol

	problems
	answered atomic.Uint64 // highest seq answered
}

func (f *fakeProcessor) stream(ctx context.Context) ProcessorStream {
	return startPipe(ctx, f.run)
}

func (f *fakeProcessor) run(p *plug[*flowctlv1.ProcessRequest, *flowctlv1.ProcessResponse]) error {
	var want uint64
	for {
		req, err := p.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		want++
		if req.GetSeq() != want {
			f.add("request seq %d, want %d", req.GetSeq(), want)
		}
		resp := &flowctlv1.ProcessResponse{Seq: req.GetSeq() + f.seqSkew}
		switch {
		case req.GetSeq() == f.failAt && f.failEvent < 0:
			resp.Error = f.failMsg
		case req.GetSeq() == f.failAt:
			resp.Errors = []*flowctlv1.EventError{{Index: uint32(f.failEvent), Message: f.failMsg}}
		case f.keep == nil:
			resp.Batch = req.GetBatch() // echo, shared like the host shares it
		default:
			ids, err := decodeIDs(req.GetBatch())
			if err != nil {
				return err
			}
			var kept []uint64
			for _, id := range ids {
				if f.keep(id) {
					kept = append(kept, id)
				}
			}
			resp.Batch = encodeIDs(kept)
		}
		if err := p.Send(resp); err != nil {
			return err
		}
		f.answered.Store(req.GetSeq())
	}
}

// fakeSink records the ids of the batches it acks. It waits for gate (when
// set) before its first ack, sleeps delay before each, and nacks batch nackAt.
// quitAt > 0 ends the stream on receiving that batch, without an answer;
// quitErr is then the stream's error.
type fakeSink struct {
	delay   time.Duration
	gate    chan struct{}
	nackAt  uint64
	nackMsg string
	quitAt  uint64
	quitErr error

	problems
	mu      sync.Mutex
	ids     []uint64
	batches []*flowctlv1.Batch
}

func (f *fakeSink) stream(ctx context.Context) SinkStream {
	return startPipe(ctx, f.run)
}

func (f *fakeSink) run(p *plug[*flowctlv1.SinkRequest, *flowctlv1.SinkAck]) error {
	var want uint64
	for {
		req, err := p.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		want++
		if req.GetSeq() != want {
			f.add("request seq %d, want %d", req.GetSeq(), want)
		}
		if req.GetSeq() == f.quitAt {
			return f.quitErr
		}
		if f.gate != nil && want == 1 {
			select {
			case <-f.gate:
			case <-p.ctx.Done():
				return p.ctx.Err()
			}
		}
		if f.delay > 0 {
			time.Sleep(f.delay)
		}
		ack := &flowctlv1.SinkAck{Seq: req.GetSeq(), Ok: true}
		if req.GetSeq() == f.nackAt {
			ack = &flowctlv1.SinkAck{Seq: req.GetSeq(), Error: f.nackMsg}
		} else {
			ids, err := decodeIDs(req.GetBatch())
			if err != nil {
				return err
			}
			f.mu.Lock()
			f.ids = append(f.ids, ids...)
			f.batches = append(f.batches, req.GetBatch())
			f.mu.Unlock()
		}
		if err := p.Send(ack); err != nil {
			return err
		}
	}
}

func (f *fakeSink) got() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.ids...)
}

func (f *fakeSink) gotBatches() []*flowctlv1.Batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*flowctlv1.Batch(nil), f.batches...)
}
