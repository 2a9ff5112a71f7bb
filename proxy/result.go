package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/rules"
)

// The server relay of an inspecting session. Every response is matched to
// the request it answers through the pending FIFO (responses come in request
// order); DataRows and COPY rows are rewritten by the plan of the result
// they belong to; errors and notices are scrubbed for identities with masks.

// errDesync means Postgres sent a response pgveil expected no request for.
// The session ends: pgveil no longer knows which rows belong to what.
var errDesync = errors.New("protocol desynchronised: response without a request")

// s2cState is the server relay's own state.
type s2cState struct {
	head    pending
	hasHead bool
	// batchFailed: an error was already reported for the current
	// extended-protocol batch (up to Sync); later errors of the same batch
	// are consumed, as Postgres would not send them.
	batchFailed bool
	// suspended are portal runs interrupted by PortalSuspended, finished at
	// the next idle ReadyForQuery or when the session ends.
	suspended []*portal
	// seenPool keeps subject-key sets for reuse across statements.
	seenPool []map[uint64]struct{}
	// clientEncoding is the session's client_encoding as last reported
	// by the server (noteParameter).
	clientEncoding string
	// readyN numbers the answers to Query, Sync and FunctionCall messages
	// (a ReadyForQuery, or none for a Sync Postgres ignored in copy-in
	// mode), as inspector.readySent numbers the messages.
	readyN int64
}

// headEntry returns the oldest expected response without removing it.
func (ss *session) headEntry() (*pending, error) {
	st := &ss.s2c
	if !st.hasHead {
		select {
		case p := <-ss.pend:
			if p.kind == pendExecute && p.portal != nil && !p.internal {
				// A suspended portal resumes its run: one audit record
				// per portal run, not per Execute.
				if p.portal.run != nil {
					p.exec = p.portal.run
				} else {
					p.portal.run = p.exec
				}
			}
			st.head, st.hasHead = p, true
		default:
			return nil, errDesync
		}
	}
	return &st.head, nil
}

func (ss *session) popHead() { ss.s2c.hasHead = false; ss.s2c.head = pending{} }

// emitDenials sends pgveil's own ErrorResponses that are due: they come
// before the response Postgres gives to the injected Execute.
func (ss *session) emitDenials() {
	st := &ss.s2c
	for {
		h, err := ss.headEntry()
		if err != nil || h.kind != pendDeny {
			return
		}
		if !st.batchFailed {
			ss.cw.buf = appendErrorResponse(ss.cw.buf, h.deny)
		}
		st.batchFailed = true
		ss.popHead()
	}
}

// currentExec is the execution whose results the head entry is receiving.
func (ss *session) currentExec(h *pending) *execution {
	switch h.kind {
	case pendQuery:
		if h.query.next < len(h.query.stmts) {
			return h.query.stmts[h.query.next]
		}
		// More results than statements: pgveil's analysis and Postgres
		// disagree. Attribute them to nothing known (strict masking).
		ex := &execution{d: ss.strictDecided(), lineage: unknownLineage, start: time.Now(), protocol: "simple", encodingUncertain: true}
		h.query.stmts = append(h.query.stmts, ex)
		return ex
	case pendExecute, pendFuncCall:
		return h.exec
	}
	return nil
}

func (ss *session) serverToClientInspect() error {
	defer ss.finishSuspended()
	defer ss.finishInterrupted()
	return ss.relayFromServer(ss.inspectFrame)
}

// finishInterrupted records, as the session ends, the statement whose
// results were coming when it ended (the client disconnected, or the
// session was killed mid-result): canceled, with the rows relayed so far.
// Without it a client could read and drop the connection to leave no
// audit record.
func (ss *session) finishInterrupted() {
	st := &ss.s2c
	if !st.hasHead {
		return
	}
	h := &st.head
	switch h.kind {
	case pendQuery:
		if h.query.next < len(h.query.stmts) {
			ss.finishExec(h.query.stmts[h.query.next], OutcomeCanceled, "", "")
		}
	case pendExecute, pendFuncCall:
		ss.finishExec(h.exec, OutcomeCanceled, "", "")
	}
}

