package analyze

import (
	"slices"
	"strings"
	"unicode"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pgveil/pgveil/rules"
)

// result is one analyzed statement plus what the engine learned on the
// way that the contract type does not carry.
type result struct {
	st *rules.Statement
	e  *engine
	op string
}

// analyzeNode analyzes one parsed statement (no text fields).
func analyzeNode(s *Snapshot, n *pg.Node, inView bool) result {
	e := newEngine(s)
	e.inView = inView
	st := &rules.Statement{}
	op := e.statement(n, st)
	e.backstop(n)
	e.finish(st)
	st.Summary = summary(op, e.summary)
	return result{st: st, e: e, op: op}
}

// backstop walks the whole statement, including parts the lineage analysis
// does not evaluate (DDL expressions, index definitions, defaults), for
// calls that make it opaque, catalog data relations and parameters.
func (e *engine) backstop(n *pg.Node) {
	walkMessages(n, func(m protoreflect.ProtoMessage) {
		if tn, ok := m.(*pg.TypeName); ok {
			// Every use of a type, not only casts: column definition
			// lists, XMLTABLE and JSON_TABLE columns, array types.
			if e.snap.typeUntrusted(tn) {
				_, name := qualifiedName(tn.GetNames())
				e.markOpaque("uses type " + name + ", which runs user code")
			}
			return
		}
		x, ok := m.(*pg.Node)
		if !ok {
			return
		}
		switch v := x.Node.(type) {
		case *pg.Node_FuncCall:
			schema, name := qualifiedName(v.FuncCall.Funcname)
			switch kind, reason := e.snap.funcClass(schema, name); kind {
			case funcOpaque:
				e.markOpaque(reason)
			case funcCatalogData:
				e.markOpaque(reason)
				e.catalogData = true
			case funcSetConfig:
				if e.settingMaybe(v.FuncCall.Args, "client_encoding") {
					e.changesEncoding = true
				}
			}
		case *pg.Node_VariableSetStmt:
			if v.VariableSetStmt.Kind == pg.VariableSetKind_VAR_RESET_ALL || strings.EqualFold(v.VariableSetStmt.Name, "client_encoding") {
				e.changesEncoding = true
			}
		case *pg.Node_DiscardStmt:
			if v.DiscardStmt.Target == pg.DiscardMode_DISCARD_ALL {
				e.changesEncoding = true
			}
		case *pg.Node_TransactionStmt:
			// Ending a transaction or rolling back to a savepoint reverts
			// the SET (and SET LOCAL) done inside it.
			switch v.TransactionStmt.Kind {
			case pg.TransactionStmtKind_TRANS_STMT_COMMIT, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK,
				pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO, pg.TransactionStmtKind_TRANS_STMT_PREPARE:
				e.changesEncoding = true
			}
		case *pg.Node_AExpr:
			if e.snap.opUntrusted(v.AExpr.Name) {
				_, op := qualifiedName(v.AExpr.Name)
				e.markOpaque("uses user-defined operator " + op)
			}
		case *pg.Node_TypeCast:
			if e.snap.typeUntrusted(v.TypeCast.TypeName) {
				_, name := qualifiedName(v.TypeCast.TypeName.GetNames())
				e.markOpaque("casts to type " + name + ", which runs user code")
			}
		case *pg.Node_RangeVar:
			if isCatalogDataRelation(v.RangeVar.Schemaname, v.RangeVar.Relname) {
				e.catalogData = true
			}
		case *pg.Node_ParamRef:
			if !e.noParams {
				e.param(v.ParamRef.Number)
			}
		}
	})
}

// settingMaybe reports whether set_config(args...) may set the named
// setting: its first argument is that name or not a constant.
func (e *engine) settingMaybe(args []*pg.Node, name string) bool {
	if len(args) == 0 {
		return true
	}
	c := args[0].GetAConst()
	if c == nil {
		return true
	}
	e.consult(c)
	s, ok := c.Val.(*pg.A_Const_Sval)
	return !ok || strings.EqualFold(strings.TrimSpace(s.Sval.GetSval()), name)
}

// finish copies the engine's bookkeeping into st.
func (e *engine) finish(st *rules.Statement) {
	st.Tables = make([]string, 0, len(e.tables))
	for t := range e.tables {
		st.Tables = append(st.Tables, t)
	}
	slices.Sort(st.Tables)
	st.Columns = make([]rules.ColumnUse, 0, len(e.uses))
	for ref, u := range e.uses {
		if u != 0 {
			st.Columns = append(st.Columns, rules.ColumnUse{ColumnRef: ref, Uses: u})
		}
	}
	slices.SortFunc(st.Columns, func(a, b rules.ColumnUse) int { return compareRef(a.ColumnRef, b.ColumnRef) })
	if len(e.opaque) > 0 {
		st.Opaque = true
		st.OpaqueReason = strings.Join(e.opaque, "; ")
	}
	st.CatalogData = st.CatalogData || e.catalogData
	st.ChangesEncoding = st.ChangesEncoding || e.changesEncoding
	st.ServerCopy = st.ServerCopy || e.serverCopy
	if e.params > st.Params {
		st.Params = e.params
	}
}

