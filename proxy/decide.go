package proxy

import (
	"context"
	"strings"
	"time"

	"github.com/pgveil/pgveil/rules"
)

// codeAuditUnavailable answers personal-data statements while the audit
// trail cannot be written (audit.on_failure: deny). 58000 is system_error:
// the request was fine, the system is not; retrying later will work.
const codeAuditUnavailable = "58000"

// namedLineage returns, for EXECUTE and FETCH, the statement they run now
// (for decisions) and the lineage of its rows: the prepared statement or
// cursor the name denotes at this moment. Others: st itself.
func (ss *session) namedLineage(st *rules.Statement) (eff, lineage *rules.Statement) {
	switch st.Kind {
	case rules.KindExecute:
		if ps := ss.in.prepared[st.Prepared]; ps != nil && ps.st != nil {
			eff, lineage = ps.st, ps.lineage
			if ss.staleSince(ps.asOf) {
				// Planned again by Postgres after a schema change.
				lineage = unknownLineage
			}
			return eff, lineage
		}
		return unknownLineage, unknownLineage
	case rules.KindFetch:
		// SQL cursors and protocol portals share one namespace in
		// Postgres, and pgveil may still know a name whose object ended
		// with its transaction: the rows are of whichever it denotes.
		var lin *rules.Statement
		if c := ss.in.cursors[st.Cursor]; c != nil {
			lin = c.lineage
		}
		if p := ss.in.portals[st.Cursor]; p != nil && st.Cursor != "" {
			if lin == nil {
				lin = p.stmt.lineage
			} else {
				lin = mergeLineage(lin, p.stmt.lineage)
			}
		}
		if lin == nil {
			return unknownLineage, unknownLineage
		}
		return lin, lin
	}
	return st, st
}

// decideStatement resolves what data st gives the client, asks the policy,
// and applies the proxy's own fail-closed rules. It returns the decision,
// the statement whose Outputs describe the rows (for EXECUTE and FETCH, the
// prepared statement or cursor they name), or the refusal.
func (ss *session) decideStatement(st *rules.Statement, text string) (*decided, *rules.Statement, *ProtocolError) {
	ss.srv.stats.statements.Add(1)
	eff, lineage := ss.namedLineage(st)
	if lineage == nil {
		lineage = unknownLineage
	}
	opaque := eff.Opaque || st.Opaque

	dec, err := ss.cfg.Decider.Decide(context.Background(), &ss.id, eff)
	d := &decided{st: eff, dec: dec}
	snap := ss.cfg.Schema.Current()
	cat := ss.catalog()
	d.columns = ss.auditColumns(eff, &dec)
	d.personal = len(d.columns) > 0 || opaque || eff.CatalogData
	if ss.cfg.Tracer != nil && d.personal {
		d.traceParent = traceParent(text)
	}
	if err != nil {
		ss.log.Warn("policy evaluation failed; statement refused", "err", err, "summary", eff.Summary)
		ss.srv.stats.deniedPolicy.Add(1)
		return d, nil, &ProtocolError{Code: codeInsufficientPriv,
			Msg:  "pgveil refused the statement: the policy could not be evaluated",
			Hint: "Try again; if it persists, ask your security team to check pgveil's policy."}
	}
	if !dec.Allow {
		ss.srv.stats.deniedPolicy.Add(1)
		reason := dec.Reason
		if reason == "" {
			reason = "not allowed for this identity"
		}
		return d, nil, &ProtocolError{Code: codeInsufficientPriv, Msg: "pgveil policy refused the statement: " + reason}
	}
	d.revealAll = dec.RevealsAll(cat)
	if !d.revealAll {
		if pe := ss.checkFailClosed(st, eff, opaque, &dec); pe != nil {
			ss.srv.stats.deniedOpaque.Add(1)
			return d, nil, pe
		}
	} else if ss.filtered(&dec) && (opaque || eff.CatalogData) {
		// An identity that sees everything unmasked but not every row
		// (restriction, row filters): code the rewrite cannot reach, and
		// catalog views that hold values of every row, would show the
		// hidden rows.
		ss.srv.stats.deniedOpaque.Add(1)
		return d, nil, &ProtocolError{Code: codeInsufficientPriv,
			Msg:  "pgveil cannot hide restricted or filtered rows from this statement (DO blocks, user functions, dynamic SQL and catalog views that hold data values are not filtered), so it is refused while rows are hidden from you",
			Hint: "Rewrite it as plain SQL over tables and views, ask your security team to trust the functions it calls, or ask your data protection officer."}
	}
	if d.personal && ss.cfg.Tracer != nil {
		if err := ss.cfg.Tracer.Ready(); err != nil {
			ss.srv.stats.deniedAudit.Add(1)
			return d, nil, &ProtocolError{Code: codeAuditUnavailable, Msg: err.Error(),
				Hint: "Statements without personal data still run. Retry once the audit trail is back."}
		}
	}
	_ = snap
	return d, lineage, nil
}

// filtered reports whether rows are hidden from the identity now: row
// filters, or restriction with some subject restricted.
func (ss *session) filtered(dec *rules.Decision) bool {
	return len(dec.RowFilters) > 0 || ss.restricts(dec, false)
}

