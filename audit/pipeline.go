package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// ErrUnavailable is what Ready returns, under on_failure: deny, while the
// audit trail cannot be written. Its text is meant for the client whose
// statement is refused: it names the cause and the consequence, and holds
// no internal detail.
var ErrUnavailable = errors.New("the audit trail cannot be written; personal data is unavailable until it recovers")

// uploader sends one batch and reports whether the receiver acknowledged
// it. otlptrace.Client (gRPC and HTTP) and fileUploader implement it.
type uploader interface {
	Start(ctx context.Context) error
	UploadTraces(ctx context.Context, rss []*tracepb.ResourceSpans) error
	Stop(ctx context.Context) error
}

type pipelineConfig struct {
	// queueSize bounds the channel between the builder and the pump.
	queueSize int
	// batchSize bounds the spans of one upload and of one spool record.
	batchSize int
	// maxPending bounds the spans the pump holds in memory when it can
	// neither send nor spool them; beyond it the newest are dropped.
	maxPending int
	// recordBytes is the size above which a spool record is split.
	recordBytes int
	// spillDelay is how long pending spans may wait in memory for the
	// exporter before they are spooled (when the exporter is down or busy).
	spillDelay time.Duration
	// linger is how long a memory batch that is not full waits for more
	// spans before it is uploaded, so that one upload (and, for the file
	// exporter, one fsync) serves many statements instead of one. Zero
	// uploads at once. A flush or shutdown does not wait.
	linger     time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	deny       bool
	env        envelope
	logger     *slog.Logger
}

// pipeline is the sdktrace.SpanProcessor of the provider that New builds.
// It moves ended spans to the collector in the order they ended, through
// the spool whenever the collector is down or slow, and never blocks the
// goroutine that ends a span.
//
// Goroutines: run (the pump) and sender, both started by newPipeline and
// joined by Shutdown. The pump alone owns the pending spans, the spool and
// the in-flight batch; the sender only performs the blocking upload of the
// one batch the pump hands it, so the pump keeps draining the queue (and
// spilling to the spool) while an upload hangs.
//
// Order and uniqueness. Spans are delivered in the order they reached the
// queue. A batch goes straight from memory to the exporter only when the
// spool is empty; while a backlog exists every newer span is appended to
// the spool behind it, and the spool is replayed from its oldest record.
// When the pump must spill while a memory batch is in the air, it first
// writes that batch to the spool (it becomes the oldest record), then the
// newer spans; if the upload then succeeds, that record is removed instead
// of replayed. A record is removed only after the exporter acknowledged it,
// and at most one batch is in flight, so within one process no span is sent
// twice. Across a crash, a record whose acknowledgement arrived just before
// the crash but whose removal did not reach the disk is sent again (its
// spans keep their span ids, so a backend can tell).
type pipeline struct {
	cfg   pipelineConfig
	up    uploader
	spool *spool // nil without a spool directory

	queue    chan *tracepb.Span
	stop     chan struct{}      // closed by Shutdown
	hurry    chan struct{}      // closed when Shutdown's ctx ends
	flushReq chan chan struct{} // ForceFlush waiters
	sendCh   chan []*tracepb.ResourceSpans
	results  chan error // capacity 1: at most one batch is in flight
	done     chan struct{}
	sendDone chan struct{}
	// cancelSend aborts the in-flight upload (Shutdown after its deadline).
	cancelSend context.CancelFunc

	closed       atomic.Bool
	unwritable   atomic.Bool
	exporterDown atomic.Bool
	shutdownOnce sync.Once
	shutdownErr  error

	exported, replayed, spooled, dropped atomic.Int64
	exportErrors, corrupt                atomic.Int64
	spoolBytes, spoolSpans, memSpans     atomic.Int64
}

