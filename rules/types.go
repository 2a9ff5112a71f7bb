package rules

// Type OIDs of the built-in types the masks know (src/include/catalog/pg_type.dat).
const (
	oidBool        = 16
	oidBytea       = 17
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidJSON        = 114
	oidCIDR        = 650
	oidFloat4      = 700
	oidFloat8      = 701
	oidUnknown     = 705
	oidInet        = 869
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// family groups the types whose values a mask treats alike.
type family uint8

const (
	famUnknown family = iota // not modelled: every mask but pass becomes NULL
	famText                  // text, varchar, bpchar, name, unknown, PlanOptions.TextTypes
	famJSON
	famJSONB
	famInt2
	famInt4
	famInt8
	famNumeric
	famFloat4
	famFloat8
	famBool
	famDate
	famTime
	famTimetz
	famTimestamp
	famTimestamptz
	famUUID
	famInet
	famCIDR
	famBytea
	famArray
)

// typeInfo is what a plan needs to know about a column's type.
type typeInfo struct {
	fam    family
	bpchar bool   // blank-padded: trailing spaces are padding
	length int    // declared length of varchar(n)/bpchar(n), 0 if none
	elem   uint32 // element type OID of an array
	elemF  family // element family of an array
}

// baseFamily maps a scalar type OID to its family.
func baseFamily(oid uint32) family {
	switch oid {
	case oidText, oidVarchar, oidBPChar, oidName, oidUnknown:
		return famText
	case oidJSON:
		return famJSON
	case oidJSONB:
		return famJSONB
	case oidInt2:
		return famInt2
	case oidInt4:
		return famInt4
	case oidInt8:
		return famInt8
	case oidNumeric:
		return famNumeric
	case oidFloat4:
		return famFloat4
	case oidFloat8:
		return famFloat8
	case oidBool:
		return famBool
	case oidDate:
		return famDate
	case oidTime:
		return famTime
	case oidTimetz:
		return famTimetz
	case oidTimestamp:
		return famTimestamp
	case oidTimestamptz:
		return famTimestamptz
	case oidUUID:
		return famUUID
	case oidInet:
		return famInet
	case oidCIDR:
		return famCIDR
	case oidBytea:
		return famBytea
	}
	return famUnknown
}

// arrayElem returns the element type of a built-in array type, or 0.
func arrayElem(oid uint32) uint32 {
	switch oid {
	case 1000:
		return oidBool
	case 1001:
		return oidBytea
	case 1003:
		return oidName
	case 1005:
		return oidInt2
	case 1007:
		return oidInt4
	case 1009:
		return oidText
	case 1014:
		return oidBPChar
	case 1015:
		return oidVarchar
	case 1016:
		return oidInt8
	case 1021:
		return oidFloat4
	case 1022:
		return oidFloat8
	case 651:
		return oidCIDR
	case 1041:
		return oidInet
	case 1182:
		return oidDate
	case 1183:
		return oidTime
	case 1115:
		return oidTimestamp
	case 1185:
		return oidTimestamptz
	case 1270:
		return oidTimetz
	case 1231:
		return oidNumeric
	case 2951:
		return oidUUID
	case 199:
		return oidJSON
	case 3807:
		return oidJSONB
	}
	return 0
}

// lookupType classifies a column's type. extraText lists additional OIDs
// whose text and binary forms are both plain text (PlanOptions.TextTypes).
func lookupType(oid uint32, typmod int32, extraText []uint32) typeInfo {
	if f := baseFamily(oid); f != famUnknown {
		ti := typeInfo{fam: f, bpchar: oid == oidBPChar}
		// varchar(n) and bpchar(n) carry n+4 (VARHDRSZ) in the type modifier.
		if (oid == oidVarchar || oid == oidBPChar) && typmod >= 5 {
			ti.length = int(typmod - 4)
		}
		return ti
	}
	if e := arrayElem(oid); e != 0 {
		return typeInfo{fam: famArray, elem: e, elemF: baseFamily(e)}
	}
	for _, t := range extraText {
		if t == oid && oid != 0 {
			return typeInfo{fam: famText}
		}
	}
	return typeInfo{fam: famUnknown}
}

// redactText is the redaction constant for text values.
const redactText = "[redacted]"

// redactConst returns the constant that ActionRedact produces for a type
// and format, or ok=false when the type has none (the plan then uses NULL).
// Every constant is a valid value of its type in its format; the tests decode
// each one with pgx's codecs.
func redactConst(ti typeInfo, binary bool) (v []byte, ok bool) {
	switch ti.fam {
	case famText:
		return redactTextFor(ti), true
	case famJSON:
		return []byte(`"` + redactText + `"`), true
	case famJSONB:
		if binary {
			return []byte("\x01\"" + redactText + `"`), true
		}
		return []byte(`"` + redactText + `"`), true
	case famInt2, famInt4, famInt8, famNumeric, famFloat4, famFloat8:
		if !binary {
			return []byte("0"), true
		}
		switch ti.fam {
		case famInt2:
			return make([]byte, 2), true
		case famInt4, famFloat4:
			return make([]byte, 4), true
		case famNumeric:
			// ndigits=0, weight=0, sign=positive, dscale=0: the number 0.
			return make([]byte, 8), true
		default:
			return make([]byte, 8), true
		}
	case famBool:
		if binary {
			return []byte{0}, true
		}
		return []byte("f"), true
	case famDate:
		if binary {
			return be32(daysFrom2000(1900, 1, 1)), true
		}
		return []byte("1900-01-01"), true
	case famTimestamp:
		if binary {
			return be64(int64(daysFrom2000(1900, 1, 1)) * usPerDay), true
		}
		return []byte("1900-01-01 00:00:00"), true
	case famTimestamptz:
		if binary {
			return be64(int64(daysFrom2000(1900, 1, 1)) * usPerDay), true
		}
		return []byte("1900-01-01 00:00:00+00"), true
	case famTime:
		if binary {
			return make([]byte, 8), true
		}
		return []byte("00:00:00"), true
	case famTimetz:
		if binary {
			return make([]byte, 12), true
		}
		return []byte("00:00:00+00"), true
	case famUUID:
		if binary {
			return make([]byte, 16), true
		}
		return []byte("00000000-0000-0000-0000-000000000000"), true
	case famInet:
		if binary {
			return []byte{2, 32, 0, 4, 0, 0, 0, 0}, true
		}
		return []byte("0.0.0.0"), true
	case famCIDR:
		if binary {
			return []byte{2, 0, 1, 4, 0, 0, 0, 0}, true
		}
		return []byte("0.0.0.0/0"), true
	case famBytea:
		if binary {
			return []byte{}, true
		}
		return []byte(`\x`), true
	case famArray:
		// The empty array is a valid value of every array type.
		if binary {
			// ndim=0, has-null flag=0, element type.
			b := make([]byte, 12)
			putBE32(b[8:], ti.elem)
			return b, true
		}
		return []byte("{}"), true
	}
	return nil, false
}

// redactTextFor returns "[redacted]", or n stars when the column is declared
// shorter (varchar(n), char(n)); char(n) values are blank-padded to n.
func redactTextFor(ti typeInfo) []byte {
	s := []byte(redactText)
	if ti.length > 0 && ti.length < len(s) {
		s = []byte(stars[:ti.length])
	}
	for ti.bpchar && len(s) < ti.length {
		s = append(s, ' ')
	}
	return s
}

const stars = "****************************************************************"

func be32(v int32) []byte {
	b := make([]byte, 4)
	putBE32(b, uint32(v))
	return b
}

func be64(v int64) []byte {
	b := make([]byte, 8)
	putBE64(b, uint64(v))
	return b
}

func putBE32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func putBE64(b []byte, v uint64) {
	putBE32(b, uint32(v>>32))
	putBE32(b[4:], uint32(v))
}
