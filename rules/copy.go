package rules

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// CopyKind is the FORMAT of a COPY ... TO STDOUT.
type CopyKind uint8

// Copy formats. The zero value is unspecified and rejected by CompileCopy.
const (
	CopyUnspecified CopyKind = iota
	CopyText
	CopyCSV
	CopyBinary
)

// String returns the COPY format name ("text", "csv", "binary").
func (k CopyKind) String() string {
	switch k {
	case CopyText:
		return "text"
	case CopyCSV:
		return "csv"
	case CopyBinary:
		return "binary"
	}
	return "unspecified"
}

// CopyFormat holds the COPY options that shape the rows of a COPY ... TO
// STDOUT. Every field is taken literally (an empty Null is the empty string),
// so start from NewCopyFormat, which fills in PostgreSQL's defaults, and
// override what the statement's options say.
type CopyFormat struct {
	Kind CopyKind
	// Delimiter separates fields (DELIMITER): a single-byte ASCII character.
	Delimiter byte
	// Null is the string that represents SQL NULL (NULL).
	Null string
	// Quote and Escape are CSV's QUOTE and ESCAPE characters.
	Quote, Escape byte
	// Header is true when the first row is a header line (HEADER). The
	// header is checked for its field count and passed through.
	Header bool
}

// NewCopyFormat returns PostgreSQL's defaults for a COPY format: tab and \N
// for text; comma, empty NULL, '"' for both quote and escape for CSV.
func NewCopyFormat(kind CopyKind) CopyFormat {
	switch kind {
	case CopyText:
		return CopyFormat{Kind: kind, Delimiter: '\t', Null: `\N`}
	case CopyCSV:
		return CopyFormat{Kind: kind, Delimiter: ',', Null: "", Quote: '"', Escape: '"'}
	}
	return CopyFormat{Kind: kind}
}

// validate applies the checks of PostgreSQL's ProcessCopyOptions that matter
// for parsing the output.
func (f CopyFormat) validate() error {
	switch f.Kind {
	case CopyBinary:
		return nil
	case CopyText, CopyCSV:
	default:
		return errors.New("copy format unspecified")
	}
	d := f.Delimiter
	if d == 0 || d >= 0x80 || d == '\r' || d == '\n' {
		return errors.New("copy delimiter must be a single-byte character other than newline and carriage return")
	}
	if f.Kind == CopyText && strings.IndexByte(`\.abcdefghijklmnopqrstuvwxyz0123456789`, d) >= 0 {
		return errors.New("copy delimiter cannot be a backslash, a dot, a lower-case letter or a digit in text format")
	}
	if strings.ContainsAny(f.Null, "\r\n") || strings.IndexByte(f.Null, d) >= 0 {
		return errors.New("copy NULL string cannot contain newlines or the delimiter")
	}
	if f.Kind == CopyCSV {
		if f.Quote == 0 || f.Quote >= 0x80 || f.Escape == 0 || f.Escape >= 0x80 {
			return errors.New("copy quote and escape must be single-byte characters")
		}
		if f.Quote == d {
			return errors.New("copy delimiter and quote must be different")
		}
		if strings.IndexByte(f.Null, f.Quote) >= 0 {
			return errors.New("copy quote character cannot appear in the NULL string")
		}
	}
	return nil
}

// ErrBinaryCopyMasked is returned by CompileCopy for binary COPY of a
// result with masked columns: the proxy refuses the statement.
var ErrBinaryCopyMasked = errors.New("rules: binary COPY of masked columns is not supported")

// CopyPlan masks the rows of one COPY ... TO STDOUT in text or CSV format.
// Like Plan, it is not safe for concurrent use; it also remembers whether it
// has seen the header line, so use one CopyPlan per COPY operation or call
// Reset between operations.
type CopyPlan struct {
	plan       *Plan
	f          CopyFormat
	null       []byte
	headerNext bool
	scratch    []byte // a decoded field
	out        []byte // its masked form
}

// CompileCopy builds the plan for a COPY TO STDOUT whose columns are cols in
// format f. COPY sends every value in its text form, so each Column.Format is
// ignored. A binary COPY compiles only when every mask is pass
// (ErrBinaryCopyMasked otherwise); its rows are then copied unchanged.
func CompileCopy(cols []Column, f CopyFormat, opts PlanOptions) (*CopyPlan, error) {
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("rules: compile copy: %w", err)
	}
	tc := make([]Column, len(cols))
	copy(tc, cols)
	for i := range tc {
		tc[i].Format = 0
	}
	p, err := Compile(tc, opts)
	if err != nil {
		return nil, err
	}
	if f.Kind == CopyBinary && !p.Passthrough() {
		return nil, ErrBinaryCopyMasked
	}
	return &CopyPlan{plan: p, f: f, null: []byte(f.Null), headerNext: f.Header && f.Kind != CopyBinary}, nil
}