// inspectFrame handles one upstream message of an inspecting session; done
// reports that the session ends.
func (ss *session) inspectFrame(typ byte, body []byte) (done bool, err error) {
	ur, cw := ss.ur, ss.cw
	st := &ss.s2c
	switch typ {
	case 'S': // ParameterStatus
		ss.noteParameter(body)
		cw.appendFrame(typ, body)
		return false, nil
	case 'N': // NoticeResponse
		ss.appendNotice(typ, body, ss.scrubFor(nil))
		return false, nil
	case 'A': // NotificationResponse
		ss.appendNotification(body)
		return false, nil
	case 'E':
		if isFatal(body) {
			ss.fatalSent.Store(true)
			ss.appendNotice(typ, body, ss.scrubAsync)
			return false, nil
		}
	}
	ss.emitDenials()
	h, err := ss.headEntry()
	if err != nil {
		ss.log.Error("protocol desynchronised; ending the session", "message", string(typ))
		ss.replyFatal(&ProtocolError{Code: codeProtocolViolation, Msg: "pgveil lost track of the protocol state; the session ends", Fatal: true, Err: err})
		return true, err
	}
	if err := ss.onResponse(typ, body, h); err != nil {
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			pe = &ProtocolError{Code: codeInternalError, Msg: "pgveil could not process a result; the session ends", Fatal: true, Err: err}
		}
		ss.log.Error("result processing failed; ending the session", "err", err)
		ss.replyFatal(pe)
		return true, err
	}
	if typ == 'Z' {
		st.batchFailed = false
		st.readyN++
		if len(body) > 0 && body[0] == 'I' {
			// Outside a transaction: what the statements before did is
			// visible to other sessions (schemaFreshness).
			ss.idleReadyAt.Store(time.Now().UnixNano())
			ss.idleReadyN.Store(st.readyN)
		}
		if ss.inflight.Add(-1) <= 0 && ss.cfg.IdleTimeout > 0 {
			ss.client.SetReadDeadline(time.Now().Add(ss.cfg.IdleTimeout))
		}
		if len(body) > 0 && body[0] == 'I' {
			ss.finishSuspended()
		}
		if ss.draining.Load() && ss.inflight.Load() <= 0 {
			ss.replyFatal(&ProtocolError{Code: codeAdminShutdown, Msg: "terminating connection because pgveil is shutting down", Fatal: true})
			return true, nil
		}
		if !ur.hasFrame() {
			if err := ss.flushClient(); err != nil {
				return true, err
			}
			cw.trim()
		}
		return false, nil
	}
	if cw.full() {
		if err := ss.flushClient(); err != nil {
			return true, err
		}
	}
	return false, nil
}

