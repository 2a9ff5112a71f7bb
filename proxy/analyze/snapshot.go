package analyze

import (
	"encoding/binary"
	"hash/fnv"
	"iter"
	"slices"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rules"
)

// Classifier says which category of personal data a base-table column
// holds. (*rules.Catalog).Category has this shape; ClassifierFunc adapts a
// plain function. table is "schema.table".
type Classifier interface {
	Category(table, column string) (category string, ok bool)
}

// ClassifiedLister is implemented by Classifiers that can enumerate the
// columns they classify, with their categories ((*rules.Catalog).Columns
// has this shape). With it, a snapshot reports the rules columns that do not
// resolve in the schema (see Snapshot.Unresolved).
type ClassifiedLister interface {
	Columns() iter.Seq2[rules.ColumnRef, string]
}

// ClassifierFunc adapts a function to the Classifier interface.
type ClassifierFunc func(table, column string) (string, bool)

// Category calls f.
func (f ClassifierFunc) Category(table, column string) (string, bool) { return f(table, column) }

// Trust widens what the analyzer treats as builtin. Everything it names is
// assumed to compute its result from its arguments only and to read no
// relation; a wrong entry is a leak, so keep it short.
type Trust struct {
	// Extensions whose functions, operators and types count as builtins. If
	// nil, DefaultTrustedExtensions; an empty non-nil slice trusts none.
	Extensions []string
	// Functions ("schema.name") that count as builtins, such as a pure
	// SQL-language helper. If nil, none.
	Functions []string
}

// Snapshot is an immutable view of the schema combined with the
// classification: it resolves relation names and RowDescription fields to
// base-table columns, and carries the precomputed lineage of every view
// column. It is safe for concurrent use.
type Snapshot struct {
	rev    uint64
	schema *Schema

	rels    map[uint32]*relInfo
	byName  map[string][]*relInfo // relation name -> relations of that name in any schema
	byQName map[string]*relInfo   // "schema.name"

	funcs        map[string][]*Function // name -> functions of that name
	trustedExt   map[string]bool
	trustedFunc  map[string]bool
	untrustedOps map[string]bool // operator names with a user-defined, untrusted implementation
	userTypes    map[string]bool // type name -> casting to it runs untrusted code
	searchPath   []string

	own        map[rules.ColumnRef]string // classification by rule
	effective  map[rules.ColumnRef]string // own, or inherited from a parent relation
	unresolved []rules.ColumnRef
	tainted    map[string]bool // tables whose rules name a column that no longer exists
	children   map[uint32][]*relInfo
}

// relInfo is a relation with its precomputed column lineage.
type relInfo struct {
	rel   *Relation
	qname string
	// cols holds one entry per Relation.Columns entry; for views, filled by
	// expand during NewSnapshot.
	cols []column
	// tables are the relations reading this one reads: itself, plus for a
	// view everything its definition references (recursively).
	tables []string
	// opaque is why reading this relation is opaque ("" if it is not).
	opaque string
	// catalogData is true when reading it reads catalog data values.
	catalogData bool
	// writeOpaque is why writing this relation runs user code ("" if not).
	writeOpaque string
	state       uint8 // views: 0 not expanded, 1 expanding, 2 done
}

func (ri *relInfo) colIndex(name string) int {
	for i := range ri.cols {
		if ri.cols[i].name == name {
			return i
		}
	}
	return -1
}

// Field is what a RowDescription field (TableOID, AttNum) refers to.
type Field struct {
	// Sources are the base-table columns the field's values come from: the
	// column itself for a table, the parent's column for a partition, the
	// lineage of the definition for a view. Empty for computed fields
	// (TableOID 0) and system columns.
	Sources []rules.ColumnRef
	// Direct is true when the value is one stored value of the sources
	// (false when a view computes the column).
	Direct bool
	// Unknown is true when the lineage cannot be established: temporary
	// tables, catalog relations that hold data values, views that call
	// opaque functions, unknown relations and attributes. Treat it as
	// personal data.
	Unknown bool
	// UnknownRelation is true when TableOID is not 0 and not in the snapshot
	// (or the attribute is not): the schema changed, refresh it.
	UnknownRelation bool
	// Category is the category shared by every classified source, "" when
	// none is classified or they disagree.
	Category string
	// Classified is true when at least one source is classified.
	Classified bool
}