func newPipeline(cfg pipelineConfig, up uploader, sp *spool) *pipeline {
	p := &pipeline{
		cfg:      cfg,
		up:       up,
		spool:    sp,
		queue:    make(chan *tracepb.Span, cfg.queueSize), // from the builder; full makes it wait
		stop:     make(chan struct{}),
		hurry:    make(chan struct{}),
		flushReq: make(chan chan struct{}),
		sendCh:   make(chan []*tracepb.ResourceSpans, 1), // the pump sends only when the sender is idle
		results:  make(chan error, 1),
		done:     make(chan struct{}),
		sendDone: make(chan struct{}),
	}
	if sp != nil {
		p.spoolBytes.Store(sp.used)
		p.spoolSpans.Store(sp.spans)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancelSend = cancel
	// Owner: the pipeline. sender exits when Shutdown closes sendCh; run
	// exits when Shutdown closed stop and everything is delivered, spooled
	// or (past Shutdown's deadline, without a spool) dropped. Shutdown
	// waits for both.
	go p.sender(ctx)
	go p.run()
	return p
}

// OnStart implements sdktrace.SpanProcessor.
func (p *pipeline) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor. Its only caller is the Tracer's
// builder goroutine, never a session's, so it may wait for room in the
// queue while the pump is busy (the builder's own queue in front of it is
// where the proxy's goroutines meet a bound). After Shutdown it drops and
// counts.
func (p *pipeline) OnEnd(s sdktrace.ReadOnlySpan) {
	if p.closed.Load() {
		p.dropped.Add(1)
		return
	}
	p.enqueue(spanToProto(s))
}

// enqueue hands a finished span to the pump, with OnEnd's semantics. The
// Tracer's builder calls it directly with spans it built itself.
func (p *pipeline) enqueue(ps *tracepb.Span) {
	if p.closed.Load() {
		p.dropped.Add(1)
		return
	}
	select {
	case p.queue <- ps:
	case <-p.stop:
		p.dropped.Add(1)
	}
}

// ready is Tracer.Ready for a pipeline.
func (p *pipeline) ready() error {
	if !p.cfg.deny {
		return nil
	}
	// The queue in front of the pump is not checked: the builder waits on
	// it, so a full queue shows as the builder's queue filling, which
	// Tracer.Ready checks.
	if p.closed.Load() || p.unwritable.Load() {
		return ErrUnavailable
	}
	return nil
}

// ForceFlush implements sdktrace.SpanProcessor: it waits until the queue,
// the pump's memory and the spool are empty (everything reached the
// exporter), or ctx ends. A waiting flush also cuts the current retry
// back-off short.
func (p *pipeline) ForceFlush(ctx context.Context) error {
	if p.closed.Load() {
		return nil
	}
	w := make(chan struct{})
	select {
	case p.flushReq <- w:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: flush: %w", ctx.Err())
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: flush: %w", ctx.Err())
	}
}

// Shutdown implements sdktrace.SpanProcessor. It stops taking spans and,
// while the exporter accepts them and ctx lasts, delivers what is queued
// and replays the spool's backlog. When the exporter fails or ctx ends
// first, what is left goes to the spool for the next start (without a
// spool, what is left at the deadline is dropped and counted). Then it
// stops the exporter and closes the spool.
func (p *pipeline) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() {
		p.closed.Store(true)
		close(p.stop)
		select {
		case <-p.done:
		case <-ctx.Done():
			close(p.hurry)
			p.cancelSend()
			<-p.done
			p.shutdownErr = fmt.Errorf("audit: shutdown: %w (undelivered spans were spooled or, without a spool, dropped)", ctx.Err())
		}
		p.cancelSend()
		close(p.sendCh)
		<-p.sendDone
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := p.up.Stop(stopCtx); err != nil && p.shutdownErr == nil {
			p.shutdownErr = fmt.Errorf("audit: stop exporter: %w", err)
		}
		if p.spool != nil {
			p.spool.close()
		}
	})
	return p.shutdownErr
}

// sender performs uploads one at a time for the pump.
func (p *pipeline) sender(ctx context.Context) {
	defer close(p.sendDone)
	for rss := range p.sendCh {
		p.results <- p.up.UploadTraces(ctx, rss)
	}
}