// setOutputs fills st.Outputs from a result shape and records use on their
// sources. An unknown shape leaves Outputs nil: "cannot tell".
func (e *engine) setOutputs(st *rules.Statement, sh shape, use rules.Use) {
	for _, c := range sh.cols {
		e.use(c.lin, use)
	}
	if sh.unknownShape {
		st.Outputs = nil
		return
	}
	st.Outputs = make([]rules.Output, len(sh.cols))
	for i, c := range sh.cols {
		st.Outputs[i] = rules.Output{Name: c.name, Sources: c.lin.srcs, Direct: c.lin.direct && !c.lin.unknown, Unknown: c.lin.unknown,
			Probe: c.lin.probe && c.lin.classified}
	}
}

// inner analyzes an embedded statement (PREPARE, DECLARE, EXPLAIN, CREATE
// TABLE AS, CREATE VIEW, COPY (query)) and folds what it touches into the
// outer statement. outputUse replaces UseOutput on the inner's columns
// (0 drops it).
func (e *engine) inner(n *pg.Node, outputUse rules.Use, inheritCopy bool) *rules.Statement {
	r := analyzeNode(e.snap, n, e.inView)
	for _, c := range r.st.Columns {
		u := c.Uses
		if u&rules.UseOutput != 0 {
			u = u&^rules.UseOutput | outputUse
		}
		if u != 0 {
			e.uses[c.ColumnRef] |= u
		}
	}
	for t := range r.e.tables {
		e.tables[t] = true
	}
	for _, t := range r.e.summary {
		e.addTable(t, true)
	}
	for _, o := range r.e.opaque {
		e.markOpaque(o)
	}
	e.catalogData = e.catalogData || r.e.catalogData
	e.changesEncoding = e.changesEncoding || r.e.changesEncoding
	e.consulted = append(e.consulted, r.e.consulted...)
	e.unknownRel = e.unknownRel || r.e.unknownRel
	if inheritCopy {
		e.serverCopy = e.serverCopy || r.st.ServerCopy
	}
	e.param(int32(r.e.params))
	return r.st
}

