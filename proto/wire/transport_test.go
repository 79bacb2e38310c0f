package wire

import "testing"

func TestBufferPoolClasses(t *testing.T) {
	p := newBufferPool()
	for _, n := range []int{0, 1, 256, 257, 150_000, 1 << 20, (1 << 20) + 1} {
		b := p.Get(n)
		if len(*b) != n || cap(*b) < n || cap(*b) > max(2*n, 256) {
			t.Errorf("Get(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		p.Put(b)
	}
	// A buffer comes back from its class with the length asked for.
	b := p.Get(100_000)
	(*b)[0] = 7
	p.Put(b)
	if c := p.Get(70_000); len(*c) != 70_000 || cap(*c) != 1<<17 {
		t.Errorf("reused buffer: len %d cap %d", len(*c), cap(*c))
	}
	// Odd capacities are not pooled: they would not fit their class.
	odd := make([]byte, 1000)
	p.Put(&odd)
	if c := p.Get(1000); cap(*c) != 1024 {
		t.Errorf("an odd-sized buffer was pooled: cap %d", cap(*c))
	}
}