// flight is the batch being uploaded.
type flight struct {
	spans     []*tracepb.Span // a memory batch's spans (nil when fromSpool)
	n         int
	since     time.Time // when the oldest span of a memory batch was queued
	fromSpool bool      // the spool's oldest record
	// inSpool is true when the batch is also the spool's oldest record:
	// always for fromSpool, and for a memory batch spooled while in flight.
	inSpool bool
}

// pumpState is owned by run.
type pumpState struct {
	pending      []*tracepb.Span
	pendingSince time.Time
	fl           *flight
	down         bool // the last upload failed
	failures     int
	backoffUntil time.Time
	stopping     bool
	hurrying     bool
	waiters      []chan struct{}
	dropLogged   bool
	// spillBlocked is set when the spool is full and cleared when a
	// record leaves it; spillRetryAt delays spilling after an I/O error.
	spillBlocked bool
	spillRetryAt time.Time
}

func (p *pipeline) run() {
	defer close(p.done)
	st := &pumpState{}
	stop, hurry := p.stop, p.hurry
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		p.step(st)
		p.publish(st)
		if p.idle(st) {
			for _, w := range st.waiters {
				close(w)
			}
			st.waiters = nil
		}
		if st.stopping && st.fl == nil && len(st.pending) == 0 && len(p.queue) == 0 &&
			(p.spoolLen() == 0 || st.down || st.hurrying) {
			// Delivered or spooled everything; records left in the spool
			// (exporter down, or the deadline passed) wait for the next
			// start.
			for _, w := range st.waiters {
				close(w)
			}
			return
		}
		var wake <-chan time.Time
		if d, ok := p.nextWake(st); ok {
			timer.Reset(d)
			wake = timer.C
		}
		select {
		case s := <-p.queue:
			p.take(st, s)
		case err := <-p.results:
			p.complete(st, err)
		case <-wake:
		case w := <-p.flushReq:
			st.waiters = append(st.waiters, w)
			st.backoffUntil = time.Time{}
		case <-stop:
			st.stopping = true
			stop = nil
		case <-hurry:
			st.hurrying = true
			hurry = nil
		}
		timer.Stop()
	}
}

// idle reports whether everything queued so far reached the exporter.
func (p *pipeline) idle(st *pumpState) bool {
	return st.fl == nil && len(st.pending) == 0 && len(p.queue) == 0 && (p.spool == nil || p.spool.len() == 0)
}

// take moves s, and whatever else is queued (bounded), into pending.
func (p *pipeline) take(st *pumpState, s *tracepb.Span) {
	if len(st.pending) == 0 {
		st.pendingSince = time.Now()
	}
	st.pending = append(st.pending, s)
	for range p.cfg.queueSize {
		select {
		case s := <-p.queue:
			st.pending = append(st.pending, s)
		default:
			return
		}
	}
}

// batchDue reports whether the pending spans should be uploaded now rather
// than wait for more (see pipelineConfig.linger).
func (p *pipeline) batchDue(st *pumpState, now time.Time) bool {
	return len(st.pending) >= p.cfg.batchSize || st.stopping || st.hurrying || len(st.waiters) > 0 ||
		now.Sub(st.pendingSince) >= p.cfg.linger
}

// nextWake returns when the pump must act without an event: at the end of
// a back-off, when a lingering batch is due, or when pending spans have
// waited spillDelay.
func (p *pipeline) nextWake(st *pumpState) (time.Duration, bool) {
	now := time.Now()
	var at time.Time
	if st.fl == nil && len(st.pending) > 0 && !p.batchDue(st, now) {
		at = st.pendingSince.Add(p.cfg.linger)
	}
	if st.fl == nil && !st.backoffUntil.IsZero() && (len(st.pending) > 0 || (p.spool != nil && p.spool.len() > 0)) {
		at = st.backoffUntil
	}
	if p.canSpill(st, now) {
		if t := st.pendingSince.Add(p.cfg.spillDelay); at.IsZero() || t.Before(at) {
			at = t
		}
	} else if p.spool != nil && len(st.pending) > 0 && !st.spillBlocked {
		if at.IsZero() || st.spillRetryAt.Before(at) {
			at = st.spillRetryAt
		}
	}
	if at.IsZero() {
		return 0, false
	}
	return max(at.Sub(now), time.Millisecond), true
}