// NewSnapshot combines a schema and a classification into a snapshot. A nil
// classifier classifies nothing. The schema must not be modified afterwards.
func NewSnapshot(schema *Schema, c Classifier, trust Trust) *Snapshot {
	if schema == nil {
		schema = &Schema{}
	}
	s := &Snapshot{
		schema:       schema,
		rels:         make(map[uint32]*relInfo, len(schema.Relations)),
		byName:       make(map[string][]*relInfo, len(schema.Relations)),
		byQName:      make(map[string]*relInfo, len(schema.Relations)),
		funcs:        make(map[string][]*Function, len(schema.Functions)),
		trustedExt:   map[string]bool{},
		trustedFunc:  map[string]bool{},
		untrustedOps: map[string]bool{},
		userTypes:    map[string]bool{},
		own:          map[rules.ColumnRef]string{},
		effective:    map[rules.ColumnRef]string{},
		tainted:      map[string]bool{},
		searchPath:   schema.SearchPath,
	}
	if s.searchPath == nil {
		s.searchPath = []string{"pg_catalog", "public"}
	}
	exts := trust.Extensions
	if exts == nil {
		exts = DefaultTrustedExtensions
	}
	for _, e := range exts {
		s.trustedExt[e] = true
	}
	for _, f := range trust.Functions {
		s.trustedFunc[f] = true
	}
	for i := range schema.Functions {
		f := &schema.Functions[i]
		s.funcs[f.Name] = append(s.funcs[f.Name], f)
	}
	for _, o := range schema.Operators {
		if !s.trustedFuncName(o.FuncSchema, o.FuncName) {
			s.untrustedOps[o.Name] = true
		}
	}

	for i := range schema.Relations {
		r := &schema.Relations[i]
		ri := &relInfo{rel: r, qname: r.QualifiedName()}
		s.rels[r.OID] = ri
		s.byName[r.Name] = append(s.byName[r.Name], ri)
		s.byQName[ri.qname] = ri
	}
	s.children = map[uint32][]*relInfo{}
	for _, ri := range s.rels {
		for _, p := range ri.rel.Parents {
			s.children[p] = append(s.children[p], ri)
		}
	}
	// Types need the function trust (above); relations' write checks need
	// the types.
	userTypeOIDs := s.indexTypes()

	s.classify(c)

	for _, ri := range s.rels {
		s.baseColumns(ri, userTypeOIDs)
	}
	// Expand views in OID order so that the result does not depend on map
	// iteration order (it does not anyway; this keeps debugging sane).
	oids := make([]uint32, 0, len(s.rels))
	for oid := range s.rels {
		oids = append(oids, oid)
	}
	slices.Sort(oids)
	for _, oid := range oids {
		s.expand(s.rels[oid])
	}
	s.rev = s.hash()
	return s
}

// indexTypes records which user types run untrusted code when a value is
// cast to them, and returns their OIDs.
func (s *Snapshot) indexTypes() map[uint32]bool {
	bad := map[uint32]bool{}
	for _, t := range s.schema.Types {
		if t.Extension != "" && s.trustedExt[t.Extension] {
			continue
		}
		runs := false
		for _, f := range t.CastFuncs {
			schema, name, _ := strings.Cut(f, ".")
			if !s.trustedFuncName(schema, name) {
				runs = true
			}
		}
		for _, c := range t.Checks {
			if s.checkRunsUserCode(c) {
				runs = true
			}
		}
		if runs {
			s.userTypes[t.Name] = true
			s.userTypes[t.Schema+"."+t.Name] = true
			bad[t.OID] = true
		}
	}
	return bad
}

