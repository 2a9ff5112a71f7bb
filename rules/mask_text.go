package rules

import (
	"bytes"
	"unicode/utf8"
)

// appendStars appends n '*'.
func appendStars(dst []byte, n int) []byte {
	for n > 0 {
		k := min(n, len(stars))
		dst = append(dst, stars[:k]...)
		n -= k
	}
	return dst
}

// appendPartial keeps the last keep characters (runes, so UTF-8 stays valid)
// and replaces each other character with '*'. A value of keep characters or
// fewer is starred completely (an empty value becomes "*"), so the mask never
// returns its input. For bpchar the blank padding is set aside first and
// appended again, so the value keeps its declared length.
func appendPartial(dst, v []byte, keep int, bpchar bool) []byte {
	pad := 0
	if bpchar {
		t := trimRightSpaces(v)
		pad = len(v) - len(t)
		v = t
	}
	cut, kept := len(v), 0
	for cut > 0 && kept < keep {
		_, size := utf8.DecodeLastRune(v[:cut])
		cut -= size
		kept++
	}
	if masked := utf8.RuneCount(v[:cut]); masked == 0 {
		dst = appendStars(dst, max(kept, 1))
	} else {
		dst = appendStars(dst, masked)
		dst = append(dst, v[cut:]...)
	}
	for range pad {
		dst = append(dst, ' ')
	}
	return dst
}

// appendEmail keeps the first character of the local part and the domain:
// john.doe@example.com -> j***@example.com. A value that is not an address
// (no '@', an empty local part or domain, a domain with characters a domain
// cannot have) becomes NULL: the part after '@' would otherwise be shown.
func appendEmail(dst, v []byte, bpchar bool) ([]byte, bool) {
	if bpchar {
		v = trimRightSpaces(v)
	}
	at := bytes.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 || len(v)-at-1 > 255 {
		return dst, false
	}
	for _, c := range v[at+1:] {
		if c < 0x80 && !isDomainChar(c) {
			return dst, false
		}
	}
	_, size := utf8.DecodeRune(v)
	dst = append(dst, v[:size]...)
	dst = append(dst, "***"...)
	return append(dst, v[at:]...), true
}