// step starts an upload if none is in flight, spills to the spool what
// cannot go out now, and enforces the memory bound.
func (p *pipeline) step(st *pumpState) {
	now := time.Now()
	if st.fl == nil && !st.hurrying && !now.Before(st.backoffUntil) {
		if p.spoolLen() > 0 {
			p.startReplay(st) // may find only corrupt records and empty the spool
		}
		if st.fl == nil && p.spoolLen() == 0 && len(st.pending) > 0 && !now.Before(st.backoffUntil) && p.batchDue(st, now) {
			n := min(len(st.pending), p.cfg.batchSize)
			fl := &flight{spans: st.pending[:n:n], n: n, since: st.pendingSince}
			st.pending = append([]*tracepb.Span(nil), st.pending[n:]...)
			if len(st.pending) == 0 {
				st.pendingSince = time.Time{}
			}
			st.fl = fl
			p.sendCh <- p.cfg.env.wrap(fl.spans)
		}
	}

	if p.canSpill(st, now) {
		// Pending spans cannot go out now when the exporter is down, busy,
		// or behind a backlog. They go to the spool once they have waited
		// spillDelay (a slow or failing exporter; the wait groups them into
		// few records) or fill half the memory bound (a burst). While
		// stopping, they stay for the exporter unless it failed or a
		// backlog exists; past Shutdown's deadline, they all go.
		behind := st.down || st.fl != nil || p.spool.len() > 0 || st.hurrying
		var due bool
		switch {
		case st.hurrying:
			due = true
		case st.stopping:
			due = st.down || p.spool.len() > 0
		default:
			due = len(st.pending) >= max(p.cfg.batchSize, p.cfg.maxPending/2) || now.Sub(st.pendingSince) >= p.cfg.spillDelay
		}
		if behind && due {
			p.spill(st)
		}
	}

	if over := len(st.pending) - p.cfg.maxPending; over > 0 {
		p.dropPending(st, over, "memory bound reached")
	}
	if st.hurrying && st.fl == nil && len(st.pending) > 0 {
		p.dropPending(st, len(st.pending), "shutdown deadline passed")
	}
}

// canSpill reports whether there is something to spill and spilling is
// not paused.
func (p *pipeline) canSpill(st *pumpState, now time.Time) bool {
	return p.spool != nil && len(st.pending) > 0 && !st.spillBlocked && !now.Before(st.spillRetryAt)
}

// dropPending drops the newest n pending spans and counts them.
func (p *pipeline) dropPending(st *pumpState, n int, why string) {
	clear(st.pending[len(st.pending)-n:])
	st.pending = st.pending[:len(st.pending)-n]
	if len(st.pending) == 0 {
		st.pendingSince = time.Time{}
	}
	p.dropped.Add(int64(n))
	if !st.dropLogged {
		st.dropLogged = true
		p.cfg.logger.Error("audit spans dropped: the trail is incomplete", "spans", n, "why", why)
	}
}

// startReplay uploads the spool's oldest record. Records that fail their
// check are set aside and counted.
func (p *pipeline) startReplay(st *pumpState) {
	for p.spool.len() > 0 {
		rss, e, err := p.spool.readHead()
		if err == nil {
			st.fl = &flight{n: int(e.spans), fromSpool: true, inSpool: true}
			p.sendCh <- rss
			return
		}
		if !errors.Is(err, errSpoolCorrupt) {
			// An I/O error: retry after a back-off, the record stays.
			p.failed(st, err)
			return
		}
		p.corrupt.Add(1)
		p.dropped.Add(e.spans)
		p.cfg.logger.Error("audit spool: corrupt record set aside", "record", e.seq, "spans", e.spans, "err", err)
		if qerr := p.spool.quarantineHead(); qerr != nil {
			p.cfg.logger.Error("audit spool", "err", qerr)
		}
		st.spillBlocked = false
	}
}

