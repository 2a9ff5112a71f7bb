package proxy

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"strconv"
	"time"

	"github.com/pgveil/pgveil/rules"
)

// compilePlan builds the masking plan of one result shape.
func (ss *session) compilePlan(ex *execution, fields []fieldDesc) (*rules.Plan, error) {
	cols, err := ss.planColumns(ex, fields)
	if err != nil {
		return nil, err
	}
	plan, err := rules.Compile(cols, rules.PlanOptions{HashKey: ss.cfg.HashKey, ASCIIUnsafeText: ss.encodingUnsafe.Load() || ex.encodingUncertain})
	if err != nil {
		return nil, &ProtocolError{Code: codeInternalError, Msg: "pgveil cannot mask this result; the session ends", Fatal: true, Err: err}
	}
	if plan.Passthrough() {
		return nil, nil
	}
	ex.maskedPerRow = countMasked(cols)
	return plan, nil
}

// planColumns decides the mask of every field of a result. A field's
// lineage is the union of two witnesses, and the stricter answer wins:
//
//   - the RowDescription's table OID and attribute number, resolved through
//     the schema snapshot (a table column, a partition's parent column, a
//     view column's definition), which Postgres itself vouches for;
//   - the statement analysis' Outputs, which also cover computed values
//     (table OID 0), RETURNING of copied values, and cursors and prepared
//     statements run by name.
//
// When the analysis cannot vouch for the shape (Outputs missing or of a
// different length), every field is treated as of unknown origin.
func (ss *session) planColumns(ex *execution, fields []fieldDesc) ([]rules.Column, error) {
	snap := ss.cfg.Schema.Current()
	var outs []rules.Output
	if ex.lineage != nil && len(ex.lineage.Outputs) == len(fields) {
		outs = ex.lineage.Outputs
	}
	dec := &ex.d.dec
	cat := ss.catalog()
	cols := make([]rules.Column, len(fields))
	ex.subjectCols = ex.subjectCols[:0]
	ex.subjects.codecs = ex.subjects.codecs[:0]
	// Subject keys are collected only for the audit trail.
	collect := ss.cfg.Tracer != nil && ex.d.personal
	for i, f := range fields {
		var sources []rules.ColumnRef
		direct, unknown, probe := true, false, false
		if f.tableOID != 0 {
			fl := snap.Field(f.tableOID, f.attNum)
			if fl.UnknownRelation {
				// A table created after the snapshot: refresh once, then
				// trust whatever the new snapshot says.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if s, err := ss.cfg.Schema.RefreshIfUnknown(ctx, f.tableOID); err == nil && s != nil {
					snap = s
					fl = snap.Field(f.tableOID, f.attNum)
				}
				cancel()
			}
			sources, direct, unknown = fl.Sources, fl.Direct, fl.Unknown
		}
		if outs != nil {
			o := outs[i]
			sources = unionRefs(sources, o.Sources)
			direct = direct && o.Direct
			unknown = unknown || o.Unknown
			probe = o.Probe
		} else {
			unknown = true
		}
		var m rules.Mask
		switch {
		case unknown:
			m = rules.Mask{Action: rules.ActionRedact}
		case len(sources) == 0:
			m = rules.Pass()
		default:
			m = combinedMask(dec, snap.Category, sources, direct, probe)
		}
		if collect && direct && len(sources) == 1 && isSubjectKey(cat, sources[0]) {
			ex.subjectCols = append(ex.subjectCols, i)
			ex.subjects.addTable(sources[0].Table)
			ex.subjects.codecs = append(ex.subjects.codecs, subjectCodec{typeOID: f.typeOID, format: f.format})
		}
		cols[i] = rules.Column{Name: f.name, TableOID: f.tableOID, AttNum: f.attNum,
			TypeOID: f.typeOID, TypeMod: f.typeMod, Format: f.format, Mask: m}
	}
	return cols, nil
}

// combinedMask is the mask of a value derived from sources: a direct copy
// of one column (or of several columns that all get the same mask) keeps
// that column's mask; anything computed gets the strictest mask of its
// sources, turned into a non-format-preserving one (rules.Mask.Derived).
// Only a stored value that is no probe gets a pseudonym: a pseudonym of a
// computed value (email = 'guess', or a guess spelled with chr() over
// constants computed from classified data) would answer the guess per row
// (rules.Output.Probe), so hash becomes redact there.
func combinedMask(dec *rules.Decision, category func(rules.ColumnRef) (string, bool), sources []rules.ColumnRef, direct, probe bool) rules.Mask {
	combined, first, same := rules.Pass(), rules.Mask{}, true
	for i, src := range sources {
		m := rules.Pass()
		if c, ok := category(src); ok {
			m = dec.MaskFor(src, c)
		}
		if i == 0 {
			first = m
		} else if m != first {
			same = false
		}
		combined = combined.Combine(m)
	}
	m := combined.Derived()
	if direct && same {
		m = first
	}
	if m.Action == rules.ActionHash && (probe || !direct) {
		m = rules.Mask{Action: rules.ActionRedact}
	}
	return m
}