// statement analyzes one top-level statement into st and returns the
// operation name for the summary.
func (e *engine) statement(n *pg.Node, st *rules.Statement) string {
	if n == nil || n.Node == nil {
		st.Kind = rules.KindEmpty
		return ""
	}
	switch x := n.Node.(type) {
	case *pg.Node_SelectStmt:
		s := x.SelectStmt
		if into := selectInto(s); into != nil {
			st.Kind = rules.KindCreateTableAs
			sh := e.selectStmt(nil, nil, s)
			for _, c := range sh.cols {
				e.copyOut(c.lin, lineage{})
			}
			e.serverCopy = true
			if into.Rel != nil {
				e.addTable(rangeVarName(into.Rel), false)
			}
			return "SELECT INTO"
		}
		st.Kind = rules.KindSelect
		st.Returns = true
		e.setOutputs(st, e.selectStmt(nil, nil, s), rules.UseOutput)
		return "SELECT"
	case *pg.Node_InsertStmt:
		st.Kind = rules.KindInsert
		sh := e.insert(nil, nil, x.InsertStmt)
		e.returning(st, sh, len(x.InsertStmt.ReturningList) > 0)
		return "INSERT"
	case *pg.Node_UpdateStmt:
		st.Kind = rules.KindUpdate
		sh := e.update(nil, nil, x.UpdateStmt)
		e.returning(st, sh, len(x.UpdateStmt.ReturningList) > 0)
		return "UPDATE"
	case *pg.Node_DeleteStmt:
		st.Kind = rules.KindDelete
		sh := e.delete(nil, nil, x.DeleteStmt)
		e.returning(st, sh, len(x.DeleteStmt.ReturningList) > 0)
		return "DELETE"
	case *pg.Node_MergeStmt:
		st.Kind = rules.KindMerge
		sh := e.merge(nil, nil, x.MergeStmt)
		e.returning(st, sh, len(x.MergeStmt.ReturningList) > 0)
		return "MERGE"
	case *pg.Node_CopyStmt:
		return e.copyStmt(x.CopyStmt, st)
	case *pg.Node_CreateTableAsStmt:
		c := x.CreateTableAsStmt
		op := "CREATE TABLE AS"
		st.Kind = rules.KindCreateTableAs
		if c.Objtype == pg.ObjectType_OBJECT_MATVIEW {
			st.Kind = rules.KindCreateView
			op = "CREATE MATERIALIZED VIEW"
		}
		if c.Into != nil && c.Into.Rel != nil {
			e.addTable(rangeVarName(c.Into.Rel), false)
		}
		if c.Query.GetExecuteStmt() != nil {
			e.markOpaque("copies the result of a prepared statement")
		}
		st.Inner = e.inner(c.Query, rules.UseCopy, true)
		st.ServerCopy = true
		return op
	case *pg.Node_ViewStmt:
		st.Kind = rules.KindCreateView
		e.addTable(rangeVarName(x.ViewStmt.View), false)
		st.Inner = e.inner(x.ViewStmt.Query, rules.UseCopy, true)
		st.ServerCopy = true
		return "CREATE VIEW"
	case *pg.Node_RefreshMatViewStmt:
		st.Kind = rules.KindUtility
		it := e.rangeVar(&scope{}, x.RefreshMatViewStmt.Relation)
		for _, c := range it.cols {
			e.copyOut(c.lin, lineage{})
		}
		st.ServerCopy = true
		return "REFRESH MATERIALIZED VIEW"
	case *pg.Node_PrepareStmt:
		st.Kind = rules.KindPrepare
		st.Prepared = x.PrepareStmt.Name
		st.Inner = e.inner(x.PrepareStmt.Query, rules.UseOutput, true)
		// $n inside PREPARE are the EXECUTE arguments, not parameters of
		// the PREPARE statement itself.
		e.params = 0
		e.noParams = true
		return "PREPARE"
	case *pg.Node_ExecuteStmt:
		st.Kind = rules.KindExecute
		st.Prepared = x.ExecuteStmt.Name
		st.Returns = true
		for _, p := range x.ExecuteStmt.Params {
			l := e.expr(nil, p)
			if !l.isEmpty() {
				// The prepared statement may return its parameters: a value
				// computed from table data here would come back without
				// lineage.
				e.markOpaque("passes values computed from table data to a prepared statement")
				e.use(l, rules.UseOutput)
			}
		}
		return "EXECUTE"
	case *pg.Node_DeallocateStmt:
		st.Kind = rules.KindDeallocate
		if !x.DeallocateStmt.Isall {
			st.Prepared = x.DeallocateStmt.Name
		}
		return "DEALLOCATE"
	case *pg.Node_DeclareCursorStmt:
		st.Kind = rules.KindDeclare
		st.Cursor = x.DeclareCursorStmt.Portalname
		st.Inner = e.inner(x.DeclareCursorStmt.Query, rules.UseOutput, true)
		return "DECLARE"
	case *pg.Node_FetchStmt:
		st.Kind = rules.KindFetch
		st.Cursor = x.FetchStmt.Portalname
		if x.FetchStmt.Ismove {
			return "MOVE"
		}
		st.Returns = true
		return "FETCH"
	case *pg.Node_ClosePortalStmt:
		st.Kind = rules.KindClosePortal
		st.Cursor = x.ClosePortalStmt.Portalname
		return "CLOSE"
	case *pg.Node_ExplainStmt:
		return e.explain(x.ExplainStmt, st)
	case *pg.Node_DoStmt:
		st.Kind = rules.KindDo
		e.markOpaque("DO block runs procedural code")
		return "DO"
	case *pg.Node_CallStmt:
		st.Kind = rules.KindCall
		st.Returns = true // procedures with OUT parameters return one row
		if fc := x.CallStmt.Funccall; fc != nil {
			l := e.funcCall(nil, fc)
			e.use(l, rules.UseOutput)
			schema, name := qualifiedName(fc.Funcname)
			if kind, _ := e.snap.funcClass(schema, name); kind == funcPure && schema != "pg_catalog" {
				if !e.snap.trustedFunc[schema+"."+name] {
					e.markOpaque("calls procedure " + name)
				}
			}
		} else {
			e.markOpaque("calls a procedure")
		}
		return "CALL"
	case *pg.Node_TransactionStmt:
		st.Kind = rules.KindTransaction
		return transactionOp(x.TransactionStmt.Kind)
	case *pg.Node_VariableSetStmt:
		st.Kind = rules.KindSet
		if x.VariableSetStmt.Kind == pg.VariableSetKind_VAR_RESET || x.VariableSetStmt.Kind == pg.VariableSetKind_VAR_RESET_ALL {
			return "RESET"
		}
		return "SET"
	case *pg.Node_ConstraintsSetStmt:
		st.Kind = rules.KindSet
		return "SET CONSTRAINTS"
	case *pg.Node_VariableShowStmt:
		st.Kind = rules.KindShow
		st.Returns = true
		if strings.EqualFold(x.VariableShowStmt.Name, "all") {
			st.Outputs = []rules.Output{{Name: "name"}, {Name: "setting"}, {Name: "description"}}
		} else {
			st.Outputs = []rules.Output{{Name: x.VariableShowStmt.Name}}
		}
		return "SHOW"
	case *pg.Node_ListenStmt:
		st.Kind = rules.KindListen
		return "LISTEN"
	case *pg.Node_UnlistenStmt:
		st.Kind = rules.KindListen
		return "UNLISTEN"
	case *pg.Node_NotifyStmt:
		st.Kind = rules.KindNotify
		return "NOTIFY"
	case *pg.Node_TruncateStmt:
		st.Kind = rules.KindDelete
		for _, r := range x.TruncateStmt.Relations {
			if rv := r.GetRangeVar(); rv != nil {
				tgt := e.target(rv)
				for _, c := range tgt.cols {
					e.use(c.lin, rules.UseWrite)
				}
			}
		}
		return "TRUNCATE"
	case *pg.Node_LoadStmt:
		st.Kind = rules.KindUtility
		e.markOpaque("loads a server library")
		return "LOAD"
	case *pg.Node_VacuumStmt:
		st.Kind = rules.KindUtility
		if x.VacuumStmt.IsVacuumcmd {
			return "VACUUM"
		}
		return "ANALYZE"
	case *pg.Node_DiscardStmt:
		// Only DISCARD ALL drops prepared statements and cursors.
		st.Kind = rules.KindUtility
		if x.DiscardStmt.Target == pg.DiscardMode_DISCARD_ALL {
			return "DISCARD ALL"
		}
		return "DISCARD"
	case *pg.Node_CheckPointStmt, *pg.Node_LockStmt, *pg.Node_ReindexStmt, *pg.Node_ClusterStmt:
		st.Kind = rules.KindUtility
		return opFromNodeName(nodeName(n))
	default:
		name := nodeName(n)
		st.Kind = rules.KindUtility
		if isDDL(name) {
			st.Kind = rules.KindDDL
		}
		if r := hiddenCode(n); r != "" {
			e.markOpaque(r)
		}
		op := opFromNodeName(name)
		if m := nodeMessage(n); m != nil {
			if f := m.Descriptor().Fields().ByName("relation"); f != nil && f.Message() != nil && m.Has(f) {
				if rv, ok := m.Get(f).Message().Interface().(*pg.RangeVar); ok {
					qn := rangeVarName(rv)
					if cands := e.snap.resolve(rv.Schemaname, rv.Relname, false); len(cands) == 1 {
						qn = cands[0].qname
					}
					e.addTable(qn, true)
				}
			}
		}
		return op
	}
}

