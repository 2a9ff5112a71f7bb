package audit

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pgveil/pgveil/proxy"
)

// builder takes events off the sessions' path: TraceStatement only puts
// the event in a bounded queue, and the builder goroutine makes the span
// (attributes, pseudonyms, SDK span), whose end hands it to the pipeline.
// The queue is the only place the proxy's goroutines touch; it is the one
// point where a span can be dropped for lack of room (counted, and Ready
// refuses under deny well before).
//
// Goroutine: run, started by newBuilder; stop closes the queue and waits
// for it, after which every queued event has reached the pipeline.
type builder struct {
	t    *Tracer
	q    chan buildItem
	done chan struct{}
	// closed and senders make stop safe against concurrent enqueues: a
	// sender registers before it checks closed, and stop closes q only
	// once no sender is between the check and the send.
	closed  atomic.Bool
	senders atomic.Int64
	dropped *atomic.Int64
}

type buildItem struct {
	ev     *proxy.StatementEvent
	parent trace.SpanContext
	start  time.Time
	flush  chan struct{} // a ForceFlush marker: closed when reached
}

func newBuilder(t *Tracer, size int, dropped *atomic.Int64) *builder {
	b := &builder{
		t:       t,
		q:       make(chan buildItem, size), // bounded: see the type's doc
		done:    make(chan struct{}),
		dropped: dropped,
	}
	// Owner: the Tracer. run exits when stop closes q; Tracer.Shutdown
	// calls stop and so waits for it.
	go b.run()
	return b
}

func (b *builder) run() {
	defer close(b.done)
	for it := range b.q {
		if it.flush != nil {
			close(it.flush)
			continue
		}
		b.t.record(it.ev, it.parent, it.start)
	}
}

// enqueue never blocks: a full queue drops the event and counts it.
func (b *builder) enqueue(it buildItem) {
	b.senders.Add(1)
	if b.closed.Load() {
		b.senders.Add(-1)
		b.dropped.Add(1)
		return
	}
	select {
	case b.q <- it:
	default:
		b.dropped.Add(1)
	}
	b.senders.Add(-1)
}

// nearlyFull reports a queue three quarters full: Ready refuses (deny) so
// that the statements already running still find room.
func (b *builder) nearlyFull() bool {
	return b.closed.Load() || len(b.q) >= cap(b.q)*3/4
}

// flush waits until every event queued before it has been handed to the
// pipeline.
func (b *builder) flush(ctx context.Context) error {
	done := make(chan struct{})
	b.senders.Add(1)
	if b.closed.Load() {
		b.senders.Add(-1)
		return nil
	}
	select {
	case b.q <- buildItem{flush: done}:
		b.senders.Add(-1)
	case <-ctx.Done():
		b.senders.Add(-1)
		return fmt.Errorf("audit: flush: %w", ctx.Err())
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
	if b.closed.Swap(true) {
		<-b.done
		return
	}
	for b.senders.Load() != 0 {
		runtime.Gosched() // a sender is between its check and its send (or a flush waits for room)
	}
	close(b.q)
	<-b.done
}

func (b *builder) len() int { return len(b.q) }
