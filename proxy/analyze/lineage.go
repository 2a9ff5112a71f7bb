package analyze

import (
	"slices"
	"strings"

	"github.com/pgveil/pgveil/rules"
)

// lineage is where one value comes from: a set of base-table columns, whether
// the value is exactly one stored value of them (direct), and whether the
// analyzer could not establish it (unknown). The zero value is a value that
// derives from no column: a constant, a parameter, now().
type lineage struct {
	srcs    []rules.ColumnRef // sorted by compareRef, no duplicates; never aliased by two lineages that append
	direct  bool
	unknown bool
	// probe: the value combines classified data with something the client
	// can choose (a constant, a parameter, an unclassified column), as
	// email = 'guess', strpos(email, g.guess) and a UNION branch of guesses
	// do. As a grouping, DISTINCT, set operation or join key it splits rows
	// by a condition the client picked, and the number of rows that come
	// back answers it, as a WHERE clause would (engine.key).
	probe bool
	// classified: some source has a category (probe needs it; srcs also
	// list unclassified base columns).
	classified bool
	// null: the value is a NULL literal, or a cast of one, which chooses
	// nothing (NULL in a CASE branch or a UNION ALL arm makes no probe).
	null bool
}

func compareRef(a, b rules.ColumnRef) int {
	if c := strings.Compare(a.Table, b.Table); c != 0 {
		return c
	}
	return strings.Compare(a.Column, b.Column)
}

// unknownLineage is a value of unknown origin that may also derive from
// srcs.
func unknownLineage(srcs ...lineage) lineage {
	l := derive(srcs...)
	l.unknown = true
	return l
}

// isEmpty reports whether the value derives from nothing.
func (l lineage) isEmpty() bool { return len(l.srcs) == 0 && !l.unknown }

// derive is the lineage of a value computed from all of ls: the union of
// their sources, never direct.
func derive(ls ...lineage) lineage {
	var out lineage // never null: a value computed from NULLs can be anything
	other := false
	for _, l := range ls {
		out.srcs = unionRefs(out.srcs, l.srcs)
		out.unknown = out.unknown || l.unknown
		out.probe = out.probe || l.probe
		out.classified = out.classified || l.classified
		if !l.classified && !l.null {
			other = true
		}
	}
	out.probe = out.probe || out.classified && other
	return out
}

// pureKey reports whether l, used as a grouping, DISTINCT, set operation or
// join key, reveals no more than which rows hold equal stored values: it is
// no probe, and it is either a stored classified value itself (direct) or
// not classified at all. A computed value is not: from classified data
// alone a query can compute any constant ((k.email IS NOT NULL)::int is 1)
// and so any guess.
func (l lineage) pureKey() bool {
	return !l.probe && !l.unknown && (!l.classified || l.direct)
}

// unionRefs returns the sorted union of two sorted sets. It never modifies
// a or b and may return either of them unchanged.
func unionRefs(a, b []rules.ColumnRef) []rules.ColumnRef {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]rules.ColumnRef, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := compareRef(a[i], b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// equal reports whether two lineages are the same (used by the recursive
// CTE fixpoint).
func (l lineage) equal(o lineage) bool {
	return l.direct == o.direct && l.unknown == o.unknown && l.probe == o.probe && l.classified == o.classified &&
		l.null == o.null && slices.Equal(l.srcs, o.srcs)
}

// merge is the lineage of a value that is one of several alternatives: a
// column of UNION branches, a USING column merged from both join sides, a
// relation name that may resolve to several schemas. The sources are the
// union; the result is direct only when every alternative that derives from
// something is direct and all their sources share one category (so that a
// format-preserving mask of that category fits every alternative).
func (s *Snapshot) merge(ls ...lineage) lineage {
	out := derive(ls...)
	if out.unknown || len(out.srcs) == 0 {
		return out
	}
	for _, l := range ls {
		if !l.isEmpty() && !l.direct {
			return out
		}
	}
	cat := s.categoryOf(out.srcs[0])
	for _, r := range out.srcs[1:] {
		if s.categoryOf(r) != cat {
			return out
		}
	}
	out.direct = true
	return out
}

// column is one named column of a relation-like thing (a table, a view, a
// subquery, a join, a CTE) with its lineage.
type column struct {
	name string
	lin  lineage
}

// wholeRow is the lineage of a whole-row reference to cols: derived from
// every column.
func wholeRow(cols []column, unknownShape bool) lineage {
	ls := make([]lineage, len(cols))
	for i, c := range cols {
		ls[i] = c.lin
	}
	l := derive(ls...)
	l.unknown = l.unknown || unknownShape
	return l
}
