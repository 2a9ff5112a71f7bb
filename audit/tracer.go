package audit

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// ScopeName is the instrumentation scope of audit spans.
const ScopeName = "github.com/pgveil/pgveil/audit"

// Defaults of the Tracer options.
const (
	// DefaultMaxAttributeLength bounds every string attribute value (and
	// every element of a string-list attribute), in bytes.
	DefaultMaxAttributeLength = 2048
	// DefaultMaxSubjectKeys bounds the pseudonyms listed in one span.
	DefaultMaxSubjectKeys = 100
	// maxListLen bounds every other list attribute (columns, tables,
	// roles); a cut list ends with a "+N more" element.
	maxListLen = 256
)

// Tracer turns proxy statement events into audit spans: one span per event,
// never one per row. It implements proxy.QueryTracer and is safe for
// concurrent use by every session's relay goroutines.
//
// A Tracer made by NewTracer records into any TracerProvider (a test's
// tracetest.SpanRecorder, or a provider the caller owns) and its Ready
// always succeeds. A Tracer made by New owns a dedicated provider that
// samples every span and exports through a durable spool; its Ready reports
// whether the trail can be written, and Shutdown flushes it.
type Tracer struct {
	tracer      trace.Tracer
	pseud       *Pseudonymizer
	randomKey   bool
	maxAttrLen  int
	maxSubjects int
	serverAddr  string
	serverPort  int

	// pipe is the export pipeline and async the queue in front of it when
	// New built the provider; both nil for NewTracer. With a pipeline, the
	// builder builds OTLP spans directly (recordDirect) instead of going
	// through SDK spans and converting them back: the same attributes, half
	// the work.
	pipe *pipeline
	ids  *rand.ChaCha8 // span and trace ids of recordDirect; builder goroutine only
	// static caches the OTLP form of static attributes (staticAttrs);
	// keyBuf is its key scratch. Builder goroutine only.
	static   map[staticKey][]*commonpb.KeyValue
	keyBuf   []byte
	async    *builder
	shutdown func(context.Context) error
	once     sync.Once
	shutErr  error

	// attrs recycles attribute slices: the SDK copies the attributes of
	// trace.WithAttributes, so the slice is free again once Start returns.
	attrs sync.Pool

	events    [numOutcomes]atomic.Int64
	decisions [2]atomic.Int64 // allow, deny
}

var _ proxy.QueryTracer = (*Tracer)(nil)

// outcomes indexes Tracer.events; the last slot counts unknown outcomes.
var outcomes = [...]string{proxy.OutcomeOK, proxy.OutcomeError, proxy.OutcomeDenied, proxy.OutcomeCanceled, proxy.OutcomeAuditErr, "other"}

const numOutcomes = len(outcomes)

func outcomeIndex(o string) int {
	for i, s := range outcomes[:numOutcomes-1] {
		if s == o {
			return i
		}
	}
	return numOutcomes - 1
}

// Option configures a Tracer (the OpenTelemetry functional-option style).
type Option interface {
	apply(*tracerConfig)
}

type tracerConfig struct {
	pseud       *Pseudonymizer
	maxAttrLen  int
	maxSubjects int
	serverAddr  string
}

type optionFunc func(*tracerConfig)

func (f optionFunc) apply(c *tracerConfig) { f(c) }

// WithPseudonymizer sets how subject keys are pseudonymised. Without it the
// Tracer uses a random per-process key: pseudonyms still tell subjects
// apart within one run, but nobody can compute the pseudonym of a given
// subject, so auditors cannot search by subject. Configure a key.
func WithPseudonymizer(p *Pseudonymizer) Option {
	return optionFunc(func(c *tracerConfig) { c.pseud = p })
}

// WithMaxAttributeLength bounds every string attribute value, and every
// element of a list attribute, to n bytes (cut at a UTF-8 boundary). Zero or
// less means DefaultMaxAttributeLength.
func WithMaxAttributeLength(n int) Option {
	return optionFunc(func(c *tracerConfig) { c.maxAttrLen = n })
}