// checkRunsUserCode reports whether a domain CHECK constraint calls a
// function or operator that is not trusted. Unparseable text counts as
// user code.
func (s *Snapshot) checkRunsUserCode(def string) bool {
	expr := strings.TrimSpace(def)
	expr = strings.TrimSuffix(expr, " NOT VALID")
	expr, ok := strings.CutPrefix(expr, "CHECK ")
	if !ok {
		return true
	}
	tree, err := pg.Parse("SELECT " + expr)
	if err != nil {
		return true
	}
	runs := false
	walkNodes(tree, func(n *pg.Node) {
		switch x := n.Node.(type) {
		case *pg.Node_FuncCall:
			schema, name := qualifiedName(x.FuncCall.Funcname)
			if r, _ := s.funcClass(schema, name); r != funcPure {
				runs = true
			}
		case *pg.Node_AExpr:
			if s.opUntrusted(x.AExpr.Name) {
				runs = true
			}
		}
	})
	return runs
}

// classify records the categories of every column of every non-system
// relation, their inheritance, and the rules columns that do not resolve.
func (s *Snapshot) classify(c Classifier) {
	if c == nil {
		return
	}
	for _, ri := range s.rels {
		if systemSchema(ri.rel.Schema) {
			continue
		}
		for _, col := range ri.rel.Columns {
			if cat, ok := c.Category(ri.qname, col.Name); ok {
				s.own[rules.ColumnRef{Table: ri.qname, Column: col.Name}] = cat
			}
		}
	}
	for _, ri := range s.rels {
		for _, col := range ri.rel.Columns {
			ref := rules.ColumnRef{Table: ri.qname, Column: col.Name}
			if cat, ok := s.inheritedCategory(ri, col.Name, 0); ok {
				s.effective[ref] = cat
			}
		}
	}
	if l, ok := c.(ClassifiedLister); ok {
		for ref := range l.Columns() {
			ri := s.byQName[ref.Table]
			if ri == nil {
				s.unresolved = append(s.unresolved, ref)
				continue
			}
			if !slices.ContainsFunc(ri.rel.Columns, func(c Column) bool { return c.Name == ref.Column }) {
				s.unresolved = append(s.unresolved, ref)
				s.tainted[ref.Table] = true
			}
		}
		sort.Slice(s.unresolved, func(i, j int) bool { return compareRef(s.unresolved[i], s.unresolved[j]) < 0 })
	}
}

// inheritedCategory is the column's own category or, failing that, the
// nearest ancestor's (partitions inherit their parent's classification).
func (s *Snapshot) inheritedCategory(ri *relInfo, col string, depth int) (string, bool) {
	if cat, ok := s.own[rules.ColumnRef{Table: ri.qname, Column: col}]; ok {
		return cat, true
	}
	if depth > 32 {
		return "", false
	}
	for _, p := range ri.rel.Parents {
		if pi := s.rels[p]; pi != nil {
			if cat, ok := s.inheritedCategory(pi, col, depth+1); ok {
				return cat, true
			}
		}
	}
	return "", false
}

// categoryOf is the effective category of a base column ("" unclassified).
func (s *Snapshot) categoryOf(ref rules.ColumnRef) string { return s.effective[ref] }

// baseColumns fills the lineage of the columns of a table, partition,
// foreign table or sequence, and of system views (which are not expanded).
func (s *Snapshot) baseColumns(ri *relInfo, userTypes map[uint32]bool) {
	r := ri.rel
	ri.tables = []string{ri.qname}
	if isCatalogDataRelation(r.Schema, r.Name) {
		ri.catalogData = true
	}
	switch {
	case r.UserTriggers:
		ri.writeOpaque = "writes " + ri.qname + ", which has triggers"
	case r.Rules:
		ri.writeOpaque = "writes " + ri.qname + ", which has rewrite rules"
	}
	if r.Kind == 'f' {
		ri.opaque = "reads foreign table " + ri.qname
	}
	isView := (r.Kind == 'v' || r.Kind == 'm') && !systemSchema(r.Schema)
	if isView {
		ri.cols = make([]column, len(r.Columns))
		for i, c := range r.Columns {
			ri.cols[i] = column{name: c.Name}
		}
		return
	}
	ri.state = 2
	ri.cols = make([]column, len(r.Columns))
	for i, c := range r.Columns {
		self := rules.ColumnRef{Table: ri.qname, Column: c.Name}
		lin := s.tableColumnLineage(ri, c.Name)
		switch {
		case r.Temp:
			// A temporary table may hold anything this session copied into
			// it; the snapshot cannot know what. It counts as chosen by the
			// client, not as classified data (lineage.probe).
			lin.unknown, lin.direct, lin.classified = true, false, false
		case ri.catalogData:
			lin.unknown, lin.direct = true, false
		case s.tainted[ri.qname] && s.effective[self] == "":
			// The rules name a column of this table that no longer exists
			// (renamed?): until they are fixed, every unclassified column
			// of the table is suspect.
			lin.unknown, lin.direct = true, false
		}
		ri.cols[i] = column{name: c.Name, lin: lin}
		if ri.writeOpaque == "" && userTypes[c.TypeOID] {
			ri.writeOpaque = "writes " + ri.qname + ", whose column types run user code"
		}
	}
}

