package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Column describes one field of a result as RowDescription gives it, plus
// the mask the field gets. The proxy fills it from RowDescription (or from
// the statement's remembered fields and the portal's result formats) and
// from the decision (see Decision.OutputMask).
type Column struct {
	// Name is the field name the client sees. It is used in error messages
	// only.
	Name string
	// TableOID and AttNum identify the source column; both are 0 for an
	// expression. They are informational: the mask has already been chosen.
	TableOID uint32
	AttNum   int16
	// TypeOID is the field's data type. For a domain, pass the base type's
	// OID if known; a type the package does not model (MASKS.md) gets NULL
	// for every mask except pass.
	TypeOID uint32
	// TypeMod is the type modifier (-1 if none); it bounds the length of
	// redaction constants for varchar(n) and char(n).
	TypeMod int32
	// Format is the result format code: 0 text, 1 binary.
	Format int16
	// Mask is what happens to the field's values. The zero Mask is
	// unspecified and makes Compile fail: a revealed field must say
	// Pass() explicitly.
	Mask Mask
}

// PlanOptions configures Compile and CompileCopy.
type PlanOptions struct {
	// HashKey keys the hash mask (HMAC-SHA256). It must be at least
	// MinHashKeyLen bytes when any column's mask is hash, and the same key
	// must be used everywhere pseudonyms are meant to join (every proxy
	// instance, every session). Compile copies what it needs; the caller may
	// reuse the slice. If nil, hash masks make Compile fail.
	HashKey []byte
	// TextTypes lists additional type OIDs whose values are text in both
	// formats: citext, enums, domains over text. Their columns get the text
	// masks. If nil, only the built-in text types (text, varchar, bpchar,
	// name, unknown) do.
	TextTypes []uint32
	// ASCIIUnsafeText: values come in a client encoding whose multi-byte
	// characters can contain ASCII bytes (SJIS, BIG5, GBK, UHC, GB18030,
	// JOHAB), or in an encoding the caller cannot vouch for. The masks that
	// read a value's text (partial, last4, email, scrub, and year and
	// ip_prefix over text types) could then take half a character for a
	// letter, digit or '@' and keep or miss what they should not, so they
	// redact instead.
	ASCIIUnsafeText bool
}

// Errors returned by Compile and the row rewriters. Errors never contain a
// data value: they name a column by index (and, at compile time, by name).
var (
	// ErrColumnCount means a row's column count differs from the plan's: the
	// result shape changed under the plan. The row must not be forwarded.
	ErrColumnCount = errors.New("rules: row column count does not match the plan")
	// ErrMalformedRow means a row could not be parsed.
	ErrMalformedRow = errors.New("rules: malformed row")
	// ErrRowTooLarge means the masked row does not fit in a protocol message.
	ErrRowTooLarge = errors.New("rules: masked row too large")
	// ErrHashKey means a column uses the hash mask and PlanOptions.HashKey is
	// shorter than MinHashKeyLen.
	ErrHashKey = errors.New("rules: the hash mask needs a key of at least 16 bytes")
)

// op is a compiled mask: what to do with one column's non-NULL values.
type op uint8

const (
	opPass op = iota
	opNull
	opConst
	opPartial
	opEmail
	opHashText
	opHashJSON
	opHashInt
	opHashUUID
	opHashBytea
	opYearDateText
	opYearDateBinary
	opYearTimestampText
	opYearTimestampBinary
	opYearText
	opIPText
	opIPBinary
	opScrubText
	opScrubJSON
	opScrubJSONB
)

type planCol struct {
	op     op
	fam    family
	bin    bool
	bpchar bool
	keep   int
	konst  []byte
}

// Plan rewrites the DataRows of one result shape: it is compiled once per
// RowDescription (or per statement or portal) and applied to every row.
//
// A Plan is immutable except for the scratch state of the hash mask, so it
// must not be used by more than one goroutine at a time; a session's
// server-to-client relay owns its plans. Compile a plan per session, or guard
// a shared one.
type Plan struct {
	cols []planCol
	pass bool
	h    *hasher
}

