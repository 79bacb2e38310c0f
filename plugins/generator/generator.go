// Package generator is the flowctl "generator" plugin: a source of
// synthetic, deterministic events for demos, tests and benchmarks.
//
// Event n (counting from 1) has:
//
//   - id `<id_prefix><n>` with n zero-padded to 8 digits, so ids sort in
//     event order (fmt "%s%08d");
//   - type from `type` (default "flowctl.generator.tick");
//   - time 2025-01-01T00:00:00Z plus n milliseconds, or the wall clock when
//     `realtime = true`;
//   - the attribute seq = "<n>";
//   - content type application/json and data {"seq":n,"pad":"xxx…"} padded
//     to exactly `payload_size` bytes (0: no data and no content type);
//   - position n as 8 bytes, big-endian.
//
// The same configuration therefore always yields the same events, and a
// pipeline resumed from a checkpoint continues at n+1 with nothing repeated
// or skipped. `count` bounds the run (0: unbounded); `rate` paces it in
// events per second (0: as fast as downstream takes them). Pacing is a
// token bucket: after a stall caused by downstream backpressure the
// generator catches up at most 100ms worth of events instead of bursting to
// make up all the lost time.
package generator

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/flowctl/flowctl/pluginsdk"
)

// Defaults and limits of the generator's attributes.
const (
	DefaultType        = "flowctl.generator.tick"
	DefaultPayloadSize = 100
	// MinPayloadSize is the smallest non-zero payload_size: it holds
	// {"seq":n,"pad":""} for every n up to the int64 maximum, so every
	// payload has exactly the configured size.
	MinPayloadSize = len(`{"seq":9223372036854775807,"pad":""}`)
)

// BaseTime is the time of event 0; event n is BaseTime plus n milliseconds
// unless realtime is set.
var BaseTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// maxCatchUp bounds how far behind its schedule the pacer may fall before
// it forgets the debt.
const maxCatchUp = 100 * time.Millisecond

// Plugin returns the generator plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "generator",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSource("generator",
				"Emits deterministic synthetic events, optionally rate-limited; resumes after a checkpoint.",
				spec(), newSource),
		},
	}
}

func spec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.Number("count", "Number of events to emit before ending; 0 emits forever.").Default(0),
		pluginsdk.Number("rate", "Events per second; 0 emits as fast as downstream accepts them.").Default(0),
		pluginsdk.Number("payload_size", fmt.Sprintf("Exact size in bytes of each event's JSON data; 0 for no data, otherwise at least %d.", MinPayloadSize)).Default(DefaultPayloadSize),
		pluginsdk.String("type", "Event type of every event.").Default(DefaultType),
		pluginsdk.String("id_prefix", "Prefix of every event id; the rest is the sequence number padded to 8 digits.").Default(""),
		pluginsdk.Number("keys", "Number of distinct event keys: event n gets the key \"k<n mod keys>\", for pipelines that partition by key; 0 leaves keys empty.").Default(0),
		pluginsdk.Bool("realtime", "Stamp events with the wall clock instead of the deterministic base time plus n milliseconds.").Default(false),
	)
}

// config is the generator's validated configuration.
type config struct {
	count       uint64 // 0: unbounded
	rate        float64
	payloadSize int
	typ         string
	idPrefix    string
	realtime    bool
	keys        [][]byte // the keys events cycle through; none when empty
}

func parseConfig(c pluginsdk.Config) (config, error) {
	cfg := config{
		rate:     c.Float("rate"),
		typ:      c.String("type"),
		idPrefix: c.String("id_prefix"),
		realtime: c.Bool("realtime"),
	}
	count := c.Float("count")
	if count < 0 || count != math.Trunc(count) || count > math.MaxInt64 {
		return cfg, pluginsdk.NewAttrError(fmt.Errorf("must be a whole number of events, 0 or more (0 is unbounded); got %v", count), "count")
	}
	cfg.count = uint64(count)
	if cfg.rate < 0 || math.IsInf(cfg.rate, 0) || math.IsNaN(cfg.rate) {
		return cfg, pluginsdk.NewAttrError(fmt.Errorf("must be 0 (unlimited) or a positive number of events per second; got %v", cfg.rate), "rate")
	}
	size := c.Float("payload_size")
	if size != math.Trunc(size) || size < 0 || (size > 0 && size < float64(MinPayloadSize)) || size > math.MaxInt32 {
		return cfg, pluginsdk.NewAttrError(fmt.Errorf("must be 0 (no data) or a whole number of bytes from %d to %d; got %v", MinPayloadSize, math.MaxInt32, size), "payload_size")
	}
	cfg.payloadSize = int(size)
	keys := c.Float("keys")
	if keys < 0 || keys != math.Trunc(keys) || keys > maxKeys {
		return cfg, pluginsdk.NewAttrError(fmt.Errorf("must be 0 (no keys) or a whole number of keys up to %d; got %v", maxKeys, keys), "keys")
	}
	for i := range int(keys) {
		cfg.keys = append(cfg.keys, []byte("k"+strconv.Itoa(i)))
	}
	return cfg, nil
}