// tableColumnLineage is the lineage of a stored column: itself, or for a
// partition or inheritance child the root ancestors' columns of that name
// (the classification lives there); plus any classified descendant column
// of the same name (rows of a child are read through the parent).
func (s *Snapshot) tableColumnLineage(ri *relInfo, col string) lineage {
	self := rules.ColumnRef{Table: ri.qname, Column: col}
	var srcs []rules.ColumnRef
	if len(ri.rel.Parents) > 0 {
		srcs = s.rootColumns(ri, col, 0, srcs)
	}
	if len(srcs) == 0 {
		srcs = append(srcs, self)
	} else if _, ok := s.own[self]; ok {
		srcs = append(srcs, self)
	}
	srcs = s.classifiedDescendants(ri.rel.OID, col, 0, srcs)
	slices.SortFunc(srcs, compareRef)
	srcs = slices.Compact(srcs)
	l := lineage{srcs: srcs, direct: true}
	cat := s.categoryOf(srcs[0])
	for _, r := range srcs {
		c := s.categoryOf(r)
		if c != cat {
			l.direct = false
		}
		if c != "" {
			l.classified = true
		}
	}
	return l
}

// ancestors returns the qualified names of the relations ri inherits from
// (parents of partitions and inheritance children), transitively.
func (s *Snapshot) ancestors(ri *relInfo) []string {
	var out []string
	seen := map[uint32]bool{}
	var walk func(*relInfo, int)
	walk = func(r *relInfo, depth int) {
		if depth > 32 {
			return
		}
		for _, p := range r.rel.Parents {
			pi := s.rels[p]
			if pi == nil || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, pi.qname)
			walk(pi, depth+1)
		}
	}
	walk(ri, 0)
	return out
}

func (s *Snapshot) rootColumns(ri *relInfo, col string, depth int, out []rules.ColumnRef) []rules.ColumnRef {
	if depth > 32 {
		return out
	}
	found := false
	for _, p := range ri.rel.Parents {
		pi := s.rels[p]
		if pi == nil || !slices.ContainsFunc(pi.rel.Columns, func(c Column) bool { return c.Name == col }) {
			continue
		}
		found = true
		if len(pi.rel.Parents) == 0 {
			out = append(out, rules.ColumnRef{Table: pi.qname, Column: col})
			continue
		}
		before := len(out)
		out = s.rootColumns(pi, col, depth+1, out)
		if len(out) == before {
			out = append(out, rules.ColumnRef{Table: pi.qname, Column: col})
		}
	}
	if !found && depth > 0 {
		out = append(out, rules.ColumnRef{Table: ri.qname, Column: col})
	}
	return out
}

func (s *Snapshot) classifiedDescendants(oid uint32, col string, depth int, out []rules.ColumnRef) []rules.ColumnRef {
	if depth > 32 {
		return out
	}
	for _, ri := range s.children[oid] {
		ref := rules.ColumnRef{Table: ri.qname, Column: col}
		if _, ok := s.own[ref]; ok {
			out = append(out, ref)
		}
		out = s.classifiedDescendants(ri.rel.OID, col, depth+1, out)
	}
	return out
}