// NumColumns returns the number of fields the plan expects in each row.
func (p *CopyPlan) NumColumns() int { return p.plan.NumColumns() }

// Passthrough reports whether every column is revealed, so CopyData can be
// forwarded unchanged.
func (p *CopyPlan) Passthrough() bool { return p.plan.Passthrough() }

// Reset makes the plan expect a header line again (when the format has one),
// for reuse by another execution of the same COPY.
func (p *CopyPlan) Reset() { p.headerNext = p.f.Header && p.f.Kind != CopyBinary }

// AppendRow appends to dst a complete CopyData message (type 'd', length,
// data) built from row, the data of one CopyData message from the server.
// PostgreSQL sends exactly one row per CopyData, terminated by a newline; the
// first row of a COPY with HEADER is the header line, which is passed
// through once its field count is checked. Masked fields are decoded,
// masked and encoded again (escaped in text format, quoted when needed or
// when they were quoted in CSV); other fields are copied byte for byte, and a
// NULL stays NULL.
//
// row may alias a reused buffer; AppendRow does not retain it. On error dst
// is returned truncated to its original length and the row must not be
// forwarded. AppendRow does not allocate once its scratch buffers have grown
// to the largest field and dst has room.
func (p *CopyPlan) AppendRow(dst, row []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 'd', 0, 0, 0, 0)
	var err error
	switch {
	case p.f.Kind == CopyBinary:
		dst = append(dst, row...)
	case len(row) == 0 || row[len(row)-1] != '\n':
		err = fmt.Errorf("%w: copy row without a newline", ErrMalformedRow)
	default:
		mask := !p.headerNext
		line := row[:len(row)-1]
		if p.f.Kind == CopyText {
			dst, err = p.appendText(dst, line, mask)
		} else {
			dst, err = p.appendCSV(dst, line, mask)
		}
		if err == nil {
			dst = append(dst, '\n')
			p.headerNext = false
		}
	}
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - start - 1
	if n > math.MaxInt32 {
		return dst[:start], ErrRowTooLarge
	}
	binary.BigEndian.PutUint32(dst[start+1:], uint32(n))
	return dst, nil
}

// appendText rewrites one text-format line (without its newline). With mask
// false (the header) it only counts the fields.
func (p *CopyPlan) appendText(dst, line []byte, mask bool) ([]byte, error) {
	ncols := len(p.plan.cols)
	if ncols == 0 {
		if len(line) != 0 {
			return dst, ErrColumnCount
		}
		return dst, nil
	}
	d := p.f.Delimiter
	col, run := 0, 0
	for fs := 0; ; {
		j := fs
		for j < len(line) && line[j] != d {
			if line[j] == '\\' {
				j++
				if j == len(line) {
					return dst, fmt.Errorf("%w: column %d: backslash at end of row", ErrMalformedRow, col)
				}
			}
			j++
		}
		if col >= ncols {
			return dst, ErrColumnCount
		}
		field := line[fs:j]
		if mask && p.plan.cols[col].op != opPass && !bytes.Equal(field, p.null) {
			dst = append(dst, line[run:fs]...)
			run = j
			p.scratch = copyTextUnescape(p.scratch[:0], field)
			var ok bool
			p.out, ok = p.plan.maskValue(col, p.out[:0], p.scratch)
			if ok {
				dst = appendCopyTextEscaped(dst, p.out, d)
			} else {
				dst = append(dst, p.null...)
			}
		}
		col++
		if j == len(line) {
			break
		}
		fs = j + 1
	}
	if col != ncols {
		return dst, ErrColumnCount
	}
	return append(dst, line[run:]...), nil
}