// maxKeys bounds keys: the generator holds each key.
const maxKeys = 1 << 20

// Source generates events. Read and Ack may run concurrently; Ack touches
// no state, so there is nothing to guard.
type Source struct {
	cfg   config
	next  uint64 // sequence number of the next event
	pacer *pacer // nil: unpaced
	// recs is the slice Read returns, filled anew each time (the SDK is
	// done with it when it reads again): making and clearing a fresh one
	// per batch was about a sixth of BenchmarkBatch's time.
	recs []pluginsdk.Record
}

var _ pluginsdk.Source = (*Source)(nil)

func newSource(init pluginsdk.Init) (pluginsdk.Source, error) {
	cfg, err := parseConfig(init.Config)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, next: 1}
	if cfg.rate > 0 {
		s.pacer = newPacer(cfg.rate)
	}
	return s, nil
}

// Open positions the generator after from (empty: before event 1).
func (s *Source) Open(_ context.Context, from pluginsdk.Position) error {
	if len(from) == 0 {
		return nil
	}
	n, err := ParsePosition(from)
	if err != nil {
		return fmt.Errorf("generator: cannot resume: %w", err)
	}
	s.next = n + 1
	return nil
}

// Remaining is pluginsdk's optional method for an ETA: a generator with a count knows
// how many events are left.
func (s *Source) Remaining() (uint64, bool) {
	if s.cfg.count == 0 {
		return 0, false
	}
	if s.next > s.cfg.count {
		return 0, true
	}
	return s.cfg.count - s.next + 1, true
}

// Read returns the events due now, at most limit, waiting for the first one
// when paced. It consumes nothing when ctx ends first.
func (s *Source) Read(ctx context.Context, limit int) ([]pluginsdk.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := uint64(max(limit, 1))
	if s.cfg.count > 0 {
		if s.next > s.cfg.count {
			return nil, pluginsdk.ErrEndOfInput
		}
		n = min(n, s.cfg.count-s.next+1)
	}
	if s.pacer != nil {
		due, err := s.pacer.take(ctx, int(n))
		if err != nil {
			return nil, err
		}
		n = uint64(due)
	}
	return s.records(int(n)), nil
}

// records makes the next n events, in s.recs. Their ids, positions and
// payloads are cut from one new buffer each, so a batch costs a few
// allocations rather than several per event (the id strings point into
// their buffer, which is never written again: strings stay immutable;
// positions are kept by the SDK until acked); realtime events of one Read
// share its clock reading. Every field of a record is written, except those
// the configuration leaves empty in every record.
func (s *Source) records(n int) []pluginsdk.Record {
	if cap(s.recs) < n {
		s.recs = make([]pluginsdk.Record, n)
	}
	recs := s.recs[:n]
	idLen := len(s.cfg.idPrefix) + 8 // longer ids are rare and just grow the buffer
	ids := make([]byte, 0, n*idLen)
	positions := make([]byte, 0, 8*n)
	// One attribute each, cut from one slice; capped, so an edit that adds
	// an attribute copies instead of overwriting the next event's.
	attrs := make([]pluginsdk.Attribute, n)
	var data []byte
	if s.cfg.payloadSize > 0 {
		data = make([]byte, 0, n*s.cfg.payloadSize)
	}
	now := time.Now()
	for i := range recs {
		seq := s.next
		s.next++
		start := len(ids)
		d := digits(seq)
		ids = appendID(ids, s.cfg.idPrefix, seq, d)
		id := ids[start:]
		digitsOfSeq := unsafe.String(&id[len(id)-d], d)
		// Filled in place, not built aside and copied in.
		r := &recs[i]
		e := &r.Event
		e.ID = unsafe.String(&id[0], len(id))
		e.Type = s.cfg.typ
		if s.cfg.realtime {
			e.Time = now
		} else {
			e.Time = BaseTime.Add(time.Duration(seq) * time.Millisecond)
		}
		attrs[i] = pluginsdk.Attribute{Key: "seq", Value: digitsOfSeq}
		e.Attributes = attrs[i : i+1 : i+1]
		if k := s.cfg.keys; len(k) > 0 {
			e.Key = k[seq%uint64(len(k))]
		}
		if s.cfg.payloadSize > 0 {
			start := len(data)
			data = appendPayload(data, digitsOfSeq, s.cfg.payloadSize)
			e.ContentType = "application/json"
			e.Data = data[start:len(data):len(data)]
		}
		positions = binary.BigEndian.AppendUint64(positions, seq)
		r.Position = positions[len(positions)-8 : len(positions) : len(positions)]
	}
	return recs
}

