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
	shape := batchShape{max: 10, linger: time.Minute}
	var (
		kept []Record
		want int
	)
	for batch := range 4 {
		var (
			recs []Record
			end  bool
			err  error
		)
		recs, kept, end, err = fill(t.Context(), src.read, shape, kept)
		if err != nil || end {
			t.Fatalf("batch %d: end %v, %v", batch, end, err)
		}
		if len(recs) != shape.max {
			t.Fatalf("batch %d: %d records, want %d", batch, len(recs), shape.max)
		}
		for i, r := range recs {
			want++
			if r.Event.ID != strconv.Itoa(want) || string(r.Position) != strconv.Itoa(want) {
				t.Fatalf("batch %d, record %d: id %q position %q, want %d", batch, i, r.Event.ID, r.Position, want)
			}
		}
	}
	src.per = 10
	recs, _, _, err := fill(t.Context(), src.read, shape, kept)
	if err != nil || len(recs) != 10 || &recs[0] != &src.recs[0] {
		t.Fatalf("a batch one Read filled: %d records, %v; want the source's own slice", len(recs), err)
	}
}