func (e *engine) returning(st *rules.Statement, sh shape, has bool) {
	if !has {
		return
	}
	st.Returns = true
	e.setOutputs(st, sh, rules.UseOutput)
}

func selectInto(s *pg.SelectStmt) *pg.IntoClause {
	for ; s != nil; s = s.Larg {
		if s.IntoClause != nil {
			return s.IntoClause
		}
	}
	return nil
}

func rangeVarName(rv *pg.RangeVar) string {
	if rv == nil {
		return ""
	}
	if rv.Schemaname != "" {
		return rv.Schemaname + "." + rv.Relname
	}
	return rv.Relname
}

func (e *engine) explain(x *pg.ExplainStmt, st *rules.Statement) string {
	st.Kind = rules.KindExplain
	st.Returns = true
	st.Outputs = []rules.Output{{Name: "QUERY PLAN"}}
	analyze := false
	for _, o := range x.Options {
		d := o.GetDefElem()
		if d == nil || d.Defname != "analyze" {
			continue
		}
		analyze = defElemBool(d)
	}
	if analyze {
		// EXPLAIN ANALYZE executes the statement: everything it reads,
		// writes and copies counts (its rows are not returned, but values
		// can surface in errors and notices).
		st.Inner = e.inner(x.Query, rules.UseOutput, true)
		return "EXPLAIN ANALYZE"
	}
	// Plain EXPLAIN plans without executing: the plan shows the query's own
	// literals, column names and estimates, never stored values. Planning
	// may still run immutable user functions, so opacity is inherited.
	st.Inner = e.inner(x.Query, 0, false)
	return "EXPLAIN"
}

func defElemBool(d *pg.DefElem) bool {
	if d.Arg == nil {
		return true
	}
	switch v := d.Arg.Node.(type) {
	case *pg.Node_Boolean:
		return v.Boolean.Boolval
	case *pg.Node_String_:
		switch strings.ToLower(v.String_.Sval) {
		case "false", "off", "0", "no":
			return false
		}
	case *pg.Node_Integer:
		return v.Integer.Ival != 0
	}
	return true
}

