package analyze

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrRewrite is wrapped by every error of Rewrite: the statement cannot be
// restricted by the row filters and must be refused.
var ErrRewrite = errors.New("row filter cannot be applied")

// Rewrite returns sql with row filters applied: every reference in a FROM
// position (FROM, JOIN, UPDATE ... FROM, DELETE ... USING, MERGE ... USING,
// also inside subqueries, CTEs and sublinks) to a filtered table is replaced
// by (SELECT * FROM table WHERE predicate) AS alias; UPDATE and DELETE of a
// filtered table get the predicate added to their WHERE clause (through an
// EXISTS on the row's ctid and tableoid); COPY table TO becomes COPY (SELECT
// ...) TO. filters maps "schema.table" to a predicate over that table's
// columns (unqualified). An unqualified reference matches every filter of
// that table name in any schema (fail closed); its name stays as written, so
// it resolves as the session's search_path says. A CTE of the same name
// shadows the table, as in PostgreSQL.
//
// Statements the filters cannot be applied to return an error wrapping
// ErrRewrite: TABLESAMPLE, TRUNCATE, MERGE INTO, INSERT ... ON CONFLICT DO
// UPDATE of a filtered table, a predicate that is not one expression. With
// a snapshot (RewriteWith), reading a view or materialized view that
// expands to a filtered table is refused too: its definition reads the
// table unfiltered.
//
// A filtered table becomes a subquery, so references to its system columns
// (ctid, xmin, ...) or to schema-qualified column names (public.t.c) fail
// in PostgreSQL: the statement errors, which is safe.
//
// The result is deparsed from the parse tree: formatting changes and
// comments (including sqlcommenter trace context) are dropped, so take
// what you need from the original text first. sql with no reference to a
// filtered table is returned unchanged.
func Rewrite(sql string, filters map[string]string) (string, error) {
	return RewriteWith(nil, sql, filters)
}

// RewriteWith is Rewrite with a snapshot to detect views over filtered
// tables (nil behaves like Rewrite).
func RewriteWith(snap *Snapshot, sql string, filters map[string]string) (string, error) {
	if len(filters) == 0 {
		return sql, nil
	}
	rw := &rewriter{snap: snap, filters: map[string]*pg.Node{}, byName: map[string][]string{}}
	keys := make([]string, 0, len(filters))
	for k := range filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		schema, table, ok := strings.Cut(k, ".")
		if !ok || schema == "" || table == "" {
			return "", fmt.Errorf("%w: filter key %q is not schema.table", ErrRewrite, k)
		}
		pred, err := parsePredicate(filters[k])
		if err != nil {
			return "", fmt.Errorf("%w: filter for %s: %v", ErrRewrite, k, err)
		}
		rw.filters[k] = pred
		rw.byName[table] = append(rw.byName[table], k)
	}
	tree, err := pg.Parse(sql)
	if err != nil {
		return "", fmt.Errorf("%w: statement could not be parsed", ErrRewrite)
	}
	for _, raw := range tree.Stmts {
		rw.visit(raw.Stmt.ProtoReflect(), nil)
		if rw.err != nil {
			return "", rw.err
		}
	}
	if !rw.changed {
		return sql, nil
	}
	out, err := pg.Deparse(tree)
	if err != nil {
		return "", fmt.Errorf("%w: deparse: %v", ErrRewrite, err)
	}
	return out, nil
}

// parsePredicate parses a filter predicate and checks that it is exactly
// one expression (no second statement, no clause smuggled in).
func parsePredicate(pred string) (*pg.Node, error) {
	tree, err := pg.Parse("SELECT * FROM pgveil_filtered WHERE " + pred)
	if err != nil {
		return nil, errors.New("predicate does not parse")
	}
	if len(tree.Stmts) != 1 {
		return nil, errors.New("predicate is not one expression")
	}
	s := tree.Stmts[0].Stmt.GetSelectStmt()
	if s == nil || s.WhereClause == nil || len(s.FromClause) != 1 || s.Op != pg.SetOperation_SETOP_NONE ||
		len(s.GroupClause) > 0 || s.HavingClause != nil || len(s.SortClause) > 0 || s.LimitCount != nil ||
		s.LimitOffset != nil || len(s.WindowClause) > 0 || len(s.LockingClause) > 0 || s.WithClause != nil || s.IntoClause != nil {
		return nil, errors.New("predicate is not one expression")
	}
	return s.WhereClause, nil
}

