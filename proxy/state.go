package proxy

import (
	"sync/atomic"
	"time"

	"github.com/pgveil/pgveil/rules"
)

// Extended-protocol and result bookkeeping for inspecting sessions (those
// with a Decider). Pass-through sessions use none of it.
//
// Ownership. The client relay (c2s) creates every object here and owns the
// name maps (prepared statements, portals, cursors). It hands objects to the
// server relay (s2c) only through the pending FIFO, a channel, which orders
// every write c2s made before the hand-off before every read s2c makes after
// it. Fields documented "s2c" are written and read only by the server relay
// after the hand-off; c2s never reads them.

// pendingCap bounds the FIFO of responses the server relay expects. When it
// is full the client relay blocks, stops reading its socket, and TCP pushes
// back on the client.
const pendingCap = 4096

type pendKind uint8

const (
	pendQuery     pendKind = iota + 1 // simple Query: results then ReadyForQuery
	pendParse                         // ParseComplete
	pendBind                          // BindComplete
	pendDescribeS                     // ParameterDescription + RowDescription | NoData
	pendDescribeP                     // RowDescription | NoData
	pendExecute                       // rows + CommandComplete | PortalSuspended | EmptyQuery | copy
	pendClose                         // CloseComplete
	pendSync                          // ReadyForQuery
	pendFuncCall                      // FunctionCallResponse then ReadyForQuery
	pendDeny                          // pgveil's own ErrorResponse, sent when reached
)

// pending is one response (or response sequence) the server relay expects,
// in request order.
type pending struct {
	kind pendKind
	// internal marks a message pgveil injected: its response is consumed,
	// not forwarded (ReadyForQuery excepted, when it answers the client's
	// own Query or Sync).
	internal bool
	query    *queryExec    // pendQuery
	stmt     *preparedStmt // pendParse, pendDescribeS
	portal   *portal       // pendBind, pendDescribeP, pendExecute
	exec     *execution    // pendExecute, pendFuncCall
	deny     *ProtocolError
	// d is the decision of the statement a Parse or Bind concerns: it says
	// whether an error in answer to it is scrubbed.
	d *decided
	// close is the removal a Close asks for, applied once Postgres
	// confirms it (CloseComplete).
	close *closeEvent
	// duringCopy marks a Sync sent while a COPY FROM STDIN may be taking
	// data: Postgres ignores Sync in copy-in mode, so if the COPY before it
	// did enter that mode (copyIns > 0), no ReadyForQuery answers it.
	duringCopy bool
	// copyFrom is the number of COPY FROM STDIN statements the message
	// runs (c2s); copyIns the number that entered copy-in mode
	// (CopyInResponse, s2c).
	copyFrom, copyIns int
}

// preparedStmt is a prepared statement, by protocol Parse or SQL PREPARE
// (they share one namespace in Postgres).
type preparedStmt struct {
	st *rules.Statement // the prepared query's analysis, for decisions
	// lineage describes its rows: st itself, or for EXECUTE/FETCH the
	// statement they name, or a merge when the name may denote either of
	// two statements.
	lineage *rules.Statement
	// traceParent is the W3C traceparent of a sqlcommenter comment in the
	// prepared text, for the audit records of its executions.
	traceParent string
	// described: a Describe of this statement (or of a portal on it) was
	// sent, so its fields will be known by the time rows arrive. c2s.
	described bool
	// fields from the response to Describe S. s2c.
	fields []fieldDesc
	// asOf is when the schema its analysis used was loaded; zero if the
	// session's own schema changes were not in it (schemaFreshness).
	asOf time.Time
	// text is the Parse text, to analyze again after a schema change.
	text string
}

// portal is a bound portal.
type portal struct {
	stmt    *preparedStmt
	formats []int16 // result format codes from Bind (0, 1 or n entries)
	dec     *decided
	// described: a Describe P was sent for it. c2s.
	described bool
	// fields from the response to Describe P. s2c.
	fields []fieldDesc
	// run is the execution in progress across Executes of a suspended
	// portal. s2c.
	run *execution
	// bindReady is the readySent number of the ReadyForQuery that ends
	// the Bind's batch (c2s); bound is set when Postgres confirmed the
	// Bind (BindComplete, s2c). A Bind that failed leaves Postgres's
	// earlier portal of the name in place.
	bindReady int64
	bound     atomic.Bool
}

// decided is a statement with its decision and what follows from it.
type decided struct {
	st        *rules.Statement
	dec       rules.Decision
	revealAll bool // the decision masks nothing
	// personal: the statement touches classified columns (or cannot be
	// analysed), so it is audited.
	personal bool
	columns  []AuditColumn
	// traceParent is the W3C traceparent of a sqlcommenter comment.
	traceParent string
}

// queryExec is one simple-protocol Query: a statement per result.
type queryExec struct {
	stmts []*execution
	next  int // index of the statement whose results come next (s2c)
	// answered: Postgres sent CommandComplete, EmptyQueryResponse or an
	// ErrorResponse for it; a ReadyForQuery before that answers another
	// message (s2c).
	answered bool
}

// execution is the run of one statement: its result stream and its audit
// record. Created by c2s, completed by s2c.
type execution struct {
	d *decided
	// closes are the removals a DEALLOCATE, CLOSE or DISCARD asks for,
	// applied once Postgres completes it.
	closes []closeEvent
	// lineageFor is the statement whose Outputs describe the rows: the
	// statement itself, or for EXECUTE and FETCH the prepared statement or
	// cursor query they name.
	lineage  *rules.Statement
	start    time.Time
	protocol string
	// encodingUncertain: when the statement was forwarded, an earlier one
	// that may change client_encoding had no ReadyForQuery back yet, so
	// its rows may come in an encoding pgveil has not been told about
	// (see encodingUncertain).
	encodingUncertain bool

	// s2c state:
	plan         *rules.Plan
	copyPlan     *rules.CopyPlan
	copyOut      bool
	rows         int64
	maskedPerRow int
	subjects     subjectCollector
	subjectCols  []int
	planned      bool // the plan for the current result was decided
	done         bool // the audit record was written
	// suspendedListed: the portal run is on the list of suspended runs.
	suspendedListed bool
}

// fieldDesc is one RowDescription field.
type fieldDesc struct {
	name     string
	tableOID uint32
	attNum   int16
	typeOID  uint32
	typeMod  int32
	format   int16
}

// closeEvent is the removal of a name from the inspector's maps: 'S' a
// prepared statement, 'P' a portal, 'c' a SQL cursor. entry is the object
// the name denoted when the removal was sent: a name defined again since
// then keeps its (merged) entry.
type closeEvent struct {
	kind  byte
	name  string
	entry any
}
