package analyze

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// viewResult is the analysis of a view definition.
type viewResult struct {
	cols         []column
	unknownShape bool
	tables       []string
	opaque       string
	catalogData  bool
	err          string // why the definition could not be analyzed
}

// analyzeView analyzes the definition of a view or materialized view with
// the snapshot being built. Relation names resolve through the snapshot's
// search path (the one pg_get_viewdef printed the definition for). A panic
// is a bug; it makes the view unknown rather than crashing the refresh.
func analyzeView(s *Snapshot, ri *relInfo) (res viewResult) {
	defer func() {
		if p := recover(); p != nil {
			res = viewResult{err: "internal analyzer error"}
		}
	}()
	tree, err := pg.Parse(ri.rel.Definition)
	if err != nil || len(tree.Stmts) != 1 {
		return viewResult{err: "definition could not be parsed"}
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil {
		return viewResult{err: "definition is not a query"}
	}
	e := newEngine(s)
	e.inView = true
	sh := e.selectStmt(nil, nil, sel)
	e.backstop(tree.Stmts[0].Stmt)
	res = viewResult{cols: sh.cols, unknownShape: sh.unknownShape, catalogData: e.catalogData}
	for t := range e.tables {
		res.tables = append(res.tables, t)
	}
	if len(e.opaque) > 0 {
		res.opaque = strings.Join(e.opaque, "; ")
	}
	return res
}
