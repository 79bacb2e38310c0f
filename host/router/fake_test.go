package router

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

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

// Events travel as EventList records (field 1) that each hold an 8-byte
// big-endian id instead of an Event: the router counts records without
// decoding them. Positions are the big-endian index of a batch's last event
// within its source.

func encodeIDs(ids []uint64) *flowctlv1.Batch {
	buf := make([]byte, 0, 10*len(ids))
	for _, id := range ids {
		buf = protowire.AppendTag(buf, eventListField, protowire.BytesType)
		buf = protowire.AppendBytes(buf, binary.BigEndian.AppendUint64(nil, id))
	}
	return &flowctlv1.Batch{Count: uint32(len(ids)), Events: buf}
}

func decodeIDs(b *flowctlv1.Batch) ([]uint64, error) {
	ev := b.GetEvents()
	if len(ev) != 10*int(b.GetCount()) {
		return nil, fmt.Errorf("batch count %d but %d bytes", b.GetCount(), len(ev))
	}
	ids := make([]uint64, 0, b.GetCount())
	for i := 0; i < len(ev); i += 10 {
		if ev[i] != 0x0a || ev[i+1] != 8 {
			return nil, fmt.Errorf("batch record at byte %d is not an 8-byte id", i)
		}
		ids = append(ids, binary.BigEndian.Uint64(ev[i+2:]))
	}
	return ids, nil
}

// codec is how a fake carries event ids in a batch: idCodec as concatenated
// 8-byte ids (the zero value), protoCodec as real events, the wire encoding
// of a flowctlv1.EventList, which the router decodes when it retries single
// events or dead-letters them.
type codec int

const (
	idCodec codec = iota
	protoCodec
)

func (c codec) encode(ids []uint64) *flowctlv1.Batch {
	if c == protoCodec {
		return encodeEvents(ids)
	}
	return encodeIDs(ids)
}

// decode returns a batch's ids and, for protoCodec, its events.
func (c codec) decode(b *flowctlv1.Batch) ([]uint64, []*flowctlv1.Event, error) {
	if c == protoCodec {
		return decodeEvents(b)
	}
	ids, err := decodeIDs(b)
	return ids, nil, err
}

// encodeEvents makes one event per id: Id is the id in decimal, Data its
// 8 bytes, and an attribute that dead-lettering must keep.
func encodeEvents(ids []uint64) *flowctlv1.Batch {
	list := &flowctlv1.EventList{}
	for _, id := range ids {
		list.Events = append(list.Events, &flowctlv1.Event{
			Id:         strconv.FormatUint(id, 10),
			Type:       "test.tick",
			Data:       binary.BigEndian.AppendUint64(nil, id),
			Attributes: map[string]string{"origin": "fake"},
		})
	}
	data, err := proto.Marshal(list)
	if err != nil {
		panic(fmt.Sprintf("fake: encode events: %v", err))
	}
	return &flowctlv1.Batch{Count: uint32(len(ids)), Events: data}
}

