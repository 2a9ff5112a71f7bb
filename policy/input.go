package policy

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pgveil/pgveil/rules"
)

// This file builds the policy input (doc.go, "Input") as an ast.Value
// directly, so that evaluation starts without a JSON round trip.

// Interned keys of the input document.
var (
	keyIdentity        = ast.StringTerm("identity")
	keyStatement       = ast.StringTerm("statement")
	keyNow             = ast.StringTerm("now")
	keyCatalog         = ast.StringTerm("catalog")
	keyUser            = ast.StringTerm("user")
	keyDatabase        = ast.StringTerm("database")
	keyApplicationName = ast.StringTerm("application_name")
	keyClientAddr      = ast.StringTerm("client_addr")
	keyTLS             = ast.StringTerm("tls")
	keyEnabled         = ast.StringTerm("enabled")
	keySubject         = ast.StringTerm("subject")
	keyRoles           = ast.StringTerm("roles")
	keyKind            = ast.StringTerm("kind")
	keySummary         = ast.StringTerm("summary")
	keyTables          = ast.StringTerm("tables")
	keyColumns         = ast.StringTerm("columns")
	keyTable           = ast.StringTerm("table")
	keyColumn          = ast.StringTerm("column")
	keyCategory        = ast.StringTerm("category")
	keyUses            = ast.StringTerm("uses")
	keyOutputs         = ast.StringTerm("outputs")
	keyName            = ast.StringTerm("name")
	keyCategories      = ast.StringTerm("categories")
	keySources         = ast.StringTerm("sources")
	keyDirect          = ast.StringTerm("direct")
	keyUnknown         = ast.StringTerm("unknown")
	keyReturns         = ast.StringTerm("returns")
	keyOpaque          = ast.StringTerm("opaque")
	keyOpaqueReason    = ast.StringTerm("opaque_reason")
	keyServerCopy      = ast.StringTerm("server_copy")
	keyCatalogData     = ast.StringTerm("catalog_data")
	keyCopyFormat      = ast.StringTerm("copy_format")
	keyRevision        = ast.StringTerm("revision")
	keyUnclassified    = ast.StringTerm("unclassified")
)

// numUseSets is the number of distinct rules.Use bit sets.
const numUseSets = int(rules.UseCopy) << 1

// useArrays are the input arrays of every set of column uses, built once:
// inputs share them (input values are never modified during evaluation).
var useArrays = func() [numUseSets]*ast.Term {
	var out [numUseSets]*ast.Term
	for u := range numUseSets {
		var terms []*ast.Term
		for _, n := range rules.Use(u).Names() {
			terms = append(terms, ast.StringTerm(n))
		}
		out[u] = ast.ArrayTerm(terms...)
	}
	return out
}()

// boolTerm returns the shared term of a boolean.
func boolTerm(b bool) *ast.Term { return ast.InternedTerm(b) }

// inputNow renders the time input.now carries: UTC, truncated to the minute.
func inputNow(t time.Time) string {
	return t.UTC().Truncate(time.Minute).Format(time.RFC3339)
}

// identityTerm is input.identity: rules.Identity's JSON form, except that
// roles is always an array ([] when there are none).
func identityTerm(id *rules.Identity) *ast.Term {
	if id == nil {
		id = &rules.Identity{}
	}
	roles := make([]*ast.Term, len(id.Roles))
	for i, r := range id.Roles {
		roles[i] = ast.StringTerm(r)
	}
	tls := ast.NewObject(ast.Item(keyEnabled, ast.BooleanTerm(id.TLS.Enabled)))
	if id.TLS.Subject != "" {
		tls.Insert(keySubject, ast.StringTerm(id.TLS.Subject))
	}
	return ast.NewTerm(ast.NewObject(
		ast.Item(keyUser, ast.StringTerm(id.User)),
		ast.Item(keyDatabase, ast.StringTerm(id.Database)),
		ast.Item(keyApplicationName, ast.StringTerm(id.ApplicationName)),
		ast.Item(keyClientAddr, ast.StringTerm(id.ClientAddr)),
		ast.Item(keyTLS, ast.NewTerm(tls)),
		ast.Item(keyRoles, ast.ArrayTerm(roles...)),
	))
}

// catalogInput is what the input takes from one catalog, built once per
// catalog: input.catalog, and shared terms for the names the catalog
// classifies, so that building a statement's input allocates little.
type catalogInput struct {
	cat  *rules.Catalog
	term *ast.Term // input.catalog
	// strs holds the terms of the classified tables, columns, categories
	// and "schema.table.column" names.
	strs map[string]*ast.Term
	// cols caches input.statement.columns[] objects by (column, uses).
	cols    sync.Map // colKey -> *ast.Term
	numCols atomic.Int64
}

type colKey struct {
	ref  rules.ColumnRef
	uses rules.Use
}

// maxCachedColumnTerms bounds catalogInput.cols: past it, column objects
// are built per input.
const maxCachedColumnTerms = 1 << 16