// onResponse handles one response message for the head entry h.
func (ss *session) onResponse(typ byte, body []byte, h *pending) error {
	cw := ss.cw
	forward := func() { cw.appendFrame(typ, body) }
	switch typ {
	case '1': // ParseComplete
		if h.kind != pendParse {
			return errDesync
		}
		ss.popHead()
		forward()
	case '2': // BindComplete
		if h.kind != pendBind {
			return errDesync
		}
		if h.portal != nil {
			h.portal.bound.Store(true)
		}
		ss.popHead()
		forward()
	case 't': // ParameterDescription
		if h.kind != pendDescribeS {
			return errDesync
		}
		forward()
	case 'T': // RowDescription
		fields, err := parseRowDescription(body)
		if err != nil {
			return upstreamViolation("malformed RowDescription")
		}
		switch h.kind {
		case pendDescribeS:
			if h.stmt != nil {
				h.stmt.fields = fields
			}
			ss.popHead()
		case pendDescribeP:
			h.portal.fields = fields
			internal := h.internal
			ss.popHead()
			if internal {
				return nil
			}
		case pendQuery, pendExecute:
			ex := ss.currentExec(h)
			if err := ss.startResult(ex, fields); err != nil {
				return err
			}
		default:
			return errDesync
		}
		forward()
	case 'n': // NoData
		if h.kind != pendDescribeS && h.kind != pendDescribeP {
			return errDesync
		}
		internal := h.internal
		ss.popHead()
		if !internal {
			forward()
		}
	case 'D': // DataRow
		ex := ss.currentExec(h)
		if ex == nil {
			return errDesync
		}
		return ss.appendDataRow(ex, h, body)
	case 'C', 'I': // CommandComplete, EmptyQueryResponse
		ex := ss.currentExec(h)
		if ex == nil {
			return errDesync
		}
		tag := ""
		if typ == 'C' {
			tag, _ = cstring(body)
		}
		ss.finishExec(ex, OutcomeOK, "", tag)
		ss.confirmCloses(ex.closes...)
		switch h.kind {
		case pendQuery:
			h.query.answered = true
			h.query.next++
		case pendExecute:
			if h.portal != nil {
				h.portal.run = nil
			}
			internal := h.internal
			ss.endEntry(h)
			if internal {
				return nil
			}
		}
		forward()
	case 's': // PortalSuspended
		if h.kind != pendExecute {
			return errDesync
		}
		if h.portal != nil && h.exec != nil && !h.exec.suspendedListed {
			h.exec.suspendedListed = true
			ss.s2c.suspended = append(ss.s2c.suspended, h.portal)
		}
		ss.popHead()
		forward()
	case '3': // CloseComplete
		if h.kind != pendClose {
			return errDesync
		}
		if h.close != nil {
			ss.confirmCloses(*h.close)
		}
		ss.popHead()
		forward()
	case 'Z': // ReadyForQuery
		switch h.kind {
		case pendQuery:
			if !h.query.answered {
				// Postgres answers every Query it runs before its
				// ReadyForQuery: this one answers a message pgveil
				// took to be ignored.
				return errDesync
			}
			for _, ex := range h.query.stmts[h.query.next:] {
				// Not run: an earlier statement of the string failed.
				ex.done = true
			}
		case pendSync, pendFuncCall:
			if h.kind == pendFuncCall {
				ss.finishExec(h.exec, OutcomeOK, "", "")
			}
		default:
			return errDesync
		}
		ss.endEntry(h)
		forward()
	case 'G', 'W': // CopyInResponse, CopyBothResponse
		if h.kind == pendQuery || h.kind == pendExecute {
			h.copyIns++
		}
		forward()
	case 'H': // CopyOutResponse
		ex := ss.currentExec(h)
		if ex == nil {
			return errDesync
		}
		if err := ss.startCopyOut(ex, body); err != nil {
			return err
		}
		forward()
	case 'd': // CopyData (COPY TO STDOUT)
		ex := ss.currentExec(h)
		if ex == nil {
			return errDesync
		}
		ex.rows++
		if ex.copyPlan != nil {
			var err error
			cw.buf, err = ex.copyPlan.AppendRow(cw.buf, body)
			return err
		}
		if !ex.copyOut && (ex.d == nil || !ex.d.revealAll) {
			return errors.New("COPY data before CopyOutResponse")
		}
		forward()
	case 'c': // CopyDone
		forward()
	case 'V': // FunctionCallResponse
		if h.kind != pendFuncCall {
			return errDesync
		}
		forward()
	case 'E': // ErrorResponse
		ex := ss.currentExec(h)
		code := errorField(body, 'C')
		if ex != nil {
			ss.finishExec(ex, OutcomeError, code, "")
			if h.kind == pendExecute && h.portal != nil {
				h.portal.run = nil
			}
		}
		// The error of pgveil's own Describe of a portal is the client's:
		// the portal does not exist, which its Execute would have said.
		swallow := (h.internal && h.kind != pendDescribeP) || (ss.s2c.batchFailed && h.kind != pendQuery && h.kind != pendFuncCall)
		if !swallow {
			scrub := ss.scrubFor(ex)
			if ex == nil && h.d != nil {
				scrub = !h.d.revealAll
			} else if ex == nil && h.portal != nil && h.portal.dec != nil {
				scrub = !h.portal.dec.revealAll
			}
			ss.appendNotice(typ, body, scrub)
		}
		switch h.kind {
		case pendQuery, pendFuncCall:
			// ReadyForQuery follows.
			if h.kind == pendQuery {
				h.query.answered = true
			}
		default:
			// Postgres skips everything up to Sync: up to one it reads
			// after the error, not one it ignored in copy-in mode.
			ss.s2c.batchFailed = true
			copied := h.copyIns > 0
			for {
				if h.kind != pendSync {
					ss.noteCopyEnd(h)
					ss.popHead()
				} else if copied && h.duringCopy {
					ss.dropSync()
				} else {
					break
				}
				var err error
				if h, err = ss.headEntry(); err != nil {
					// The Sync is not sent yet: the client is still
					// sending the batch. Nothing more is expected.
					return nil
				}
			}
		}
	default:
		forward()
	}
	return nil
}

