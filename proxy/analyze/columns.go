package analyze

import "github.com/pgveil/pgveil/rules"

// PolicyColumn is one classified column a statement touches, in the shape
// of the policy input contract (input.statement.columns[]).
type PolicyColumn struct {
	Table    string   `json:"table"`
	Column   string   `json:"column"`
	Category string   `json:"category"`
	Uses     []string `json:"uses"`
}

// PolicyColumns returns the classified columns of st (the analyzer reports
// every column; policies only see the classified ones), in st.Columns order.
// A column counts as classified when its own rule or, for partitions and
// inheritance children, its parent's rule names it.
func (s *Snapshot) PolicyColumns(st *rules.Statement) []PolicyColumn {
	var out []PolicyColumn
	for _, c := range st.Columns {
		cat, ok := s.Category(c.ColumnRef)
		if !ok {
			continue
		}
		out = append(out, PolicyColumn{Table: c.Table, Column: c.Column, Category: cat, Uses: c.Uses.Names()})
	}
	return out
}