func isSubjectKey(cat *rules.Catalog, ref rules.ColumnRef) bool {
	if cat == nil {
		return false
	}
	t, ok := cat.Table(ref.Table)
	return ok && t.SubjectKey() != "" && t.SubjectKey() == ref.Column
}

func countMasked(cols []rules.Column) int {
	n := 0
	for _, c := range cols {
		if !c.Mask.IsPass() {
			n++
		}
	}
	return n
}

// Subject keys collected per statement for the audit record.
const (
	maxSubjectKeys    = 100    // raw keys kept (the tracer pseudonymises them)
	maxSubjectTracked = 10_000 // distinct keys counted exactly
)

// subjectCollector gathers the distinct subject-key values of a result.
// Its set of seen hashes comes from the session's pool (pool), so that a
// session reuses one map across statements instead of growing a new one.
type subjectCollector struct {
	keys   []string
	seen   map[uint64]struct{}
	count  int64
	tables []string
	seed   maphash.Seed
	pool   *[]map[uint64]struct{}
	// codecs has the type and format of each collected column, in the
	// order of the columns: keys are kept in their text form, whatever the
	// wire format, so that auditors can compute their pseudonyms.
	codecs  []subjectCodec
	scratch [40]byte
}

// subjectCodec is the type and wire format of a subject-key column.
type subjectCodec struct {
	typeOID uint32
	format  int16
}

// Type OIDs whose binary form pgveil turns into text for subject keys.
const (
	oidInt2 = 21
	oidInt4 = 23
	oidInt8 = 20
	oidUUID = 2950
)

// text returns v in its text form, in scratch when it has to convert.
func (c subjectCodec) text(v []byte, scratch []byte) []byte {
	if c.format != 1 {
		return v
	}
	switch {
	case c.typeOID == oidInt2 && len(v) == 2:
		return strconv.AppendInt(scratch[:0], int64(int16(binary.BigEndian.Uint16(v))), 10)
	case c.typeOID == oidInt4 && len(v) == 4:
		return strconv.AppendInt(scratch[:0], int64(int32(binary.BigEndian.Uint32(v))), 10)
	case c.typeOID == oidInt8 && len(v) == 8:
		return strconv.AppendInt(scratch[:0], int64(binary.BigEndian.Uint64(v)), 10)
	case c.typeOID == oidUUID && len(v) == 16:
		const hexd = "0123456789abcdef"
		out := scratch[:0]
		for i, b := range v {
			if i == 4 || i == 6 || i == 8 || i == 10 {
				out = append(out, '-')
			}
			out = append(out, hexd[b>>4], hexd[b&15])
		}
		return out
	}
	return v
}

func (s *subjectCollector) addTable(t string) {
	for _, x := range s.tables {
		if x == t {
			return
		}
	}
	s.tables = append(s.tables, t)
}

// addRow records the values of the given columns of a DataRow body.
func (s *subjectCollector) addRow(body []byte, cols []int) {
	if len(body) < 2 {
		return
	}
	n := int(binary.BigEndian.Uint16(body))
	p, ci := 2, 0
	for i := 0; i < n && ci < len(cols); i++ {
		if len(body)-p < 4 {
			return
		}
		l := int32(binary.BigEndian.Uint32(body[p:]))
		p += 4
		var v []byte
		if l > 0 {
			if int(l) > len(body)-p {
				return
			}
			v = body[p : p+int(l)]
			p += int(l)
		}
		if i == cols[ci] {
			if l >= 0 {
				if ci < len(s.codecs) {
					v = s.codecs[ci].text(v, s.scratch[:])
				}
				s.add(v)
			}
			ci++
		}
	}
}

func (s *subjectCollector) add(v []byte) {
	if s.seen == nil {
		if s.pool != nil && len(*s.pool) > 0 {
			p := *s.pool
			s.seen, *s.pool = p[len(p)-1], p[:len(p)-1]
		} else {
			s.seen = make(map[uint64]struct{})
		}
		s.seed = sessionSeed
	}
	h := maphash.Bytes(s.seed, v)
	if _, ok := s.seen[h]; ok {
		return
	}
	s.count++
	if len(s.seen) < maxSubjectTracked {
		s.seen[h] = struct{}{}
	}
	if len(s.keys) < maxSubjectKeys {
		s.keys = append(s.keys, string(v))
	}
}

// result returns what was collected and gives the seen set back to the
// pool.
func (s *subjectCollector) result() ([]string, int64, []string) {
	if s.seen != nil && s.pool != nil && len(*s.pool) < 4 {
		clear(s.seen)
		*s.pool = append(*s.pool, s.seen)
	}
	s.seen = nil
	return s.keys, s.count, s.tables
}

// sessionSeed seeds the subject-key hashes (process-wide; only distinctness
// within one statement matters).
var sessionSeed = maphash.MakeSeed()
