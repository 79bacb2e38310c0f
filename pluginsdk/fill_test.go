package pluginsdk

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// reusingSource returns at most per records from each Read, always in the
// same slice (Source.Read allows it), numbered from 1.
type reusingSource struct {
	per, next int
	recs      []Record
}

func (s *reusingSource) read(_ context.Context, max int) ([]Record, error) {
	n := min(s.per, max)
	if cap(s.recs) < n {
		s.recs = make([]Record, n)
	}
	recs := s.recs[:n]
	for i := range recs {
		s.next++
		recs[i] = Record{Event: Event{ID: strconv.Itoa(s.next)}, Position: Position(strconv.Itoa(s.next))}
	}
	return recs, nil
}

// TestFillKeepsRecordsOfReusedSlices: a batch filled from several Reads of
// a source that returns the same slice each time holds every record once,
// in order, batch after batch; a batch one Read fills is that Read's slice.
func TestFillKeepsRecordsOfReusedSlices(t *testing.T) {
	src := &reusingSource{per: 3}
	b := &batcher{read: src.read, max: 10, linger: time.Minute}
	var want int
	for batch := range 4 {
		recs, end, err := b.fill(t.Context())
		if err != nil || end {
			t.Fatalf("batch %d: end %v, %v", batch, end, err)
		}
		if len(recs) != b.max {
			t.Fatalf("batch %d: %d records, want %d", batch, len(recs), b.max)
		}
		for i, r := range recs {
			want++
			if r.Event.ID != strconv.Itoa(want) || string(r.Position) != strconv.Itoa(want) {
				t.Fatalf("batch %d, record %d: id %q position %q, want %d", batch, i, r.Event.ID, r.Position, want)
			}
		}
	}
	src.per = 10
	recs, _, err := b.fill(t.Context())
	if err != nil || len(recs) != 10 || &recs[0] != &src.recs[0] {
		t.Fatalf("a batch one Read filled: %d records, %v; want the source's own slice", len(recs), err)
	}
}

// TestFillKeepsRecordsAfterAnEmptyRead: a source that answers a Read with
// none of its slice and the next with some of it does not see the next Read
// overwrite what the batch holds.
func TestFillKeepsRecordsAfterAnEmptyRead(t *testing.T) {
	src := &reusingSource{recs: make([]Record, 4)} // one slice from the start
	reads := 0
	read := func(ctx context.Context, max int) ([]Record, error) {
		reads++
		src.per = min(reads-1, 1) // none, then one at a time
		return src.read(ctx, max)
	}
	b := &batcher{read: read, max: 4, linger: time.Minute}
	recs, _, err := b.fill(t.Context())
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d records, %v; want 4", len(recs), err)
	}
	for i, r := range recs {
		if r.Event.ID != strconv.Itoa(i+1) {
			t.Fatalf("record %d: id %q, want %d", i, r.Event.ID, i+1)
		}
	}
}
