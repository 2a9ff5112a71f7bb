package analyze

import (
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pgveil/pgveil/rules"
)

// maxDepth bounds the recursion of the analysis on hostile input (the
// parser has its own stack limit; this one keeps ours below it).
const maxDepth = 500

// maxFixpoint bounds the iterations of a recursive CTE's lineage fixpoint.
// Sources only grow, so it converges long before this in practice; if not,
// the columns become Unknown.
const maxFixpoint = 32

// engine analyzes one statement. It is not safe for concurrent use; each
// analysis gets its own.
type engine struct {
	snap   *Snapshot
	inView bool // analyzing a view definition: resolve names through the snapshot's search path

	uses        map[rules.ColumnRef]rules.Use
	tables      map[string]bool
	summary     []string // relations as written, in order of first appearance
	opaque      []string // reasons, deduplicated, in order
	catalogData bool
	serverCopy  bool
	// changesEncoding: the statement may change client_encoding
	// (rules.Statement.ChangesEncoding).
	changesEncoding bool
	// consulted are the locations of the constants whose value the
	// analysis read (see consult).
	consulted  []int32
	params     int
	depth      int
	unknownRel bool // a relation name did not resolve
	noParams   bool // PREPARE: $n belong to the inner statement
}

// consult records that the analysis depends on the value of constant c, not
// only on where it stands. Every read of an A_Const's value must go through
// here: the shape cache (shape.go) reuses an analysis for texts that differ
// only in the values of constants that were not consulted.
func (e *engine) consult(c *pg.A_Const) {
	e.consulted = append(e.consulted, c.Location)
}

func newEngine(s *Snapshot) *engine {
	return &engine{snap: s, uses: map[rules.ColumnRef]rules.Use{}, tables: map[string]bool{}}
}

// shape is the result of a row-returning (sub)statement: its columns in
// order. unknownShape means the number or order of columns is not known (a
// * over an unknown relation); then every column's lineage is also Unknown.
type shape struct {
	cols         []column
	unknownShape bool
}

func (sh shape) whole() lineage { return wholeRow(sh.cols, sh.unknownShape) }

// rte is a range table entry: something in FROM that a qualified column
// reference can name.
type rte struct {
	refname      string
	schemas      []string // for schema.table.column references (unaliased relations only)
	cols         []column
	unknownShape bool
}

// item is one entry of a FROM list: a relation, subquery, function or join.
// cols are its columns in * order; rtes the entries qualified references can
// name inside it.
type item struct {
	cols         []column
	unknownShape bool
	rtes         []*rte
}

// scope is one query level's FROM namespace, chained to the enclosing
// levels for correlated references.
type scope struct {
	parent *scope
	items  []*item
	ctes   *cteEnv
}

// cteEnv is a linked list of the CTEs visible at a point.
type cteEnv struct {
	parent       *cteEnv
	name         string
	cols         []column
	unknownShape bool
}

func (c *cteEnv) find(name string) *cteEnv {
	for ; c != nil; c = c.parent {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (sc *scope) env() *cteEnv {
	if sc == nil {
		return nil
	}
	return sc.ctes
}

// --- bookkeeping ---------------------------------------------------------

func (e *engine) use(l lineage, u rules.Use) {
	for _, r := range l.srcs {
		e.uses[r] |= u
	}
}

// key records l's use as a grouping, DISTINCT, set operation or join key
// (u: group or join), which reveals only which rows hold equal values,
// and as a filter as well when l is a probe (see lineage.probe).
func (e *engine) key(l lineage, u rules.Use) {
	e.use(l, u)
	if !l.pureKey() {
		e.use(l, rules.UseFilter)
	}
}

// keyPair records the uses of two values compared for equality (a join
// equality, a USING column, a set operation's column): a join or group
// use, and a filter use as well unless both sides are pure keys and
// comparing them mixes in nothing the client chose.
func (e *engine) keyPair(a, b lineage, u rules.Use) {
	both := derive(a, b)
	e.use(both, u)
	if !a.pureKey() || !b.pureKey() || both.probe {
		e.use(both, rules.UseFilter)
	}
}

// joinQual records the uses of a join condition: an equality conjunct is a
// join key (key), any other conjunct chooses rows as WHERE does.
func (e *engine) joinQual(sc *scope, n *pg.Node) {
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
		for _, a := range b.Args {
			e.joinQual(sc, a)
		}
		return
	}
	if x := n.GetAExpr(); x != nil && x.Kind == pg.A_Expr_Kind_AEXPR_OP && x.Lexpr != nil && x.Rexpr != nil {
		if _, op := qualifiedName(x.Name); op == "=" && !e.snap.opUntrusted(x.Name) {
			e.keyPair(e.expr(sc, x.Lexpr), e.expr(sc, x.Rexpr), rules.UseJoin)
			return
		}
	}
	e.use(e.expr(sc, n), rules.UseFilter)
}

// copyOut records that l's value is stored server side (UseCopy), except
// into itself.
func (e *engine) copyOut(l lineage, except lineage) {
	if l.unknown {
		// What is stored cannot be told apart from personal data, and
		// UseCopy cannot name it.
		e.serverCopy = true
		e.markOpaque("stores values of unknown origin server side")
	}
	for _, r := range l.srcs {
		if slices.Contains(except.srcs, r) && len(except.srcs) == 1 {
			continue
		}
		e.uses[r] |= rules.UseCopy
		e.serverCopy = true
	}
}

func (e *engine) markOpaque(reason string) {
	if reason == "" {
		reason = "unsupported construct"
	}
	if !slices.Contains(e.opaque, reason) {
		e.opaque = append(e.opaque, reason)
	}
}

func (e *engine) addTable(name string, summary bool) {
	if !e.tables[name] {
		e.tables[name] = true
	}
	if summary && !slices.Contains(e.summary, name) {
		e.summary = append(e.summary, name)
	}
}

func (e *engine) param(n int32) {
	if int(n) > e.params {
		e.params = int(n)
	}
}

// allInScope is the lineage of "anything visible here": the fail-closed
// answer for a construct the analyzer does not understand.
func (e *engine) allInScope(sc *scope) lineage {
	var ls []lineage
	for s := sc; s != nil; s = s.parent {
		for _, it := range s.items {
			ls = append(ls, wholeRow(it.cols, it.unknownShape))
		}
	}
	return unknownLineage(ls...)
}

// --- expressions ----------------------------------------------------------

// expr returns the lineage of a value expression. Every node type either has
// a case here or falls to the fail-closed default: Unknown, derived from
// everything in scope.
func (e *engine) expr(sc *scope, n *pg.Node) lineage {
	if n == nil || n.Node == nil {
		return lineage{}
	}
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > maxDepth {
		e.markOpaque("statement nesting too deep")
		return e.allInScope(sc)
	}
	switch x := n.Node.(type) {
	case *pg.Node_ColumnRef:
		return e.columnRef(sc, x.ColumnRef)
	case *pg.Node_ParamRef:
		e.param(x.ParamRef.Number)
		return lineage{}
	case *pg.Node_AConst:
		return lineage{null: x.AConst.Isnull}
	case *pg.Node_SqlvalueFunction, *pg.Node_SetToDefault, *pg.Node_CurrentOfExpr,
		*pg.Node_MergeSupportFunc, *pg.Node_Integer, *pg.Node_Float, *pg.Node_Boolean, *pg.Node_String_,
		*pg.Node_BitString, *pg.Node_TypeName, *pg.Node_JsonFormat, *pg.Node_AStar:
		return lineage{}
	case *pg.Node_TypeCast:
		a := e.expr(sc, x.TypeCast.Arg)
		l := derive(a)
		l.null = a.null
		if e.snap.typeUntrusted(x.TypeCast.TypeName) {
			_, name := qualifiedName(x.TypeCast.TypeName.GetNames())
			e.markOpaque("casts to type " + name + ", which runs user code")
			l.unknown = true
		}
		return l
	case *pg.Node_AExpr:
		l := derive(e.expr(sc, x.AExpr.Lexpr), e.expr(sc, x.AExpr.Rexpr))
		if e.snap.opUntrusted(x.AExpr.Name) {
			_, op := qualifiedName(x.AExpr.Name)
			e.markOpaque("uses user-defined operator " + op)
			l.unknown = true
		}
		return l
	case *pg.Node_FuncCall:
		return e.funcCall(sc, x.FuncCall)
	case *pg.Node_SubLink:
		return e.subLink(sc, x.SubLink)
	case *pg.Node_AIndirection:
		return e.indirection(sc, x.AIndirection)
	case *pg.Node_SelectStmt:
		sh := e.selectStmt(sc, sc.env(), x.SelectStmt)
		return derive(sh.whole())
	case *pg.Node_List, *pg.Node_BoolExpr, *pg.Node_NullTest, *pg.Node_BooleanTest, *pg.Node_CaseExpr,
		*pg.Node_CaseWhen, *pg.Node_CoalesceExpr, *pg.Node_MinMaxExpr, *pg.Node_RowExpr, *pg.Node_AArrayExpr,
		*pg.Node_AIndices, *pg.Node_XmlExpr, *pg.Node_XmlSerialize, *pg.Node_CollateClause, *pg.Node_NamedArgExpr,
		*pg.Node_GroupingFunc, *pg.Node_ResTarget, *pg.Node_SortBy, *pg.Node_WindowDef,
		*pg.Node_JsonValueExpr, *pg.Node_JsonObjectConstructor, *pg.Node_JsonArrayConstructor,
		*pg.Node_JsonArrayQueryConstructor, *pg.Node_JsonAggConstructor, *pg.Node_JsonObjectAgg,
		*pg.Node_JsonArrayAgg, *pg.Node_JsonKeyValue, *pg.Node_JsonParseExpr, *pg.Node_JsonScalarExpr,
		*pg.Node_JsonSerializeExpr, *pg.Node_JsonFuncExpr, *pg.Node_JsonIsPredicate, *pg.Node_JsonOutput,
		*pg.Node_JsonArgument, *pg.Node_JsonBehavior, *pg.Node_JsonTablePathSpec, *pg.Node_RangeTableFuncCol:
		// Structural nodes: the value is computed from the children.
		return derive(e.children(sc, n))
	default:
		e.markOpaque("unsupported expression " + nodeName(n))
		return e.allInScope(sc)
	}
}

// children is the derived lineage of every sub-expression of a node, found
// by reflection over its fields.
func (e *engine) children(sc *scope, n *pg.Node) lineage {
	var ls []lineage
	msg := nodeMessage(n)
	if msg == nil {
		return lineage{}
	}
	e.childMessages(sc, msg, &ls)
	return derive(ls...)
}

func (e *engine) childMessages(sc *scope, m protoreflect.Message, ls *[]lineage) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		visit := func(cm protoreflect.Message) {
			if node, ok := cm.Interface().(*pg.Node); ok {
				*ls = append(*ls, e.expr(sc, node))
				return
			}
			e.childMessages(sc, cm, ls)
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i).Message())
			}
		case fd.IsMap():
		default:
			visit(v.Message())
		}
		return true
	})
}