// WithMaxSubjectKeys bounds the pseudonyms listed in one span; the true
// count is always recorded. Zero or less means DefaultMaxSubjectKeys.
func WithMaxSubjectKeys(n int) Option {
	return optionFunc(func(c *tracerConfig) { c.maxSubjects = n })
}

// WithServerAddress sets server.address and server.port ("host:port") for
// events that do not carry StatementEvent.ServerAddress.
func WithServerAddress(hostport string) Option {
	return optionFunc(func(c *tracerConfig) { c.serverAddr = hostport })
}

// NewTracer returns a Tracer that records into tp (nil means no recording).
// The provider decides sampling and export; use New for the dedicated,
// never-sampled-away, spooling provider.
func NewTracer(tp trace.TracerProvider, opts ...Option) *Tracer {
	var c tracerConfig
	for _, o := range opts {
		o.apply(&c)
	}
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	t := &Tracer{
		tracer:      tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		pseud:       c.pseud,
		maxAttrLen:  c.maxAttrLen,
		maxSubjects: c.maxSubjects,
	}
	if t.pseud == nil {
		t.pseud = randomPseudonymizer()
		t.randomKey = true
	}
	if t.maxAttrLen <= 0 {
		t.maxAttrLen = DefaultMaxAttributeLength
	}
	if t.maxSubjects <= 0 {
		t.maxSubjects = DefaultMaxSubjectKeys
	}
	if c.serverAddr != "" {
		t.serverAddr, t.serverPort = splitHostPort(c.serverAddr)
	}
	t.attrs.New = func() any {
		s := make([]attribute.KeyValue, 0, 48)
		return &s
	}
	return t
}

// Ready reports whether an access can be recorded now. It returns
// ErrUnavailable when the trail cannot be written and the failure mode is
// deny (see Config.OnFailure); it never blocks. A Tracer made by NewTracer
// is always ready.
func (t *Tracer) Ready() error {
	if t.pipe == nil {
		return nil
	}
	if t.pipe.cfg.deny && t.async.nearlyFull() {
		return ErrUnavailable
	}
	return t.pipe.ready()
}

// Shutdown flushes queued spans (to the collector, or to the spool when it
// cannot be reached before ctx ends), stops the exporter and closes the
// spool. Spans traced after Shutdown are counted as dropped. It is a no-op
// for a Tracer made by NewTracer; the caller shuts its provider down.
func (t *Tracer) Shutdown(ctx context.Context) error {
	t.once.Do(func() {
		if t.shutdown != nil {
			t.shutErr = t.shutdown(ctx)
		}
	})
	return t.shutErr
}

// ForceFlush waits until every span traced so far has reached the exporter
// (none is left in the queue or the spool), or ctx ends. It is for tests
// and for orderly handovers, not for the statement path.
func (t *Tracer) ForceFlush(ctx context.Context) error {
	if t.pipe == nil {
		return nil
	}
	if err := t.async.flush(ctx); err != nil {
		return err
	}
	return t.pipe.ForceFlush(ctx)
}

// TraceStatement records one event as one span. It never blocks. A Tracer
// made by New only queues the event (a bounded queue; when it is full the
// event is dropped and counted, and under on_failure: deny Ready refuses new
// personal-data statements before that point): building the span, the
// pseudonyms and the OTLP message happens on the audit trail's own
// goroutines, off the session's path. A Tracer made by NewTracer records
// the span before returning.
func (t *Tracer) TraceStatement(ctx context.Context, ev *proxy.StatementEvent) {
	if ev == nil {
		return
	}
	t.events[outcomeIndex(ev.Outcome)].Add(1)
	if ev.Decision != nil {
		if ev.Decision.Allow {
			t.decisions[0].Add(1)
		} else {
			t.decisions[1].Add(1)
		}
	}
	parent, ok := parseTraceParent(ev.TraceParent)
	if !ok && ctx != nil {
		parent = trace.SpanContextFromContext(ctx)
	}
	start := ev.Start
	if start.IsZero() {
		start = time.Now().Add(-ev.Duration)
	}
	if t.async != nil {
		t.async.enqueue(buildItem{ev: ev, parent: parent, start: start})
		return
	}
	t.record(ev, parent, start)
}