// noteCopyEnd tells the client relay, as the entry h ends, how many of its
// COPY FROM STDIN statements never entered copy-in mode (an earlier error,
// a failed batch): no CopyDone will end them.
func (ss *session) noteCopyEnd(h *pending) {
	if h.copyFrom > h.copyIns {
		ss.copyUnstarted.Add(int64(h.copyFrom - h.copyIns))
	}
}

// endEntry removes the head entry h, whose response is complete, and after
// a statement that was in copy-in mode the Syncs the client sent while it
// was: Postgres ignored them.
func (ss *session) endEntry(h *pending) {
	copied := h.copyIns > 0
	ss.noteCopyEnd(h)
	ss.popHead()
	for copied {
		h, err := ss.headEntry()
		if err != nil || h.kind != pendSync || !h.duringCopy {
			return
		}
		ss.dropSync()
	}
}

// dropSync removes the head entry, a Sync Postgres ignored in copy-in
// mode: no ReadyForQuery answers it.
func (ss *session) dropSync() {
	ss.inflight.Add(-1)
	ss.s2c.readyN++
	ss.popHead()
}

// startResult compiles the plan for a result whose RowDescription just
// arrived (simple protocol) or is known from a Describe (extended).
func (ss *session) startResult(ex *execution, fields []fieldDesc) error {
	if ex.d == nil || ex.d.revealAll {
		ex.plan = nil
		if ex.d != nil && ss.cfg.Tracer != nil && ex.d.personal {
			// Nothing to mask, but the audit record names the subjects
			// whose rows are read (planColumns finds their key columns).
			if _, err := ss.planColumns(ex, fields); err != nil {
				return err
			}
		}
		return nil
	}
	plan, err := ss.compilePlan(ex, fields)
	if err != nil {
		return err
	}
	ex.plan = plan
	return nil
}

func (ss *session) appendDataRow(ex *execution, h *pending, body []byte) error {
	if ex.plan == nil && !ex.planned && ex.d != nil && (!ex.d.revealAll || ss.cfg.Tracer != nil && ex.d.personal) {
		// Extended protocol: the shape comes from a Describe.
		if err := ss.startResult(ex, ss.executeFields(h, body)); err != nil {
			return err
		}
	}
	ex.planned = true
	ex.rows++
	if len(ex.subjectCols) > 0 {
		ex.subjects.pool = &ss.s2c.seenPool
		ex.subjects.addRow(body, ex.subjectCols)
	}
	if ex.plan == nil {
		return ss.cw.appendFrame('D', body)
	}
	var err error
	ss.cw.buf, err = ex.plan.AppendDataRow(ss.cw.buf, body)
	if err != nil {
		return fmt.Errorf("mask row: %w", err)
	}
	return nil
}

// executeFields returns the fields of the rows an Execute produces: from a
// Describe of the portal, or of its statement with the Bind's formats, or,
// when neither is known, untyped fields counted from the first row (every
// masked value is then NULL, which is valid for any type).
func (ss *session) executeFields(h *pending, row []byte) []fieldDesc {
	if h.portal != nil {
		if h.portal.fields != nil {
			return h.portal.fields
		}
		if sf := h.portal.stmt.fields; sf != nil {
			fields := append([]fieldDesc(nil), sf...)
			for i := range fields {
				fields[i].format = formatAt(h.portal.formats, i)
			}
			return fields
		}
	}
	n := 0
	if len(row) >= 2 {
		n = int(binary.BigEndian.Uint16(row))
	}
	fields := make([]fieldDesc, n)
	var formats []int16
	if h.portal != nil {
		formats = h.portal.formats
	}
	for i := range fields {
		fields[i].format = formatAt(formats, i)
	}
	return fields
}