func (e *engine) funcCall(sc *scope, fc *pg.FuncCall) lineage {
	schema, name := qualifiedName(fc.Funcname)
	if name == "system_user" && fc.Funcformat == pg.CoercionForm_COERCE_SQL_SYNTAX && len(fc.Args) == 0 {
		// The parser (PostgreSQL 17's grammar) reads a bare system_user as
		// the SYSTEM_USER function of PostgreSQL 16 and later; PostgreSQL
		// 15 and older read it as a column name. Over SELECT email AS
		// system_user, lower(system_user) would pass for the login method
		// on an older server: it derives from the column of that name, if
		// the scope has one.
		if l, ok := e.nameInScope(sc, name); ok {
			return derive(l)
		}
		return lineage{}
	}
	kind, reason := e.snap.funcClass(schema, name)
	args := make([]lineage, 0, len(fc.Args)+1)
	for _, a := range fc.Args {
		args = append(args, e.expr(sc, a))
	}
	for _, o := range fc.AggOrder {
		l := e.expr(sc, sortExpr(o))
		if fc.AggWithinGroup {
			// percentile_disc(0.5) WITHIN GROUP (ORDER BY email) and mode()
			// return one of the ordered values.
			args = append(args, l)
		} else {
			e.use(l, rules.UseOrder)
		}
	}
	if fc.AggFilter != nil {
		e.use(e.expr(sc, fc.AggFilter), rules.UseFilter)
	}
	if fc.Over != nil {
		e.windowDef(sc, fc.Over)
	}
	l := derive(args...)
	if e.snap.mayReturnSet(schema, name) {
		// How many rows a set-returning function yields is a function of
		// its arguments (generate_series(1, ascii(email))): the count
		// reveals them as a WHERE clause would. Even unnest(ARRAY[...]):
		// an element may itself be an array, which unnest flattens.
		e.use(l, rules.UseFilter)
	}
	switch kind {
	case funcOpaque:
		e.markOpaque(reason)
		l.unknown = true
	case funcCatalogData:
		e.markOpaque(reason)
		e.catalogData = true
		l.unknown = true
	case funcSetConfig, funcStores:
		// set_config stores the value in a session setting that
		// current_setting, SHOW and pg_stat_activity (application_name)
		// return later without lineage, and storingFuncs keep theirs in a
		// sequence, the random seed, lock keys or notifications: a
		// server-side copy.
		e.copyOut(l, lineage{})
	}
	return l
}

func (e *engine) windowDef(sc *scope, w *pg.WindowDef) {
	for _, p := range w.PartitionClause {
		e.key(e.expr(sc, p), rules.UseGroup)
	}
	for _, o := range w.OrderClause {
		e.use(e.expr(sc, sortExpr(o)), rules.UseOrder)
	}
	e.use(e.expr(sc, w.StartOffset), rules.UseFilter)
	e.use(e.expr(sc, w.EndOffset), rules.UseFilter)
}

func (e *engine) subLink(sc *scope, sl *pg.SubLink) lineage {
	test := e.expr(sc, sl.Testexpr)
	sh := e.query(sc, sc.env(), sl.Subselect)
	switch sl.SubLinkType {
	case pg.SubLinkType_EXISTS_SUBLINK:
		// true or false: what the subquery's predicates reveal is reported
		// as their filter uses.
		return lineage{}
	case pg.SubLinkType_EXPR_SUBLINK:
		if len(sh.cols) == 1 && !sh.unknownShape {
			return sh.cols[0].lin
		}
		return derive(sh.whole())
	default:
		return derive(test, sh.whole())
	}
}

// indirection handles (expr).field, (expr)[i] and (expr).*.
func (e *engine) indirection(sc *scope, ind *pg.A_Indirection) lineage {
	var ls []lineage
	for _, i := range ind.Indirection {
		if i.GetAIndices() != nil {
			ls = append(ls, e.expr(sc, i))
		}
	}
	// (c).email where c is a whole-row reference: the column itself.
	if len(ind.Indirection) > 0 {
		if f := ind.Indirection[0].GetString_(); f != nil {
			if r := e.wholeRowRTE(sc, ind.Arg); r != nil {
				if i := colIndex(r.cols, f.Sval); i >= 0 {
					l := r.cols[i].lin
					if len(ind.Indirection) == 1 {
						return l
					}
					return derive(append(ls, l)...)
				}
				return derive(append(ls, wholeRow(r.cols, true))...)
			}
		}
	}
	return derive(append(ls, e.expr(sc, ind.Arg))...)
}