type rewriter struct {
	snap    *Snapshot
	filters map[string]*pg.Node // "schema.table" -> predicate
	byName  map[string][]string // table name -> filter keys
	err     error
	changed bool
}

func (rw *rewriter) fail(format string, args ...any) {
	if rw.err == nil {
		rw.err = fmt.Errorf("%w: "+format, append([]any{ErrRewrite}, args...)...)
	}
}

// match returns the predicates that apply to a relation reference, or nil.
// ctes are the CTE names visible at the reference.
func (rw *rewriter) match(rv *pg.RangeVar, ctes []string) []*pg.Node {
	if rv == nil {
		return nil
	}
	if rv.Schemaname == "" && slices.Contains(ctes, rv.Relname) {
		return nil
	}
	var preds []*pg.Node
	if rv.Schemaname != "" {
		if p := rw.filters[rv.Schemaname+"."+rv.Relname]; p != nil {
			preds = append(preds, p)
		}
	} else {
		for _, k := range rw.byName[rv.Relname] {
			preds = append(preds, rw.filters[k])
		}
	}
	if len(preds) == 0 && rw.snap != nil {
		// A partition or inheritance child holds rows of its parent:
		// the parent's filter applies to it (its columns include the
		// parent's).
		for _, ri := range rw.snap.resolve(rv.Schemaname, rv.Relname, false) {
			for _, a := range rw.snap.ancestors(ri) {
				if p := rw.filters[a]; p != nil {
					preds = append(preds, p)
				}
			}
		}
		if len(preds) == 0 {
			rw.checkView(rv)
		}
	}
	return preds
}

// matchTarget is match for the target of UPDATE, DELETE, INSERT, MERGE or
// TRUNCATE, which always names a table, never a CTE. A CTE of the same
// name would be what an unqualified name in the added filter subquery
// denotes, so the statement is refused then.
func (rw *rewriter) matchTarget(rv *pg.RangeVar, ctes []string) []*pg.Node {
	preds := rw.match(rv, nil)
	if preds != nil && rv.Schemaname == "" && slices.Contains(ctes, rv.Relname) {
		rw.fail("a WITH query named like filtered table %s that the statement writes", rv.Relname)
	}
	return preds
}

// checkView refuses views whose definition reads a filtered table.
func (rw *rewriter) checkView(rv *pg.RangeVar) {
	for _, ri := range rw.snap.resolve(rv.Schemaname, rv.Relname, false) {
		for _, t := range ri.tables {
			if t != ri.qname && rw.filters[t] != nil {
				rw.fail("%s reads filtered table %s", ri.qname, t)
				return
			}
		}
	}
}

// andAll combines predicates (one per schema an unqualified name may mean).
func andAll(preds []*pg.Node) *pg.Node {
	if len(preds) == 1 {
		return proto.Clone(preds[0]).(*pg.Node)
	}
	args := make([]*pg.Node, len(preds))
	for i, p := range preds {
		args[i] = proto.Clone(p).(*pg.Node)
	}
	return &pg.Node{Node: &pg.Node_BoolExpr{BoolExpr: &pg.BoolExpr{Boolop: pg.BoolExprType_AND_EXPR, Args: args}}}
}

// filteredSelect builds SELECT * FROM <rv as written> WHERE <preds>.
func filteredSelect(rv *pg.RangeVar, preds []*pg.Node) *pg.SelectStmt {
	inner := &pg.RangeVar{Schemaname: rv.Schemaname, Relname: rv.Relname, Inh: rv.Inh, Relpersistence: "p"}
	star := &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{{Node: &pg.Node_AStar{AStar: &pg.A_Star{}}}}}}}
	return &pg.SelectStmt{
		TargetList:  []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: star}}}},
		FromClause:  []*pg.Node{{Node: &pg.Node_RangeVar{RangeVar: inner}}},
		WhereClause: andAll(preds),
		Op:          pg.SetOperation_SETOP_NONE,
		LimitOption: pg.LimitOption_LIMIT_OPTION_DEFAULT,
	}
}