// appendID appends the id of event n, which has d digits: prefix and n
// zero-padded to 8 digits.
func appendID(b []byte, prefix string, n uint64, d int) []byte {
	b = append(b, prefix...)
	if d < 8 {
		b = append(b, "00000000"[:8-d]...)
	}
	return strconv.AppendUint(b, n, 10)
}

// digits is how many decimal digits n has.
func digits(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// Ack does nothing: generated events need no confirmation upstream.
func (s *Source) Ack(context.Context, pluginsdk.Position) error { return nil }

// Teardown does nothing: the generator holds no resources.
func (s *Source) Teardown(context.Context) error { return nil }

// Payload returns the data of event n: {"seq":n,"pad":"xx…"} padded with
// 'x' to size bytes. size must be at least MinPayloadSize.
func Payload(n uint64, size int) []byte {
	return AppendPayload(make([]byte, 0, size), n, size)
}

// padding is what AppendPayload pads with, a run at a time.
const padding = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

// AppendPayload appends Payload(n, size) to b.
func AppendPayload(b []byte, n uint64, size int) []byte {
	var digits [20]byte
	return appendPayload(b, string(strconv.AppendUint(digits[:0], n, 10)), size)
}

// appendPayload is AppendPayload of the sequence number written in decimal
// as seq.
func appendPayload(b []byte, seq string, size int) []byte {
	end := len(b) + size
	b = append(b, `{"seq":`...)
	b = append(b, seq...)
	b = append(b, `,"pad":"`...)
	for len(b) < end-2 {
		// A run of x at a time: byte by byte was a sixth of a generator's CPU.
		b = append(b, padding[:min(len(padding), end-2-len(b))]...)
	}
	return append(b, `"}`...)
}

// Position encodes sequence number n as the generator's position.
func Position(n uint64) pluginsdk.Position {
	return binary.BigEndian.AppendUint64(make(pluginsdk.Position, 0, 8), n)
}

// ParsePosition decodes a generator position.
func ParsePosition(p pluginsdk.Position) (uint64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("position %q is not a generator position (8 bytes holding a sequence number; it has %d bytes)", hex.EncodeToString(p), len(p))
	}
	return binary.BigEndian.Uint64(p), nil
}

// pacer is a token bucket releasing one event per interval.
type pacer struct {
	interval time.Duration
	next     time.Time // when the next event is due; zero: now
}

func newPacer(rate float64) *pacer {
	// Clamp so that absurd rates neither divide by zero nor overflow.
	interval := float64(time.Second) / rate
	interval = min(max(interval, 1), float64(1000*time.Hour))
	return &pacer{interval: time.Duration(interval)}
}

// take waits until at least one event is due and returns how many are due,
// up to limit. It returns ctx.Err(), having taken nothing, if ctx ends first.
func (p *pacer) take(ctx context.Context, limit int) (int, error) {
	now := time.Now()
	if p.next.IsZero() {
		p.next = now
	}
	if wait := p.next.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		now = time.Now()
	}
	if now.Sub(p.next) > maxCatchUp {
		p.next = now.Add(-maxCatchUp)
	}
	due := 1 + int(now.Sub(p.next)/p.interval)
	due = min(due, limit)
	p.next = p.next.Add(time.Duration(due) * p.interval)
	return due, nil
}
