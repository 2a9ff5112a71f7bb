package audit

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pgveil/pgveil/proxy"
)

// builder takes events off the sessions' path: TraceStatement only appends
// the event to a bounded queue, and the builder goroutine makes the span
// (attributes, pseudonyms), which it hands to the pipeline. The queue is the
// only place the proxy's goroutines touch; it is the one point where a span
// can be dropped for lack of room (counted, and Ready refuses under deny
// well before).
//
// The queue is a slice under a mutex rather than a channel so that a
// session wakes the builder only when it is idle: a busy builder drains the
// queue, pauses for gather to let more events collect, and drains again, so
// under load there is one wake-up per batch instead of a futex wake-up of
// another thread on every statement's path.
//
// Goroutine: run, started by newBuilder; stop refuses new events and waits
// for it, after which every queued event has reached the pipeline.
type builder struct {
	t       *Tracer
	size    int // at most this many queued events
	gather  time.Duration
	dropped *atomic.Int64

	mu     sync.Mutex
	items  []buildItem
	idle   bool // run waits on wake; the next enqueue must wake it
	closed bool
	n      atomic.Int64 // len(items), for lock-free reads

	wake chan struct{} // capacity 1; one token per idle period at most
	done chan struct{}
}

type buildItem struct {
	ev     *proxy.StatementEvent
	parent trace.SpanContext
	start  time.Time
	flush  chan struct{} // a ForceFlush marker: closed when reached
}

// builderGather is how long a busy builder lets events collect between
// drains. Spans wait far longer in the pipeline's batch (defaultLinger).
//
// With a single P (GOMAXPROCS=1, pgveil's default on a 2-core machine)
// there is no gathering: readying the builder costs no thread wake-up there
// (it runs on the same thread when the session blocks), while every timer
// would wake the idle process; measured at 1000 statements/s, gathering
// raised pgveil's CPU per audited statement from ~26 to ~40 µs with one P,
// and removing the per-statement wake-up cut in-process audited latency
// from +57% to ~+1% with two.
const builderGather = 2 * time.Millisecond

func gatherFor(procs int) time.Duration {
	if procs <= 1 {
		return 0
	}
	return builderGather
}

func newBuilder(t *Tracer, size int, dropped *atomic.Int64) *builder {
	b := &builder{
		t:       t,
		size:    size,
		gather:  gatherFor(runtime.GOMAXPROCS(0)),
		dropped: dropped,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	// Owner: the Tracer. run exits when stop has been called and the queue
	// is empty; Tracer.Shutdown calls stop and so waits for it.
	go b.run()
	return b
}

func (b *builder) run() {
	defer close(b.done)
	var batch []buildItem
	for {
		b.mu.Lock()
		if len(b.items) == 0 {
			if b.closed {
				b.mu.Unlock()
				return
			}
			b.idle = true
			b.mu.Unlock()
			<-b.wake
			continue
		}
		batch, b.items = b.items, batch[:0]
		b.n.Store(0)
		b.mu.Unlock()
		for i := range batch {
			it := &batch[i]
			if it.flush != nil {
				close(it.flush)
			} else {
				b.t.record(it.ev, it.parent, it.start)
			}
			batch[i] = buildItem{}
		}
		if b.gather > 0 {
			time.Sleep(b.gather)
		}
	}
}

// put appends it unless the queue is closed or (unless force) full, and
// wakes run if it is idle.
func (b *builder) put(it buildItem, force bool) bool {
	b.mu.Lock()
	if b.closed || (!force && len(b.items) >= b.size) {
		b.mu.Unlock()
		return false
	}
	b.items = append(b.items, it)
	b.n.Store(int64(len(b.items)))
	wake := b.idle
	b.idle = false
	b.mu.Unlock()
	if wake {
		b.wake <- struct{}{} // never blocks: one token per idle period
	}
	return true
}

// enqueue never blocks: a full queue drops the event and counts it.
func (b *builder) enqueue(it buildItem) {
	if !b.put(it, false) {
		b.dropped.Add(1)
	}
}

// nearlyFull reports a queue three quarters full: Ready refuses (deny) so
// that the statements already running still find room.
func (b *builder) nearlyFull() bool {
	if b.n.Load() >= int64(b.size)*3/4 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// flush waits until every event queued before it has been handed to the
// pipeline.
func (b *builder) flush(ctx context.Context) error {
	done := make(chan struct{})
	if !b.put(buildItem{flush: done}, true) {
		return nil // closed: stop hands everything over
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: flush: %w", ctx.Err())
	}
}

// stop refuses new events, lets the queued ones through and waits for run.
func (b *builder) stop() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		if b.idle {
			b.idle = false
			b.wake <- struct{}{}
		}
	}
	b.mu.Unlock()
	<-b.done
}

func (b *builder) len() int { return int(b.n.Load()) }