func (e *engine) copyStmt(c *pg.CopyStmt, st *rules.Statement) string {
	st.CopyFormat = "text"
	// The options that decide how a row splits into fields go to the COPY
	// masker (a masker splitting on the default delimiter would pass part
	// of a field as another, unmasked field). An option that changes the
	// bytes in other ways (ENCODING) or that pgveil does not know makes a
	// COPY TO opaque. The pre-9.0 syntax arrives as the same DefElems.
	var unknownOpt string
	opts := func() *rules.CopyOptions {
		if st.CopyOptions == nil {
			st.CopyOptions = &rules.CopyOptions{}
		}
		return st.CopyOptions
	}
	for _, o := range c.Options {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		switch d.Defname {
		case "format":
			if s := strVal(d.Arg); s != "" {
				st.CopyFormat = strings.ToLower(s)
			}
		case "delimiter":
			opts().Delimiter = strVal(d.Arg)
		case "null":
			v := strVal(d.Arg)
			opts().Null = &v
		case "quote":
			opts().Quote = strVal(d.Arg)
		case "escape":
			opts().Escape = strVal(d.Arg)
		case "header":
			opts().Header = defTrue(d.Arg)
		case "force_quote", "force_not_null", "force_null", "freeze", "default", "on_error", "log_verbosity":
			// Quoting more fields or options of COPY FROM: rows split the same.
		default:
			if unknownOpt == "" {
				unknownOpt = d.Defname
			}
		}
	}
	toClient := c.Filename == "" && !c.IsProgram
	if !c.IsFrom && unknownOpt != "" {
		e.markOpaque("COPY option " + unknownOpt + " changes the bytes pgveil would have to parse")
	}
	if c.IsFrom {
		st.Kind = rules.KindCopyFrom
		switch {
		case c.IsProgram:
			e.markOpaque("COPY FROM PROGRAM runs a server-side program")
		case c.Filename != "":
			e.markOpaque("COPY FROM reads a server file")
		}
		if c.Relation == nil {
			return "COPY"
		}
		tgt := e.target(c.Relation)
		for _, i := range attIndexes(tgt.cols, c.Attlist) {
			if i >= 0 {
				e.use(tgt.cols[i].lin, rules.UseWrite)
			}
		}
		sc := &scope{items: []*item{tgt}}
		e.use(e.expr(sc, c.WhereClause), rules.UseFilter)
		return "COPY"
	}
	st.Kind = rules.KindCopyTo
	use := rules.UseOutput
	if !toClient {
		use = rules.UseCopy
		st.ServerCopy = true
		if c.IsProgram {
			e.markOpaque("COPY TO PROGRAM runs a server-side program")
		}
	}
	st.Returns = toClient
	var sh shape
	if c.Query != nil {
		// The inner statement's outputs are what is copied: inner folds
		// their sources in with use (UseOutput to the client, UseCopy to a
		// file or program).
		st.Inner = e.inner(c.Query, use, true)
		if toClient {
			st.Outputs = st.Inner.Outputs
		}
		return "COPY"
	}
	if c.Relation != nil {
		it := e.rangeVar(&scope{}, c.Relation)
		if it.unknownShape {
			sh.unknownShape = true
		}
		for _, i := range attIndexes(it.cols, c.Attlist) {
			if i < 0 {
				sh.unknownShape = true
				continue
			}
			sh.cols = append(sh.cols, it.cols[i])
		}
	}
	if toClient {
		e.setOutputs(st, sh, rules.UseOutput)
	} else {
		for _, col := range sh.cols {
			e.copyOut(col.lin, lineage{})
		}
		st.ServerCopy = true
	}
	return "COPY"
}

// attIndexes returns the indexes of a column list in cols (-1 for names not
// found), or all of cols for an empty list.
func attIndexes(cols []column, list []*pg.Node) []int {
	if len(list) == 0 {
		out := make([]int, len(cols))
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, len(list))
	for k, n := range list {
		name := strVal(n)
		if rt := n.GetResTarget(); rt != nil {
			name = rt.Name
		}
		out[k] = colIndex(cols, name)
	}
	return out
}

// --- data-modifying statements ----------------------------------------------

// target resolves the relation a statement writes and marks the statement
// opaque when writing it runs user code (triggers, rules, domains).
func (e *engine) target(rv *pg.RangeVar) *item {
	it := e.rangeVar(&scope{}, rv)
	for _, ri := range e.relations(rv.Schemaname, rv.Relname) {
		if ri.writeOpaque != "" {
			e.markOpaque(ri.writeOpaque)
		}
	}
	return it
}