// spill appends pending spans to the spool, oldest first, preceded by the
// memory batch in flight if it is not there yet. It stops when the spool is
// full; what does not fit stays pending, and spilling waits until a record
// leaves the spool.
func (p *pipeline) spill(st *pumpState) {
	if fl := st.fl; fl != nil && !fl.inSpool {
		// One record, so that the batch is in the spool entirely or not at
		// all: a success then removes exactly the oldest record.
		rec, err := encodeRecord(p.cfg.env.wrap(fl.spans), fl.n)
		if err == nil {
			_, err = p.spool.appendRecords([][]byte{rec}, []int{fl.n})
		}
		if err != nil {
			p.spoolFailed(st, err)
			return // newer spans must not overtake the batch in the air
		}
		fl.inSpool = true
		p.spooled.Add(int64(fl.n))
	}
	recs, counts, err := p.records(st.pending, p.spool.free())
	if err == nil && len(recs) > 0 {
		var n int
		n, err = p.spool.appendRecords(recs, counts)
		spans := 0
		for _, c := range counts[:n] {
			spans += c
		}
		if spans > 0 {
			p.spooled.Add(int64(spans))
			clear(st.pending[:spans])
			st.pending = append([]*tracepb.Span(nil), st.pending[spans:]...)
			if len(st.pending) == 0 {
				st.pendingSince = time.Time{}
			}
		}
	}
	if err == nil && len(st.pending) > 0 {
		err = errSpoolFull
	}
	if err != nil {
		p.spoolFailed(st, err)
	}
}

// spoolFailed pauses spilling: until a record leaves the spool when it is
// full, for a second after an I/O error.
func (p *pipeline) spoolFailed(st *pumpState, err error) {
	if errors.Is(err, errSpoolFull) {
		st.spillBlocked = true // visible through Ready and the metrics
		return
	}
	st.spillRetryAt = time.Now().Add(time.Second)
	p.cfg.logger.Error("audit spool: write failed", "err", err)
}

// records encodes the oldest spans as spool records of at most batchSize
// spans, splitting a record larger than recordBytes in halves, and stops
// before the records' total size exceeds budget.
func (p *pipeline) records(spans []*tracepb.Span, budget int64) ([][]byte, []int, error) {
	var recs [][]byte
	var counts []int
	var size int64
	full := false
	var add func(s []*tracepb.Span) error
	add = func(s []*tracepb.Span) error {
		if full {
			return nil
		}
		rec, err := encodeRecord(p.cfg.env.wrap(s), len(s))
		if err != nil {
			return err
		}
		if len(rec) > p.cfg.recordBytes && len(s) > 1 {
			h := len(s) / 2
			if err := add(s[:h]); err != nil {
				return err
			}
			return add(s[h:])
		}
		if size+int64(len(rec)) > budget {
			full = true
			return nil
		}
		size += int64(len(rec))
		recs = append(recs, rec)
		counts = append(counts, len(s))
		return nil
	}
	for i := 0; i < len(spans) && !full; i += p.cfg.batchSize {
		if err := add(spans[i:min(i+p.cfg.batchSize, len(spans))]); err != nil {
			return recs, counts, err
		}
	}
	return recs, counts, nil
}

// complete handles the result of the upload in flight.
func (p *pipeline) complete(st *pumpState, err error) {
	fl := st.fl
	st.fl = nil
	if err != nil && isPartialSuccess(err) {
		// The receiver took the batch but rejected some spans for good
		// (malformed, over its limits): sending it again would duplicate
		// the accepted ones. Count the batch as delivered and say so.
		p.cfg.logger.Error("audit collector rejected part of a batch", "err", err)
		err = nil
	}
	if err != nil {
		if fl.fromSpool {
			p.failed(st, err)
			return
		}
		if !fl.inSpool {
			// Back in front of the newer pending spans; spill decides
			// whether it goes to the spool.
			st.pending = append(fl.spans, st.pending...)
			st.pendingSince = fl.since
		}
		p.failed(st, err)
		return
	}
	if fl.inSpool {
		if rerr := p.spool.removeHead(); rerr != nil {
			p.cfg.logger.Error("audit spool", "err", rerr)
		}
		st.spillBlocked = false
	}
	if fl.fromSpool {
		p.replayed.Add(int64(fl.n))
	} else {
		p.exported.Add(int64(fl.n))
	}
	if st.down {
		p.cfg.logger.Info("audit exporter recovered", "spooled_records", p.spoolLen())
	}
	st.down, st.failures, st.backoffUntil = false, 0, time.Time{}
}