// copyTextUnescape decodes the backslash escapes of a text-format COPY field
// (CopyReadAttributesText): \b \f \n \r \t \v, octal \ooo, hex \xhh, and a
// backslash before any other character stands for that character.
func copyTextUnescape(dst, f []byte) []byte {
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 >= len(f) {
			dst = append(dst, c)
			continue
		}
		i++
		c = f[i]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'v':
			dst = append(dst, '\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(c - '0')
			for k := 0; k < 2 && i+1 < len(f) && f[i+1] >= '0' && f[i+1] <= '7'; k++ {
				i++
				v = v<<3 | int(f[i]-'0')
			}
			dst = append(dst, byte(v))
		case 'x':
			if i+1 < len(f) && isHex(f[i+1]) {
				i++
				v := hexVal(f[i])
				if i+1 < len(f) && isHex(f[i+1]) {
					i++
					v = v<<4 | hexVal(f[i])
				}
				dst = append(dst, byte(v))
			} else {
				dst = append(dst, 'x')
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendCopyTextEscaped encodes a value as a text-format COPY field, as
// CopyAttributeOutText does.
func appendCopyTextEscaped(dst, v []byte, delim byte) []byte {
	run := 0
	for i, c := range v {
		var e byte
		switch c {
		case '\\':
			e = '\\'
		case '\n':
			e = 'n'
		case '\r':
			e = 'r'
		case '\t':
			e = 't'
		case '\b':
			e = 'b'
		case '\f':
			e = 'f'
		case '\v':
			e = 'v'
		default:
			if c != delim {
				continue
			}
			e = c
		}
		dst = append(dst, v[run:i]...)
		dst = append(dst, '\\', e)
		run = i + 1
	}
	return append(dst, v[run:]...)
}

// appendCSV rewrites one CSV line (without its final newline; quoted fields
// may contain newlines). With mask false (the header) it only counts the
// fields.
func (p *CopyPlan) appendCSV(dst, line []byte, mask bool) ([]byte, error) {
	ncols := len(p.plan.cols)
	if ncols == 0 {
		if len(line) != 0 {
			return dst, ErrColumnCount
		}
		return dst, nil
	}
	d, q, e := p.f.Delimiter, p.f.Quote, p.f.Escape
	col, run := 0, 0
	for i := 0; ; {
		if col >= ncols {
			return dst, ErrColumnCount
		}
		masked := mask && p.plan.cols[col].op != opPass
		fs := i
		quoted, inQuote := false, false
		if masked {
			p.scratch = p.scratch[:0]
		}
		for i < len(line) {
			c := line[i]
			if inQuote {
				switch {
				case c == e && e != q && i+1 < len(line) && (line[i+1] == q || line[i+1] == e):
					c = line[i+1]
					i += 2
				case c == q && e == q && i+1 < len(line) && line[i+1] == q:
					i += 2
				case c == q:
					inQuote = false
					i++
					continue
				default:
					i++
				}
			} else {
				if c == d {
					break
				}
				i++
				if c == q {
					inQuote, quoted = true, true
					continue
				}
			}
			if masked {
				p.scratch = append(p.scratch, c)
			}
		}
		if inQuote {
			return dst, fmt.Errorf("%w: column %d: unterminated quoted field", ErrMalformedRow, col)
		}
		if masked && (quoted || !bytes.Equal(line[fs:i], p.null)) {
			dst = append(dst, line[run:fs]...)
			run = i
			var ok bool
			p.out, ok = p.plan.maskValue(col, p.out[:0], p.scratch)
			if ok {
				dst = p.appendCSVField(dst, p.out, quoted, ncols == 1)
			} else {
				dst = append(dst, p.null...)
			}
		}
		col++
		if i == len(line) {
			break
		}
		i++ // the delimiter
	}
	if col != ncols {
		return dst, ErrColumnCount
	}
	return append(dst, line[run:]...), nil
}

// appendCSVField encodes a value as a CSV field, as CopyAttributeOutCSV
// does: quoted when it contains the delimiter, the quote, CR or LF, when it
// equals the NULL string, when it is "\." alone on a line, or when the
// original field was quoted (FORCE_QUOTE); quote and escape characters
// inside are preceded by the escape character.
func (p *CopyPlan) appendCSVField(dst, v []byte, quoted, single bool) []byte {
	d, q, e := p.f.Delimiter, p.f.Quote, p.f.Escape
	need := quoted || bytes.Equal(v, p.null) || (single && string(v) == `\.`)
	for _, c := range v {
		if need {
			break
		}
		need = c == d || c == q || c == '\n' || c == '\r'
	}
	if !need {
		return append(dst, v...)
	}
	dst = append(dst, q)
	run := 0
	for i, c := range v {
		if c == q || c == e {
			dst = append(dst, v[run:i]...)
			dst = append(dst, e)
			run = i
		}
	}
	dst = append(dst, v[run:]...)
	return append(dst, q)
}