func (e *engine) insert(parent *scope, env *cteEnv, s *pg.InsertStmt) shape {
	if s.WithClause != nil {
		env = e.with(parent, env, s.WithClause)
	}
	tgt := e.target(s.Relation)
	idx := attIndexes(tgt.cols, s.Cols)
	values := make([]lineage, len(tgt.cols))
	assigned := make([]bool, len(tgt.cols))
	if s.SelectStmt != nil {
		sh := e.query(parent, env, s.SelectStmt)
		for k, ci := range idx {
			var l lineage
			switch {
			case sh.unknownShape:
				l = unknownLineage(sh.whole())
			case k < len(sh.cols):
				l = sh.cols[k].lin
			}
			if ci < 0 {
				e.copyOut(l, lineage{})
				continue
			}
			values[ci] = l
			assigned[ci] = true
		}
		if tgt.unknownShape || len(sh.cols) > len(idx) {
			e.copyOut(sh.whole(), lineage{})
		}
	}
	ret := slices.Clone(tgt.cols)
	for ci := range tgt.cols {
		if !assigned[ci] {
			continue
		}
		e.use(tgt.cols[ci].lin, rules.UseWrite)
		e.copyOut(values[ci], tgt.cols[ci].lin)
		ret[ci].lin = e.snap.merge(tgt.cols[ci].lin, values[ci])
	}
	refname := s.Relation.Relname
	if s.Relation.Alias != nil {
		refname = s.Relation.Alias.Aliasname
	}
	if oc := s.OnConflictClause; oc != nil {
		excluded := slices.Clone(ret)
		sc := &scope{parent: parent, ctes: env, items: []*item{
			{cols: tgt.cols, unknownShape: tgt.unknownShape, rtes: []*rte{{refname: refname, cols: tgt.cols, unknownShape: tgt.unknownShape}}},
			{cols: excluded, rtes: []*rte{{refname: "excluded", cols: excluded, unknownShape: tgt.unknownShape}}},
		}}
		if oc.Infer != nil {
			e.use(e.expr(sc, oc.Infer.WhereClause), rules.UseFilter)
		}
		for _, t := range oc.TargetList {
			e.setTarget(sc, tgt, ret, t)
		}
		e.use(e.expr(sc, oc.WhereClause), rules.UseFilter)
	}
	return e.returningShape(parent, env, tgt, ret, refname, s.ReturningList, nil)
}

// setTarget handles one SET col = value (UPDATE, ON CONFLICT DO UPDATE,
// MERGE ... UPDATE SET): the column is written, the value copied into it,
// and ret (the RETURNING view of the row) updated.
func (e *engine) setTarget(sc *scope, tgt *item, ret []column, n *pg.Node) {
	rt := n.GetResTarget()
	if rt == nil {
		return
	}
	var v lineage
	if mar := rt.Val.GetMultiAssignRef(); mar != nil {
		k := int(mar.Colno) - 1
		switch {
		case mar.Source.GetSubLink() != nil:
			// The raw parse tree repeats the subquery for every target
			// column; analyzing it once per column only repeats uses.
			sh := e.query(sc, sc.env(), mar.Source.GetSubLink().Subselect)
			if k >= 0 && k < len(sh.cols) && !sh.unknownShape {
				v = sh.cols[k].lin
			} else {
				v = unknownLineage(sh.whole())
			}
		case mar.Source.GetRowExpr() != nil && k >= 0 && k < len(mar.Source.GetRowExpr().Args):
			v = e.expr(sc, mar.Source.GetRowExpr().Args[k])
		default:
			v = derive(e.expr(sc, mar.Source))
		}
	} else {
		v = e.expr(sc, rt.Val)
	}
	for _, ind := range rt.Indirection {
		e.expr(sc, ind)
	}
	ci := colIndex(tgt.cols, rt.Name)
	if ci < 0 {
		e.copyOut(v, lineage{})
		return
	}
	col := tgt.cols[ci].lin
	e.use(col, rules.UseWrite)
	e.copyOut(v, col)
	if len(rt.Indirection) > 0 {
		// SET col[1] = v / SET col.field = v: the rest of the old value stays.
		v = derive(col, v)
	}
	ret[ci].lin = e.snap.merge(col, v)
}