func newCatalogInput(c *rules.Catalog) *catalogInput {
	ci := &catalogInput{cat: c, strs: map[string]*ast.Term{}}
	set := map[string]bool{}
	intern := func(s string) {
		if _, ok := ci.strs[s]; !ok {
			ci.strs[s] = ast.StringTerm(s)
		}
	}
	for ref, cat := range c.Columns() {
		set[cat] = true
		intern(ref.Table)
		intern(ref.Column)
		intern(cat)
		intern(ref.String())
	}
	if c.Unclassified() == rules.UnclassifiedMask {
		set[rules.CategoryUnclassified] = true
		intern(rules.CategoryUnclassified)
	}
	cats := make([]string, 0, len(set))
	for k := range set {
		cats = append(cats, k)
	}
	slices.Sort(cats)
	terms := make([]*ast.Term, len(cats))
	for i, c := range cats {
		terms[i] = ci.strs[c]
	}
	ci.term = ast.NewTerm(ast.NewObject(
		ast.Item(keyRevision, ast.StringTerm(c.Revision())),
		ast.Item(keyCategories, ast.ArrayTerm(terms...)),
		ast.Item(keyUnclassified, ast.StringTerm(c.Unclassified().String())),
	))
	return ci
}

// str returns the term of s, shared when the catalog names it.
func (ci *catalogInput) str(s string) *ast.Term {
	if t, ok := ci.strs[s]; ok {
		return t
	}
	if s == "" {
		return ast.InternedTerm("")
	}
	return ast.StringTerm(s)
}

// columnTerm returns the input object of one classified column.
func (ci *catalogInput) columnTerm(ref rules.ColumnRef, cat string, uses rules.Use) *ast.Term {
	k := colKey{ref, uses & rules.Use(numUseSets-1)}
	if t, ok := ci.cols.Load(k); ok {
		return t.(*ast.Term)
	}
	t := ast.ObjectTerm(
		ast.Item(keyTable, ci.str(ref.Table)),
		ast.Item(keyColumn, ci.str(ref.Column)),
		ast.Item(keyCategory, ci.str(cat)),
		ast.Item(keyUses, useArrays[k.uses]),
	)
	if ci.numCols.Add(1) <= maxCachedColumnTerms {
		ci.cols.Store(k, t)
	}
	return t
}

// statementTerm is input.statement. Only classified columns are listed;
// output sources are listed only when classified, as
// "schema.table.column".
func statementTerm(st *rules.Statement, ci *catalogInput) *ast.Term {
	c := ci.cat
	tables := make([]*ast.Term, len(st.Tables))
	for i, t := range st.Tables {
		tables[i] = ci.str(t)
	}
	var cols []*ast.Term
	for _, cu := range st.Columns {
		cat, ok := c.Classify(cu.ColumnRef)
		if !ok {
			continue
		}
		if cols == nil {
			cols = make([]*ast.Term, 0, len(st.Columns))
		}
		cols = append(cols, ci.columnTerm(cu.ColumnRef, cat, cu.Uses))
	}
	outs := make([]*ast.Term, len(st.Outputs))
	for i, o := range st.Outputs {
		var srcs, cats []*ast.Term
		for _, s := range o.Sources {
			cat, ok := c.Classify(s)
			if !ok {
				continue
			}
			srcs = append(srcs, ci.str(s.String()))
			ct := ci.str(cat)
			if !slices.ContainsFunc(cats, func(t *ast.Term) bool { return t.Value.Compare(ct.Value) == 0 }) {
				cats = append(cats, ct)
			}
		}
		slices.SortFunc(cats, func(a, b *ast.Term) int { return a.Value.Compare(b.Value) })
		outs[i] = ast.ObjectTerm(
			ast.Item(keyName, ci.str(o.Name)),
			ast.Item(keySources, ast.ArrayTerm(srcs...)),
			ast.Item(keyCategories, ast.ArrayTerm(cats...)),
			ast.Item(keyDirect, boolTerm(o.Direct)),
			ast.Item(keyUnknown, boolTerm(o.Unknown)),
		)
	}
	obj := ast.NewObject(
		ast.Item(keyKind, ci.str(string(st.Kind))),
		ast.Item(keySummary, ci.str(st.Summary)),
		ast.Item(keyTables, ast.ArrayTerm(tables...)),
		ast.Item(keyColumns, ast.ArrayTerm(cols...)),
		ast.Item(keyOutputs, ast.ArrayTerm(outs...)),
		ast.Item(keyReturns, boolTerm(st.Returns)),
		ast.Item(keyOpaque, boolTerm(st.Opaque)),
		ast.Item(keyOpaqueReason, ci.str(st.OpaqueReason)),
		ast.Item(keyServerCopy, boolTerm(st.ServerCopy)),
		ast.Item(keyCatalogData, boolTerm(st.CatalogData)),
		ast.Item(keyCopyFormat, ci.str(st.CopyFormat)),
	)
	return ast.NewTerm(obj)
}

// buildInput assembles the whole input document. st nil is a session
// decision: input.statement is absent.
func buildInput(id *rules.Identity, st *rules.Statement, ci *catalogInput, now time.Time) ast.Value {
	items := make([][2]*ast.Term, 0, 4)
	items = append(items,
		ast.Item(keyIdentity, identityTerm(id)),
		ast.Item(keyNow, ast.StringTerm(inputNow(now))),
		ast.Item(keyCatalog, ci.term),
	)
	if st != nil {
		items = append(items, ast.Item(keyStatement, statementTerm(st, ci)))
	}
	return ast.NewObject(items...)
}