// Compile builds the plan for a result with the given columns. It fails when
// a column's mask is unspecified or invalid, a format code is neither 0 nor
// 1, or a hash mask has no key. Every (type, format, mask) combination that
// the package cannot produce correctly compiles to NULL (see MASKS.md); no
// combination compiles to pass except an explicit Pass().
func Compile(cols []Column, opts PlanOptions) (*Plan, error) {
	if len(cols) > math.MaxUint16 {
		return nil, fmt.Errorf("rules: compile: %d columns, at most %d", len(cols), math.MaxUint16)
	}
	p := &Plan{cols: make([]planCol, len(cols)), pass: true}
	for i, c := range cols {
		if err := c.Mask.Validate(); err != nil {
			return nil, fmt.Errorf("rules: compile column %d (%s): %w", i, quoteName(c.Name), err)
		}
		if c.Format != 0 && c.Format != 1 {
			return nil, fmt.Errorf("rules: compile column %d (%s): format code %d is neither text (0) nor binary (1)", i, quoteName(c.Name), c.Format)
		}
		if c.Mask.Action == ActionHash && p.h == nil {
			if len(opts.HashKey) < MinHashKeyLen {
				return nil, fmt.Errorf("%w (column %d, %s)", ErrHashKey, i, quoteName(c.Name))
			}
			p.h = newHasher(opts.HashKey)
		}
		ti := lookupType(c.TypeOID, c.TypeMod, opts.TextTypes)
		p.cols[i] = compileColumn(c.Mask, ti, c.Format == 1)
		if opts.ASCIIUnsafeText && readsText(p.cols[i].op, ti) {
			p.cols[i] = compileColumn(Mask{Action: ActionRedact}, ti, c.Format == 1)
		}
		if p.cols[i].op != opPass {
			p.pass = false
		}
	}
	return p, nil
}

// compileColumn chooses the op for a mask on a type in a format. Anything not
// listed falls back to NULL.
func compileColumn(m Mask, ti typeInfo, bin bool) planCol {
	pc := planCol{op: opNull, fam: ti.fam, bin: bin, bpchar: ti.bpchar}
	text := ti.fam == famText
	switch m.Action {
	case ActionPass:
		pc.op = opPass
	case ActionRedact:
		if k, ok := redactConst(ti, bin); ok {
			pc.op, pc.konst = opConst, k
		}
	case ActionPartial, ActionLast4:
		if text {
			pc.op, pc.keep = opPartial, m.keep()
		}
	case ActionEmail:
		if text {
			pc.op = opEmail
		}
	case ActionHash:
		switch ti.fam {
		case famText:
			pc.op = opHashText
		case famJSON, famJSONB:
			pc.op = opHashJSON
		case famInt2, famInt4, famInt8:
			pc.op = opHashInt
		case famUUID:
			pc.op = opHashUUID
		case famBytea:
			pc.op = opHashBytea
		}
	case ActionYear:
		switch {
		case ti.fam == famDate && bin:
			pc.op = opYearDateBinary
		case ti.fam == famDate:
			pc.op = opYearDateText
		case (ti.fam == famTimestamp || ti.fam == famTimestamptz) && bin:
			pc.op = opYearTimestampBinary
		case ti.fam == famTimestamp || ti.fam == famTimestamptz:
			pc.op = opYearTimestampText
		case text:
			pc.op = opYearText
		}
	case ActionIPPrefix:
		switch {
		case (ti.fam == famInet || ti.fam == famCIDR) && bin:
			pc.op = opIPBinary
		case ti.fam == famInet || ti.fam == famCIDR || text:
			pc.op = opIPText
		}
	case ActionScrub:
		switch {
		case text:
			pc.op = opScrubText
		case ti.fam == famJSON || (ti.fam == famJSONB && !bin):
			pc.op = opScrubJSON
		case ti.fam == famJSONB:
			pc.op = opScrubJSONB
		case ti.fam == famArray && ti.elemF == famText && !bin:
			// Tags contain none of { } , " \ or white space, and no pattern
			// matches across them, so an array literal stays valid.
			pc.op = opScrubText
		}
	}
	return pc
}

// readsText reports whether op interprets the characters of a text value
// (see PlanOptions.ASCIIUnsafeText). Hashes read bytes; dates, timestamps
// and inet values are ASCII in every encoding.
func readsText(o op, ti typeInfo) bool {
	switch o {
	case opPartial, opEmail, opScrubText, opScrubJSON, opScrubJSONB, opYearText:
		return true
	case opIPText:
		return ti.fam != famInet && ti.fam != famCIDR
	}
	return false
}

// NumColumns returns the number of columns the plan expects in each row.
func (p *Plan) NumColumns() int { return len(p.cols) }

// Passthrough reports whether the plan leaves every column unchanged, so the
// caller may forward DataRows as raw frames without calling AppendDataRow.
func (p *Plan) Passthrough() bool { return p.pass }