// wholeRowRTE returns the entry a bare name refers to when it is a whole-row
// reference (not a column).
func (e *engine) wholeRowRTE(sc *scope, n *pg.Node) *rte {
	cr := n.GetColumnRef()
	if cr == nil {
		return nil
	}
	names, star := refFields(cr)
	if star && len(names) == 1 {
		return findRTE(sc, "", names[0])
	}
	if len(names) != 1 {
		return nil
	}
	if _, ok, maybe := columnInScope(sc, names[0]); ok || len(maybe) > 0 {
		return nil
	}
	return findRTE(sc, "", names[0])
}

// --- column references ------------------------------------------------------

func refFields(cr *pg.ColumnRef) (names []string, star bool) {
	for _, f := range cr.Fields {
		switch x := f.Node.(type) {
		case *pg.Node_String_:
			names = append(names, x.String_.Sval)
		case *pg.Node_AStar:
			star = true
		}
	}
	return names, star
}

func colIndex(cols []column, name string) int {
	for i := range cols {
		if cols[i].name == name {
			return i
		}
	}
	return -1
}

// lookup finds an unqualified column at this level. Several matches (an
// ambiguous reference PostgreSQL would reject) are merged. A level with an
// item of unknown shape answers Unknown for names it cannot place.
func (sc *scope) lookup(name string) (lineage, bool) {
	l, ok, maybe := columnInScope(&scope{items: sc.items}, name)
	if !ok && len(maybe) > 0 {
		return unknownLineage(maybe...), true
	}
	return l, ok
}

func (sc *scope) findRTE(schema, name string) *rte {
	for _, it := range sc.items {
		for _, r := range it.rtes {
			if r.refname == name && (schema == "" || slices.Contains(r.schemas, schema)) {
				return r
			}
		}
	}
	return nil
}

func findRTE(sc *scope, schema, name string) *rte {
	for s := sc; s != nil; s = s.parent {
		if r := s.findRTE(schema, name); r != nil {
			return r
		}
	}
	return nil
}

// systemColumns hold row identities and transaction ids, never data values
// (user columns cannot take these names).
var systemColumns = map[string]bool{"ctid": true, "xmin": true, "xmax": true, "cmin": true, "cmax": true, "tableoid": true}

func rteColumn(r *rte, name string) lineage {
	if i := colIndex(r.cols, name); i >= 0 {
		return r.cols[i].lin
	}
	if systemColumns[name] && !r.unknownShape {
		return lineage{}
	}
	// Not a column PostgreSQL knows of (or of an unknown relation): fail
	// closed on the whole entry.
	return unknownLineage(wholeRow(r.cols, true))
}

// columnInScope resolves an unqualified name as a column the way
// PostgreSQL's colNameToVar does: the innermost level with a column of that
// name wins, whatever relation names nearer levels have. A level whose
// items of unknown shape might hold the name does not stop the search,
// since PostgreSQL may find the column further out: their lineage is
// returned in maybe, to be folded into whatever the name resolves to.
func columnInScope(sc *scope, name string) (l lineage, ok bool, maybe []lineage) {
	for s := sc; s != nil; s = s.parent {
		var found []lineage
		for _, it := range s.items {
			for i := range it.cols {
				if it.cols[i].name == name {
					found = append(found, it.cols[i].lin)
				}
			}
		}
		switch {
		case len(found) == 1 && len(maybe) == 0:
			return found[0], true, nil
		case len(found) > 0 && len(maybe) == 0:
			return derive(found...), true, nil
		case len(found) > 0:
			return unknownLineage(append(maybe, found...)...), true, nil
		}
		for _, it := range s.items {
			if it.unknownShape {
				maybe = append(maybe, wholeRow(it.cols, true))
			}
		}
	}
	return lineage{}, false, maybe
}

// nameInScope resolves an unqualified name the way columnRef does: as a
// column of any level (columnInScope), else as a relation name, a whole
// row. It reports whether the name resolved.
func (e *engine) nameInScope(sc *scope, name string) (lineage, bool) {
	l, ok, maybe := columnInScope(sc, name)
	if ok {
		return l, true
	}
	if r := findRTE(sc, "", name); r != nil {
		maybe = append(maybe, wholeRow(r.cols, r.unknownShape))
		if len(maybe) == 1 {
			return maybe[0], true
		}
	}
	if len(maybe) > 0 {
		return unknownLineage(maybe...), true
	}
	return lineage{}, false
}

func (e *engine) columnRef(sc *scope, cr *pg.ColumnRef) lineage {
	names, star := refFields(cr)
	if star {
		switch len(names) {
		case 0:
			var ls []lineage
			if sc != nil {
				for _, it := range sc.items {
					ls = append(ls, wholeRow(it.cols, it.unknownShape))
				}
			}
			return derive(ls...)
		case 1:
			if r := findRTE(sc, "", names[0]); r != nil {
				return wholeRow(r.cols, r.unknownShape)
			}
		default:
			n := len(names)
			if r := findRTE(sc, names[n-2], names[n-1]); r != nil {
				return wholeRow(r.cols, r.unknownShape)
			}
		}
		return e.allInScope(sc)
	}
	switch len(names) {
	case 1:
		if l, ok := e.nameInScope(sc, names[0]); ok {
			return l
		}
		if systemColumns[names[0]] && sc != nil && len(sc.items) > 0 {
			return lineage{}
		}
	case 2:
		if r := findRTE(sc, "", names[0]); r != nil {
			return rteColumn(r, names[1])
		}
		// column.field of a composite column.
		if l, ok, maybe := columnInScope(sc, names[0]); ok {
			return derive(l)
		} else if len(maybe) > 0 {
			return unknownLineage(maybe...)
		}
	case 3:
		if r := findRTE(sc, names[0], names[1]); r != nil {
			return rteColumn(r, names[2])
		}
		if r := findRTE(sc, "", names[0]); r != nil {
			return derive(rteColumn(r, names[1]))
		}
	case 4:
		if r := findRTE(sc, names[1], names[2]); r != nil {
			return rteColumn(r, names[3])
		}
	}
	// Unresolvable: PostgreSQL will most likely reject the statement, but if
	// it does not, the value may be anything in scope.
	return e.allInScope(sc)
}

// --- queries ------------------------------------------------------------------

// query analyzes a row-returning statement in a subquery position (FROM,
// sublinks, CTEs).
func (e *engine) query(parent *scope, env *cteEnv, n *pg.Node) shape {
	if n == nil {
		return shape{}
	}
	switch x := n.Node.(type) {
	case *pg.Node_SelectStmt:
		return e.selectStmt(parent, env, x.SelectStmt)
	case *pg.Node_InsertStmt:
		return e.insert(parent, env, x.InsertStmt)
	case *pg.Node_UpdateStmt:
		return e.update(parent, env, x.UpdateStmt)
	case *pg.Node_DeleteStmt:
		return e.delete(parent, env, x.DeleteStmt)
	case *pg.Node_MergeStmt:
		return e.merge(parent, env, x.MergeStmt)
	default:
		e.markOpaque("unsupported subquery " + nodeName(n))
		return shape{unknownShape: true}
	}
}