// fromNode rewrites one FROM entry in place if it is a filtered relation.
func (rw *rewriter) fromNode(n *pg.Node, ctes []string) {
	if n == nil {
		return
	}
	switch x := n.Node.(type) {
	case *pg.Node_RangeVar:
		preds := rw.match(x.RangeVar, ctes)
		if preds == nil {
			return
		}
		alias := x.RangeVar.Alias
		if alias == nil {
			alias = &pg.Alias{Aliasname: x.RangeVar.Relname}
		}
		n.Node = &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{
			Subquery: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: filteredSelect(x.RangeVar, preds)}},
			Alias:    alias,
		}}
		rw.changed = true
	case *pg.Node_RangeTableSample:
		if rv := x.RangeTableSample.Relation.GetRangeVar(); rv != nil && rw.match(rv, ctes) != nil {
			rw.fail("TABLESAMPLE of filtered table %s", rv.Relname)
		}
		rw.visit(n.ProtoReflect(), ctes)
	default:
		rw.visit(n.ProtoReflect(), ctes)
	}
}

// withCTEs processes a WITH clause and returns the CTE names visible to
// the statement that owns it.
func (rw *rewriter) withCTEs(w *pg.WithClause, ctes []string) []string {
	if w == nil {
		return ctes
	}
	visible := slices.Clone(ctes)
	if w.Recursive {
		for _, c := range w.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				visible = append(visible, cte.Ctename)
			}
		}
	}
	for _, c := range w.Ctes {
		cte := c.GetCommonTableExpr()
		if cte == nil {
			continue
		}
		rw.visit(cte.Ctequery.ProtoReflect(), visible)
		if !w.Recursive {
			visible = append(visible, cte.Ctename)
		}
	}
	return visible
}

// dmlFilter adds "AND EXISTS (SELECT 1 FROM t AS pgveil_rf WHERE
// pgveil_rf.ctid = ref.ctid AND pgveil_rf.tableoid = ref.tableoid AND
// pred)" to an UPDATE or DELETE of a filtered table.
func (rw *rewriter) dmlFilter(rv *pg.RangeVar, where **pg.Node, ctes []string) {
	preds := rw.matchTarget(rv, ctes)
	if preds == nil {
		return
	}
	ref := rv.Relname
	if rv.Alias != nil {
		ref = rv.Alias.Aliasname
	}
	col := func(names ...string) *pg.Node {
		fields := make([]*pg.Node, len(names))
		for i, n := range names {
			fields[i] = &pg.Node{Node: &pg.Node_String_{String_: &pg.String{Sval: n}}}
		}
		return &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: fields}}}
	}
	eq := func(l, r *pg.Node) *pg.Node {
		return &pg.Node{Node: &pg.Node_AExpr{AExpr: &pg.A_Expr{
			Kind: pg.A_Expr_Kind_AEXPR_OP, Name: []*pg.Node{{Node: &pg.Node_String_{String_: &pg.String{Sval: "="}}}}, Lexpr: l, Rexpr: r,
		}}}
	}
	const rf = "pgveil_rf"
	sel := filteredSelect(rv, preds)
	sel.FromClause[0].GetRangeVar().Alias = &pg.Alias{Aliasname: rf}
	one := &pg.Node{Node: &pg.Node_AConst{AConst: &pg.A_Const{Val: &pg.A_Const_Ival{Ival: &pg.Integer{Ival: 1}}}}}
	sel.TargetList = []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: one}}}}
	sel.WhereClause = &pg.Node{Node: &pg.Node_BoolExpr{BoolExpr: &pg.BoolExpr{Boolop: pg.BoolExprType_AND_EXPR, Args: []*pg.Node{
		eq(col(rf, "ctid"), col(ref, "ctid")),
		eq(col(rf, "tableoid"), col(ref, "tableoid")),
		sel.WhereClause,
	}}}}
	exists := &pg.Node{Node: &pg.Node_SubLink{SubLink: &pg.SubLink{
		SubLinkType: pg.SubLinkType_EXISTS_SUBLINK,
		Subselect:   &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}},
	}}}
	if *where == nil {
		*where = exists
	} else {
		*where = &pg.Node{Node: &pg.Node_BoolExpr{BoolExpr: &pg.BoolExpr{Boolop: pg.BoolExprType_AND_EXPR, Args: []*pg.Node{*where, exists}}}}
	}
	rw.changed = true
}

