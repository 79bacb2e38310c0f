package dataplane

import "testing"

func TestSplitAddsUp(t *testing.T) {
	for _, w := range []uint64{Full, Full / 3, 7, 1} {
		for n := 1; n <= 7; n++ {
			parts, err := split(w, n)
			if w < uint64(n) {
				if err == nil {
					t.Errorf("split(%d, %d) = %v, want an error", w, n, parts)
				}
				continue
			}
			if err != nil {
				t.Fatalf("split(%d, %d): %v", w, n, err)
			}
			var sum uint64
			for _, p := range parts {
				if p == 0 {
					t.Errorf("split(%d, %d) has an empty part: %v", w, n, parts)
				}
				sum += p
			}
			if sum != w || len(parts) != n {
				t.Errorf("split(%d, %d) = %v (sum %d)", w, n, parts, sum)
			}
		}
	}
}