func (e *engine) selectStmt(parent *scope, env *cteEnv, s *pg.SelectStmt) shape {
	if s == nil {
		return shape{}
	}
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > maxDepth {
		e.markOpaque("statement nesting too deep")
		return shape{unknownShape: true}
	}
	if s.WithClause != nil {
		env = e.with(parent, env, s.WithClause)
	}
	if s.Op == pg.SetOperation_SETOP_UNION || s.Op == pg.SetOperation_SETOP_INTERSECT || s.Op == pg.SetOperation_SETOP_EXCEPT {
		l := e.selectStmt(parent, env, s.Larg)
		r := e.selectStmt(parent, env, s.Rarg)
		if s.Op != pg.SetOperation_SETOP_UNION || !s.All {
			e.compareRows(l, r)
		}
		sh := e.setop(l, r)
		e.tail(&scope{parent: parent, ctes: env, items: []*item{{cols: sh.cols, unknownShape: sh.unknownShape}}}, s, sh.cols)
		return sh
	}
	sc := &scope{parent: parent, ctes: env}
	if len(s.ValuesLists) > 0 {
		sh := e.values(sc, s.ValuesLists)
		e.tail(&scope{parent: parent, ctes: env, items: []*item{{cols: sh.cols}}}, s, sh.cols)
		return sh
	}
	e.from(sc, s.FromClause)
	e.use(e.expr(sc, s.WhereClause), rules.UseFilter)
	cols, unk := e.targets(sc, s.TargetList)
	for _, d := range s.DistinctClause {
		if d == nil || d.Node == nil {
			// Plain DISTINCT (one empty item): every output column.
			for _, c := range cols {
				e.key(c.lin, rules.UseGroup)
			}
			continue
		}
		e.key(e.clauseExpr(sc, d, cols, true), rules.UseGroup)
	}
	for _, g := range s.GroupClause {
		e.groupExpr(sc, g, cols)
	}
	e.use(e.expr(sc, s.HavingClause), rules.UseFilter)
	for _, w := range s.WindowClause {
		if wd := w.GetWindowDef(); wd != nil {
			e.windowDef(sc, wd)
		}
	}
	e.tail(sc, s, cols)
	return shape{cols: cols, unknownShape: unk}
}

// tail handles ORDER BY, LIMIT and OFFSET.
func (e *engine) tail(sc *scope, s *pg.SelectStmt, cols []column) {
	for _, o := range s.SortClause {
		e.use(e.clauseExpr(sc, sortExpr(o), cols, true), rules.UseOrder)
	}
	e.use(e.expr(sc, s.LimitCount), rules.UseFilter)
	e.use(e.expr(sc, s.LimitOffset), rules.UseFilter)
}

func (e *engine) groupExpr(sc *scope, g *pg.Node, cols []column) {
	if gs := g.GetGroupingSet(); gs != nil {
		for _, c := range gs.Content {
			e.groupExpr(sc, c, cols)
		}
		return
	}
	e.key(e.clauseExpr(sc, g, cols, false), rules.UseGroup)
}

// clauseExpr resolves an ORDER BY, DISTINCT ON or GROUP BY item, which may
// name an output column by position or by name. preferOutput follows
// PostgreSQL: ORDER BY prefers output names, GROUP BY input columns.
func (e *engine) clauseExpr(sc *scope, n *pg.Node, cols []column, preferOutput bool) lineage {
	if n == nil {
		return lineage{}
	}
	if c := n.GetAConst(); c != nil {
		e.consult(c)
		if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
			if k := int(iv.Ival.GetIval()); k >= 1 && k <= len(cols) {
				return cols[k-1].lin
			}
		}
		return lineage{}
	}
	if cr := n.GetColumnRef(); cr != nil {
		names, star := refFields(cr)
		if !star && len(names) == 1 {
			var out []lineage
			for _, c := range cols {
				if c.name == names[0] {
					out = append(out, c.lin)
				}
			}
			if len(out) > 0 {
				if preferOutput {
					return derive(out...)
				}
				if _, ok := sc.lookup(names[0]); !ok {
					return derive(out...)
				}
			}
		}
	}
	return e.expr(sc, n)
}

func sortExpr(n *pg.Node) *pg.Node {
	if sb := n.GetSortBy(); sb != nil {
		return sb.Node
	}
	return n
}

func (e *engine) setop(l, r shape) shape {
	if l.unknownShape || r.unknownShape || len(l.cols) != len(r.cols) {
		all := unknownLineage(l.whole(), r.whole())
		cols := make([]column, len(l.cols))
		for i, c := range l.cols {
			cols[i] = column{name: c.name, lin: all}
		}
		return shape{cols: cols, unknownShape: true}
	}
	cols := make([]column, len(l.cols))
	for i := range l.cols {
		cols[i] = column{name: l.cols[i].name, lin: e.snap.merge(l.cols[i].lin, r.cols[i].lin)}
	}
	return shape{cols: cols}
}

func (e *engine) values(sc *scope, rows []*pg.Node) shape {
	var cols []column
	width := -1
	unknown := false
	for r, row := range rows {
		items := row.GetList().GetItems()
		if width >= 0 && len(items) != width {
			unknown = true
		}
		if width < 0 {
			width = len(items)
			cols = make([]column, width)
			for i := range cols {
				cols[i].name = "column" + strconv.Itoa(i+1)
			}
		}
		for i, it := range items {
			l := e.expr(sc, it)
			switch {
			case i < len(cols) && r == 0:
				cols[i].lin = l
			case i < len(cols):
				cols[i].lin = e.snap.merge(cols[i].lin, l)
			default:
				unknown = true
				for j := range cols {
					cols[j].lin = unknownLineage(cols[j].lin, l)
				}
			}
		}
	}
	return shape{cols: cols, unknownShape: unknown}
}

// targets evaluates a SELECT list (or RETURNING list), expanding *.
func (e *engine) targets(sc *scope, list []*pg.Node) ([]column, bool) {
	var out []column
	unknown := false
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			out = append(out, column{name: "?column?", lin: e.expr(sc, n)})
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			if names, star := refFields(cr); star {
				cols, unk := e.expandStar(sc, names)
				out = append(out, cols...)
				unknown = unknown || unk
				continue
			}
		}
		if ind := rt.Val.GetAIndirection(); ind != nil && len(ind.Indirection) > 0 &&
			ind.Indirection[len(ind.Indirection)-1].GetAStar() != nil {
			// (c).* and (func()).*
			if len(ind.Indirection) == 1 {
				if r := e.wholeRowRTE(sc, ind.Arg); r != nil {
					out = append(out, r.cols...)
					unknown = unknown || r.unknownShape
					continue
				}
			}
			l := e.expr(sc, rt.Val)
			out = append(out, column{name: "?column?", lin: unknownLineage(l)})
			unknown = true
			continue
		}
		name := rt.Name
		if name == "" {
			name = figureColname(rt.Val)
		}
		out = append(out, column{name: name, lin: e.expr(sc, rt.Val)})
	}
	return out, unknown
}

func (e *engine) expandStar(sc *scope, names []string) ([]column, bool) {
	if len(names) == 0 {
		if sc == nil {
			return nil, false
		}
		var cols []column
		unknown := false
		for _, it := range sc.items {
			cols = append(cols, it.cols...)
			unknown = unknown || it.unknownShape
		}
		return cols, unknown
	}
	n := len(names)
	schema := ""
	if n >= 2 {
		schema = names[n-2]
	}
	if r := findRTE(sc, schema, names[n-1]); r != nil {
		return r.cols, r.unknownShape
	}
	return []column{{name: "?column?", lin: e.allInScope(sc)}}, true
}

// compareRows records the uses of a set operation's comparison of l's rows
// with r's: UNION, INTERSECT and EXCEPT (and a recursive UNION's removal of
// rows seen before) keep or drop rows by equality of their values, as
// GROUP BY does, and a branch of guesses makes the comparison a probe.
func (e *engine) compareRows(l, r shape) {
	if len(l.cols) == len(r.cols) && !l.unknownShape && !r.unknownShape {
		for i := range l.cols {
			e.keyPair(l.cols[i].lin, r.cols[i].lin, rules.UseGroup)
		}
		return
	}
	// A side of unknown shape: each column may be compared with anything,
	// a guess included.
	for _, c := range slices.Concat(l.cols, r.cols) {
		e.use(c.lin, rules.UseGroup|rules.UseFilter)
	}
}

