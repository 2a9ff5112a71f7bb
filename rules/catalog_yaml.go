package rules

// This file is the only one in the package that imports a non-standard
// library (gopkg.in/yaml.v3): the rules file loader is not on the hot path.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxCatalogSize bounds the rules file LoadCatalog reads.
const MaxCatalogSize = 16 << 20

// maxCatalogIssues bounds how many problems one error reports.
const maxCatalogIssues = 20

// CatalogIssue is one problem in a rules file, located by line and column
// and by its path in the document (tables."public.customers".columns.email).
// ParseCatalog joins them with errors.Join; use errors.As to get the first.
type CatalogIssue struct {
	Line, Column int
	Path         string
	Msg          string
}

// Error returns "line L col C: path: message".
func (e *CatalogIssue) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d col %d: ", e.Line, e.Column)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadCatalog reads and parses a rules file (at most MaxCatalogSize bytes).
// Errors name the file.
func LoadCatalog(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCatalogSize+1))
	if err != nil {
		return nil, fmt.Errorf("load rules %s: %w", path, err)
	}
	if len(data) > MaxCatalogSize {
		return nil, fmt.Errorf("load rules %s: file larger than %d bytes", path, MaxCatalogSize)
	}
	c, err := ParseCatalog(data)
	if err != nil {
		return nil, fmt.Errorf("rules %s: %w", path, err)
	}
	return c, nil
}

// ParseCatalog parses and validates a rules document (DESIGN.md, "Rules"):
//
//	unclassified: allow            # allow (default) | mask
//	tables:
//	  public.messages:             # schema-qualified; unqualified names are an error
//	    subject_key: customer_id   # optional: the column naming the data subject
//	    timestamp: created_at      # optional; required by retention
//	    legal_hold: "tax records"  # optional: a reason (or true)
//	    columns: {to_phone: phone, body: message_body}
//	    retention:
//	      - after: 180d            # Nd, Nw, Nm (months), Ny, or a Go duration
//	        redact: {to_phone: last4, body: erase}
//
// Unknown keys, duplicate keys, unknown mask names, invalid category names,
// unqualified table names, and retention rules that redact an unclassified
// column or the timestamp column are errors; every error names its line and
// path. Categories are open-ended (see ValidCategoryName). An empty document
// is an empty catalog.
func ParseCatalog(data []byte) (*Catalog, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return newCatalog(UnclassifiedAllow, nil), nil
		}
		return nil, fmt.Errorf("parse rules: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse rules: more than one YAML document")
	}
	p := &catalogParser{}
	c := p.document(&doc)
	if len(p.issues) > 0 {
		return nil, errors.Join(p.issues...)
	}
	return c, nil
}

type catalogParser struct {
	issues []error
}

func (p *catalogParser) fail(n *yaml.Node, path, format string, args ...any) {
	if len(p.issues) == maxCatalogIssues {
		p.issues = append(p.issues, errors.New("too many problems; stopping"))
	}
	if len(p.issues) > maxCatalogIssues {
		return
	}
	issue := &CatalogIssue{Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		issue.Line, issue.Column = n.Line, n.Column
	}
	p.issues = append(p.issues, issue)
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// pathKey renders one path element, quoted when it contains a dot or space.
func pathKey(parent, key string) string {
	if strings.ContainsAny(key, ". \"") || key == "" {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// mapping iterates over a mapping node's pairs, reporting non-mappings,
// non-scalar and duplicate keys. A null node is an empty mapping.
func (p *catalogParser) mapping(n *yaml.Node, path string, each func(k, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping (key: value), got %s", kindName(n))
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.fail(k, path, "keys must be plain names")
			continue
		}
		if seen[k.Value] {
			p.fail(k, path, "duplicate key %s", quoteName(k.Value))
			continue
		}
		seen[k.Value] = true
		each(k, v)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "something else"
}

// scalar returns a non-empty string scalar.
func (p *catalogParser) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) || n.Value == "" {
		p.fail(n, path, "want %s", want)
		return "", false
	}
	return n.Value, true
}

func unknownKey(p *catalogParser, k *yaml.Node, path string, known ...string) {
	p.fail(k, path, "unknown key %s (want one of: %s)", quoteName(k.Value), strings.Join(known, ", "))
}

func (p *catalogParser) document(doc *yaml.Node) *Catalog {
	root := resolve(doc)
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return newCatalog(UnclassifiedAllow, nil)
		}
		root = resolve(root.Content[0])
	}
	u := UnclassifiedAllow
	var tables []*Table
	p.mapping(root, "", func(k, v *yaml.Node) {
		switch k.Value {
		case "unclassified":
			switch s, _ := p.scalar(v, "unclassified", "allow or mask"); s {
			case "allow":
			case "mask":
				u = UnclassifiedMask
			case "":
			default:
				p.fail(v, "unclassified", "want allow or mask, got %s", quoteName(s))
			}
		case "tables":
			p.mapping(v, "tables", func(tk, tv *yaml.Node) {
				if t := p.table(tk, tv); t != nil {
					tables = append(tables, t)
				}
			})
		default:
			unknownKey(p, k, "", "unclassified", "tables")
		}
	})
	return newCatalog(u, tables)
}

