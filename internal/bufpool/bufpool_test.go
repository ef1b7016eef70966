package bufpool

import (
	"sync"
	"testing"
)

func TestClassSize(t *testing.T) {
	tests := []struct{ n, want int }{
		{0, 4096}, {1, 4096}, {4096, 4096}, {4097, 8192}, {1 << 20, 1 << 20},
		{1<<20 + 1, 2 << 20}, {64 << 20, 64 << 20}, {64<<20 + 100, 65 << 20},
	}
	for _, tt := range tests {
		if got := ClassSize(tt.n); got != tt.want {
			t.Errorf("ClassSize(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestRecycleAndCap(t *testing.T) {
	p := New(3 << 20)
	a := p.Get(1<<20 + 5)
	if len(a) != 1<<20+5 || cap(a) != 2<<20 {
		t.Fatalf("len %d cap %d", len(a), cap(a))
	}
	a[0] = 42
	p.Put(a)
	if p.Retained() != 2<<20 {
		t.Errorf("retained %d", p.Retained())
	}
	b := p.Get(2 << 20)
	if &b[0] != &a[0] {
		t.Error("buffer not recycled")
	}
	p.Put(b)
	p.Put(make([]byte, 2<<20)) // over the cap: dropped
	if p.Retained() != 2<<20 {
		t.Errorf("retained %d over the cap", p.Retained())
	}
	p.Put(make([]byte, 100)) // not a class size: dropped
	if p.Retained() != 2<<20 {
		t.Errorf("retained %d after a foreign buffer", p.Retained())
	}
}

func TestConcurrent(t *testing.T) {
	p := New(64 << 20)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				b := p.Get((i*j)%100000 + 1)
				b[0] = byte(i)
				p.Put(b)
			}
		}()
	}
	wg.Wait()
}
