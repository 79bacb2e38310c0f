package router

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestSourceBeyondCreditsFails(t *testing.T) {
	f := newFixture(testCtx(t))
	f.source("source.ticks", &fakeSource{events: 100, batch: 1, greedy: true}).
		sink("sink.out", &fakeSink{gate: make(chan struct{})}, "source.ticks")
	_, err := f.run(t, Options{MaxInFlight: 2})
	const want = "source.ticks: protocol violation: batch 3 is beyond the 2 credits granted"
	if err == nil || err.Error() != want {
		t.Fatalf("Run: %v, want %q", err, want)
	}
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("Run: %v is not ErrProtocol", err)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name  string
		build func(f *fixture)
		opts  Options
		want  string
		is    error
		// The failure is at this event, so the source must never be acked
		// at or past it.
		failedAt uint64
	}{
		{
			name: "sink nack",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					sink("sink.out", &fakeSink{nackAt: 7, nackMsg: "disk full"}, "source.ticks")
			},
			want:     "sink.out: batch 7 not written: disk full",
			failedAt: 60,
		},
		{
			name: "processor event error",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					processor("processor.tag", &fakeProcessor{failAt: 7, failEvent: 3, failMsg: "boom"}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.tag")
			},
			want:     "processor.tag: batch 7: event 3: boom",
			failedAt: 60,
		},
		{
			name: "processor batch error",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					processor("processor.tag", &fakeProcessor{failAt: 2, failEvent: -1, failMsg: "bad batch"}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.tag")
			},
			want:     "processor.tag: batch 2: bad batch",
			failedAt: 10,
		},
		{
			name: "sink stream error",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					sink("sink.out", &fakeSink{quitAt: 4, quitErr: errors.New("connection reset")}, "source.ticks")
			},
			want:     "sink.out: stream: connection reset",
			failedAt: 30,
		},
		{
			name: "sink ends its stream early",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					sink("sink.out", &fakeSink{quitAt: 4}, "source.ticks")
			},
			want:     "sink.out: plugin closed its stream unexpectedly",
			is:       ErrUnexpectedClose,
			failedAt: 30,
		},
		{
			name: "processor answers out of order",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					processor("processor.tag", &fakeProcessor{seqSkew: 1}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.tag")
			},
			want:     "processor.tag: protocol violation: answer for batch 2, want batch 1",
			is:       ErrProtocol,
			failedAt: 0,
		},
		{
			name: "checkpoint error",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					sink("sink.out", &fakeSink{}, "source.ticks")
			},
			opts: Options{Checkpoint: func(string, []byte, uint64) error {
				return errors.New("bbolt: database not open")
			}},
			want:     "source.ticks: checkpoint: bbolt: database not open",
			failedAt: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			tt.build(f)
			_, err := f.run(t, tt.opts)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Run: %v, want %q", err, tt.want)
			}
			var nodeErr *NodeError
			if !errors.As(err, &nodeErr) || !strings.HasPrefix(tt.want, nodeErr.Node+": ") {
				t.Errorf("Run: %v is not a *NodeError naming the component", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Run: %v is not %v", err, tt.is)
			}
			for _, at := range f.sources["source.ticks"].ackPositions() {
				if at >= tt.failedAt {
					t.Errorf("source acked position %d, at or past the failure at %d", at, tt.failedAt)
				}
			}
		})
	}
}

func TestBatchErrorText(t *testing.T) {
	tests := []struct {
		err  BatchError
		want string
	}{
		{BatchError{Kind: KindSink, Seq: 7, Event: -1, Reason: "disk full"}, "batch 7 not written: disk full"},
		{BatchError{Kind: KindSink, Seq: 7, Event: -1}, "batch 7 not written: no reason given"},
		{BatchError{Kind: KindProcessor, Seq: 7, Event: 3, Reason: "boom"}, "batch 7: event 3: boom"},
		{BatchError{Kind: KindProcessor, Seq: 7, Event: 3, Reason: "boom", More: 2}, "batch 7: event 3: boom (and 2 more failed events)"},
		{BatchError{Kind: KindProcessor, Seq: 7, Event: -1, Reason: "bad"}, "batch 7: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindSource: "source", KindProcessor: "processor", KindSink: "sink", 0: "Kind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	f := newFixture(ctx)
	sink := &fakeSink{gate: make(chan struct{})} // never acks
	f.source("source.ticks", &fakeSource{events: 1_000_000, batch: 10}).
		processor("processor.tag", &fakeProcessor{}, "source.ticks").
		sink("sink.out", sink, "processor.tag")
	r, err := New(f.nodes, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "the processor to answer", func() bool { return f.procs["processor.tag"].answered.Load() > 0 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || err.Error() != context.Canceled.Error() {
			t.Fatalf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s of cancel")
	}
	if got := r.Stats()[0].EventsAcked; got != 0 {
		t.Errorf("source acked %d events, want 0", got)
	}
}

func TestSourceEndsStreamEarly(t *testing.T) {
	ctx := testCtx(t)
	plugin := func(p *plug[*flowctlv1.SourceRequest, *flowctlv1.SourceResponse]) error {
		_, err := p.Recv()
		return err // ends the stream without SourceEnd
	}
	nodes := []Node{
		{Name: "source.gone", Streams: Streams{Source: startPipe(ctx, plugin)}},
		{Name: "sink.out", Inputs: []string{"source.gone"}, Streams: Streams{Sink: (&fakeSink{}).stream(ctx)}},
	}
	r, err := New(nodes, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Run(ctx)
	if want := "source.gone: plugin closed its stream unexpectedly"; err == nil || err.Error() != want {
		t.Fatalf("Run: %v, want %q", err, want)
	}
}