// returningShape evaluates a RETURNING list over the written row (ret) and
// any other FROM entries.
func (e *engine) returningShape(parent *scope, env *cteEnv, tgt *item, ret []column, refname string, list []*pg.Node, others []*item) shape {
	if len(list) == 0 {
		return shape{}
	}
	r := &rte{refname: refname, cols: ret, unknownShape: tgt.unknownShape}
	if len(tgt.rtes) > 0 {
		r.schemas = tgt.rtes[0].schemas
	}
	items := append([]*item{{cols: ret, unknownShape: tgt.unknownShape, rtes: []*rte{r}}}, others...)
	sc := &scope{parent: parent, ctes: env, items: items}
	cols, unk := e.targets(sc, list)
	return shape{cols: cols, unknownShape: unk}
}

func (e *engine) update(parent *scope, env *cteEnv, s *pg.UpdateStmt) shape {
	if s.WithClause != nil {
		env = e.with(parent, env, s.WithClause)
	}
	tgt := e.target(s.Relation)
	sc := &scope{parent: parent, ctes: env, items: []*item{tgt}}
	e.from(sc, s.FromClause)
	ret := slices.Clone(tgt.cols)
	for _, t := range s.TargetList {
		e.setTarget(sc, tgt, ret, t)
	}
	e.use(e.expr(sc, s.WhereClause), rules.UseFilter)
	refname := s.Relation.Relname
	if s.Relation.Alias != nil {
		refname = s.Relation.Alias.Aliasname
	}
	return e.returningShape(parent, env, tgt, ret, refname, s.ReturningList, sc.items[1:])
}

func (e *engine) delete(parent *scope, env *cteEnv, s *pg.DeleteStmt) shape {
	if s.WithClause != nil {
		env = e.with(parent, env, s.WithClause)
	}
	tgt := e.target(s.Relation)
	sc := &scope{parent: parent, ctes: env, items: []*item{tgt}}
	e.from(sc, s.UsingClause)
	e.use(e.expr(sc, s.WhereClause), rules.UseFilter)
	for _, c := range tgt.cols {
		e.use(c.lin, rules.UseWrite)
	}
	refname := s.Relation.Relname
	if s.Relation.Alias != nil {
		refname = s.Relation.Alias.Aliasname
	}
	return e.returningShape(parent, env, tgt, slices.Clone(tgt.cols), refname, s.ReturningList, sc.items[1:])
}

func (e *engine) merge(parent *scope, env *cteEnv, s *pg.MergeStmt) shape {
	if s.WithClause != nil {
		env = e.with(parent, env, s.WithClause)
	}
	tgt := e.target(s.Relation)
	sc := &scope{parent: parent, ctes: env, items: []*item{tgt}}
	if s.SourceRelation != nil {
		sc.items = append(sc.items, e.fromItem(sc, s.SourceRelation, nil))
	}
	if s.JoinCondition != nil {
		e.joinQual(sc, s.JoinCondition)
	}
	ret := slices.Clone(tgt.cols)
	for _, w := range s.MergeWhenClauses {
		wc := w.GetMergeWhenClause()
		if wc == nil {
			continue
		}
		e.use(e.expr(sc, wc.Condition), rules.UseFilter)
		switch wc.CommandType {
		case pg.CmdType_CMD_UPDATE:
			for _, t := range wc.TargetList {
				e.setTarget(sc, tgt, ret, t)
			}
		case pg.CmdType_CMD_INSERT:
			idx := attIndexes(tgt.cols, wc.TargetList)
			for k, v := range wc.Values {
				l := e.expr(sc, v)
				if k >= len(idx) || idx[k] < 0 {
					e.copyOut(l, lineage{})
					continue
				}
				col := tgt.cols[idx[k]].lin
				e.use(col, rules.UseWrite)
				e.copyOut(l, col)
				ret[idx[k]].lin = e.snap.merge(ret[idx[k]].lin, l)
			}
		case pg.CmdType_CMD_DELETE:
			for _, c := range tgt.cols {
				e.use(c.lin, rules.UseWrite)
			}
		}
	}
	refname := s.Relation.Relname
	if s.Relation.Alias != nil {
		refname = s.Relation.Alias.Aliasname
	}
	return e.returningShape(parent, env, tgt, ret, refname, s.ReturningList, sc.items[1:])
}

// --- names -------------------------------------------------------------------------

func transactionOp(k pg.TransactionStmtKind) string {
	switch k {
	case pg.TransactionStmtKind_TRANS_STMT_BEGIN:
		return "BEGIN"
	case pg.TransactionStmtKind_TRANS_STMT_START:
		return "START TRANSACTION"
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
		return "COMMIT"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		return "ROLLBACK"
	case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return "SAVEPOINT"
	case pg.TransactionStmtKind_TRANS_STMT_RELEASE:
		return "RELEASE"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return "ROLLBACK TO"
	case pg.TransactionStmtKind_TRANS_STMT_PREPARE:
		return "PREPARE TRANSACTION"
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		return "COMMIT PREPARED"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return "ROLLBACK PREPARED"
	}
	return "TRANSACTION"
}

