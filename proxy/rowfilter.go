package proxy

import (
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/rules"
)

// Row filters: the decision's RowFilters, and restriction of processing.
//
// Restriction keeps a list of data subjects (Config.RestrictionTable, owned
// by pgveil, maintained by `pgveil subject restrict|unrestrict`) whose rows
// every identity except the exempt ones (Decision.Unrestricted) must not
// see. pgveil rewrites every reference to a table with a subject key into
// (SELECT * FROM table WHERE NOT EXISTS (... restricted list ...)) before the
// statement reaches Postgres. The predicate is evaluated by Postgres at
// query time. While the list is empty (Config.RestrictionActive, polled
// once a second by `pgveil serve`) one-shot statements are left alone, as
// the filter would cost a plan and remove nothing; lasting ones (named
// prepared statements, PREPARE, cursors, views) are always filtered. So a
// restriction takes effect within a second, in every session. A statement
// the rewrite cannot handle (TABLESAMPLE, TRUNCATE, MERGE, INSERT ... ON
// CONFLICT DO UPDATE of a filtered table, a view over a filtered table) is
// refused.

// rewriteCache caches rewritten statement texts by (text, filters).
type rewriteCache struct {
	mu    sync.Mutex
	cache *lru.Cache[string, rewriteResult]
}

type rewriteResult struct {
	sql string
	err error
}

func newRewriteCache(size int) *rewriteCache {
	c, _ := lru.New[string, rewriteResult](size)
	return &rewriteCache{cache: c}
}

// filtersFor returns the row filters that apply to d, or nil. A lasting
// statement (a named prepared statement, SQL PREPARE, a cursor, a view) is
// filtered for restriction even while nobody is restricted, because it
// outlives the moment: a restriction made later must still apply to it.
func (ss *session) filtersFor(d *decided, lasting bool) map[string]string {
	var out map[string]string
	add := func(table, pred string) {
		if out == nil {
			out = make(map[string]string)
		}
		if old, ok := out[table]; ok {
			out[table] = "(" + old + ") AND (" + pred + ")"
		} else {
			out[table] = pred
		}
	}
	for t, p := range d.dec.RowFilters {
		add(t, p)
	}
	if ss.restricts(&d.dec, lasting) {
		// Tables with a subject key from the current rules, always; tables
		// reached through foreign keys from the last computation.
		direct := map[string]bool{}
		if cat := ss.catalog(); cat != nil {
			for t := range cat.Tables() {
				if key := t.SubjectKey(); key != "" {
					add(t.Name(), restrictionPredicate(ss.cfg.RestrictionTable, key))
					direct[t.Name()] = true
				}
			}
		}
		if ss.cfg.RestrictionFilters != nil {
			for t, p := range ss.cfg.RestrictionFilters() {
				if !direct[t] {
					add(t, p)
				}
			}
		}
	}
	return out
}

// lasting reports whether st creates something that outlives the statement
// and reads rows later: a prepared statement, a cursor, a view.
func lasting(st *rules.Statement) bool {
	switch st.Kind {
	case rules.KindPrepare, rules.KindDeclare, rules.KindCreateView:
		return true
	}
	return false
}

// restrictionPredicate filters out the rows of restricted subjects.
func restrictionPredicate(table, key string) string {
	// The key stays outside the subquery, so that it cannot bind to a
	// column of the list (a subject key named subject_id or reason).
	return "NOT COALESCE((" + quoteIdent(key) + ")::text IN (SELECT pgveil_r.subject_id FROM " + table + " pgveil_r), false)"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// applyRowFilters rewrites text for filters, through the session's cache.
func (ss *session) applyRowFilters(text string, filters map[string]string) (string, error) {
	if len(filters) == 0 {
		return text, nil
	}
	keys := make([]string, 0, len(filters))
	for k := range filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(filters[k])
		b.WriteByte(0)
	}
	b.WriteString(text)
	key := b.String()
	rc := ss.srv.rewrites
	rc.mu.Lock()
	r, ok := rc.cache.Get(key)
	rc.mu.Unlock()
	if ok {
		return r.sql, r.err
	}
	out, err := analyze.RewriteWith(ss.cfg.Schema.Current(), text, filters)
	rc.mu.Lock()
	rc.cache.Add(key, rewriteResult{out, err})
	rc.mu.Unlock()
	return out, err
}

// restricts reports whether restriction hides rows from an identity with
// decision dec: restriction is on, dec is not exempt, and some subject is
// restricted now or the statement outlives the check (lasting).
func (ss *session) restricts(dec *rules.Decision, lasting bool) bool {
	return ss.cfg.RestrictionTable != "" && !dec.Unrestricted &&
		(lasting || ss.cfg.RestrictionActive == nil || ss.cfg.RestrictionActive())
}

// filteredRefusal refuses what row filters and restriction cannot hide:
// EXPLAIN ANALYZE of a statement over a filtered table (its row counts,
// "Rows Removed by Filter" in particular, count the rows the filter hides,
// and the user's own conditions run on them first), and reading the list
// of restricted subjects for an identity restriction applies to (who asked
// for restriction, and why, is personal data too).
func (ss *session) filteredRefusal(st *rules.Statement, filters map[string]string, d *decided) *ProtocolError {
	if st.Kind == rules.KindExplain && strings.HasPrefix(st.Summary, "EXPLAIN ANALYZE") {
		tables := st.Tables
		if in := st.Inner; in != nil && in.Kind == rules.KindExecute {
			// EXPLAIN ANALYZE EXECUTE: the prepared statement's tables,
			// or, for a statement pgveil does not know, any.
			if eff, _ := ss.namedLineage(in); eff != unknownLineage {
				tables = append(slices.Clip(tables), eff.Tables...)
			} else {
				tables = append(slices.Clip(tables), slices.Collect(maps.Keys(filters))...)
			}
		}
		for _, t := range tables {
			if filters[t] != "" {
				return &ProtocolError{Code: codeInsufficientPriv,
					Msg:  "pgveil refuses EXPLAIN ANALYZE over " + t + ": pgveil filters its rows, and the plan's row counts include the rows you may not see",
					Hint: "Use EXPLAIN without ANALYZE."}
			}
		}
	}
	if t := ss.cfg.RestrictionTable; t != "" && !d.dec.Unrestricted && slices.Contains(st.Tables, t) {
		return &ProtocolError{Code: codeInsufficientPriv,
			Msg:  "pgveil refuses reading " + t + ": the list of restricted subjects is for identities exempt from restriction",
			Hint: "Ask your data protection officer."}
	}
	return nil
}

// rowFilterRefusal is the answer to a statement the filters cannot apply to.
func rowFilterRefusal(err error) *ProtocolError {
	msg := "pgveil must restrict the rows you see here and cannot do so for this statement"
	if !errors.Is(err, analyze.ErrRewrite) {
		msg = "pgveil could not apply row filters to this statement"
	}
	return &ProtocolError{Code: codeInsufficientPriv, Msg: msg,
		Hint: "Avoid TABLESAMPLE, TRUNCATE, MERGE, ON CONFLICT DO UPDATE and views over restricted tables, or ask your data protection officer."}
}

// mergeFilters combines the filters of several statements sent together.
func mergeFilters(a, b map[string]string) map[string]string {
	if len(a) == 0 {
		return b
	}
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if old, ok := out[k]; ok && old != v {
			out[k] = "(" + old + ") AND (" + v + ")"
		} else {
			out[k] = v
		}
	}
	return out
}