// record builds and ends the span of ev.
func (t *Tracer) record(ev *proxy.StatementEvent, parent trace.SpanContext, start time.Time) {
	if t.pipe != nil && t.ids != nil {
		t.recordDirect(ev, parent, start)
		return
	}
	ctx := context.Background()
	if parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, parent)
	}
	bp := t.attrs.Get().(*[]attribute.KeyValue)
	attrs := t.appendAttrs((*bp)[:0], ev)
	_, span := t.tracer.Start(ctx, t.spanName(ev),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(start),
		trace.WithAttributes(attrs...))
	clear(attrs) // drop the strings so the pool does not pin them
	*bp = attrs[:0]
	t.attrs.Put(bp)

	switch ev.Outcome {
	case proxy.OutcomeError:
		span.SetStatus(codes.Error, "SQLSTATE "+ev.SQLState)
	case proxy.OutcomeDenied:
		span.SetStatus(codes.Error, t.trunc("denied: "+reason(ev)))
	case proxy.OutcomeAuditErr:
		span.SetStatus(codes.Error, "refused: the audit trail could not be written")
	}
	span.End(trace.WithTimestamp(start.Add(ev.Duration)))
}

// recordDirect builds the OTLP span record would have the SDK build, and
// hands it to the pipeline. It runs on the builder goroutine only.
func (t *Tracer) recordDirect(ev *proxy.StatementEvent, parent trace.SpanContext, start time.Time) {
	bp := t.attrs.Get().(*[]attribute.KeyValue)
	attrs := t.appendDynamicAttrs((*bp)[:0], ev)
	static := t.staticAttrs(ev)
	dyn := attrsToProto(attrs)
	kvs := make([]*commonpb.KeyValue, 0, len(static)+len(dyn))
	kvs = append(append(kvs, static...), dyn...)
	ps := &tracepb.Span{
		Name:              t.spanName(ev),
		Kind:              tracepb.Span_SPAN_KIND_CLIENT,
		StartTimeUnixNano: unixNano(start.UnixNano()),
		EndTimeUnixNano:   unixNano(start.Add(ev.Duration).UnixNano()),
		Attributes:        kvs,
		// Sampled (audit spans always are), with the W3C "has is-remote"
		// bit the SDK exporters set.
		Flags: uint32(trace.FlagsSampled) | flagContextHasIsRemote,
	}
	clear(attrs)
	*bp = attrs[:0]
	t.attrs.Put(bp)
	var id [24]byte
	t.ids.Read(id[:])
	ps.SpanId = id[16:24:24]
	if parent.IsValid() {
		tid, psid := parent.TraceID(), parent.SpanID()
		ps.TraceId = tid[:]
		ps.ParentSpanId = psid[:]
		ps.TraceState = parent.TraceState().String()
		if parent.IsRemote() {
			ps.Flags |= flagContextIsRemote
		}
	} else {
		ps.TraceId = id[:16:16]
	}
	switch ev.Outcome {
	case proxy.OutcomeError:
		ps.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "SQLSTATE " + ev.SQLState}
	case proxy.OutcomeDenied:
		ps.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: t.trunc("denied: " + reason(ev))}
	case proxy.OutcomeAuditErr:
		ps.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "refused: the audit trail could not be written"}
	}
	t.pipe.enqueue(ps)
}

// spanName is "{db.operation.name} {db.collection.name}" for statements
// (the OTel database conventions), SessionSpanName for sessions.
func (t *Tracer) spanName(ev *proxy.StatementEvent) string {
	if ev.Statement == nil {
		return SessionSpanName
	}
	op, coll := operationAndCollection(ev.Statement, ev.CommandTag)
	if coll == "" {
		return op
	}
	return op + " " + coll
}