// --- WITH ---------------------------------------------------------------------

func (e *engine) with(parent *scope, env *cteEnv, w *pg.WithClause) *cteEnv {
	ctes := w.Ctes
	if w.Recursive {
		ctes = e.cteOrder(ctes)
	}
	for _, n := range ctes {
		c := n.GetCommonTableExpr()
		if c == nil {
			continue
		}
		var sh shape
		sel := c.Ctequery.GetSelectStmt()
		if w.Recursive && sel != nil && sel.Op == pg.SetOperation_SETOP_UNION {
			sh = e.recursiveCTE(parent, env, c, sel)
		} else {
			sh = e.query(parent, env, c.Ctequery)
		}
		cols := renameCols(sh.cols, c.Aliascolnames)
		cols = e.searchCycleCols(cols, c)
		env = &cteEnv{parent: env, name: c.Ctename, cols: cols, unknownShape: sh.unknownShape}
	}
	return env
}

// cteOrder returns the CTEs of a WITH RECURSIVE in an order where each
// comes after those it refers to: there, unlike in a plain WITH, a CTE may
// name one defined later in the list (PostgreSQL sorts them the same way).
// A reference is any unqualified relation name in the body that names a
// CTE of the list, shadowed or not (a superset). Mutual references, which
// PostgreSQL rejects, leave the list order and make the statement opaque.
func (e *engine) cteOrder(ctes []*pg.Node) []*pg.Node {
	index := map[string]int{}
	for i, n := range ctes {
		if c := n.GetCommonTableExpr(); c != nil {
			index[c.Ctename] = i
		}
	}
	deps := make([][]int, len(ctes))
	forward := false
	for i, n := range ctes {
		c := n.GetCommonTableExpr()
		if c == nil || c.Ctequery == nil {
			continue
		}
		walkNodes(c.Ctequery, func(x *pg.Node) {
			rv := x.GetRangeVar()
			if rv == nil || rv.Schemaname != "" {
				return
			}
			if j, ok := index[rv.Relname]; ok && j != i && !slices.Contains(deps[i], j) {
				deps[i] = append(deps[i], j)
				forward = forward || j > i
			}
		})
	}
	if !forward {
		return ctes
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(ctes))
	out := make([]*pg.Node, 0, len(ctes))
	cyclic := false
	var visit func(int)
	visit = func(i int) {
		switch state[i] {
		case done:
			return
		case visiting:
			cyclic = true
			return
		}
		state[i] = visiting
		for _, j := range deps[i] {
			visit(j)
		}
		state[i] = done
		out = append(out, ctes[i])
	}
	for i := range ctes {
		visit(i)
	}
	if cyclic {
		e.markOpaque("WITH queries that refer to each other")
		return ctes
	}
	return out
}

// recursiveCTE computes the lineage of WITH RECURSIVE name AS (base UNION
// step) as a fixpoint: the step is analyzed with name bound to the current
// lineage until nothing changes.
func (e *engine) recursiveCTE(parent *scope, env *cteEnv, c *pg.CommonTableExpr, sel *pg.SelectStmt) shape {
	base := e.selectStmt(parent, env, sel.Larg)
	cur := shape{cols: renameCols(base.cols, c.Aliascolnames), unknownShape: base.unknownShape}
	for range maxFixpoint {
		self := &cteEnv{parent: env, name: c.Ctename, cols: cur.cols, unknownShape: cur.unknownShape}
		step := e.selectStmt(parent, self, sel.Rarg)
		next := e.setop(cur, step)
		next.cols = renameCols(next.cols, c.Aliascolnames)
		if shapesEqual(cur, next) {
			if !sel.All {
				// UNION drops each step row equal to a row seen before:
				// the base's or an earlier step's.
				e.compareRows(cur, step)
			}
			e.tail(&scope{parent: parent, ctes: env, items: []*item{{cols: cur.cols}}}, sel, cur.cols)
			return cur
		}
		cur = next
	}
	all := unknownLineage(cur.whole())
	for i := range cur.cols {
		cur.cols[i].lin = all
	}
	if !sel.All {
		e.compareRows(cur, cur)
	}
	return cur
}

// searchCycleCols appends the columns that SEARCH and CYCLE clauses add to
// a recursive CTE: the search sequence and the cycle path hold the values of
// the columns they name. The cycle mark says whether a row's cycle columns
// equal an earlier row's, a comparison as GROUP BY makes (key): with a guess
// as the base row it answers the guess.
func (e *engine) searchCycleCols(cols []column, c *pg.CommonTableExpr) []column {
	named := func(list []*pg.Node) []lineage {
		var ls []lineage
		for _, n := range list {
			if i := colIndex(cols, strVal(n)); i >= 0 {
				ls = append(ls, cols[i].lin)
			} else {
				ls = append(ls, unknownLineage(wholeRow(cols, false)))
			}
		}
		return ls
	}
	if sc := c.SearchClause; sc != nil {
		cols = append(slices.Clip(cols), column{name: sc.SearchSeqColumn, lin: derive(named(sc.SearchColList)...)})
	}
	if cc := c.CycleClause; cc != nil {
		ls := named(cc.CycleColList)
		for _, l := range ls {
			e.key(l, rules.UseGroup)
		}
		path := derive(ls...)
		cols = append(slices.Clip(cols), column{name: cc.CycleMarkColumn, lin: path}, column{name: cc.CyclePathColumn, lin: path})
	}
	return cols
}

func shapesEqual(a, b shape) bool {
	if a.unknownShape != b.unknownShape || len(a.cols) != len(b.cols) {
		return false
	}
	for i := range a.cols {
		if !a.cols[i].lin.equal(b.cols[i].lin) {
			return false
		}
	}
	return true
}

func renameCols(cols []column, names []*pg.Node) []column {
	if len(names) == 0 {
		return cols
	}
	out := slices.Clone(cols)
	for i, n := range names {
		if i < len(out) {
			out[i].name = strVal(n)
		}
	}
	return out
}

// --- FROM -----------------------------------------------------------------------

func (e *engine) from(sc *scope, list []*pg.Node) {
	for _, n := range list {
		sc.items = append(sc.items, e.fromItem(sc, n, sc.items))
	}
}

