package discover

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pgveil/pgveil/rules/internal/dbschema"
)

// WriteRules writes the proposed rules file: the current rules (Config.Catalog)
// with every column the scan found to hold personal data added, each column
// commented with its confidence and evidence. Columns the current rules do not
// classify are marked NEW; tables the current rules do not know get a proposed
// subject_key where the foreign keys suggest one. The output is a valid rules
// file (rules.ParseCatalog accepts it); review it before use.
func (r *Result) WriteRules(w io.Writer) error {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	doc.HeadComment = fmt.Sprintf(`Proposed by "pgveil scan" for database %q at %s, sampling up to %d rows per table.
A comment gives each column's confidence (0-1) and the evidence; NEW marks
what the current rules do not classify. Review before use: the scan finds
likely personal data, it cannot know your purposes.`,
		r.Database, r.ScannedAt.Format("2006-01-02 15:04 MST"), r.SampleRows)
	unclassified := r.catalog.Unclassified().String()
	addPair(doc, "unclassified", scalar(unclassified))
	tables := &yaml.Node{Kind: yaml.MappingNode}
	addPair(doc, "tables", tables)

	found := map[string]*TableResult{}
	for i := range r.Tables {
		found[r.Tables[i].Table] = &r.Tables[i]
	}
	names := map[string]bool{}
	for t := range r.catalog.Tables() {
		names[t.Name()] = true
	}
	for _, t := range r.Tables {
		for _, f := range t.Columns {
			if r.Personal(f) {
				names[t.Table] = true
			}
		}
	}
	keys := r.proposeSubjectKeys(names)
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)
	for _, name := range sorted {
		tn := r.tableNode(name, found[name], keys[name])
		k := scalar(name)
		if tr := found[name]; tr == nil {
			k.HeadComment = "not found in the database"
		} else if tr.SampleError != "" {
			k.HeadComment = "values not sampled (" + tr.SampleError + "): names and types only"
		}
		tables.Content = append(tables.Content, k, tn)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	return enc.Close()
}

// subjectKey is a proposed subject key and why.
type subjectKey struct{ column, why string }

// tableNode builds one table's entry.
func (r *Result) tableNode(name string, tr *TableResult, proposed subjectKey) *yaml.Node {
	tn := &yaml.Node{Kind: yaml.MappingNode}
	cur, inRules := r.catalog.Table(name)
	switch {
	case inRules && cur.SubjectKey() != "":
		addPair(tn, "subject_key", scalar(cur.SubjectKey()))
	case proposed.column != "":
		v := scalar(proposed.column)
		v.LineComment = "proposed: " + proposed.why
		addPair(tn, "subject_key", v)
	}
	if inRules && cur.Timestamp() != "" {
		addPair(tn, "timestamp", scalar(cur.Timestamp()))
	}
	if inRules && cur.LegalHold() != "" {
		addPair(tn, "legal_hold", scalar(cur.LegalHold()))
	}
	cols := &yaml.Node{Kind: yaml.MappingNode}
	seen := map[string]bool{}
	if tr != nil {
		for _, f := range tr.Columns {
			personal := r.Personal(f)
			if f.Current == "" && !personal {
				continue
			}
			seen[f.Column] = true
			v := scalar(f.Current)
			switch {
			case f.Current == "":
				v = scalar(f.Category)
				v.LineComment = fmt.Sprintf("NEW %.2f: %s", f.Confidence, f.Reason)
			case personal && f.Category == f.Current:
				v.LineComment = fmt.Sprintf("%.2f: %s", f.Confidence, f.Reason)
			case personal:
				v.LineComment = fmt.Sprintf("%.2f, scan suggests %s: %s", f.Confidence, f.Category, f.Reason)
			case f.Reason != "":
				v.LineComment = "rules only; scan: " + f.Reason
			default:
				v.LineComment = "rules only: no evidence in the sample"
			}
			addPair(cols, f.Column, v)
		}
	}
	if inRules {
		for col, cat := range cur.Columns() {
			if seen[col] {
				continue
			}
			v := scalar(cat)
			if tr != nil {
				v.LineComment = "not in the database"
			}
			addPair(cols, col, v)
		}
	}
	addPair(tn, "columns", cols)
	if inRules && len(cur.Retention()) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, rule := range cur.Retention() {
			rn := &yaml.Node{Kind: yaml.MappingNode}
			addPair(rn, "after", scalar(rule.After.String()))
			red := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			for _, rd := range rule.Redact {
				addPair(red, rd.Column, scalar(rd.Mask.String()))
			}
			addPair(rn, "redact", red)
			seq.Content = append(seq.Content, rn)
		}
		addPair(tn, "retention", seq)
	}
	return tn
}

// proposeSubjectKeys proposes subject keys for the tables the rules do not
// know: the primary key of a table whose rows are people (it has personal
// names or e-mail addresses and other tables reference it), and a foreign key
// to a table whose subject key it references.
func (r *Result) proposeSubjectKeys(names map[string]bool) map[string]subjectKey {
	keyOf := map[string]string{} // table -> subject key column, known or proposed
	for t := range r.catalog.Tables() {
		if t.SubjectKey() != "" {
			keyOf[t.Name()] = t.SubjectKey()
		}
	}
	out := map[string]subjectKey{}
	isNew := func(name string) bool {
		_, ok := r.catalog.Table(name)
		return !ok && names[name]
	}
	// Tables of people: personal names or e-mail addresses, a one-column
	// primary key, referenced by other tables.
	people := map[string]bool{}
	for _, tr := range r.Tables {
		tbl, ok := r.schema.Table(tr.Table)
		if !ok || !isNew(tr.Table) || len(tbl.PrimaryKey) != 1 || len(r.schema.Referencing(tr.Table)) == 0 {
			continue
		}
		for _, f := range tr.Columns {
			if r.Personal(f) && (f.Category == catName || f.Category == catEmail) {
				people[tr.Table] = true
			}
		}
	}
	// A table that references a table of people or a table with a subject
	// key belongs to that subject (invoices reference customers, even though
	// they hold billing names); the other tables of people are the roots.
	refKey := func(tbl *dbschema.Table) (subjectKey, bool) {
		for _, fk := range tbl.ForeignKeys {
			if len(fk.Columns) != 1 || fk.RefTable == tbl.Name {
				continue
			}
			if keyOf[fk.RefTable] == fk.RefColumns[0] || (people[fk.RefTable] && fk.RefColumns[0] == r.schema.Tables[fk.RefTable].PrimaryKey[0]) {
				return subjectKey{fk.Columns[0], fmt.Sprintf("references %s(%s)", fk.RefTable, fk.RefColumns[0])}, true
			}
		}
		return subjectKey{}, false
	}
	for name := range people {
		tbl := r.schema.Tables[name]
		if _, ok := refKey(tbl); !ok {
			keyOf[name] = tbl.PrimaryKey[0]
			out[name] = subjectKey{tbl.PrimaryKey[0], "the primary key of a table of people that other tables reference"}
		}
	}
	for _, tr := range r.Tables {
		tbl, ok := r.schema.Table(tr.Table)
		if !ok || !isNew(tr.Table) || out[tr.Table].column != "" {
			continue
		}
		if k, ok := refKey(tbl); ok {
			out[tr.Table] = k
		}
	}
	return out
}

func scalar(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

func addPair(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar(key), v)
}

// FormatMissing returns one line per finding for a CI log: table.column,
// proposed category, confidence and evidence.
func FormatMissing(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s.%s: %s (%.2f) %s\n", f.Table, f.Column, f.Category, f.Confidence, f.Reason)
	}
	return b.String()
}