// expand analyzes the definition of a view or materialized view (once) and
// stores the lineage of its columns. Cycles and failures make every column
// Unknown.
func (s *Snapshot) expand(ri *relInfo) {
	if ri.state == 2 {
		return
	}
	if ri.state == 1 {
		// A cycle (impossible in PostgreSQL, possible in a hand-built
		// schema): the caller sees this view as unknown.
		return
	}
	ri.state = 1
	defer func() { ri.state = 2 }()
	fail := func(reason string) {
		for i := range ri.cols {
			ri.cols[i].lin = lineage{srcs: []rules.ColumnRef{{Table: ri.qname, Column: ri.cols[i].name}}, unknown: true}
		}
		if ri.opaque == "" {
			ri.opaque = reason
		}
	}
	if ri.rel.Definition == "" {
		fail("reads view " + ri.qname + " whose definition is unknown")
		return
	}
	res := analyzeView(s, ri)
	if res.err != "" {
		fail("reads view " + ri.qname + ": " + res.err)
		return
	}
	if res.unknownShape || len(res.cols) != len(ri.cols) {
		fail("reads view " + ri.qname + " whose columns could not be traced")
		return
	}
	for i := range ri.cols {
		ri.cols[i].lin = res.cols[i].lin
	}
	ri.tables = append([]string{ri.qname}, res.tables...)
	slices.Sort(ri.tables)
	ri.tables = slices.Compact(ri.tables)
	ri.catalogData = res.catalogData
	if res.opaque != "" {
		ri.opaque = "reads view " + ri.qname + ", which " + res.opaque
	}
}

// Revision identifies the snapshot's content: two snapshots with the same
// schema and classification have the same revision.
func (s *Snapshot) Revision() uint64 { return s.rev }

// Schema returns the schema the snapshot was built from. It must not be
// modified.
func (s *Snapshot) Schema() *Schema { return s.schema }

// Unresolved returns the classified columns named by the classifier that do
// not exist in the schema, sorted. Every unclassified column of a table that
// exists but lacks a classified column is treated as Unknown until the rules
// are fixed (a renamed column must not become readable under its new name).
// The slice must not be modified.
func (s *Snapshot) Unresolved() []rules.ColumnRef { return s.unresolved }

// Category returns the category of a base column: its own rule or, for a
// partition or inheritance child, its parent's.
func (s *Snapshot) Category(ref rules.ColumnRef) (string, bool) {
	c, ok := s.effective[ref]
	return c, ok
}

// Relation returns the relation with the given OID.
func (s *Snapshot) Relation(oid uint32) (*Relation, bool) {
	ri, ok := s.rels[oid]
	if !ok {
		return nil, false
	}
	return ri.rel, true
}

// Knows reports whether the snapshot has a relation with that OID.
func (s *Snapshot) Knows(oid uint32) bool {
	_, ok := s.rels[oid]
	return ok
}

// Field resolves a RowDescription field. tableOID 0 (a computed column)
// resolves to an empty Field: its lineage is in the statement's Outputs.
func (s *Snapshot) Field(tableOID uint32, attnum int16) Field {
	if tableOID == 0 {
		return Field{}
	}
	ri, ok := s.rels[tableOID]
	if !ok {
		return Field{Unknown: true, UnknownRelation: true}
	}
	if attnum <= 0 {
		// System columns (ctid, xmin, tableoid, ...) hold no data values.
		return Field{}
	}
	for i, c := range ri.rel.Columns {
		if c.Num == attnum {
			return s.field(ri.cols[i].lin)
		}
	}
	return Field{Unknown: true, UnknownRelation: true}
}

func (s *Snapshot) field(l lineage) Field {
	f := Field{Sources: l.srcs, Direct: l.direct, Unknown: l.unknown}
	cats := 0
	for _, r := range l.srcs {
		if c, ok := s.effective[r]; ok {
			f.Classified = true
			if cats == 0 || c != f.Category {
				cats++
				f.Category = c
			}
		}
	}
	if cats != 1 {
		f.Category = ""
	}
	return f
}