// fromItem analyzes one FROM entry. lateral are the entries to its left that
// LATERAL subqueries and functions may reference.
func (e *engine) fromItem(sc *scope, n *pg.Node, lateral []*item) *item {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > maxDepth {
		e.markOpaque("statement nesting too deep")
		return &item{unknownShape: true}
	}
	lat := &scope{parent: sc.parent, items: lateral, ctes: sc.ctes}
	switch x := n.Node.(type) {
	case *pg.Node_RangeVar:
		return e.rangeVar(sc, x.RangeVar)
	case *pg.Node_RangeSubselect:
		parent := sc.parent
		if x.RangeSubselect.Lateral {
			parent = lat
		}
		sh := e.query(parent, sc.ctes, x.RangeSubselect.Subquery)
		return aliasItem(x.RangeSubselect.Alias, "", sh.cols, sh.unknownShape)
	case *pg.Node_RangeFunction:
		return e.rangeFunction(lat, x.RangeFunction)
	case *pg.Node_JoinExpr:
		return e.join(sc, x.JoinExpr, lateral)
	case *pg.Node_RangeTableSample:
		it := e.fromItem(sc, x.RangeTableSample.Relation, lateral)
		for _, a := range x.RangeTableSample.Args {
			e.use(e.expr(lat, a), rules.UseFilter)
		}
		e.use(e.expr(lat, x.RangeTableSample.Repeatable), rules.UseFilter)
		return it
	case *pg.Node_RangeTableFunc:
		t := x.RangeTableFunc
		l := derive(e.expr(lat, t.Docexpr), e.expr(lat, t.Rowexpr))
		e.use(l, rules.UseFilter) // the row count depends on the document
		var cols []column
		for _, c := range t.Columns {
			col := c.GetRangeTableFuncCol()
			if col == nil {
				continue
			}
			if col.ForOrdinality {
				cols = append(cols, column{name: col.Colname})
				continue
			}
			cl := derive(l, e.expr(lat, col.Colexpr), e.expr(lat, col.Coldefexpr))
			cols = append(cols, column{name: col.Colname, lin: cl})
		}
		return aliasItem(t.Alias, "xmltable", cols, false)
	case *pg.Node_JsonTable:
		t := x.JsonTable
		var ls []lineage
		if t.ContextItem != nil {
			ls = append(ls, e.expr(lat, t.ContextItem.RawExpr))
		}
		for _, p := range t.Passing {
			ls = append(ls, e.expr(lat, p))
		}
		l := derive(ls...)
		e.use(l, rules.UseFilter) // the row count depends on the document
		var cols []column
		e.jsonTableCols(lat, t.Columns, l, &cols)
		return aliasItem(t.Alias, "json_table", cols, false)
	default:
		e.markOpaque("unsupported FROM item " + nodeName(n))
		return &item{unknownShape: true}
	}
}

// jsonTableCols appends JSON_TABLE's columns: each derives from the
// document (l) and from its own path and ON EMPTY / ON ERROR defaults,
// which the client chooses.
func (e *engine) jsonTableCols(sc *scope, list []*pg.Node, l lineage, out *[]column) {
	for _, n := range list {
		c := n.GetJsonTableColumn()
		if c == nil {
			continue
		}
		switch c.Coltype {
		case pg.JsonTableColumnType_JTC_NESTED:
			e.jsonTableCols(sc, c.Columns, derive(l, e.expr(sc, c.Pathspec.GetString_())), out)
		case pg.JsonTableColumnType_JTC_FOR_ORDINALITY:
			*out = append(*out, column{name: c.Name})
		default:
			own := []lineage{l}
			if c.Pathspec != nil {
				own = append(own, e.expr(sc, c.Pathspec.GetString_()))
			}
			if c.OnEmpty != nil {
				own = append(own, e.expr(sc, c.OnEmpty.Expr))
			}
			if c.OnError != nil {
				own = append(own, e.expr(sc, c.OnError.Expr))
			}
			*out = append(*out, column{name: c.Name, lin: derive(own...)})
		}
	}
}

// aliasItem wraps columns into an item named by alias (renaming columns by
// the alias's column list).
func aliasItem(alias *pg.Alias, defName string, cols []column, unknownShape bool) *item {
	name := defName
	if alias != nil {
		name = alias.Aliasname
		cols = renameCols(cols, alias.Colnames)
	}
	it := &item{cols: cols, unknownShape: unknownShape}
	if name != "" {
		it.rtes = []*rte{{refname: name, cols: cols, unknownShape: unknownShape}}
	}
	return it
}

func (e *engine) rangeVar(sc *scope, rv *pg.RangeVar) *item {
	schema, name := rv.Schemaname, rv.Relname
	refname := name
	var colnames []*pg.Node
	if rv.Alias != nil {
		refname = rv.Alias.Aliasname
		colnames = rv.Alias.Colnames
	}
	if schema == "" {
		if c := sc.env().find(name); c != nil {
			cols := renameCols(c.cols, colnames)
			return &item{cols: cols, unknownShape: c.unknownShape, rtes: []*rte{{refname: refname, cols: cols, unknownShape: c.unknownShape}}}
		}
	}
	cands := e.relations(schema, name)
	if len(cands) == 0 {
		qn := name
		if schema != "" {
			qn = schema + "." + name
		}
		e.addTable(qn, true)
		e.unknownRel = true
		if isCatalogDataRelation(schema, name) {
			e.catalogData = true
		}
		r := &rte{refname: refname, unknownShape: true}
		if rv.Alias == nil {
			r.schemas = []string{schema}
		}
		return &item{unknownShape: true, rtes: []*rte{r}}
	}
	var schemas []string
	for i, ri := range cands {
		e.addTable(ri.qname, i == 0)
		for _, t := range ri.tables {
			e.addTable(t, false)
		}
		if ri.opaque != "" {
			e.markOpaque(ri.opaque)
		}
		if ri.state == 1 {
			// Expanding this view reached itself: its columns are not
			// known yet.
			e.markOpaque("reads view " + ri.qname + " recursively")
		}
		if ri.catalogData {
			e.catalogData = true
		}
		schemas = append(schemas, ri.rel.Schema)
	}
	cols, unknownShape := e.mergeRelations(cands)
	cols = renameCols(cols, colnames)
	r := &rte{refname: refname, cols: cols, unknownShape: unknownShape}
	if rv.Alias == nil {
		r.schemas = schemas
	}
	return &item{cols: cols, unknownShape: unknownShape, rtes: []*rte{r}}
}

// relations resolves a relation name to its candidates (see
// Snapshot.resolve), pg_catalog first, then public, then by schema name, and
// makes sure views are expanded.
func (e *engine) relations(schema, name string) []*relInfo {
	cands := e.snap.resolve(schema, name, e.inView)
	if len(cands) > 1 {
		cands = slices.Clone(cands)
		slices.SortFunc(cands, func(a, b *relInfo) int {
			return strings.Compare(schemaRank(a.rel.Schema), schemaRank(b.rel.Schema))
		})
	}
	for _, ri := range cands {
		if ri.state != 2 {
			e.snap.expand(ri)
		}
	}
	return cands
}

func schemaRank(s string) string {
	switch s {
	case "pg_catalog":
		return "0"
	case "public":
		return "1"
	}
	return "2" + s
}

// mergeRelations returns the columns of the candidates of a name. One
// candidate: its columns. Several with the same column names: each column
// merged across them. Different shapes: the columns merged by name, and the
// shape unknown (a * cannot say which relation's positions apply).
func (e *engine) mergeRelations(cands []*relInfo) ([]column, bool) {
	first := cands[0]
	cols := make([]column, len(first.cols))
	copy(cols, first.cols)
	for _, c := range cands {
		if c.state == 1 {
			// A view being expanded (a cycle): its lineage is not known.
			all := unknownLineage()
			for i := range cols {
				cols[i].lin = all
			}
			return cols, true
		}
	}
	if len(cands) == 1 {
		return cols, false
	}
	same := true
	for _, c := range cands[1:] {
		if len(c.cols) != len(first.cols) {
			same = false
			break
		}
		for i := range c.cols {
			if c.cols[i].name != first.cols[i].name {
				same = false
			}
		}
	}
	if same {
		for i := range cols {
			ls := make([]lineage, len(cands))
			for k, c := range cands {
				ls[k] = c.cols[i].lin
			}
			cols[i].lin = e.snap.merge(ls...)
		}
		return cols, false
	}
	for _, c := range cands[1:] {
		for _, col := range c.cols {
			if colIndex(cols, col.name) < 0 {
				cols = append(cols, column{name: col.name})
			}
		}
	}
	for i := range cols {
		var ls []lineage
		for _, c := range cands {
			if k := c.colIndex(cols[i].name); k >= 0 {
				ls = append(ls, c.cols[k].lin)
			}
		}
		cols[i].lin = e.snap.merge(ls...)
	}
	return cols, true
}