func decodeEvents(b *flowctlv1.Batch) ([]uint64, []*flowctlv1.Event, error) {
	var list flowctlv1.EventList
	if err := proto.Unmarshal(b.GetEvents(), &list); err != nil {
		return nil, nil, fmt.Errorf("decode events: %w", err)
	}
	if len(list.GetEvents()) != int(b.GetCount()) {
		return nil, nil, fmt.Errorf("batch count %d but %d events", b.GetCount(), len(list.GetEvents()))
	}
	ids := make([]uint64, 0, len(list.GetEvents()))
	for _, e := range list.GetEvents() {
		id, err := strconv.ParseUint(e.GetId(), 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("event id: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, list.GetEvents(), nil
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
//
// A fakeSource may serve several streams one after the other (a restarted
// source gets a new stream of the same fake): what it sent and what was
// acked carry over, so acks for batches an earlier stream sent are checked
// too (batches after the new open position are forgotten: the router never
// received them). quitAfter > 0 fails the stream with quitErr (nil: ends it, io.EOF)
// once quitAfter batches have been sent in all; quitAfterEnd does so right
// after SourceEnd. Either happens once, on whichever stream gets there.
type fakeSource struct {
	events       int
	batch        int
	base         uint64
	greedy       bool // ignores credits, to test the router's check
	codec        codec
	quitAfter    int
	quitAfterEnd bool
	quitErr      error

	problems
	mu        sync.Mutex
	open      *flowctlv1.SourceOpen   // the latest open
	opens     []*flowctlv1.SourceOpen // every open, one per stream
	acks      []*flowctlv1.SourceAck
	sent      []uint64 // positions of the batches sent
	ackedUpTo int      // how many of sent are acked
	granted   uint64   // credits granted on every stream
	// maxInFlight is the most batches the source held in flight on one
	// stream: sent, with no credit back for them yet. Position acks may
	// come later than credits (checkpoints are coalesced), so in-flight is
	// counted by credits.
	maxInFlight int
	quit        bool // quitAfter or quitAfterEnd has happened
}

func (f *fakeSource) stream(ctx context.Context) SourceStream {
	return startPipe(ctx, f.run)
}

// quitNow reports whether the stream is to fail now.
func (f *fakeSource) quitNow(endSent bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.quit {
		return false
	}
	f.quit = (f.quitAfter > 0 && len(f.sent) >= f.quitAfter) || (f.quitAfterEnd && endSent)
	return f.quit
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
	// Batches sent after the open position were lost with an earlier
	// stream; they are sent again.
	for len(open.GetPosition()) > 0 && len(f.sent) > 0 && f.sent[len(f.sent)-1] > unpos(open.GetPosition()) {
		f.sent = f.sent[:len(f.sent)-1]
	}
	f.open = open
	f.opens = append(f.opens, open)
	f.granted += uint64(open.GetCredits())
	f.mu.Unlock()
	credits := open.GetCredits()
	// What this stream granted and sent, for the credit check.
	streamGranted, streamSent := uint64(open.GetCredits()), uint64(0)
	var seq uint64
	endSent := false
	for {
		if f.quitNow(endSent) {
			return f.quitErr
		}
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
				Seq: seq + 1, Batch: f.codec.encode(ids), Position: pos(uint64(last)),
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
			streamSent++
			credits = max(credits, 1) - 1
			next = last + 1
			f.mu.Lock()
			f.sent = append(f.sent, uint64(last))
			f.maxInFlight = max(f.maxInFlight, int(streamSent)-int(streamGranted-uint64(open.GetCredits())))
			if streamSent > streamGranted && !f.greedy {
				f.add("sent %d batches with %d credits", streamSent, streamGranted)
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
			streamGranted += uint64(ack.GetCredits())
			f.onAck(ack)
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
}

// onAck checks that a position ack is cumulative, in order, and on a batch
// boundary. An ack without a position only gives credits.
func (f *fakeSource) onAck(ack *flowctlv1.SourceAck) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, ack)
	f.granted += uint64(ack.GetCredits())
	if len(ack.GetPosition()) == 0 {
		return
	}
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
		if len(a.GetPosition()) > 0 {
			out = append(out, unpos(a.GetPosition()))
		}
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
// negative, else at that event. failBatch and failEvents, when set, fail a
// batch by its ids (a non-empty reason fails it as a whole) or single events
// (each with a non-empty reason fails; the others are kept). quitAt > 0 ends
// the stream on receiving that batch, without an answer; quitErr is then the
// stream's error.
type fakeProcessor struct {
	keep       func(id uint64) bool
	failAt     uint64
	failEvent  int
	failMsg    string
	failBatch  func(ids []uint64) string
	failEvents func(id uint64) string
	seqSkew    uint64 // added to each answer's seq, to break the protocol
	codec      codec
	quitAt     uint64
	quitErr    error

	problems
	answered atomic.Uint64 // highest seq answered

	mu       sync.Mutex
	requests []fakeRequest
}

// fakeRequest is a request a processor or sink received.
type fakeRequest struct {
	seq uint64
	ids []uint64
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
		ids, _, err := f.codec.decode(req.GetBatch())
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{seq: req.GetSeq(), ids: ids})
		f.mu.Unlock()
		if req.GetSeq() == f.quitAt {
			return f.quitErr
		}
		resp, err := f.answer(req, ids)
		if err != nil {
			return err
		}
		if err := p.Send(resp); err != nil {
			return err
		}
		f.answered.Store(req.GetSeq())
	}
}

func (f *fakeProcessor) answer(req *flowctlv1.ProcessRequest, ids []uint64) (*flowctlv1.ProcessResponse, error) {
	resp := &flowctlv1.ProcessResponse{Seq: req.GetSeq() + f.seqSkew}
	switch {
	case req.GetSeq() == f.failAt && f.failEvent < 0:
		resp.Error = f.failMsg
		return resp, nil
	case req.GetSeq() == f.failAt:
		resp.Errors = []*flowctlv1.EventError{{Index: uint32(f.failEvent), Message: f.failMsg}}
		return resp, nil
	case f.failBatch != nil:
		if msg := f.failBatch(ids); msg != "" {
			resp.Error = msg
			return resp, nil
		}
	}
	if f.keep == nil && f.failEvents == nil {
		resp.Batch = req.GetBatch() // echo, shared like the host shares it
		return resp, nil
	}
	var kept []uint64
	for i, id := range ids {
		if f.failEvents != nil {
			if msg := f.failEvents(id); msg != "" {
				resp.Errors = append(resp.Errors, &flowctlv1.EventError{Index: uint32(i), Message: msg})
				continue
			}
		}
		if f.keep == nil || f.keep(id) {
			kept = append(kept, id)
		}
	}
	resp.Batch = f.codec.encode(kept)
	return resp, nil
}

// received returns the requests received so far.
func (f *fakeProcessor) received() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

// fakeSink records the ids of the batches it acks. It waits for gate (when
// set) before its first ack, sleeps delay before each, and nacks batch nackAt
// and every batch for whose ids nackIf gives a reason. quitAt > 0 ends the
// stream on receiving that batch, without an answer (having written it
// first with quitAfterWrite); quitErr is then the stream's error.
type fakeSink struct {
	delay          time.Duration
	gate           chan struct{}
	nackAt         uint64
	nackMsg        string
	nackIf         func(ids []uint64) string
	quitAt         uint64
	quitAfterWrite bool
	quitErr        error
	codec          codec

	problems
	mu       sync.Mutex
	ids      []uint64
	events   []*flowctlv1.Event // protoCodec only
	batches  []*flowctlv1.Batch
	requests []fakeRequest
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
		ids, events, err := f.codec.decode(req.GetBatch())
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{seq: req.GetSeq(), ids: ids})
		f.mu.Unlock()
		quit := req.GetSeq() == f.quitAt
		if quit && !f.quitAfterWrite {
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
		nack, msg := req.GetSeq() == f.nackAt, f.nackMsg
		if f.nackIf != nil {
			if m := f.nackIf(ids); m != "" {
				nack, msg = true, m
			}
		}
		if nack {
			ack = &flowctlv1.SinkAck{Seq: req.GetSeq(), Error: msg}
		} else {
			f.mu.Lock()
			f.ids = append(f.ids, ids...)
			f.events = append(f.events, events...)
			f.batches = append(f.batches, req.GetBatch())
			f.mu.Unlock()
		}
		if quit {
			return f.quitErr // written, never acked
		}
		if err := p.Send(ack); err != nil {
			return err
		}
	}
}

// gotEvents returns the events written so far (protoCodec only).
func (f *fakeSink) gotEvents() []*flowctlv1.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*flowctlv1.Event(nil), f.events...)
}

// received returns the requests received so far.
func (f *fakeSink) received() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
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
