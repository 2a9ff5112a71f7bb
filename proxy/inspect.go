package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pgveil/pgveil/rules"
)

// The client relay of an inspecting session: every Query and Parse is
// analysed and decided before anything reaches Postgres; Bind and Execute
// are decided again (the policy may have changed); denied statements never
// reach Postgres.
//
// Refusal in order. A refused statement must produce its ErrorResponse at
// the point of the stream where Postgres would have answered, after the
// responses to everything the client sent before it, and it must abort the
// transaction as an error from Postgres would. pgveil therefore sends
// Postgres, in place of the refused statement, an Execute of a portal that
// cannot exist (denyPortal): Postgres answers it with an error in order, and
// that error aborts the transaction block exactly like a real one. The
// server relay replaces that error with pgveil's own ErrorResponse (the
// pendDeny entry) and consumes the rest. In the extended protocol the
// messages up to the client's Sync are then discarded, as Postgres discards
// them after an error.

// denyPortal is a portal name no client can have created: it contains a NUL
// in the protocol (names are C strings), so "pgveil" followed by NUL ends
// the name early, and the remaining bytes name nothing. We use a plain,
// unlikely name instead, which is just as safe: if it existed, Execute would
// run the client's own portal and its rows would still be consumed.
const denyPortal = "pgveil\x1fdenied\x1fportal"

var denyExecute = func() []byte {
	b := append([]byte(denyPortal), 0, 0, 0, 0, 1) // portal, max rows 1
	return b
}()

// inspector is the client relay's state for an inspecting session.
type inspector struct {
	prepared map[string]*preparedStmt
	portals  map[string]*portal
	cursors  map[string]*cursorEntry
	// discarding is set after a refusal in the extended protocol: client
	// messages are dropped up to the next Sync.
	discarding bool
	// readySent counts the Query, Sync and FunctionCall messages forwarded,
	// each answered by one ReadyForQuery; readySent minus inflight is the
	// number of those answers seen (readySeen).
	// encodingChange is the readySent number whose ReadyForQuery follows
	// the last statement that may have changed client_encoding: until it
	// arrives, pgveil does not know how Postgres reads non-ASCII text.
	readySent      int64
	encodingChange int64
	// copyIn counts the COPY FROM STDIN statements forwarded whose data
	// the client has not ended (CopyDone, CopyFail): while it is not zero,
	// Postgres may be in copy-in mode and ignore a Sync.
	copyIn int
	// schemaChange is the readySent number whose ReadyForQuery follows
	// the last statement forwarded that may change the schema (0: none
	// pending); schemaVisibleAt is when the last such change became
	// visible to other sessions, pgveil's schema loads included.
	schemaChange    int64
	schemaVisibleAt time.Time
	// batchOpen: extended-protocol messages were forwarded since the last
	// Sync. After an error Postgres ignores everything up to the Sync, a
	// Query or FunctionCall included, so pgveil could not tell whether
	// they run: it ends the session instead.
	batchOpen bool
}

func newInspector() *inspector {
	return &inspector{
		prepared: make(map[string]*preparedStmt),
		portals:  make(map[string]*portal),
		cursors:  make(map[string]*cursorEntry),
	}
}

// expectReady records a forwarded message that Postgres answers with
// ReadyForQuery (Query, Sync, FunctionCall).
func (ss *session) expectReady() {
	ss.inflight.Add(1)
	ss.in.readySent++
}

// mayChangeEncoding records that a statement forwarded now may change
// client_encoding; its effect is known with the next ReadyForQuery.
func (ss *session) mayChangeEncoding() {
	ss.in.encodingChange = ss.in.readySent + 1
}