// failed records an upload failure and schedules the retry.
func (p *pipeline) failed(st *pumpState, err error) {
	p.exportErrors.Add(1)
	if !st.down {
		if p.spool != nil {
			p.cfg.logger.Warn("audit exporter failed; spooling spans until it recovers", "err", err)
		} else {
			p.cfg.logger.Warn("audit exporter failed; holding spans in memory (no spool_dir)", "err", err, "max_spans", p.cfg.maxPending)
		}
	}
	st.down = true
	st.failures++
	d := p.cfg.minBackoff << min(st.failures-1, 16)
	st.backoffUntil = time.Now().Add(min(d, p.cfg.maxBackoff))
}

func (p *pipeline) spoolLen() int {
	if p.spool == nil {
		return 0
	}
	return p.spool.len()
}

// publish makes the pump's state visible to Ready and the metrics.
func (p *pipeline) publish(st *pumpState) {
	mem := len(st.pending)
	if st.fl != nil && !st.fl.inSpool {
		mem += st.fl.n
	}
	p.memSpans.Store(int64(mem))
	p.exporterDown.Store(st.down)
	unwritable := len(st.pending) >= p.cfg.maxPending*3/4
	if p.spool != nil {
		p.spoolBytes.Store(p.spool.used)
		p.spoolSpans.Store(p.spool.spans)
		// Full at 7/8: the last eighth takes the spans of statements that
		// passed Ready before it flipped.
		if p.spool.used >= p.spool.max-p.spool.max/8 {
			unwritable = true
		}
	} else if st.down {
		unwritable = true
	}
	if was := p.unwritable.Swap(unwritable); was != unwritable {
		if unwritable {
			p.cfg.logger.Error("audit trail cannot be written", "spool_bytes", p.spoolBytes.Load(), "exporter_down", st.down, "deny", p.cfg.deny)
		} else {
			p.cfg.logger.Info("audit trail writable again")
			st.dropLogged = false
		}
	}
}

// isPartialSuccess reports whether err is only the OTLP exporters'
// partial-success report (the receiver accepted the request but rejected
// some items); their error type is internal, so the text is matched.
func isPartialSuccess(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "OTLP partial success") && !strings.Contains(s, "\n")
}

// PipelineStats are the export pipeline's counters.
type PipelineStats struct {
	// Exported spans went straight to the exporter; Replayed came from the
	// spool. Their sum is what the collector acknowledged.
	Exported, Replayed int64
	// Spooled counts spans written to the spool.
	Spooled int64
	// Dropped spans are lost: queue full, memory bound without room in the
	// spool, shutdown deadline without a spool, corrupt spool records.
	Dropped int64
	// ExportErrors counts failed uploads.
	ExportErrors int64
	// CorruptRecords counts spool records set aside at replay.
	CorruptRecords int64
	// SpoolBytes and SpoolSpans are the spool's backlog now.
	SpoolBytes, SpoolSpans int64
	// Queued is how many spans wait in memory (queue, pump, in flight).
	Queued int64
	// ExporterDown is true while uploads fail.
	ExporterDown bool
	// Writable is false while Ready (under deny) would refuse.
	Writable bool
}

func (p *pipeline) stats() PipelineStats {
	return PipelineStats{
		Exported:       p.exported.Load(),
		Replayed:       p.replayed.Load(),
		Spooled:        p.spooled.Load(),
		Dropped:        p.dropped.Load(),
		ExportErrors:   p.exportErrors.Load(),
		CorruptRecords: p.corrupt.Load(),
		SpoolBytes:     p.spoolBytes.Load(),
		SpoolSpans:     p.spoolSpans.Load(),
		Queued:         int64(len(p.queue)) + p.memSpans.Load(),
		ExporterDown:   p.exporterDown.Load(),
		Writable:       !p.closed.Load() && !p.unwritable.Load(),
	}
}