// operationAndCollection splits the analyzer's summary ("SELECT
// public.customers public.messages", "CREATE TABLE AS public.t
// public.customers") into the operation ("SELECT") and the first relation
// it names, which is the statement's main relation as written. Relation
// names are matched against st.Tables, so names with spaces (quoted
// identifiers) stay whole.
func operationAndCollection(st *rules.Statement, tag string) (op, coll string) {
	s := st.Summary
	best := -1
	for _, tbl := range st.Tables {
		if tbl == "" {
			continue
		}
		for from := 0; from < len(s); {
			i := strings.Index(s[from:], tbl)
			if i < 0 {
				break
			}
			i += from
			end := i + len(tbl)
			if (i == 0 || s[i-1] == ' ') && (end == len(s) || s[end] == ' ') {
				if best < 0 || i < best || (i == best && len(tbl) > len(coll)) {
					best, coll = i, tbl
				}
				break
			}
			from = i + 1
		}
	}
	if best >= 0 {
		op = strings.TrimSpace(s[:best])
	} else {
		op = strings.TrimSpace(s)
	}
	switch {
	case op != "":
	case tag != "":
		op = tag
	case st.Kind != "":
		op = strings.ToUpper(string(st.Kind))
	default:
		op = "UNKNOWN"
	}
	return op, coll
}

func (t *Tracer) appendAttrs(a []attribute.KeyValue, ev *proxy.StatementEvent) []attribute.KeyValue {
	a = t.appendStaticAttrs(a, ev)
	return t.appendDynamicAttrs(a, ev)
}

// appendStaticAttrs appends the attributes that are the same for every run
// of one statement by one session under one decision: who, where, the
// decision, the statement, its columns. recordDirect caches them (see
// staticKey); everything they depend on must be part of that key.
func (t *Tracer) appendStaticAttrs(a []attribute.KeyValue, ev *proxy.StatementEvent) []attribute.KeyValue {
	a = append(a, semconv.DBSystemNamePostgreSQL)
	if ev.Statement == nil {
		a = append(a, AttrEvent.String(EventSession))
	} else {
		a = append(a, AttrEvent.String(EventStatement))
	}
	if id := ev.Identity; id != nil {
		a = t.str(a, semconv.DBNamespaceKey, id.Database)
		a = t.str(a, AttrUser, id.User)
		a = t.str(a, AttrApplication, id.ApplicationName)
		a = t.str(a, semconv.ClientAddressKey, id.ClientAddr)
		a = t.list(a, AttrRoles, id.Roles)
		a = append(a, AttrTLS.Bool(id.TLS.Enabled))
		a = t.str(a, AttrTLSSubject, id.TLS.Subject)
	}
	host, port := t.serverAddr, t.serverPort
	if ev.ServerAddress != "" {
		host, port = splitHostPort(ev.ServerAddress)
	}
	a = t.str(a, semconv.ServerAddressKey, host)
	if port > 0 {
		a = append(a, semconv.ServerPort(port))
	}
	if d := ev.Decision; d != nil {
		if d.Allow {
			a = append(a, AttrDecision.String(DecisionAllow))
		} else {
			a = append(a, AttrDecision.String(DecisionDeny))
		}
		a = t.str(a, AttrPolicyRevision, d.Revision)
	}
	a = t.str(a, AttrProtocol, ev.Protocol)
	st := ev.Statement
	if st == nil {
		return a
	}
	a = t.str(a, semconv.DBQuerySummaryKey, st.Summary)
	a = t.str(a, semconv.DBQueryTextKey, st.Normalized)
	a = append(a, AttrKind.String(string(st.Kind)))
	a = t.str(a, AttrFingerprint, st.Fingerprint)
	if st.Opaque {
		a = append(a, AttrOpaque.Bool(true))
		a = t.str(a, AttrOpaqueReason, st.OpaqueReason)
	}
	a = t.list(a, AttrTables, st.Tables)
	return t.appendColumns(a, ev.Columns)
}