// encodingHazard says why pgveil cannot be sure that Postgres reads text
// as the analyzer does, or returns "". Postgres converts statement text
// from client_encoding before parsing it. In SJIS, BIG5, GBK, UHC, GB18030
// and JOHAB the second byte of a character can be a backslash (or another
// ASCII byte), so text that pgveil reads as UTF-8 may have a literal end
// elsewhere for Postgres: the rest could read personal data. ASCII text
// reads the same in every encoding. A pipelined statement can change the
// encoding before the server reports it (ParameterStatus, then
// ReadyForQuery), so until that report arrives the encoding is unknown.
func (ss *session) encodingHazard(text string) string {
	if isASCII(text) {
		return ""
	}
	if ss.encodingUncertain() {
		return "it has non-ASCII characters and a statement before it may change client_encoding; send it after that statement's result"
	}
	if ss.encodingUnsafe.Load() {
		return "it has non-ASCII characters and the session's client_encoding can hide quotes and backslashes inside them; use client_encoding UTF8"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// unreadable stands in for a statement whose text pgveil cannot read as
// Postgres will (see encodingHazard).
func unreadable(reason string) []*rules.Statement {
	return []*rules.Statement{{Kind: rules.KindUnknown, Summary: "UNKNOWN", Opaque: true, OpaqueReason: reason, Returns: true}}
}

// analyze analyzes a Query or Parse text, or stands in for one it cannot
// read.
func (ss *session) analyze(text string) []*rules.Statement {
	if reason := ss.encodingHazard(text); reason != "" {
		return unreadable(reason)
	}
	stmts, _ := ss.cfg.Analyzer.Analyze(context.Background(), text)
	return stmts
}

// noteSchemaChange records st, forwarded now, if it changes the schema
// (CREATE, ALTER, DROP, CREATE TABLE AS, ...) for an identity that sees
// data masked.
func (ss *session) noteSchemaChange(st *rules.Statement, d *decided) {
	switch st.Kind {
	case rules.KindDDL, rules.KindCreateTableAs, rules.KindCreateView:
		if d != nil && !d.revealAll {
			ss.in.schemaChange = ss.in.readySent + 1
		}
	}
}

// schemaFreshness says whether a statement analyzed now is analyzed with a
// schema that has the session's own schema changes, and returns when that
// schema was loaded. The snapshot pgveil analyzes with is shared and
// refreshed every few seconds; a table the session just created can shadow
// another of the same name, and the analysis would then count the columns
// of the other: with a second miscount the other way, the result columns
// shift against the analysis. So after a change of the schema pgveil loads
// it again before the next statement (once the change is visible: after
// its transaction), and a statement analyzed before that has unknown
// lineage (its rows are masked as of unknown origin).
func (ss *session) schemaFreshness() (asOf time.Time, stale bool) {
	in := ss.in
	if in.schemaChange > 0 {
		if ss.idleReadyN.Load() < in.schemaChange {
			return time.Time{}, true
		}
		in.schemaVisibleAt = time.Unix(0, ss.idleReadyAt.Load())
		in.schemaChange = 0
	}
	fresh := ss.cfg.Schema.FreshAsOf()
	if !in.schemaVisibleAt.IsZero() && !fresh.After(in.schemaVisibleAt) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := ss.cfg.Schema.RefreshAfter(ctx, in.schemaVisibleAt); err != nil {
			ss.log.Warn("schema refresh after a schema change failed", "err", err)
		}
		cancel()
		fresh = ss.cfg.Schema.FreshAsOf()
		if !fresh.After(in.schemaVisibleAt) {
			return time.Time{}, true
		}
	}
	return fresh, false
}

// reanalyze analyzes a prepared statement again with the schema loaded now
// that it may be planned again after the session's schema change, and
// returns the lineage of its rows. The new analysis is used only if the
// policy still allows it, with the masks of the Bind's decision;
// otherwise, or while the schema is not loaded yet, the lineage is unknown.
// A statement that is not the only one of the text (SQL PREPARE) stays
// unknown.
func (ss *session) reanalyze(ps *preparedStmt, was *rules.Decision) *rules.Statement {
	asOf, stale := ss.schemaFreshness()
	if stale || ps.text == "" {
		return unknownLineage
	}
	stmts := ss.analyze(ps.text)
	if len(stmts) != 1 || stmts[0].Kind == rules.KindExecute || stmts[0].Kind == rules.KindFetch {
		return unknownLineage
	}
	st := stmts[0]
	dec, err := ss.cfg.Decider.Decide(context.Background(), &ss.id, st)
	if err != nil || !dec.Allow || !maps.Equal(dec.Masks, was.Masks) || !slices.Equal(dec.Reveal, was.Reveal) || ss.checkFailClosed(st, st, st.Opaque, &dec) != nil {
		return unknownLineage
	}
	ps.lineage, ps.asOf = st, asOf
	return st
}

// staleSince reports whether an analysis made with the schema of asOf
// (zero: stale from the start) misses a schema change of the session.
func (ss *session) staleSince(asOf time.Time) bool {
	if _, stale := ss.schemaFreshness(); stale || asOf.IsZero() {
		return true
	}
	return !ss.in.schemaVisibleAt.IsZero() && !asOf.After(ss.in.schemaVisibleAt)
}

// noteEncodingChange records st, forwarded now, if it may change
// client_encoding.
func (ss *session) noteEncodingChange(st *rules.Statement) {
	if st.ChangesEncoding || (st.Kind == rules.KindExecute && ss.executesEncodingChange(st)) {
		ss.mayChangeEncoding()
	}
}

// encodingUncertain reports whether a statement forwarded now may run
// after a change of client_encoding that the server has not reported yet
// (ParameterStatus comes with ReadyForQuery): its rows may then be in an
// encoding in which the text masks cannot work (execution.encodingUncertain).
func (ss *session) encodingUncertain() bool {
	return ss.readySeen() < ss.in.encodingChange
}

// readySeen is the number of ReadyForQuery messages the server relay has
// handled (client relay only).
func (ss *session) readySeen() int64 {
	return ss.in.readySent - int64(ss.inflight.Load())
}

// executesEncodingChange reports whether SQL EXECUTE runs a prepared
// statement that may change client_encoding (or an unknown one).
func (ss *session) executesEncodingChange(st *rules.Statement) bool {
	ps := ss.in.prepared[st.Prepared]
	return ps == nil || ps.st == nil || ps.st.ChangesEncoding
}

// push hands an expected response to the server relay. It blocks when the
// FIFO is full (backpressure).
func (ss *session) push(p pending) { ss.pend <- p }

// clientToServerInspect is clientToServer for inspecting sessions.
func (ss *session) clientToServerInspect() error {
	cr, uw := ss.cr, ss.uw
	in := ss.in
	for {
		if !cr.hasFrame() {
			if err := ss.beforeClientWait(); err != nil {
				return err
			}
		}
		typ, body, err := cr.next()
		if err != nil {
			return ss.clientReadFailed(err)
		}
		ss.applyCloses()
		if n := ss.copyUnstarted.Swap(0); n > 0 {
			in.copyIn = max(in.copyIn-int(n), 0)
		}
		if in.discarding {
			switch typ {
			case 'S':
				in.discarding = false
				in.batchOpen = false
				ss.expectReady()
				ss.push(pending{kind: pendSync, duringCopy: in.copyIn > 0})
				uw.appendFrame(typ, body)
			case 'H':
				uw.appendFrame(typ, body)
			case 'X':
				uw.appendFrame(typ, body)
				uw.flush()
				return nil
			}
			continue
		}
		switch typ {
		case 'P', 'B', 'D', 'E', 'C':
			in.batchOpen = true
		case 'Q', 'F':
			if in.batchOpen {
				pe := &ProtocolError{Code: codeProtocolViolation, Fatal: true,
					Msg: "pgveil does not accept a Query or FunctionCall message inside an extended-protocol batch; send Sync first"}
				ss.replyFatalFromClientSide(pe)
				return pe
			}
		}
		switch typ {
		case 'Q':
			err = ss.onQuery(body)
		case 'P':
			err = ss.onParse(body)
		case 'B':
			err = ss.onBind(body)
		case 'D':
			err = ss.onDescribe(body)
		case 'E':
			err = ss.onExecute(body)
		case 'C':
			err = ss.onClose(body)
		case 'S':
			in.batchOpen = false
			ss.expectReady()
			ss.push(pending{kind: pendSync, duringCopy: in.copyIn > 0})
			uw.appendFrame(typ, body)
		case 'F':
			err = ss.onFunctionCall(body)
		case 'c', 'f':
			in.copyIn = max(in.copyIn-1, 0)
			uw.appendFrame(typ, body)
		case 'H', 'd':
			uw.appendFrame(typ, body)
		case 'X':
			uw.appendFrame(typ, body)
			uw.flush()
			return nil
		default:
			ss.replyFatalFromClientSide(&ProtocolError{Code: codeProtocolViolation, Msg: fmt.Sprintf("invalid frontend message type %d", typ), Fatal: true})
			return fmt.Errorf("invalid frontend message type %d", typ)
		}
		if err != nil {
			var pe *ProtocolError
			if errors.As(err, &pe) && pe.Fatal {
				ss.replyFatalFromClientSide(pe)
			}
			return err
		}
		if uw.full() {
			if err := uw.flush(); err != nil {
				return err
			}
		}
	}
}

// malformed is the answer to a client message pgveil cannot decode: it
// cannot tell what the message would do, so the session ends.
func malformed(what string) error {
	return &ProtocolError{Code: codeProtocolViolation, Msg: "invalid " + what + " message", Fatal: true}
}

func (ss *session) onQuery(body []byte) error {
	text, ok := cstring(body)
	if !ok {
		return malformed("Query")
	}
	now := time.Now()
	asOf, _ := ss.schemaFreshness()
	stmts := ss.analyze(text)
	q := &queryExec{stmts: make([]*execution, 0, len(stmts))}
	var filters map[string]string
	for _, st := range stmts {
		d, lineage, perr := ss.decideStatement(st, text)
		if perr != nil {
			ss.refuse(perr, st, d, now, true)
			return nil
		}
		if st.Kind != rules.KindExecute && st.Kind != rules.KindFetch && ss.staleSince(asOf) {
			// A schema change before it in this Query, or one not
			// loaded yet (EXECUTE checks its statement's analysis in
			// decideStatement; a cursor's plan is fixed).
			lineage = unknownLineage
		}
		ss.noteSchemaChange(st, d)
		f := ss.filtersFor(d, lasting(st))
		if pe := ss.filteredRefusal(st, f, d); pe != nil {
			ss.refuse(pe, st, d, now, true)
			return nil
		}
		filters = mergeFilters(filters, f)
		q.stmts = append(q.stmts, &execution{d: d, lineage: lineage, start: now, protocol: "simple", encodingUncertain: ss.encodingUncertain()})
		// A change takes effect for the statements after it in the
		// same Query (their rows), not for the Query's text.
		ss.noteEncodingChange(st)
	}
	if len(filters) > 0 {
		rewritten, err := ss.applyRowFilters(text, filters)
		if err != nil {
			var d *decided
			if len(q.stmts) > 0 {
				d = q.stmts[0].d
			}
			ss.refuse(rowFilterRefusal(err), stmts[0], d, now, true)
			return nil
		}
		if rewritten != text {
			body = append(append([]byte(nil), rewritten...), 0)
		}
	}
	copyFrom := 0
	for i, st := range stmts {
		q.stmts[i].closes = ss.applySideEffects(st, text, asOf)
		if copiesFromClient(st) {
			copyFrom++
		}
	}
	ss.in.copyIn += copyFrom
	ss.expectReady()
	ss.push(pending{kind: pendQuery, query: q, copyFrom: copyFrom})
	ss.uw.appendFrame('Q', body)
	return nil
}

func (ss *session) onParse(body []byte) error {
	name, rest, ok := cstringNext(body)
	if !ok {
		return malformed("Parse")
	}
	text, paramTypes, ok := cstringNext(rest)
	if !ok {
		return malformed("Parse")
	}
	now := time.Now()
	asOf, _ := ss.schemaFreshness()
	stmts := ss.analyze(text)
	var st *rules.Statement
	switch len(stmts) {
	case 1:
		st = stmts[0]
	case 0:
		st = &rules.Statement{Kind: rules.KindEmpty}
	default:
		// Postgres refuses several commands in one prepared statement;
		// decide on an opaque stand-in so that nothing unexamined passes.
		st = &rules.Statement{Kind: rules.KindUnknown, Opaque: true, OpaqueReason: "several statements in one Parse", Returns: true}
	}
	d, lineage, perr := ss.decideStatement(st, text)
	if perr != nil {
		ss.refuse(perr, st, d, now, false)
		return nil
	}
	ss.noteEncodingChange(st)
	// Every Parse counts as lasting: the unnamed statement too can be bound
	// and executed again later, after a subject was restricted.
	filters := ss.filtersFor(d, true)
	if pe := ss.filteredRefusal(st, filters, d); pe != nil {
		ss.refuse(pe, st, d, now, false)
		return nil
	}
	if len(filters) > 0 {
		rewritten, err := ss.applyRowFilters(text, filters)
		if err != nil {
			ss.refuse(rowFilterRefusal(err), st, d, now, false)
			return nil
		}
		if rewritten != text {
			nb := make([]byte, 0, len(name)+len(rewritten)+len(paramTypes)+2)
			nb = append(nb, name...)
			nb = append(nb, 0)
			nb = append(nb, rewritten...)
			nb = append(nb, 0)
			body = append(nb, paramTypes...)
		}
	}
	ss.applySideEffects(st, text, asOf)
	ps := &preparedStmt{st: st, lineage: lineage, traceParent: d.traceParent, asOf: asOf, text: text}
	in := ss.in
	if old, exists := in.prepared[name]; exists && name != "" {
		// Postgres keeps the existing statement and rejects this Parse, or
		// (if the old Parse had failed) accepts it: lineage of both.
		ps = &preparedStmt{st: st, lineage: mergeLineage(old.lineage, lineage), described: old.described, traceParent: d.traceParent,
			asOf: minTime(old.asOf, asOf)}
	}
	in.prepared[name] = ps
	ss.push(pending{kind: pendParse, stmt: ps, d: d})
	ss.uw.appendFrame('P', body)
	return nil
}

func (ss *session) onBind(body []byte) error {
	portalName, rest, ok := cstringNext(body)
	if !ok {
		return malformed("Bind")
	}
	stmtName, rest, ok := cstringNext(rest)
	if !ok {
		return malformed("Bind")
	}
	formats, ok := bindResultFormats(rest)
	if !ok {
		return malformed("Bind")
	}
	in := ss.in
	ps := in.prepared[stmtName]
	if ps == nil || ps.st == nil || ps.st.ChangesEncoding {
		ss.mayChangeEncoding()
	}
	if ps == nil {
		// Postgres will say the statement does not exist; if it does
		// exist after all, its rows have unknown lineage.
		ps = &preparedStmt{st: &rules.Statement{Kind: rules.KindUnknown, Opaque: true, OpaqueReason: "unknown prepared statement", Returns: true}}
	}
	now := time.Now()
	d, _, perr := ss.decideStatement(ps.st, "")
	if perr != nil {
		ss.refuse(perr, ps.st, d, now, false)
		return nil
	}
	if d.traceParent == "" {
		d.traceParent = ps.traceParent
	}
	p := &portal{stmt: ps, formats: formats, dec: d, bindReady: in.readySent + 1}
	if _, exists := in.portals[portalName]; exists && portalName != "" {
		// Postgres rejects a Bind to an existing named portal and keeps the
		// old one, whose lineage pgveil no longer knows for sure.
		p.stmt = &preparedStmt{st: ps.st, lineage: unknownLineage}
	}
	in.portals[portalName] = p
	ss.push(pending{kind: pendBind, portal: p, d: d})
	ss.uw.appendFrame('B', body)
	return nil
}

func (ss *session) onDescribe(body []byte) error {
	if len(body) < 2 {
		return malformed("Describe")
	}
	name, ok := cstring(body[1:])
	if !ok {
		return malformed("Describe")
	}
	in := ss.in
	switch body[0] {
	case 'S':
		ps := in.prepared[name]
		if ps == nil {
			ps = &preparedStmt{lineage: unknownLineage}
		}
		ps.described = true
		ss.push(pending{kind: pendDescribeS, stmt: ps})
	case 'P':
		p := in.portals[name]
		if p == nil {
			p = &portal{stmt: &preparedStmt{lineage: unknownLineage}}
		}
		p.described = true
		ss.push(pending{kind: pendDescribeP, portal: p})
	default:
		return malformed("Describe")
	}
	ss.uw.appendFrame('D', body)
	return nil
}

func (ss *session) onExecute(body []byte) error {
	name, _, ok := cstringNext(body)
	if !ok {
		return malformed("Execute")
	}
	in := ss.in
	p := in.portals[name]
	if p == nil {
		p = &portal{stmt: &preparedStmt{lineage: unknownLineage}}
		d := ss.strictDecided()
		p.dec = d
	}
	if !p.described && !p.stmt.described && !p.dec.revealAll {
		// Clients that cache statements skip Describe; without the fields
		// the masks could not be typed. Ask for them, and swallow the answer.
		p.described = true
		ss.push(pending{kind: pendDescribeP, portal: p, internal: true})
		d := make([]byte, 0, len(name)+2)
		d = append(d, 'P')
		d = append(d, name...)
		d = append(d, 0)
		ss.uw.appendFrame('D', d)
	}
	lineage, copyFrom := p.stmt.lineage, 0
	if st := p.stmt.st; st != nil {
		switch {
		case st.Kind == rules.KindFetch || st.Kind == rules.KindExecute:
			// A prepared FETCH or EXECUTE runs what its name denotes
			// now, not at Parse.
			_, lineage = ss.namedLineage(st)
		case !p.dec.revealAll && ss.staleSince(p.stmt.asOf):
			// Postgres plans a prepared statement again after a schema
			// change, with names that may now denote other relations:
			// so does pgveil, or its rows have unknown lineage.
			lineage = ss.reanalyze(p.stmt, &p.dec.dec)
		}
		ss.noteSchemaChange(st, p.dec)
		if copiesFromClient(st) {
			copyFrom = 1
			in.copyIn++
		}
	}
	if p.bindReady != 0 && p.bindReady <= ss.readySeen() && !p.bound.Load() {
		// Its Bind failed in an earlier batch: whatever portal Postgres
		// has under this name is an older one.
		lineage = unknownLineage
	}
	if c := in.cursors[name]; c != nil && name != "" {
		// A SQL cursor of that name (see decideStatement, FETCH).
		lineage = mergeLineage(lineage, c.lineage)
	}
	ex := &execution{d: p.dec, lineage: lineage, start: time.Now(), protocol: "extended", encodingUncertain: ss.encodingUncertain()}
	ss.push(pending{kind: pendExecute, portal: p, exec: ex, copyFrom: copyFrom})
	ss.uw.appendFrame('E', body)
	return nil
}

func (ss *session) onClose(body []byte) error {
	if len(body) < 2 {
		return malformed("Close")
	}
	name, ok := cstring(body[1:])
	if !ok {
		return malformed("Close")
	}
	// The name is forgotten once Postgres confirms the Close: in a failed
	// batch it is skipped, and the name still denotes the old object.
	ev := &closeEvent{kind: body[0], name: name}
	switch body[0] {
	case 'S':
		ev.entry = ss.in.prepared[name]
	case 'P':
		ev.entry = ss.in.portals[name]
	default:
		return malformed("Close")
	}
	ss.push(pending{kind: pendClose, close: ev})
	ss.uw.appendFrame('C', body)
	return nil
}

// fastpathStatement stands for a FunctionCall: it can call any function
// with any arguments, so it is opaque.
var fastpathStatement = &rules.Statement{Kind: rules.KindCall, Summary: "FUNCTION CALL", Opaque: true,
	OpaqueReason: "fast-path function call", Returns: true}

func (ss *session) onFunctionCall(body []byte) error {
	now := time.Now()
	ss.mayChangeEncoding() // set_config can be called by OID
	d, _, perr := ss.decideStatement(fastpathStatement, "")
	if perr != nil {
		ss.refuse(perr, fastpathStatement, d, now, true)
		return nil
	}
	ex := &execution{d: d, lineage: fastpathStatement, start: now, protocol: "fastpath", encodingUncertain: true}
	ss.expectReady()
	ss.push(pending{kind: pendFuncCall, exec: ex})
	ss.uw.appendFrame('F', body)
	return nil
}

// refuse sends the refusal in order (see the comment at the top of this
// file) and records it. simple is true when the client's message was a
// Query or FunctionCall, which Postgres answers with ReadyForQuery; in the
// extended protocol the client's messages are discarded until its Sync.
func (ss *session) refuse(pe *ProtocolError, st *rules.Statement, d *decided, start time.Time, simple bool) {
	ss.push(pending{kind: pendDeny, deny: pe})
	ss.push(pending{kind: pendExecute, internal: true})
	ss.uw.appendFrame('E', denyExecute)
	if simple {
		ss.expectReady()
		ss.push(pending{kind: pendSync})
		ss.uw.appendFrame('S', nil)
	} else {
		ss.in.discarding = true
	}
	ss.log.Info("statement refused", "code", pe.Code, "reason", pe.Msg, "summary", summaryOf(st))
	if ss.cfg.Tracer != nil && d != nil && d.personal {
		ev := ss.newEvent(d, st, start)
		ev.Outcome, ev.SQLState, ev.Reason = OutcomeDenied, pe.Code, pe.Msg
		if pe.Code == codeAuditUnavailable {
			ev.Outcome = OutcomeAuditErr
		}
		ev.Duration = time.Since(start)
		ss.cfg.Tracer.TraceStatement(context.Background(), ev)
	}
}

func summaryOf(st *rules.Statement) string {
	if st == nil {
		return ""
	}
	return st.Summary
}

// copiesFromClient reports whether st is a COPY FROM STDIN (a COPY FROM a
// file or program is opaque).
func copiesFromClient(st *rules.Statement) bool {
	return st.Kind == rules.KindCopyFrom && !st.Opaque
}

// cursorEntry is a SQL cursor: the lineage of its rows.
type cursorEntry struct{ lineage *rules.Statement }

// applySideEffects keeps the session's maps of SQL-level prepared
// statements and cursors in step with the statements that create and drop
// them. A definition merges with what the name denoted (Postgres rejects a
// name in use and keeps the old object); the removals it returns are
// applied once Postgres completes the statement (execution.closes), since
// an earlier error can skip it.
func (ss *session) applySideEffects(st *rules.Statement, text string, asOf time.Time) []closeEvent {
	in := ss.in
	switch st.Kind {
	case rules.KindPrepare:
		if st.Prepared == "" {
			return nil
		}
		ps := &preparedStmt{st: innerOr(st), lineage: innerOr(st), asOf: asOf}
		if old, ok := in.prepared[st.Prepared]; ok {
			ps.lineage = mergeLineage(old.lineage, ps.lineage)
			ps.asOf = minTime(old.asOf, asOf)
		}
		in.prepared[st.Prepared] = ps
	case rules.KindDeallocate:
		if st.Prepared == "" {
			return closeAll('S', in.prepared)
		}
		return []closeEvent{{kind: 'S', name: st.Prepared, entry: in.prepared[st.Prepared]}}
	case rules.KindDeclare:
		if st.Cursor == "" {
			return nil
		}
		lin := innerOr(st)
		if ss.staleSince(asOf) {
			// Its plan is fixed now, against a schema pgveil has not
			// loaded (schemaFreshness).
			lin = unknownLineage
		}
		if old, ok := in.cursors[st.Cursor]; ok {
			lin = mergeLineage(old.lineage, lin)
		}
		in.cursors[st.Cursor] = &cursorEntry{lineage: lin}
	case rules.KindClosePortal:
		if st.Cursor == "" {
			return closeAll('c', in.cursors)
		}
		return []closeEvent{{kind: 'c', name: st.Cursor, entry: in.cursors[st.Cursor]}}
	case rules.KindUtility:
		if st.Summary == "DISCARD ALL" {
			return append(closeAll('S', in.prepared), closeAll('c', in.cursors)...)
		}
	}
	return nil
}

// closeAll is the removal of every name of a map (kind as in closeEvent)
// defined now: names defined after it was sent are not removed with it.
func closeAll[T any](kind byte, m map[string]T) []closeEvent {
	evs := make([]closeEvent, 0, len(m))
	for name, entry := range m {
		evs = append(evs, closeEvent{kind: kind, name: name, entry: entry})
	}
	return evs
}

// confirmCloses hands removals Postgres confirmed to the client relay.
// Server relay.
func (ss *session) confirmCloses(evs ...closeEvent) {
	if len(evs) == 0 {
		return
	}
	ss.closesMu.Lock()
	ss.closes = append(ss.closes, evs...)
	ss.closesN.Add(int32(len(evs)))
	ss.closesMu.Unlock()
}

// applyCloses applies the confirmed removals. A name defined again after
// its removal was sent keeps its new (merged) entry. Client relay.
func (ss *session) applyCloses() {
	if ss.closesN.Load() == 0 {
		return
	}
	ss.closesMu.Lock()
	evs := ss.closes
	ss.closes = nil
	ss.closesN.Store(0)
	ss.closesMu.Unlock()
	in := ss.in
	for _, ev := range evs {
		switch ev.kind {
		case 'S':
			forget(in.prepared, ev)
		case 'P':
			forget(in.portals, ev)
		case 'c':
			forget(in.cursors, ev)
		}
	}
}

// forget removes ev's name from m if it still denotes ev's entry.
func forget[T comparable](m map[string]T, ev closeEvent) {
	if v, ok := m[ev.name]; ok && any(v) == ev.entry {
		delete(m, ev.name)
	}
}

func innerOr(st *rules.Statement) *rules.Statement {
	if st.Inner != nil {
		return st.Inner
	}
	return st
}

// unknownLineage stands for rows whose origin pgveil cannot tell.
var unknownLineage = &rules.Statement{Kind: rules.KindUnknown, Opaque: true, OpaqueReason: "unknown lineage", Returns: true}

// mergeLineage returns a statement whose outputs cover both a and b: used
// when a name may denote either.
func mergeLineage(a, b *rules.Statement) *rules.Statement {
	if a == nil || b == nil {
		return unknownLineage
	}
	if a == b {
		return a
	}
	if len(a.Outputs) != len(b.Outputs) || a.Outputs == nil {
		return unknownLineage
	}
	outs := make([]rules.Output, len(a.Outputs))
	for i := range outs {
		x, y := a.Outputs[i], b.Outputs[i]
		outs[i] = rules.Output{Name: x.Name, Sources: unionRefs(x.Sources, y.Sources), Unknown: x.Unknown || y.Unknown, Probe: x.Probe || y.Probe}
	}
	return &rules.Statement{Kind: b.Kind, Summary: b.Summary, Outputs: outs, Returns: true}
}

func unionRefs(a, b []rules.ColumnRef) []rules.ColumnRef {
	out := append([]rules.ColumnRef(nil), a...)
	for _, r := range b {
		found := false
		for _, o := range out {
			if o == r {
				found = true
				break
			}
		}
		if !found {
			out = append(out, r)
		}
	}
	return out
}

// cstring returns the NUL-terminated string at the start of b, which must
// be all of b.
func cstring(b []byte) (string, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", false
	}
	return string(b[:i]), true
}

// cstringNext returns the NUL-terminated string at the start of b and the
// bytes after it.
func cstringNext(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// bindResultFormats skips a Bind's parameter formats and values and returns
// its result format codes.
func bindResultFormats(b []byte) ([]int16, bool) {
	if len(b) < 2 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) < 2*n {
		return nil, false
	}
	b = b[2*n:]
	if len(b) < 2 {
		return nil, false
	}
	np := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	for range np {
		if len(b) < 4 {
			return nil, false
		}
		l := int32(binary.BigEndian.Uint32(b))
		b = b[4:]
		if l < -1 || int(l) > len(b) {
			return nil, false
		}
		if l > 0 {
			b = b[l:]
		}
	}
	if len(b) < 2 {
		return nil, false
	}
	nr := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) != 2*nr {
		return nil, false
	}
	formats := make([]int16, nr)
	for i := range formats {
		formats[i] = int16(binary.BigEndian.Uint16(b[2*i:]))
		if formats[i] != 0 && formats[i] != 1 {
			return nil, false
		}
	}
	return formats, true
}

// minTime is the earlier of a and b, zero if either is.
func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.IsZero() {
		return time.Time{}
	}
	if a.Before(b) {
		return a
	}
	return b
}
