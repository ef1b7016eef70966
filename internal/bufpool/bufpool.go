// Package bufpool recycles the large buffers chunks travel in.
//
// A chunk buffer is tens of MiB. Memory fresh from the OS costs a page fault
// per 4 KiB on first touch (measured ~600 MB/s on the 2-core VMs we run on,
// against ~5 GB/s for recycled memory), and sync.Pool drops its contents at
// every other GC, which big allocations trigger often. This free list keeps
// buffers across GCs, up to a retention cap.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minClassBits = 12 // 4 KiB
	mib          = 1 << 20
)

// Pool is a free list of byte buffers in size classes: powers of two up to
// 1 MiB, then whole MiB (a sealed 64 MiB chunk takes 65 MiB, not 128).
type Pool struct {
	mu       sync.Mutex
	free     map[int][][]byte
	retained int64
	max      int64
}

// New returns a pool retaining at most maxRetained idle bytes.
func New(maxRetained int64) *Pool {
	return &Pool{free: map[int][][]byte{}, max: maxRetained}
}

// Default is the process-wide pool.
var Default = New(2 << 30)

// Get returns a buffer of length n from the default pool.
func Get(n int) []byte { return Default.Get(n) }

// Put returns a buffer obtained from Get to the default pool.
func Put(b []byte) { Default.Put(b) }

// ClassSize is the capacity of the buffer Get(n) returns.
func ClassSize(n int) int {
	if n <= mib {
		return 1 << max(bits.Len(uint(max(n, 1)-1)), minClassBits)
	}
	return (n + mib - 1) / mib * mib
}

// Get returns a buffer of length n (contents undefined).
func (p *Pool) Get(n int) []byte {
	size := ClassSize(n)
	p.mu.Lock()
	if l := p.free[size]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[size] = l[:len(l)-1]
		p.retained -= int64(size)
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	return make([]byte, n, size)
}

// Put recycles b. Buffers not from Get, and any beyond the retention cap,
// are left to the GC. b must not be used afterwards.
func (p *Pool) Put(b []byte) {
	size := cap(b)
	if size == 0 || ClassSize(size) != size {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retained+int64(size) > p.max {
		return
	}
	p.free[size] = append(p.free[size], b[:size])
	p.retained += int64(size)
}

// Retained is how many idle bytes the pool holds.
func (p *Pool) Retained() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retained
}