// resolve returns the relations a name in a statement may denote. A
// qualified name denotes at most one. An unqualified name denotes every
// relation of that name in any schema when inView is false: the session may
// have changed search_path, so the analyzer takes them all (fail closed). In
// view definitions it follows the snapshot's search path, which is the one
// pg_get_viewdef printed the definition for.
func (s *Snapshot) resolve(schema, name string, inView bool) []*relInfo {
	if schema != "" {
		if ri := s.byQName[schema+"."+name]; ri != nil {
			return []*relInfo{ri}
		}
		return nil
	}
	if inView {
		for _, sp := range s.searchPath {
			if ri := s.byQName[sp+"."+name]; ri != nil {
				return []*relInfo{ri}
			}
		}
		return nil
	}
	return s.byName[name]
}

type funcKind uint8

const (
	funcPure        funcKind = iota // a builtin (or trusted) function of its arguments
	funcOpaque                      // may read relations, files or other sessions
	funcCatalogData                 // returns catalog data values
	funcSetConfig                   // set_config: stores a value in a session setting
	funcStores                      // keeps its arguments in readable state (storingFuncs)
)

// mayReturnSet reports whether a call of the function may yield other than
// one row: some function of that name (in schema, when given) is
// set-returning, or the snapshot knows none and the name is a builtin
// set-returning function (builtinSRFs, for snapshots without pg_proc rows).
func (s *Snapshot) mayReturnSet(schema, name string) bool {
	return s.someFunc(schema, name, func(f *Function) bool { return f.ReturnsSet }, builtinSRFs[name])
}

// mayReturnRow reports whether a call of the function in FROM may expand to
// several columns (Function.ReturnsRow): some function of that name (in
// schema, when given) returns a row, or the snapshot knows none and the
// name is unnest, the polymorphic builtin (for snapshots without pg_proc
// rows).
func (s *Snapshot) mayReturnRow(schema, name string) bool {
	return s.someFunc(schema, name, func(f *Function) bool { return f.ReturnsRow }, name == "unnest")
}

// someFunc reports whether some function of that name (in schema, when
// given) has the property; when the snapshot knows none, whether the name
// is a builtin that has it (fallback).
func (s *Snapshot) someFunc(schema, name string, has func(*Function) bool, fallback bool) bool {
	known := false
	for _, f := range s.funcs[name] {
		if schema != "" && f.Schema != schema {
			continue
		}
		known = true
		if has(f) {
			return true
		}
	}
	return !known && fallback && (schema == "" || schema == "pg_catalog")
}

// funcClass classifies a called function by (optional) schema and name.
func (s *Snapshot) funcClass(schema, name string) (funcKind, string) {
	if strings.HasPrefix(name, "dblink") {
		return funcOpaque, "calls " + name + ", which queries another database (dblink)"
	}
	// builtinKind is what a builtin of this name is when it is not opaque.
	builtinKind := funcPure
	if schema == "" || schema == "pg_catalog" {
		if r := opaqueBuiltin(name); r != "" {
			if name == "pg_stat_get_activity" || name == "pg_stat_get_backend_activity" || name == "pg_mcv_list_items" {
				return funcCatalogData, r
			}
			return funcOpaque, r
		}
		if name == "set_config" {
			builtinKind = funcSetConfig
		} else if storingFuncs[name] {
			builtinKind = funcStores
		}
	}
	if schema == "pg_catalog" {
		return builtinKind, ""
	}
	if schema != "" {
		if s.trustedFuncName(schema, name) {
			return funcPure, ""
		}
		return funcOpaque, "calls user function " + schema + "." + name + ", which may read tables"
	}
	builtin := builtinFuncs[name]
	for _, f := range s.funcs[name] {
		if f.Builtin() {
			builtin = true
			continue
		}
		if !s.trustedFunc[f.Schema+"."+f.Name] && !(f.Extension != "" && s.trustedExt[f.Extension]) {
			return funcOpaque, "calls user function " + f.Schema + "." + f.Name + ", which may read tables"
		}
	}
	if builtin || len(s.funcs[name]) > 0 {
		return builtinKind, ""
	}
	if builtinKind != funcPure {
		return builtinKind, "" // a snapshot without pg_proc rows (tests)
	}
	return funcOpaque, "calls unknown function " + name
}