func (p *catalogParser) table(k, n *yaml.Node) *Table {
	path := pathKey("tables", k.Value)
	if _, _, err := splitTableName(k.Value); err != nil {
		p.fail(k, "tables", "%v", err)
		return nil
	}
	t := &Table{name: k.Value, columns: map[string]string{}}
	var retention *yaml.Node
	var retentionKey *yaml.Node
	p.mapping(n, path, func(k, v *yaml.Node) {
		fpath := pathKey(path, k.Value)
		switch k.Value {
		case "subject_key":
			if s, ok := p.scalar(v, fpath, "a column name"); ok {
				if !validIdent(s) {
					p.fail(v, fpath, "%s is not a valid column name", quoteName(s))
				}
				t.subjectKey = s
			}
		case "timestamp":
			if s, ok := p.scalar(v, fpath, "a column name"); ok {
				if !validIdent(s) {
					p.fail(v, fpath, "%s is not a valid column name", quoteName(s))
				}
				t.timestamp = s
			}
		case "legal_hold":
			switch {
			case v.Kind == yaml.ScalarNode && v.Tag == "!!bool":
				b, err := strconv.ParseBool(v.Value)
				if err != nil {
					p.fail(v, fpath, "want a reason or true/false")
				} else if b {
					t.legalHold = "legal hold"
				}
			default:
				if s, ok := p.scalar(v, fpath, "the reason for the hold (a string)"); ok {
					t.legalHold = s
				}
			}
		case "columns":
			p.mapping(v, fpath, func(ck, cv *yaml.Node) {
				cpath := pathKey(fpath, ck.Value)
				if !validIdent(ck.Value) {
					p.fail(ck, fpath, "%s is not a valid column name", quoteName(ck.Value))
					return
				}
				cat, ok := p.scalar(cv, cpath, "a category name (email, phone, name, ...)")
				if !ok {
					return
				}
				if !ValidCategoryName(cat) {
					p.fail(cv, cpath, "%s is not a valid category name (lower-case letters, digits and _)", quoteName(cat))
					return
				}
				t.columns[ck.Value] = cat
			})
		case "retention":
			retention, retentionKey = v, k
		default:
			unknownKey(p, k, path, "subject_key", "timestamp", "legal_hold", "columns", "retention")
		}
	})
	for c := range t.columns {
		t.colNames = append(t.colNames, c)
	}
	slices.Sort(t.colNames)
	if retention != nil {
		t.retention = p.retention(t, retentionKey, retention, pathKey(path, "retention"))
	}
	return t
}

func (p *catalogParser) retention(t *Table, key, n *yaml.Node, path string) []RetentionRule {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(n, path, "want a list of {after, redact} rules, got %s", kindName(n))
		return nil
	}
	if t.timestamp == "" {
		p.fail(key, path, "retention needs the table's timestamp column to measure age from (add timestamp: <column>)")
	}
	var rules []RetentionRule
	for i, item := range n.Content {
		item = resolve(item)
		ipath := path + "[" + strconv.Itoa(i) + "]"
		var r RetentionRule
		hasAfter, hasRedact := false, false
		p.mapping(item, ipath, func(k, v *yaml.Node) {
			fpath := pathKey(ipath, k.Value)
			switch k.Value {
			case "after":
				s, ok := p.scalar(v, fpath, "an age such as 180d, 6m or 1y")
				if !ok {
					return
				}
				a, err := ParseAge(s)
				if err != nil {
					p.fail(v, fpath, "%v", err)
					return
				}
				r.After, hasAfter = a, true
			case "redact":
				hasRedact = true
				if isNull(v) {
					p.fail(v, fpath, "want column: mask pairs")
				}
				p.mapping(v, fpath, func(ck, cv *yaml.Node) {
					cpath := pathKey(fpath, ck.Value)
					col := ck.Value
					switch {
					case col == t.timestamp:
						p.fail(ck, fpath, "cannot redact %s: it is the timestamp column retention measures age from", quoteName(col))
						return
					case t.columns[col] == "":
						p.fail(ck, fpath, "cannot redact %s: it is not a classified column of %s (add it under columns)", quoteName(col), t.name)
						return
					}
					// YAML reads a bare null as a null node; here it names the
					// null mask.
					name, ok := "null", cv.Kind == yaml.ScalarNode && cv.Tag == "!!null" && cv.Value == "null"
					if !ok {
						if name, ok = p.scalar(cv, cpath, "a mask name (redact, erase, null, last4, ...)"); !ok {
							return
						}
					}
					m, err := ParseMask(name)
					if err != nil {
						p.fail(cv, cpath, "%v", err)
						return
					}
					if m.Action == ActionPass {
						p.fail(cv, cpath, "pass does not redact anything")
						return
					}
					r.Redact = append(r.Redact, Redaction{Column: col, Mask: m})
				})
			default:
				unknownKey(p, k, ipath, "after", "redact")
			}
		})
		if item.Kind != yaml.MappingNode {
			continue
		}
		if !hasAfter {
			p.fail(item, ipath, "missing after (an age such as 180d)")
		}
		if !hasRedact {
			p.fail(item, ipath, "missing redact (column: mask)")
		}
		slices.SortFunc(r.Redact, func(a, b Redaction) int { return strings.Compare(a.Column, b.Column) })
		rules = append(rules, r)
	}
	return rules
}