// appendDynamicAttrs appends the attributes of this one run: outcome,
// reason, operation and tag, row counts, subjects.
func (t *Tracer) appendDynamicAttrs(a []attribute.KeyValue, ev *proxy.StatementEvent) []attribute.KeyValue {
	a = append(a, AttrOutcome.String(ev.Outcome))
	a = t.str(a, AttrReason, reason(ev))
	if ev.SQLState != "" {
		a = append(a, semconv.DBResponseStatusCode(ev.SQLState))
	}
	switch ev.Outcome {
	case proxy.OutcomeError, proxy.OutcomeDenied, proxy.OutcomeAuditErr:
		et := ev.SQLState
		if et == "" {
			et = ev.Outcome
		}
		a = append(a, semconv.ErrorTypeKey.String(et))
	}
	st := ev.Statement
	if st == nil {
		return a
	}
	op, coll := operationAndCollection(st, ev.CommandTag)
	a = t.str(a, semconv.DBOperationNameKey, op)
	a = t.str(a, semconv.DBCollectionNameKey, coll)
	a = t.str(a, AttrCommandTag, ev.CommandTag)
	if st.Returns || ev.RowsReturned > 0 {
		a = append(a, semconv.DBResponseReturnedRows(int(ev.RowsReturned)))
	}
	if ev.RowsAffected > 0 || isWrite(st.Kind) {
		a = append(a, AttrRowsAffected.Int64(ev.RowsAffected))
	}
	if n := max(ev.SubjectCount, int64(len(ev.SubjectKeys))); n > 0 {
		keys := ev.SubjectKeys
		if len(keys) > t.maxSubjects {
			keys = keys[:t.maxSubjects]
		}
		ps := make([]string, len(keys))
		for i, k := range keys {
			ps[i] = t.pseud.Pseudonym(k)
		}
		a = append(a,
			AttrSubjects.StringSlice(ps),
			AttrSubjectCount.Int64(n),
			AttrSubjectsTruncated.Bool(int64(len(ps)) < n),
			AttrSubjectKeyID.String(t.pseud.KeyID()))
		a = t.list(a, AttrSubjectTables, ev.SubjectTables)
	}
	return a
}

// staticKey identifies the static attributes of an event. The pointers are
// the session's identity and the analyzer's statement, both immutable; a
// key keeps them reachable, so an address is never reused for another
// identity or statement while it is cached.
type staticKey struct {
	id       *rules.Identity
	st       *rules.Statement
	decided  bool
	allow    bool
	revision string
	protocol string
	server   string
	columns  string // every AuditColumn, encoded
}

// maxStaticCache bounds the static-attribute cache; when full it starts
// over.
const maxStaticCache = 4096

// staticAttrs returns the cached OTLP form of ev's static attributes.
// Builder goroutine only.
func (t *Tracer) staticAttrs(ev *proxy.StatementEvent) []*commonpb.KeyValue {
	k := staticKey{id: ev.Identity, st: ev.Statement, protocol: ev.Protocol, server: ev.ServerAddress}
	if d := ev.Decision; d != nil {
		k.decided, k.allow, k.revision = true, d.Allow, d.Revision
	}
	b := t.keyBuf[:0]
	for i := range ev.Columns {
		c := &ev.Columns[i]
		b = append(b, c.Table...)
		b = append(b, 0)
		b = append(b, c.Column...)
		b = append(b, 0)
		b = append(b, c.Category...)
		b = append(b, 0)
		b = append(b, c.Mask...)
		b = append(b, 0, byte(c.Uses), byte(c.Uses>>8), 1)
	}
	t.keyBuf = b
	k.columns = string(b)
	if kvs, ok := t.static[k]; ok {
		return kvs
	}
	if t.static == nil || len(t.static) >= maxStaticCache {
		t.static = make(map[staticKey][]*commonpb.KeyValue)
	}
	kvs := attrsToProto(t.appendStaticAttrs(nil, ev))
	t.static[k] = kvs
	return kvs
}

func reason(ev *proxy.StatementEvent) string {
	if ev.Reason == "" && ev.Decision != nil {
		return ev.Decision.Reason
	}
	return ev.Reason
}

