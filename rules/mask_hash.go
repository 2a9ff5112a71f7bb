package rules

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strconv"
)

// MinHashKeyLen is the shortest key the hash mask accepts. A pseudonym is
// only as good as its key: with a short or guessable key anyone can hash a
// list of candidate values and re-identify them.
const MinHashKeyLen = 16

// hashPrefix starts every text pseudonym, so a pseudonym is recognisable as
// one.
const hashPrefix = "h_"

// hasher computes HMAC-SHA256 pseudonyms. It owns its scratch space, so it
// does not allocate per value, and it is not safe for concurrent use.
//
// The HMAC input is a canonical form of the value that does not depend on
// the wire format: the text of a text value (without bpchar padding), the
// decimal digits of an integer, the 16 bytes of a UUID, the raw bytes of a
// bytea, the text of a JSON document. So the same value gets the same
// pseudonym in text and binary results, in every table and session that uses
// the same key; an int4 and an int8 column get pseudonyms of different
// ranges.
type hasher struct {
	mac   hash.Hash
	sum   [sha256.Size]byte
	canon [24]byte
	out   [24]byte
}

func newHasher(key []byte) *hasher {
	return &hasher{mac: hmac.New(sha256.New, key)}
}

func (h *hasher) hash(b []byte) []byte {
	h.mac.Reset()
	h.mac.Write(b)
	return h.mac.Sum(h.sum[:0])
}

// appendText appends the text pseudonym "h_" + 16 hex digits (64 bits).
func (h *hasher) appendText(dst, v []byte, bpchar bool) []byte {
	if bpchar {
		v = trimRightSpaces(v)
	}
	sum := h.hash(v)
	dst = append(dst, hashPrefix...)
	return hex.AppendEncode(dst, sum[:8])
}

// appendJSON appends the pseudonym as a JSON string; jsonbBinary handles the
// version byte of binary jsonb.
func (h *hasher) appendJSON(dst, v []byte, jsonbBinary bool) ([]byte, bool) {
	if jsonbBinary {
		if len(v) == 0 || v[0] != 1 {
			return dst, false
		}
		dst = append(dst, 1)
		v = v[1:]
	}
	sum := h.hash(v)
	dst = append(dst, '"')
	dst = append(dst, hashPrefix...)
	dst = hex.AppendEncode(dst, sum[:8])
	return append(dst, '"'), true
}

func isIntText(v []byte) bool {
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	return len(v) > 0 && len(v) <= 19 && allDigits(v)
}

// appendInt appends an integer pseudonym in the column's range: 15, 31 or 63
// non-negative bits of the HMAC. It is never the input value.
func (h *hasher) appendInt(dst, v []byte, fam family, bin bool) ([]byte, bool) {
	canon := v
	if bin {
		var x int64
		switch {
		case fam == famInt2 && len(v) == 2:
			x = int64(int16(binary.BigEndian.Uint16(v)))
		case fam == famInt4 && len(v) == 4:
			x = int64(int32(binary.BigEndian.Uint32(v)))
		case fam == famInt8 && len(v) == 8:
			x = int64(binary.BigEndian.Uint64(v))
		default:
			return dst, false
		}
		canon = strconv.AppendInt(h.canon[:0], x, 10)
	} else if !isIntText(v) {
		return dst, false
	}
	u := binary.BigEndian.Uint64(h.hash(canon))
	var out int64
	switch fam {
	case famInt2:
		out = int64(u >> 49)
	case famInt4:
		out = int64(u >> 33)
	default:
		out = int64(u >> 1)
	}
	txt := strconv.AppendInt(h.out[:0], out, 10)
	if bytes.Equal(txt, canon) {
		out ^= 1
		txt = strconv.AppendInt(h.out[:0], out, 10)
	}
	if !bin {
		return append(dst, txt...), true
	}
	switch fam {
	case famInt2:
		return binary.BigEndian.AppendUint16(dst, uint16(out)), true
	case famInt4:
		return binary.BigEndian.AppendUint32(dst, uint32(out)), true
	}
	return binary.BigEndian.AppendUint64(dst, uint64(out)), true
}

// parseUUID parses the canonical 8-4-4-4-12 form (any case) or 32 hex
// digits.
func parseUUID(v []byte) (u [16]byte, ok bool) {
	switch len(v) {
	case 36:
		if v[8] != '-' || v[13] != '-' || v[18] != '-' || v[23] != '-' {
			return u, false
		}
	case 32:
	default:
		return u, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] == '-' && len(v) == 36 && (i == 8 || i == 13 || i == 18 || i == 23) {
			continue
		}
		if i+1 >= len(v) || !isHex(v[i]) || !isHex(v[i+1]) {
			return u, false
		}
		u[n] = byte(hexVal(v[i])<<4 | hexVal(v[i+1]))
		n++
		i++
	}
	return u, n == 16
}

func appendUUIDText(dst []byte, u []byte) []byte {
	dst = hex.AppendEncode(dst, u[0:4])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[4:6])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[6:8])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[8:10])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, u[10:16])
}

// appendUUID appends a UUID pseudonym: the first 128 bits of the HMAC marked
// as an RFC 9562 version 8 (custom) UUID.
func (h *hasher) appendUUID(dst, v []byte, bin bool) ([]byte, bool) {
	var u [16]byte
	if bin {
		if len(v) != 16 {
			return dst, false
		}
		copy(u[:], v)
	} else {
		var ok bool
		if u, ok = parseUUID(v); !ok {
			return dst, false
		}
	}
	canon := h.canon[:16] // u itself would escape to the heap through h.mac
	copy(canon, u[:])
	sum := h.hash(canon)
	sum[6] = sum[6]&0x0f | 0x80
	sum[8] = sum[8]&0x3f | 0x80
	if bin {
		return append(dst, sum[:16]...), true
	}
	return appendUUIDText(dst, sum[:16]), true
}

// appendBytea appends a 16-byte pseudonym of a bytea value. Text input must
// be in the hex format (bytea_output = hex, the default since PostgreSQL
// 9.0); the escape format becomes NULL.
func (h *hasher) appendBytea(dst, v []byte, bin bool) ([]byte, bool) {
	raw := v
	mark := len(dst)
	if !bin {
		if len(v) < 2 || v[0] != '\\' || v[1] != 'x' {
			return dst, false
		}
		var err error
		// Decode into the spare capacity of dst; it is overwritten below.
		if dst, err = hex.AppendDecode(dst, v[2:]); err != nil {
			return dst[:mark], false
		}
		raw = dst[mark:]
	}
	sum := h.hash(raw)
	dst = dst[:mark]
	if bin {
		return append(dst, sum[:16]...), true
	}
	dst = append(dst, '\\', 'x')
	return hex.AppendEncode(dst, sum[:16]), true
}