func formatAt(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	if i < len(formats) {
		return formats[i]
	}
	return 0
}

// startCopyOut compiles the COPY plan from the statement's lineage: COPY
// sends no RowDescription, so column types come from the schema for direct
// column copies and are unknown otherwise (masked values are then NULL).
func (ss *session) startCopyOut(ex *execution, body []byte) error {
	ex.copyOut = true
	if ex.d == nil || ex.d.revealAll {
		return nil
	}
	if len(body) < 3 {
		return upstreamViolation("malformed CopyOutResponse")
	}
	n := int(binary.BigEndian.Uint16(body[1:]))
	lin := ex.lineage
	fields := make([]fieldDesc, n)
	if lin != nil && len(lin.Outputs) == n {
		snap := ss.cfg.Schema.Current()
		for i, o := range lin.Outputs {
			if o.Direct && len(o.Sources) == 1 {
				fields[i].typeOID = columnType(snap, o.Sources[0])
			}
		}
	}
	cols, err := ss.planColumns(ex, fields)
	if err != nil {
		return err
	}
	kind := rules.CopyText
	switch {
	case body[0] == 1:
		kind = rules.CopyBinary
	case ex.lineage != nil && ex.lineage.CopyFormat == "csv", ex.d.st.CopyFormat == "csv":
		kind = rules.CopyCSV
	}
	f := rules.NewCopyFormat(kind)
	if o := copyOptionsOf(ex); o != nil {
		applyCopyOptions(&f, o)
	}
	plan, err := rules.CompileCopy(cols, f, rules.PlanOptions{HashKey: ss.cfg.HashKey})
	if err != nil {
		return &ProtocolError{Code: codeInsufficientPriv, Msg: "pgveil cannot mask this COPY output; the session ends", Fatal: true, Err: err}
	}
	if !plan.Passthrough() {
		if kind != rules.CopyBinary && ss.encodingUnsafe.Load() {
			return &ProtocolError{Code: codeInsufficientPriv, Fatal: true,
				Msg:  "pgveil cannot mask COPY output in client encoding " + ss.s2c.clientEncoding + "; the session ends",
				Hint: "Use client_encoding UTF8 for COPY of personal data."}
		}
		if kind != rules.CopyBinary && ex.encodingUncertain {
			return &ProtocolError{Code: codeInsufficientPriv, Fatal: true,
				Msg:  "pgveil cannot mask COPY output right after a statement that may change client_encoding; the session ends",
				Hint: "Wait for that statement's result before a COPY of personal data."}
		}
		ex.copyPlan = plan
		ex.maskedPerRow = countMasked(cols)
	}
	return nil
}

func copyOptionsOf(ex *execution) *rules.CopyOptions {
	for _, st := range []*rules.Statement{ex.lineage, ex.d.st} {
		if st != nil && st.CopyOptions != nil {
			return st.CopyOptions
		}
	}
	return nil
}

func applyCopyOptions(f *rules.CopyFormat, o *rules.CopyOptions) {
	if o.Delimiter != "" {
		f.Delimiter = o.Delimiter[0]
	}
	if o.Null != nil {
		f.Null = *o.Null
	}
	if o.Quote != "" {
		f.Quote = o.Quote[0]
	}
	if o.Escape != "" {
		f.Escape = o.Escape[0]
	} else if o.Quote != "" {
		f.Escape = o.Quote[0]
	}
	f.Header = o.Header
}

