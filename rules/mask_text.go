package rules

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// asciiOnly reports whether v holds no byte of 0x80 or above, eight bytes
// at a time.
func asciiOnly(v []byte) bool {
	for len(v) >= 8 {
		if binary.LittleEndian.Uint64(v)&0x8080808080808080 != 0 {
			return false
		}
		v = v[8:]
	}
	for _, c := range v {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

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
	if asciiOnly(v) {
		dst = appendPartialASCII(dst, v, keep)
	} else {
		dst = appendPartialRunes(dst, v, keep)
	}
	return appendSpaces(dst, pad)
}

// appendPartialASCII is appendPartial's core for a value of one byte per
// character.
func appendPartialASCII(dst, v []byte, keep int) []byte {
	if len(v) <= keep {
		return appendStars(dst, max(len(v), 1))
	}
	dst = appendStars(dst, len(v)-keep)
	return append(dst, v[len(v)-keep:]...)
}

// appendPartialRunes is appendPartial's core for any UTF-8 value.
func appendPartialRunes(dst, v []byte, keep int) []byte {
	cut, kept := len(v), 0
	for cut > 0 && kept < keep {
		_, size := utf8.DecodeLastRune(v[:cut])
		cut -= size
		kept++
	}
	masked := utf8.RuneCount(v[:cut])
	if masked == 0 {
		return appendStars(dst, max(kept, 1))
	}
	dst = appendStars(dst, masked)
	return append(dst, v[cut:]...)
}

func appendSpaces(dst []byte, n int) []byte {
	for range n {
		dst = append(dst, ' ')
	}
	return dst
}

// notInDomain marks the ASCII bytes that a domain name cannot hold (see
// isDomainChar); bytes of non-ASCII characters are allowed (IDNs).
var notInDomain = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = !isDomainChar(byte(c))
	}
	return t
}()

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
		if notInDomain[c] {
			return dst, false
		}
	}
	size := 1
	if v[0] >= utf8.RuneSelf {
		_, size = utf8.DecodeRune(v)
	}
	dst = append(dst, v[:size]...)
	dst = append(dst, "***"...)
	return append(dst, v[at:]...), true
}