// AppendDataRow appends to dst a complete DataRow message (type byte,
// length, body) built from body, the body of a DataRow from the server
// (without its 5-byte header), with every masked column replaced. NULLs stay
// NULL. Unmasked columns are copied byte for byte.
//
// body may alias a reused read buffer; AppendDataRow does not retain it, nor
// dst. On error, dst is returned truncated to its original length (never half
// a message) and the row must not be forwarded: a column count that differs
// from the plan's (ErrColumnCount), a malformed body (ErrMalformedRow) or a
// result too large for a message (ErrRowTooLarge). AppendDataRow does not
// allocate when dst has room for the result.
func (p *Plan) AppendDataRow(dst, body []byte) ([]byte, error) {
	start := len(dst)
	if len(body) < 2 {
		return dst, fmt.Errorf("%w: short body", ErrMalformedRow)
	}
	if int(binary.BigEndian.Uint16(body)) != len(p.cols) {
		return dst, ErrColumnCount
	}
	dst = append(dst, 'D', 0, 0, 0, 0)
	rp, run := 2, 0 // read position; start of the bytes not yet copied
	for i := range p.cols {
		if len(body)-rp < 4 {
			return dst[:start], fmt.Errorf("%w: column %d: short body", ErrMalformedRow, i)
		}
		at := rp
		vlen := int32(binary.BigEndian.Uint32(body[rp:]))
		rp += 4
		if vlen < -1 || int(vlen) > len(body)-rp {
			return dst[:start], fmt.Errorf("%w: column %d: length out of range", ErrMalformedRow, i)
		}
		if vlen == -1 {
			continue
		}
		end := rp + int(vlen)
		c := &p.cols[i]
		if c.op == opPass {
			rp = end
			continue
		}
		v := body[rp:end:end]
		rp = end
		dst = append(dst, body[run:at]...)
		run = rp
		dst = p.appendMasked(c, dst, v)
	}
	if rp != len(body) {
		return dst[:start], fmt.Errorf("%w: trailing bytes", ErrMalformedRow)
	}
	dst = append(dst, body[run:]...)
	n := len(dst) - start - 1
	if n > math.MaxInt32 {
		return dst[:start], ErrRowTooLarge
	}
	binary.BigEndian.PutUint32(dst[start+1:], uint32(n))
	return dst, nil
}

// appendMasked appends the length-prefixed masked value of one column.
func (p *Plan) appendMasked(c *planCol, dst, v []byte) []byte {
	switch c.op {
	case opNull:
		return append(dst, 0xff, 0xff, 0xff, 0xff)
	case opConst:
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.konst)))
		return append(dst, c.konst...)
	}
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, ok := p.apply(c, dst, v)
	if !ok {
		return append(dst[:at], 0xff, 0xff, 0xff, 0xff)
	}
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}

// maskValue applies column i's mask to the non-NULL value v: it appends the
// masked value to dst and reports false for NULL. Pass columns append v.
func (p *Plan) maskValue(i int, dst, v []byte) ([]byte, bool) {
	c := &p.cols[i]
	if c.op == opPass {
		return append(dst, v...), true
	}
	at := len(dst)
	dst, ok := p.apply(c, dst, v)
	if !ok {
		return dst[:at], false
	}
	return dst, true
}

// apply appends the masked form of v. ok=false means NULL; dst may then hold
// garbage after its original length, which the caller truncates.
func (p *Plan) apply(c *planCol, dst, v []byte) ([]byte, bool) {
	switch c.op {
	case opConst:
		return append(dst, c.konst...), true
	case opPartial:
		return appendPartial(dst, v, c.keep, c.bpchar), true
	case opEmail:
		return appendEmail(dst, v, c.bpchar)
	case opHashText:
		return p.h.appendText(dst, v, c.bpchar), true
	case opHashJSON:
		return p.h.appendJSON(dst, v, c.fam == famJSONB && c.bin)
	case opHashInt:
		return p.h.appendInt(dst, v, c.fam, c.bin)
	case opHashUUID:
		return p.h.appendUUID(dst, v, c.bin)
	case opHashBytea:
		return p.h.appendBytea(dst, v, c.bin)
	case opYearDateText:
		return appendYearDateText(dst, v)
	case opYearDateBinary:
		return appendYearDateBinary(dst, v)
	case opYearTimestampText:
		return appendYearTimestampText(dst, v, c.fam == famTimestamptz)
	case opYearTimestampBinary:
		return appendYearTimestampBinary(dst, v)
	case opYearText:
		return appendYearText(dst, v)
	case opIPText:
		if c.bpchar {
			v = trimRightSpaces(v)
		}
		return appendIPPrefixText(dst, v)
	case opIPBinary:
		return appendIPPrefixBinary(dst, v)
	case opScrubText:
		dst, _ = scrub(dst, v, false)
		return dst, true
	case opScrubJSON:
		return AppendScrubJSON(dst, v)
	case opScrubJSONB:
		if len(v) == 0 || v[0] != 1 {
			return dst, false
		}
		return AppendScrubJSON(append(dst, 1), v[1:])
	}
	return dst, false // opNull, and any op this switch does not know: NULL
}