func isWrite(k rules.Kind) bool {
	switch k {
	case rules.KindInsert, rules.KindUpdate, rules.KindDelete, rules.KindMerge, rules.KindCopyFrom:
		return true
	}
	return false
}

// appendColumns adds the column and category attributes. Every list is
// built in one pass with no per-column map.
func (t *Tracer) appendColumns(a []attribute.KeyValue, cols []proxy.AuditColumn) []attribute.KeyValue {
	if len(cols) == 0 {
		return a
	}
	var all, revealed, masked, filtered, written, cats, catsRevealed []string
	for i := range cols {
		c := &cols[i]
		name := c.ColumnRef.String()
		all = append(all, name)
		switch c.Mask {
		case "":
		case "pass":
			revealed = append(revealed, name)
			catsRevealed = appendUnique(catsRevealed, c.Category)
		default:
			masked = append(masked, name+":"+c.Mask)
		}
		if c.Uses&(rules.UseFilter|rules.UseJoin|rules.UseGroup|rules.UseOrder) != 0 {
			filtered = append(filtered, name)
		}
		if c.Uses&(rules.UseWrite|rules.UseCopy) != 0 {
			written = append(written, name)
		}
		cats = appendUnique(cats, c.Category)
	}
	a = t.list(a, AttrColumns, all)
	a = t.list(a, AttrRevealed, revealed)
	a = t.list(a, AttrMasked, masked)
	a = t.list(a, AttrFiltered, filtered)
	a = t.list(a, AttrWritten, written)
	a = t.list(a, AttrCategories, cats)
	a = t.list(a, AttrCategoriesRevealed, catsRevealed)
	return a
}

func appendUnique(s []string, v string) []string {
	if v == "" {
		return s
	}
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// str appends a string attribute unless v is empty, cut to the length
// bound.
func (t *Tracer) str(a []attribute.KeyValue, k attribute.Key, v string) []attribute.KeyValue {
	if v == "" {
		return a
	}
	return append(a, k.String(t.trunc(v)))
}

// list appends a string-list attribute unless vs is empty, with every
// element cut to the length bound and at most maxListLen elements (the
// last one then says how many were left out). vs is not modified.
func (t *Tracer) list(a []attribute.KeyValue, k attribute.Key, vs []string) []attribute.KeyValue {
	if len(vs) == 0 {
		return a
	}
	copied := false
	for i, v := range vs {
		if len(v) > t.maxAttrLen {
			if !copied {
				vs = append([]string(nil), vs...)
				copied = true
			}
			vs[i] = t.trunc(v)
		}
	}
	if len(vs) > maxListLen {
		more := len(vs) - (maxListLen - 1)
		vs = append(vs[:maxListLen-1:maxListLen-1], "+"+strconv.Itoa(more)+" more")
	}
	return append(a, k.StringSlice(vs))
}

// trunc cuts s to at most maxAttrLen bytes without splitting a UTF-8
// sequence.
func (t *Tracer) trunc(s string) string {
	if len(s) <= t.maxAttrLen {
		return s
	}
	i := t.maxAttrLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// splitHostPort splits "host:port"; a bare host has port 0.
func splitHostPort(hp string) (string, int) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// EventCounts is how many events a Tracer received, by outcome and by
// decision.
type EventCounts struct {
	// ByOutcome maps proxy.Outcome* (and "other") to counts.
	ByOutcome map[string]int64
	// Allowed and Denied count events that carried a decision.
	Allowed, Denied int64
}

// Events returns the Tracer's event counters.
func (t *Tracer) Events() EventCounts {
	c := EventCounts{ByOutcome: make(map[string]int64, numOutcomes)}
	for i, o := range outcomes {
		c.ByOutcome[o] = t.events[i].Load()
	}
	c.Allowed = t.decisions[0].Load()
	c.Denied = t.decisions[1].Load()
	return c
}

// RandomKey reports whether the Tracer pseudonymises with a random
// per-process key (no key configured): its pseudonyms cannot be searched.
func (t *Tracer) RandomKey() bool { return t.randomKey }
