package dataplane

import "fmt"

// Full is the weight of a whole ticket: the shares of every batch derived
// from one source batch add up to it.
const Full uint64 = 1 << 63

// split divides a share w among n batches: each gets w/n, the first also the
// remainder, so the parts add up to w exactly. A share too small to split
// (fewer units than parts) is an error; with Full = 2^63 it takes more than
// sixty splits in two, or some forty in three, along one path.
func split(w uint64, n int) ([]uint64, error) {
	if n <= 0 {
		return nil, nil
	}
	if w < uint64(n) {
		return nil, fmt.Errorf("share %d cannot be split %d ways: the pipeline is too deep or too wide", w, n)
	}
	parts := make([]uint64, n)
	base := w / uint64(n)
	for i := range parts {
		parts[i] = base
	}
	parts[0] += w % uint64(n)
	return parts, nil
}