// hiddenCode returns why a DDL statement is opaque when it installs code
// that later statements run without naming it: a trigger or rewrite rule
// (runs on writes to a table, e.g. a trigger function that reads customers
// and copies or tests what it finds), a row-level security policy (its
// conditions, subqueries included, filter later reads), or enabling one;
// or code that later statements call under a name the current snapshot
// does not know yet: a function, procedure, aggregate, operator or cast
// (a function named like a builtin, in a schema ahead of pg_catalog on the
// search path, would pass for the builtin). The snapshot learns of them
// only at its next refresh, so until then they would look harmless. For an
// identity with masks, such code could not be called anyway: every call of
// a user function is opaque.
func hiddenCode(n *pg.Node) string {
	switch x := n.Node.(type) {
	case *pg.Node_CreateFunctionStmt:
		return "creates a function, which later statements could call before pgveil knows it"
	case *pg.Node_CreateDomainStmt, *pg.Node_AlterDomainStmt:
		return "creates or changes a domain, whose checks casts run unseen"
	case *pg.Node_CompositeTypeStmt, *pg.Node_CreateEnumStmt, *pg.Node_CreateRangeStmt:
		return "creates a type, which later statements could use before pgveil knows it"
	case *pg.Node_CreateCastStmt:
		return "creates a cast, which runs a function unseen"
	case *pg.Node_DefineStmt:
		switch x.DefineStmt.Kind {
		case pg.ObjectType_OBJECT_AGGREGATE, pg.ObjectType_OBJECT_OPERATOR:
			return "creates an aggregate or operator, which runs a function unseen"
		case pg.ObjectType_OBJECT_TYPE:
			return "creates a type, which later statements could use before pgveil knows it"
		}
	case *pg.Node_CreateTrigStmt:
		return "creates a trigger, whose code later writes run unseen"
	case *pg.Node_RuleStmt:
		return "creates a rewrite rule, which changes later statements unseen"
	case *pg.Node_CreatePolicyStmt, *pg.Node_AlterPolicyStmt:
		return "creates a row-level security policy, whose conditions later reads evaluate unseen"
	case *pg.Node_AlterTableStmt:
		for _, c := range x.AlterTableStmt.Cmds {
			switch c.GetAlterTableCmd().GetSubtype() {
			case pg.AlterTableType_AT_EnableTrig, pg.AlterTableType_AT_EnableAlwaysTrig, pg.AlterTableType_AT_EnableReplicaTrig,
				pg.AlterTableType_AT_EnableTrigAll, pg.AlterTableType_AT_EnableTrigUser,
				pg.AlterTableType_AT_EnableRule, pg.AlterTableType_AT_EnableAlwaysRule, pg.AlterTableType_AT_EnableReplicaRule:
				return "enables a trigger or rewrite rule, whose code later statements run unseen"
			}
		}
	}
	return ""
}

var ddlPrefixes = []string{"Create", "Alter", "Drop", "Rename", "Grant", "Comment", "SecLabel", "Define",
	"Reassign", "ImportForeignSchema", "CompositeType", "Rule", "Index", "ReplicaIdentity"}

func isDDL(name string) bool {
	for _, p := range ddlPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// nodeOps names the operations whose node names do not spell them.
var nodeOps = map[string]string{
	"CreateStmt":      "CREATE TABLE",
	"IndexStmt":       "CREATE INDEX",
	"CheckPointStmt":  "CHECKPOINT",
	"CreatedbStmt":    "CREATE DATABASE",
	"DropdbStmt":      "DROP DATABASE",
	"DefineStmt":      "CREATE",
	"RuleStmt":        "CREATE RULE",
	"CreateTrigStmt":  "CREATE TRIGGER",
	"CreateSeqStmt":   "CREATE SEQUENCE",
	"AlterSeqStmt":    "ALTER SEQUENCE",
	"CreatePlangStmt": "CREATE LANGUAGE",
	"CreateFdwStmt":   "CREATE FOREIGN DATA WRAPPER",
	"AlterFdwStmt":    "ALTER FOREIGN DATA WRAPPER",
}

// opFromNodeName turns "AlterTableStmt" into "ALTER TABLE".
func opFromNodeName(name string) string {
	if op, ok := nodeOps[name]; ok {
		return op
	}
	name = strings.TrimSuffix(name, "Stmt")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// maxSummary bounds db.query.summary (the OTel conventions suggest keeping
// it short and low-cardinality).
const maxSummary = 255

func summary(op string, tables []string) string {
	s := op
	for _, t := range tables {
		if len(s)+1+len(t) > maxSummary {
			break
		}
		if s != "" {
			s += " "
		}
		s += t
	}
	return s
}