func (e *engine) join(sc *scope, j *pg.JoinExpr, lateral []*item) *item {
	l := e.fromItem(sc, j.Larg, lateral)
	r := e.fromItem(sc, j.Rarg, append(slices.Clip(lateral), l))
	var using []string
	unknown := l.unknownShape || r.unknownShape
	if j.IsNatural {
		if !unknown {
			for _, c := range l.cols {
				if colIndex(r.cols, c.name) >= 0 && !slices.Contains(using, c.name) {
					using = append(using, c.name)
				}
			}
		} else {
			// Which columns are compared, and with what, is unknown: any
			// column of either side may be a key against a guess.
			for _, c := range slices.Concat(l.cols, r.cols) {
				e.use(c.lin, rules.UseJoin|rules.UseFilter)
			}
		}
	} else {
		for _, u := range j.UsingClause {
			using = append(using, strVal(u))
		}
	}
	var merged []column
	lused := map[int]bool{}
	rused := map[int]bool{}
	side := func(it *item, used map[int]bool, name string) lineage {
		for i := range it.cols {
			if it.cols[i].name == name && !used[i] {
				used[i] = true
				return it.cols[i].lin
			}
		}
		return unknownLineage(wholeRow(it.cols, true))
	}
	for _, name := range using {
		ll, rl := side(l, lused, name), side(r, rused, name)
		e.keyPair(ll, rl, rules.UseJoin)
		merged = append(merged, column{name: name, lin: e.snap.merge(ll, rl)})
	}
	cols := slices.Clone(merged)
	for i, c := range l.cols {
		if !lused[i] {
			cols = append(cols, c)
		}
	}
	for i, c := range r.cols {
		if !rused[i] {
			cols = append(cols, c)
		}
	}
	if unknown && j.IsNatural {
		// Which columns merge is unknown: every column may be any of them.
		all := unknownLineage(wholeRow(cols, true))
		for i := range cols {
			cols[i].lin = all
		}
	}
	if j.Quals != nil {
		qs := &scope{parent: sc.parent, ctes: sc.ctes, items: []*item{l, r}}
		e.joinQual(qs, j.Quals)
	}
	if j.Alias != nil {
		return aliasItem(j.Alias, "", cols, unknown)
	}
	it := &item{cols: cols, unknownShape: unknown}
	it.rtes = append(it.rtes, l.rtes...)
	it.rtes = append(it.rtes, r.rtes...)
	if j.JoinUsingAlias != nil {
		it.rtes = append(it.rtes, &rte{refname: j.JoinUsingAlias.Aliasname, cols: merged})
	}
	return it
}

// rangeFunction analyzes functions in FROM (implicitly LATERAL: sc holds
// the entries to the left).
func (e *engine) rangeFunction(sc *scope, rf *pg.RangeFunction) *item {
	var cols []column
	unknown := false
	scalar := true // a single column named after the function (or the alias)
	for _, fn := range rf.Functions {
		parts := fn.GetList().GetItems()
		if len(parts) == 0 {
			continue
		}
		fexpr := parts[0]
		var coldef []*pg.Node
		if len(parts) > 1 && parts[1] != nil {
			coldef = parts[1].GetList().GetItems()
		}
		if !rf.IsRowsfrom && len(rf.Coldeflist) > 0 {
			coldef = rf.Coldeflist
		}
		lin := e.expr(sc, fexpr)
		fc := fexpr.GetFuncCall()
		if fc == nil {
			if fexpr.GetSqlvalueFunction() == nil && fexpr.GetXmlExpr() == nil {
				// CAST, COALESCE, NULLIF, GREATEST and the like: of a
				// composite type, PostgreSQL expands them to its columns.
				unknown = true
				scalar = false
				lin = unknownLineage(lin)
			}
			cols = append(cols, column{name: figureColname(fexpr), lin: lin})
			continue
		}
		schema, name := qualifiedName(fc.Funcname)
		kind, _ := e.snap.funcClass(schema, name)
		switch {
		case len(coldef) > 0:
			scalar = false
			for _, cd := range coldef {
				if d := cd.GetColumnDef(); d != nil {
					cols = append(cols, column{name: d.Colname, lin: lin})
				}
			}
		case kind == funcOpaque || kind == funcCatalogData:
			// A user function, or a builtin that reads what the analyzer
			// cannot see: its columns are unknown.
			unknown = true
			scalar = false
			cols = append(cols, column{name: name, lin: lin})
		case name == "unnest" && !e.scalarArrays(sc, fc.Args):
			// An array of rows: unnest expands each element to its
			// columns, which the analyzer does not know.
			unknown = true
			scalar = false
			cols = append(cols, column{name: name, lin: lin})
		case name == "unnest" && len(fc.Args) > 1:
			scalar = false
			for _, a := range fc.Args {
				cols = append(cols, column{name: "unnest", lin: derive(e.expr(sc, a))})
			}
		case srfColumns[name] != nil:
			scalar = false
			for _, cn := range srfColumns[name] {
				cols = append(cols, column{name: cn, lin: lin})
			}
		case recordFuncs[name]:
			scalar = false
			names := e.populateColumns(fc)
			if names == nil {
				unknown = true
				cols = append(cols, column{name: name, lin: unknownLineage(lin)})
			}
			for _, cn := range names {
				cols = append(cols, column{name: cn, lin: lin})
			}
		case name != "unnest" && e.snap.mayReturnRow(schema, name):
			// A composite result expands to columns the analyzer does not
			// know.
			unknown = true
			scalar = false
			cols = append(cols, column{name: name, lin: lin})
		default:
			cols = append(cols, column{name: name, lin: lin})
		}
	}
	if len(rf.Functions) != 1 {
		scalar = false
	}
	if scalar && len(cols) == 1 && rf.Alias != nil && len(rf.Alias.Colnames) == 0 {
		cols[0].name = rf.Alias.Aliasname
	}
	if rf.Ordinality {
		cols = append(cols, column{name: "ordinality"})
	}
	if unknown {
		for i := range cols {
			cols[i].lin = unknownLineage(cols[i].lin)
		}
	}
	defName := ""
	if len(cols) > 0 {
		defName = cols[0].name
	}
	return aliasItem(rf.Alias, defName, cols, unknown)
}

// scalarArrays reports whether each of unnest's arguments is sure to be an
// array of scalars, whose elements come out as one column each: a constant
// cast to a type that is no relation's row type, an ARRAY[...] of such
// constants or of column references, a stored column, or string_to_array /
// regexp_split_to_array. Anything else may be an array
// of rows (ARRAY[c], array_agg(c), ARRAY[NULL::customers]).
func (e *engine) scalarArrays(sc *scope, args []*pg.Node) bool {
	var scalar func(n *pg.Node, inArray bool) bool
	scalar = func(n *pg.Node, inArray bool) bool {
		switch {
		case n.GetAConst() != nil:
			return true
		case n.GetTypeCast() != nil:
			tc := n.GetTypeCast()
			schema, name := qualifiedName(tc.TypeName.GetNames())
			return len(e.relations(schema, name)) == 0 && !e.snap.typeUntrusted(tc.TypeName) &&
				tc.Arg != nil && (tc.Arg.GetAConst() != nil || tc.Arg.GetAArrayExpr() != nil && scalar(tc.Arg, false))
		case n.GetColumnRef() != nil:
			names, star := refFields(n.GetColumnRef())
			if star {
				return false
			}
			// A stored column (not an array computed in a subquery or
			// CTE, such as ARRAY[c]).
			var l lineage
			switch len(names) {
			case 1:
				var ok bool
				var maybe []lineage
				if l, ok, maybe = columnInScope(sc, names[0]); !ok || len(maybe) > 0 {
					return false
				}
			case 2:
				r := findRTE(sc, "", names[0])
				if r == nil || colIndex(r.cols, names[1]) < 0 {
					return false
				}
				l = r.cols[colIndex(r.cols, names[1])].lin
			default:
				return false
			}
			return l.direct && !l.unknown
		case n.GetAArrayExpr() != nil && !inArray:
			for _, el := range n.GetAArrayExpr().Elements {
				if !scalar(el, true) {
					return false
				}
			}
			return true
		case n.GetFuncCall() != nil && !inArray:
			schema, name := qualifiedName(n.GetFuncCall().Funcname)
			return (schema == "" || schema == "pg_catalog") && (name == "string_to_array" || name == "regexp_split_to_array")
		}
		return false
	}
	for _, a := range args {
		if !scalar(a, false) {
			return false
		}
	}
	return true
}