// visit walks a message, rewriting FROM positions and handling the
// statements with their own rules.
func (rw *rewriter) visit(m protoreflect.Message, ctes []string) {
	if rw.err != nil || !m.IsValid() {
		return
	}
	switch x := m.Interface().(type) {
	case *pg.SelectStmt:
		ctes = rw.withCTEs(x.WithClause, ctes)
		for _, f := range x.FromClause {
			rw.fromNode(f, ctes)
		}
		rw.visitExcept(m, ctes, "with_clause", "from_clause")
		return
	case *pg.JoinExpr:
		rw.fromNode(x.Larg, ctes)
		rw.fromNode(x.Rarg, ctes)
		rw.visitExcept(m, ctes, "larg", "rarg")
		return
	case *pg.UpdateStmt:
		ctes = rw.withCTEs(x.WithClause, ctes)
		for _, f := range x.FromClause {
			rw.fromNode(f, ctes)
		}
		rw.visitExcept(m, ctes, "with_clause", "from_clause", "relation")
		rw.dmlFilter(x.Relation, &x.WhereClause, ctes)
		return
	case *pg.DeleteStmt:
		ctes = rw.withCTEs(x.WithClause, ctes)
		for _, f := range x.UsingClause {
			rw.fromNode(f, ctes)
		}
		rw.visitExcept(m, ctes, "with_clause", "using_clause", "relation")
		rw.dmlFilter(x.Relation, &x.WhereClause, ctes)
		return
	case *pg.InsertStmt:
		ctes = rw.withCTEs(x.WithClause, ctes)
		if oc := x.OnConflictClause; oc != nil && oc.Action == pg.OnConflictAction_ONCONFLICT_UPDATE && rw.matchTarget(x.Relation, ctes) != nil {
			rw.fail("INSERT ... ON CONFLICT DO UPDATE of filtered table %s", x.Relation.Relname)
		}
		rw.visitExcept(m, ctes, "with_clause", "relation")
		return
	case *pg.MergeStmt:
		ctes = rw.withCTEs(x.WithClause, ctes)
		if rw.matchTarget(x.Relation, ctes) != nil {
			rw.fail("MERGE into filtered table %s", x.Relation.Relname)
		}
		rw.fromNode(x.SourceRelation, ctes)
		rw.visitExcept(m, ctes, "with_clause", "relation", "source_relation")
		return
	case *pg.TruncateStmt:
		for _, r := range x.Relations {
			if rw.matchTarget(r.GetRangeVar(), ctes) != nil {
				rw.fail("TRUNCATE of filtered table %s", r.GetRangeVar().Relname)
			}
		}
		return
	case *pg.CopyStmt:
		if x.Relation != nil && !x.IsFrom {
			if preds := rw.match(x.Relation, ctes); preds != nil {
				sel := filteredSelect(x.Relation, preds)
				if len(x.Attlist) > 0 {
					sel.TargetList = nil
					for _, a := range x.Attlist {
						sel.TargetList = append(sel.TargetList, &pg.Node{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{
							Val: &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{proto.Clone(a).(*pg.Node)}}}},
						}}})
					}
					x.Attlist = nil
				}
				x.Relation = nil
				x.Query = &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}
				rw.changed = true
				return
			}
		}
		rw.visitExcept(m, ctes, "relation")
		return
	}
	rw.visitExcept(m, ctes)
}

// visitExcept visits every message field of m except the named ones.
func (rw *rewriter) visitExcept(m protoreflect.Message, ctes []string, skip ...string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if rw.err != nil {
			return false
		}
		if fd.Kind() != protoreflect.MessageKind || slices.Contains(skip, string(fd.Name())) {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				rw.visit(l.Get(i).Message(), ctes)
			}
		case fd.IsMap():
		default:
			rw.visit(v.Message(), ctes)
		}
		return true
	})
}