// finishExec closes one statement's run: the audit record and the
// operations metrics.
func (ss *session) finishExec(ex *execution, outcome, code, tag string) {
	if ex == nil || ex.done {
		return
	}
	ex.done = true
	d := time.Since(ex.start)
	if ex.maskedPerRow > 0 && ex.rows > 0 {
		ss.srv.stats.maskedRows.Add(ex.rows)
		ss.srv.stats.maskedValues.Add(ex.rows * int64(ex.maskedPerRow))
	}
	kind := rules.KindUnknown
	if ex.d != nil && ex.d.st != nil {
		kind = ex.d.st.Kind
	}
	if ss.cfg.Observer != nil {
		ss.cfg.Observer.ObserveStatement(kind, outcome, d)
	}
	if ss.cfg.Tracer == nil || ex.d == nil || !ex.d.personal {
		return
	}
	ev := ss.newEvent(ex.d, nil, ex.start)
	ev.Duration = d
	ev.Outcome, ev.SQLState = outcome, code
	ev.Protocol = ex.protocol
	word, n := parseTag(tag)
	ev.CommandTag = word
	switch word {
	case "SELECT", "FETCH", "COPY", "MOVE":
		ev.RowsReturned = ex.rows
		if word == "COPY" && ex.d.st.Kind == rules.KindCopyFrom {
			ev.RowsAffected, ev.RowsReturned = n, 0
		}
	case "":
		ev.RowsReturned = ex.rows
	default:
		ev.RowsAffected = n
		ev.RowsReturned = ex.rows // RETURNING
	}
	ev.SubjectKeys, ev.SubjectCount, ev.SubjectTables = ex.subjects.result()
	ss.cfg.Tracer.TraceStatement(context.Background(), ev)
}

// finishSuspended records the portal runs left suspended when their
// transaction ended or the session closed.
func (ss *session) finishSuspended() {
	for _, p := range ss.s2c.suspended {
		if p.run != nil {
			ss.finishExec(p.run, OutcomeOK, "", "")
			p.run = nil
		}
	}
	ss.s2c.suspended = ss.s2c.suspended[:0]
}

// parseTag splits a command tag ("INSERT 0 5", "SELECT 3") into its command
// word and its row count.
func parseTag(tag string) (string, int64) {
	if tag == "" {
		return "", 0
	}
	word, rest, _ := strings.Cut(tag, " ")
	if i := strings.LastIndexByte(rest, ' '); i >= 0 {
		rest = rest[i+1:]
	}
	n, _ := strconv.ParseInt(rest, 10, 64)
	if word == "CREATE" || word == "ALTER" || word == "DROP" {
		return tag, 0
	}
	return word, n
}

// parseRowDescription decodes a RowDescription body.
func parseRowDescription(b []byte) ([]fieldDesc, error) {
	if len(b) < 2 {
		return nil, errBadLength
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	fields := make([]fieldDesc, n)
	for i := range fields {
		name, rest, ok := cstringNext(b)
		if !ok || len(rest) < 18 {
			return nil, errBadLength
		}
		fields[i] = fieldDesc{
			name:     name,
			tableOID: binary.BigEndian.Uint32(rest),
			attNum:   int16(binary.BigEndian.Uint16(rest[4:])),
			typeOID:  binary.BigEndian.Uint32(rest[6:]),
			typeMod:  int32(binary.BigEndian.Uint32(rest[12:])),
			format:   int16(binary.BigEndian.Uint16(rest[16:])),
		}
		b = rest[18:]
	}
	return fields, nil
}

// errorField returns one field of an ErrorResponse or NoticeResponse body.
func errorField(body []byte, code byte) string {
	for len(body) > 1 && body[0] != 0 {
		f := body[0]
		v, rest, ok := cstringNext(body[1:])
		if !ok {
			return ""
		}
		if f == code {
			return v
		}
		body = rest
	}
	return ""
}

// columnType returns the type OID of a base column, or 0 when unknown.
func columnType(snap *analyze.Snapshot, ref rules.ColumnRef) uint32 {
	schema, table, _ := strings.Cut(ref.Table, ".")
	for _, r := range snap.Schema().Relations {
		if r.Schema != schema || r.Name != table {
			continue
		}
		for _, c := range r.Columns {
			if c.Name == ref.Column {
				return c.TypeOID
			}
		}
	}
	return 0
}