// populateColumns returns the columns of json(b)_populate_record(set)'s
// first argument's row type (NULL::schema.table), or nil.
func (e *engine) populateColumns(fc *pg.FuncCall) []string {
	if len(fc.Args) == 0 {
		return nil
	}
	tc := fc.Args[0].GetTypeCast()
	if tc == nil || tc.TypeName == nil {
		return nil
	}
	schema, name := qualifiedName(tc.TypeName.Names)
	cands := e.relations(schema, name)
	if len(cands) == 0 {
		return nil
	}
	var names []string
	for _, c := range cands[0].cols {
		names = append(names, c.name)
	}
	for _, c := range cands[1:] {
		// PostgreSQL takes the row type search_path finds first, with the
		// session's temporary schema ahead of every other: which one that
		// is cannot be told here.
		if !slices.EqualFunc(c.cols, cands[0].cols, func(a, b column) bool { return a.name == b.name }) {
			return nil
		}
	}
	return names
}

// --- helpers ----------------------------------------------------------------

func strVal(n *pg.Node) string {
	if s := n.GetString_(); s != nil {
		return s.Sval
	}
	return ""
}

// defTrue is the value of a boolean option: no argument means true, as do
// true/on/1 and match (HEADER MATCH).
func defTrue(n *pg.Node) bool {
	if n == nil {
		return true
	}
	if b := n.GetBoolean(); b != nil {
		return b.Boolval
	}
	if i := n.GetInteger(); i != nil {
		return i.Ival != 0
	}
	switch strings.ToLower(strVal(n)) {
	case "true", "on", "1", "match", "yes":
		return true
	}
	return false
}

// qualifiedName splits a name list (function, operator or type name) into
// an optional schema and the name.
func qualifiedName(list []*pg.Node) (schema, name string) {
	switch len(list) {
	case 0:
		return "", ""
	case 1:
		return "", strVal(list[0])
	default:
		return strVal(list[len(list)-2]), strVal(list[len(list)-1])
	}
}

// nodeMessage returns the message inside a Node's oneof.
func nodeMessage(n *pg.Node) protoreflect.Message {
	if n == nil || n.Node == nil {
		return nil
	}
	m := n.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("node")
	if od == nil {
		return nil
	}
	fd := m.WhichOneof(od)
	if fd == nil || fd.Kind() != protoreflect.MessageKind {
		return nil
	}
	return m.Get(fd).Message()
}

// nodeName is the type name of a node ("SelectStmt").
func nodeName(n *pg.Node) string {
	if m := nodeMessage(n); m != nil {
		return string(m.Descriptor().Name())
	}
	return "empty node"
}

// walkNodes calls fn for every Node in the tree of m, depth first.
func walkNodes(m protoreflect.ProtoMessage, fn func(*pg.Node)) {
	walkMessages(m, func(x protoreflect.ProtoMessage) {
		if n, ok := x.(*pg.Node); ok {
			fn(n)
		}
	})
}

// walkMessages calls fn for every message of the tree (nodes and the
// messages fields hold directly, such as a TypeCast's TypeName).
func walkMessages(m protoreflect.ProtoMessage, fn func(protoreflect.ProtoMessage)) {
	var walk func(protoreflect.Message, int)
	walk = func(m protoreflect.Message, depth int) {
		if depth > 4*maxDepth {
			return
		}
		fn(m.Interface())
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind {
				return true
			}
			switch {
			case fd.IsList():
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message(), depth+1)
				}
			case fd.IsMap():
			default:
				walk(v.Message(), depth+1)
			}
			return true
		})
	}
	walk(m.ProtoReflect(), 0)
}

// figureColname names an output column the way PostgreSQL's
// FigureColname does, closely enough for display.
func figureColname(n *pg.Node) string {
	if n == nil {
		return "?column?"
	}
	switch x := n.Node.(type) {
	case *pg.Node_ColumnRef:
		names, _ := refFields(x.ColumnRef)
		if len(names) > 0 {
			return names[len(names)-1]
		}
	case *pg.Node_AIndirection:
		for i := len(x.AIndirection.Indirection) - 1; i >= 0; i-- {
			if s := x.AIndirection.Indirection[i].GetString_(); s != nil {
				return s.Sval
			}
		}
		return figureColname(x.AIndirection.Arg)
	case *pg.Node_FuncCall:
		_, name := qualifiedName(x.FuncCall.Funcname)
		return name
	case *pg.Node_AExpr:
		if x.AExpr.Kind == pg.A_Expr_Kind_AEXPR_NULLIF {
			return "nullif"
		}
	case *pg.Node_TypeCast:
		if name := figureColname(x.TypeCast.Arg); name != "?column?" {
			return name
		}
		if x.TypeCast.TypeName != nil {
			_, name := qualifiedName(x.TypeCast.TypeName.Names)
			return name
		}
	case *pg.Node_CollateClause:
		return figureColname(x.CollateClause.Arg)
	case *pg.Node_SubLink:
		switch x.SubLink.SubLinkType {
		case pg.SubLinkType_EXISTS_SUBLINK:
			return "exists"
		case pg.SubLinkType_ARRAY_SUBLINK:
			return "array"
		case pg.SubLinkType_EXPR_SUBLINK:
			if s := x.SubLink.Subselect.GetSelectStmt(); s != nil && len(s.TargetList) == 1 {
				if rt := s.TargetList[0].GetResTarget(); rt != nil {
					if rt.Name != "" {
						return rt.Name
					}
					return figureColname(rt.Val)
				}
			}
		}
	case *pg.Node_CaseExpr:
		return "case"
	case *pg.Node_AArrayExpr:
		return "array"
	case *pg.Node_RowExpr:
		return "row"
	case *pg.Node_CoalesceExpr:
		return "coalesce"
	case *pg.Node_MinMaxExpr:
		if x.MinMaxExpr.Op == pg.MinMaxOp_IS_LEAST {
			return "least"
		}
		return "greatest"
	case *pg.Node_GroupingFunc:
		return "grouping"
	case *pg.Node_SqlvalueFunction:
		return sqlValueFunctionName(x.SqlvalueFunction.Op)
	case *pg.Node_XmlExpr:
		return xmlExprName(x.XmlExpr.Op)
	case *pg.Node_XmlSerialize:
		return "xmlserialize"
	}
	return "?column?"
}

func sqlValueFunctionName(op pg.SQLValueFunctionOp) string {
	s := strings.ToLower(strings.TrimPrefix(op.String(), "SVFOP_"))
	if i := strings.Index(s, "_n"); i > 0 && strings.HasSuffix(s, "_n") {
		s = s[:i]
	}
	return s
}

func xmlExprName(op pg.XmlExprOp) string {
	s := strings.ToLower(strings.TrimPrefix(op.String(), "IS_"))
	if s == "document" {
		return "?column?"
	}
	return s
}
