package audit

import (
	"sync/atomic"
	"testing"
)

// TestBuilderBounded: the queue holds at most size events and drops (and
// counts) the rest without blocking; nearlyFull trips at three quarters;
// only the first event after an idle period wakes the builder; after stop
// nothing is accepted.
func TestBuilderBounded(t *testing.T) {
	var dropped atomic.Int64
	b := &builder{size: 4, wake: make(chan struct{}, 1), done: make(chan struct{}), dropped: &dropped, idle: true}
	if b.nearlyFull() {
		t.Fatal("empty queue nearly full")
	}
	for range 6 {
		b.enqueue(buildItem{})
	}
	if b.len() != 4 || dropped.Load() != 2 {
		t.Fatalf("len %d dropped %d, want 4 and 2", b.len(), dropped.Load())
	}
	if !b.nearlyFull() {
		t.Error("full queue not nearly full")
	}
	if len(b.wake) != 1 {
		t.Errorf("%d wake tokens, want 1 (one per idle period)", len(b.wake))
	}
	// stop with the builder goroutine absent: mark done ourselves.
	close(b.done)
	b.stop()
	b.enqueue(buildItem{})
	if dropped.Load() != 3 {
		t.Errorf("enqueue after stop: dropped %d, want 3", dropped.Load())
	}
	if err := b.flush(t.Context()); err != nil {
		t.Errorf("flush after stop: %v", err)
	}
}