// checkFailClosed refuses, for identities that do not see everything, the
// statements whose data flow pgveil cannot prove safe.
func (ss *session) checkFailClosed(st, eff *rules.Statement, opaque bool, dec *rules.Decision) *ProtocolError {
	switch {
	case opaque:
		reason := eff.OpaqueReason
		if st.Opaque && st.OpaqueReason != "" {
			reason = st.OpaqueReason
		}
		if reason == "" {
			reason = "its data flow cannot be analysed"
		}
		return &ProtocolError{Code: codeInsufficientPriv,
			Msg:  "pgveil cannot verify what data this statement reads (" + reason + "), so it is refused for identities whose personal data is masked",
			Hint: "Rewrite it as plain SQL over tables and views (no DO blocks, user functions or dynamic SQL), or ask for access through your data protection officer."}
	case eff.CatalogData:
		return &ProtocolError{Code: codeInsufficientPriv,
			Msg:  "pgveil refuses catalog views that hold data values (pg_stats, pg_stat_activity and the like) for identities whose personal data is masked",
			Hint: "Query the tables themselves; their personal data is masked for you."}
	}
	if eff.ServerCopy || eff.Kind == rules.KindCreateView {
		for _, c := range eff.Columns {
			if c.Uses&rules.UseCopy == 0 {
				continue
			}
			category, ok := ss.cfg.Schema.Current().Category(c.ColumnRef)
			if !ok {
				continue
			}
			if m := dec.MaskFor(c.ColumnRef, category); !m.IsPass() {
				return &ProtocolError{Code: codeInsufficientPriv,
					Msg:  "pgveil refuses to copy personal data you may only see masked into server-side storage (" + c.Table + "." + c.Column + ")",
					Hint: "Select the data instead: it is returned to you masked."}
			}
		}
	}
	// In text format Postgres writes a value equal to a chosen NULL string
	// as it is, like a NULL: pgveil cannot tell them apart, so a guess given
	// as the NULL string would come back unmasked where it is the value.
	customNull := eff.CopyFormat == "text" && eff.CopyOptions != nil && eff.CopyOptions.Null != nil && *eff.CopyOptions.Null != `\N`
	if eff.Kind == rules.KindCopyTo && (eff.CopyFormat == "binary" || customNull) {
		for _, c := range eff.Columns {
			if c.Uses&rules.UseOutput == 0 {
				continue
			}
			if category, ok := ss.cfg.Schema.Current().Category(c.ColumnRef); ok && !dec.MaskFor(c.ColumnRef, category).IsPass() {
				if customNull {
					return &ProtocolError{Code: codeInsufficientPriv,
						Msg:  "pgveil refuses text COPY output with a NULL string of your choice when it holds personal data you may only see masked",
						Hint: "Leave NULL at its default, or use CSV format."}
				}
				return &ProtocolError{Code: codeInsufficientPriv,
					Msg:  "pgveil cannot mask binary COPY output; it is refused because it holds personal data you may only see masked",
					Hint: "Use COPY ... TO STDOUT in text or CSV format: masked columns are rewritten in those formats."}
			}
		}
	}
	return nil
}

// auditColumns lists the classified columns st touches, with what the
// identity gets for each.
func (ss *session) auditColumns(st *rules.Statement, dec *rules.Decision) []AuditColumn {
	snap := ss.cfg.Schema.Current()
	var out []AuditColumn
	for _, c := range st.Columns {
		category, ok := snap.Category(c.ColumnRef)
		if !ok {
			continue
		}
		ac := AuditColumn{ColumnRef: c.ColumnRef, Category: category, Uses: c.Uses}
		if c.Uses&rules.UseOutput != 0 {
			ac.Mask = dec.MaskFor(c.ColumnRef, category).String()
		}
		out = append(out, ac)
	}
	return out
}

// strictDecided is the decision used for rows pgveil cannot attribute to a
// decided statement: every classified column gets its default mask.
func (ss *session) strictDecided() *decided {
	return &decided{st: unknownLineage, dec: rules.Decision{Allow: true}, personal: true}
}

func (ss *session) catalog() *rules.Catalog {
	if ss.cfg.Rules == nil {
		return nil
	}
	return ss.cfg.Rules()
}

// traceParent extracts a W3C traceparent from a sqlcommenter comment
// (/*traceparent='00-<trace>-<span>-<flags>'*/) in the statement text.
func traceParent(text string) string {
	i := strings.Index(text, "traceparent=")
	if i < 0 {
		return ""
	}
	v := text[i+len("traceparent="):]
	if len(v) > 0 && (v[0] == '\'' || v[0] == '"') {
		v = v[1:]
	}
	const l = 55 // 2 + 1 + 32 + 1 + 16 + 1 + 2
	if len(v) < l {
		return ""
	}
	v = v[:l]
	for i := 0; i < l; i++ {
		c := v[i]
		switch i {
		case 2, 35, 52:
			if c != '-' {
				return ""
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return ""
			}
		}
	}
	return v
}

// newEvent starts an audit event for a decided statement.
func (ss *session) newEvent(d *decided, st *rules.Statement, start time.Time) *StatementEvent {
	if st == nil && d != nil {
		st = d.st
	}
	ev := &StatementEvent{
		Identity:      &ss.id,
		Statement:     st,
		Start:         start,
		ServerAddress: ss.cfg.Upstream,
	}
	if d != nil {
		dec := d.dec
		ev.Decision = &dec
		ev.Columns = d.columns
		ev.TraceParent = d.traceParent
	}
	return ev
}
