package discard

import (
	"math"
	"math/bits"
	"time"
)

// IDReport accounts for events by the sequence number ending their ids.
type IDReport struct {
	// Distinct is how many different sequence numbers arrived.
	Distinct int64 `json:"distinct"`
	// Duplicates is how many events repeated a sequence number seen before.
	Duplicates int64 `json:"duplicates"`
	// Max is the highest sequence number seen under any prefix.
	Max uint64 `json:"max"`
	// Untracked is how many ids did not end in a sequence number.
	Untracked int64 `json:"untracked"`
}

// idSet tracks sequence numbers per id prefix (the part of the id before
// its trailing digits), so that several sources with their own prefixes
// can feed one sink.
type idSet struct {
	prefixes map[string]*bitset
	// last is the prefix of the previous id: consecutive events usually
	// come from one source.
	lastPrefix string
	last       *bitset
	r          IDReport
}

type bitset struct{ words []uint64 }

// maxTrackedSeq bounds each bitset (16 MiB): a larger number is untracked
// rather than a reason to allocate without limit.
const maxTrackedSeq = 1 << 27

func (s *idSet) add(id string) {
	prefix, n, ok := splitID(id)
	if !ok || n > maxTrackedSeq {
		s.r.Untracked++
		return
	}
	if s.last == nil || prefix != s.lastPrefix {
		if s.prefixes == nil {
			s.prefixes = map[string]*bitset{}
		}
		b, ok := s.prefixes[prefix]
		if !ok {
			b = &bitset{}
			s.prefixes[prefix] = b
		}
		s.lastPrefix, s.last = prefix, b
	}
	if s.last.set(n) {
		s.r.Distinct++
	} else {
		s.r.Duplicates++
	}
	s.r.Max = max(s.r.Max, n)
}

// set sets bit n and reports whether it was clear.
func (b *bitset) set(n uint64) bool {
	w := int(n / 64)
	if w >= len(b.words) {
		b.words = append(b.words, make([]uint64, w+1-len(b.words)+len(b.words)/2)...)
	}
	bit := uint64(1) << (n % 64)
	if b.words[w]&bit != 0 {
		return false
	}
	b.words[w] |= bit
	return true
}

func (s *idSet) report() *IDReport {
	r := s.r
	return &r
}

// splitID splits id into its prefix and the decimal number that ends it.
func splitID(id string) (prefix string, n uint64, ok bool) {
	i := len(id)
	for i > 0 && id[i-1] >= '0' && id[i-1] <= '9' {
		i--
	}
	if i == len(id) || len(id)-i > 19 {
		return "", 0, false
	}
	for _, c := range id[i:] {
		n = n*10 + uint64(c-'0')
	}
	return id[:i], n, true
}

// LatencyReport gives percentiles in milliseconds.
type LatencyReport struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// histogram buckets durations by microsecond with 1/16 relative precision:
// bucket (e, m) holds values in [2^e * (16+m)/16, 2^e * (17+m)/16) µs.
type histogram struct {
	counts [64 * 16]int64
	n      int64
	max    time.Duration
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

func bucketOf(us uint64) int {
	if us < 16 {
		return int(us) // exact below 16µs
	}
	e := bits.Len64(us) - 5 // us >> e is in [16, 32)
	return e*16 + int(us>>e)
}

// bucketLow is the smallest value of bucket i, in microseconds.
func bucketLow(i int) float64 {
	if i < 32 {
		return float64(i)
	}
	e, m := i/16, i%16
	return float64(uint64(16+m) << (e - 1))
}

func (h *histogram) report() *LatencyReport {
	r := &LatencyReport{Count: h.n, Max: ms(h.max)}
	r.P50, r.P90, r.P99 = h.quantile(0.50), h.quantile(0.90), h.quantile(0.99)
	return r
}

// quantile returns the upper bound of the bucket holding quantile q, in
// milliseconds: a slight overestimate, never an under-report.
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketLow(i+1)/1000, ms(h.max))
		}
	}
	return ms(h.max)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