// trustedFuncName reports whether a schema-qualified function is a builtin
// or trusted.
func (s *Snapshot) trustedFuncName(schema, name string) bool {
	if schema == "pg_catalog" {
		return opaqueBuiltin(name) == ""
	}
	if s.trustedFunc[schema+"."+name] {
		return true
	}
	found := false
	for _, f := range s.funcs[name] {
		if f.Schema != schema {
			continue
		}
		found = true
		if f.Extension == "" || !s.trustedExt[f.Extension] {
			return false
		}
	}
	return found
}

// opUntrusted reports whether an operator name (as in A_Expr.Name) may
// resolve to a user-defined operator with untrusted code.
func (s *Snapshot) opUntrusted(name []*pg.Node) bool {
	schema, op := qualifiedName(name)
	if schema == "pg_catalog" {
		return false
	}
	// pg_temp names the session's own temporary schema, which the snapshot
	// knows by another name (pg_temp_N) and only after a refresh.
	return s.untrustedOps[op] || strings.HasPrefix(schema, "pg_temp")
}

// typeUntrusted reports whether casting to the type may run untrusted code.
func (s *Snapshot) typeUntrusted(tn *pg.TypeName) bool {
	if tn == nil {
		return false
	}
	schema, name := qualifiedName(tn.Names)
	if schema == "pg_catalog" {
		return false
	}
	// An array type is named after its element type with a leading "_".
	elem := strings.TrimPrefix(name, "_")
	if schema != "" {
		return s.userTypes[schema+"."+name] || s.userTypes[schema+"."+elem] || strings.HasPrefix(schema, "pg_temp")
	}
	return s.userTypes[name] || s.userTypes[elem]
}

// hash computes the content revision.
func (s *Snapshot) hash() uint64 {
	h := fnv.New64a()
	var b [8]byte
	w := func(x string) {
		h.Write([]byte(x))
		h.Write([]byte{0})
	}
	num := func(x uint64) {
		binary.LittleEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	oids := make([]uint32, 0, len(s.rels))
	for oid := range s.rels {
		oids = append(oids, oid)
	}
	slices.Sort(oids)
	for _, oid := range oids {
		ri := s.rels[oid]
		num(uint64(oid))
		w(ri.qname)
		w(string(ri.rel.Kind))
		w(ri.opaque)
		w(ri.writeOpaque)
		for _, c := range ri.cols {
			w(c.name)
			for _, r := range c.lin.srcs {
				w(r.Table)
				w(r.Column)
			}
			var f uint64
			if c.lin.direct {
				f |= 1
			}
			if c.lin.unknown {
				f |= 2
			}
			num(f)
		}
		for _, p := range ri.rel.Parents {
			num(uint64(p))
		}
		for _, c := range ri.rel.Columns {
			num(uint64(c.Num))
			num(uint64(c.TypeOID))
		}
	}
	refs := make([]rules.ColumnRef, 0, len(s.effective))
	for r := range s.effective {
		refs = append(refs, r)
	}
	slices.SortFunc(refs, compareRef)
	for _, r := range refs {
		w(r.Table)
		w(r.Column)
		w(s.effective[r])
	}
	names := make([]string, 0, len(s.funcs))
	for n := range s.funcs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, f := range s.funcs[n] {
			w(f.Schema)
			w(f.Name)
			w(f.Extension)
		}
	}
	for _, n := range sortedKeys(s.untrustedOps) {
		w(n)
	}
	for _, n := range sortedKeys(s.userTypes) {
		w(n)
	}
	for _, n := range s.searchPath {
		w(n)
	}
	for _, n := range sortedKeys(s.trustedExt) {
		w(n)
	}
	for _, n := range sortedKeys(s.trustedFunc) {
		w(n)
	}
	return h.Sum64()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
