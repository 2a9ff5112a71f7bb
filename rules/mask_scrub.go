package rules

import (
	"bytes"
	"unicode/utf8"
)

// The scrub mask replaces structured identifiers inside free text with a tag
// and keeps everything around them. It finds (ASCII patterns, at word
// boundaries):
//
//	[email]        local@domain.tld
//	[phone]        +CC... (8-15 digits) or 10-15 digits, with spaces, dashes,
//	               dots or one parenthesised group; ISO and D.M.Y dates and
//	               plain decimals are not phones
//	[ip]           IPv4 dotted quads, IPv6 in any RFC 4291 form
//	[iban]         IBANs (plain or in groups of four) with a valid mod-97 check
//	[card]         13-19 digit card numbers (plain, spaced or dashed) starting
//	               with 2-6 and passing the Luhn check
//	[national_id]  US SSNs (123-45-6789) and 11-digit numbers (tax IDs such as
//	               the German Steuer-ID, PESEL, CPF)
//
// Scrubbing is a heuristic that favours privacy: an epoch timestamp in text
// may come out as [phone]. It cannot find names, addresses or identifiers
// written out in words; columns that may hold those need redact.
const (
	tagEmail      = "[email]"
	tagPhone      = "[phone]"
	tagIP         = "[ip]"
	tagIBAN       = "[iban]"
	tagCard       = "[card]"
	tagNationalID = "[national_id]"
)

func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

// AppendScrub appends text to dst with every structured identifier it finds
// replaced by a tag ([email], [phone], ...); see ActionScrub. Bytes that are
// not part of an identifier are copied unchanged, so valid UTF-8 stays valid
// and the surrounding text keeps its shape. It does not retain text and does
// not allocate when dst has room.
func AppendScrub(dst, text []byte) []byte {
	dst, _ = scrub(dst, text, false)
	return dst
}

// AppendScrubJSON appends the JSON document doc to dst with every structured
// identifier inside its strings replaced by a tag, and every number that is
// itself an identifier (a card number, an 11-digit ID, a phone number)
// replaced by the tag as a JSON string. Escapes in strings are decoded before
// matching (so "a\u0040b.example" is found) and the scrubbed string is
// re-encoded; strings without a match are copied byte for byte. A valid
// document stays valid. ok is false, and dst is returned unchanged, when doc
// has an unterminated string. It does not allocate when dst has room.
func AppendScrubJSON(dst, doc []byte) (out []byte, ok bool) {
	start := len(dst)
	for i := 0; i < len(doc); {
		c := doc[i]
		switch {
		case c == '"':
			end, hasEsc, ok := jsonStringEnd(doc, i)
			if !ok {
				return dst[:start], false
			}
			dst = appendScrubJSONString(dst, doc[i:end], hasEsc)
			i = end
		case c == '-' || isDigit(c):
			j := i + 1
			for j < len(doc) && (isDigit(doc[j]) || doc[j] == '.' || doc[j] == 'e' || doc[j] == 'E' || doc[j] == '+' || doc[j] == '-') {
				j++
			}
			dst = appendScrubJSONNumber(dst, doc[i:j])
			i = j
		default:
			j := i + 1
			for j < len(doc) && doc[j] != '"' && doc[j] != '-' && !isDigit(doc[j]) {
				j++
			}
			dst = append(dst, doc[i:j]...)
			i = j
		}
	}
	return dst, true
}

// jsonStringEnd returns the index after the closing quote of the string
// starting at doc[i] == '"', and whether it contains a backslash escape.
func jsonStringEnd(doc []byte, i int) (end int, hasEsc, ok bool) {
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			hasEsc = true
			j++
		case '"':
			return j + 1, hasEsc, true
		}
	}
	return 0, false, false
}

// appendScrubJSONString scrubs one JSON string token (with its quotes).
func appendScrubJSONString(dst, tok []byte, hasEsc bool) []byte {
	base := len(dst)
	content := tok[1 : len(tok)-1]
	if hasEsc {
		// Decode into the spare capacity of dst, scrub from there to the end
		// of dst, then move the result down. content stays readable even if
		// an append moves dst: it then still points into the old array.
		dst = appendJSONUnescape(dst, content)
		content = dst[base:len(dst):len(dst)]
	}
	mark := len(dst)
	dst = append(dst, '"')
	dst, n := scrub(dst, content, true)
	if n == 0 {
		return append(dst[:base], tok...)
	}
	dst = append(dst, '"')
	if mark == base {
		return dst
	}
	m := copy(dst[base:], dst[mark:])
	return dst[:base+m]
}

// appendScrubJSONNumber replaces an integer that is an identifier by its tag
// (as a JSON string) and copies every other number.
func appendScrubJSONNumber(dst, tok []byte) []byte {
	digits := tok
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) >= 10 && allDigits(digits) {
		if end, tag := matchAt(digits, 0, 0); end == len(digits) {
			dst = append(dst, '"')
			dst = append(dst, tag...)
			return append(dst, '"')
		}
	}
	return append(dst, tok...)
}

// appendJSONUnescape decodes the escapes of a JSON string's content.
// Unpaired surrogates become U+FFFD.
func appendJSONUnescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			i++
			continue
		}
		e := s[i+1]
		i += 2
		switch e {
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
		case 'u':
			r, ok := hex4(s, i)
			if !ok {
				dst = append(dst, '\\', 'u')
				continue
			}
			i += 4
			if 0xD800 <= r && r < 0xDC00 && i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if r2, ok2 := hex4(s, i+2); ok2 && 0xDC00 <= r2 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r) // lone surrogates become U+FFFD
		default: // '"', '\\', '/' and anything unexpected: the character itself
			dst = append(dst, e)
		}
	}
	return dst
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		if !isHex(c) {
			return 0, false
		}
		r = r<<4 | rune(hexVal(c))
	}
	return r, true
}

// appendStretch copies text that scrub keeps, JSON-escaped when esc is set.
func appendStretch(dst, s []byte, esc bool) []byte {
	if !esc {
		return append(dst, s...)
	}
	const hexDigits = "0123456789abcdef"
	run := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[run:i]...)
		run = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return append(dst, s[run:]...)
}

// scrub appends s to dst with identifiers replaced by tags and returns the
// number of replacements. Text between matches is copied lazily, so a match
// found late (an e-mail address found at its '@') can still claim text that
// was scanned before.
func scrub(dst, s []byte, esc bool) ([]byte, int) {
	n, copied := 0, 0
	for i := 0; i < len(s); {
		c := s[i]
		end, tag := 0, ""
		switch {
		case c == '@':
			end, tag = matchEmailBackward(s, i, copied)
		case (isAlnum(c) || c == '+' || c == '(' || (c == ':' && i+1 < len(s) && s[i+1] == ':')) &&
			(i == copied || !isAlnum(s[i-1])):
			// Text already replaced reads as its tag (non-alphanumeric), so
			// scrubbing the output again finds nothing new.
			end, tag = matchAt(s, i, copied)
		}
		if end == 0 {
			i++
			continue
		}
		start := i
		if tag == tagEmail {
			// Claim the whole local part, also what precedes a word start
			// (the "é" of élise@, the "-" of -john@).
			start = emailLocalStart(s, i, copied)
		}
		dst = appendStretch(dst, s[copied:start], esc)
		dst = append(dst, tag...)
		copied, i = end, end
		n++
	}
	dst = appendStretch(dst, s[copied:], esc)
	return dst, n
}

// matchAt tries every pattern that can start at s[i], a word start, and
// returns the end of the first match and its tag (end 0: no match). s[:lo]
// has been replaced by tags already.
func matchAt(s []byte, i, lo int) (int, string) {
	c := s[i]
	if isAlnum(c) {
		if e := matchEmail(s, i); e > 0 {
			return e, tagEmail
		}
	}
	if isAlpha(c) {
		if e := matchIBAN(s, i); e > 0 {
			return e, tagIBAN
		}
	}
	// Numbers must start a number, not continue one ("1.2.3.4.5" has no IP
	// address starting at "2").
	if i-2 >= lo && (s[i-1] == '.' || s[i-1] == '-' || s[i-1] == ':' || s[i-1] == '/') && isDigit(s[i-2]) {
		return 0, ""
	}
	if isHex(c) || c == ':' {
		if e := matchIPv6(s, i); e > 0 {
			return e, tagIP
		}
	}
	if isDigit(c) {
		if e := matchIPv4(s, i); e > 0 {
			return e, tagIP
		}
		if e := matchSSN(s, i); e > 0 {
			return e, tagNationalID
		}
		if e := matchCard(s, i); e > 0 {
			return e, tagCard
		}
		if e := matchDigits11(s, i); e > 0 {
			return e, tagNationalID
		}
	}
	if isDigit(c) || c == '+' || c == '(' {
		if e := matchPhone(s, i); e > 0 {
			return e, tagPhone
		}
	}
	return 0, ""
}

// isLocalChar reports whether c can be part of an e-mail local part; bytes
// of non-ASCII characters can (RFC 6531), so jürgen@ is found whole.
func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80
}

func isDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// matchEmail matches an e-mail address whose local part starts at s[i].
func matchEmail(s []byte, i int) int {
	j := i
	for j < len(s) && isLocalChar(s[j]) {
		j++
		if j-i > 64 {
			return 0 // too long for a local part; the '@' trigger still sees it
		}
	}
	if j >= len(s) || s[j] != '@' || j == i {
		return 0
	}
	return emailDomainEnd(s, j)
}

const maxLocalBack = 256

// emailLocalStart returns where the local part before the '@' at s[at]
// starts, looking back no further than min (text already emitted) and
// maxLocalBack bytes.
func emailLocalStart(s []byte, at, min int) int {
	a := at
	for a > min && at-a < maxLocalBack && isLocalChar(s[a-1]) {
		a--
	}
	return a
}

// matchEmailBackward matches an e-mail address around the '@' at s[at] whose
// local part started before the scan could see it as one (a local part that
// starts with punctuation or is longer than 64 bytes).
func matchEmailBackward(s []byte, at, min int) (int, string) {
	if emailLocalStart(s, at, min) == at {
		return 0, ""
	}
	if e := emailDomainEnd(s, at); e > 0 {
		return e, tagEmail
	}
	return 0, ""
}

// emailDomainEnd returns the end of a valid domain after the '@' at s[at]
// (at least two labels, a top-level label of two or more letters), or 0.
func emailDomainEnd(s []byte, at int) int {
	k := at + 1
	for k < len(s) && isDomainChar(s[k]) {
		k++
		if k-at > 255 {
			return 0
		}
	}
	for k > at+1 && (s[k-1] == '.' || s[k-1] == '-') {
		k-- // sentence punctuation: "write to a@b.example."
	}
	d := s[at+1 : k]
	dot := bytes.LastIndexByte(d, '.')
	if dot <= 0 || len(d)-dot-1 < 2 {
		return 0
	}
	for _, c := range d[dot+1:] {
		if !isAlpha(c) {
			return 0
		}
	}
	return k
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// matchIBAN matches an IBAN (ISO 13616): country, check digits, 11 to 30
// alphanumerics, optionally printed in groups of four, with a valid mod-97
// checksum. The longest valid candidate that ends at a word end wins.
func matchIBAN(s []byte, i int) int {
	if len(s)-i < 15 || !isAlpha(s[i]) || !isAlpha(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return 0
	}
	var chars [34]byte
	var ends [34]int
	n, group, j := 0, 0, i
	for j < len(s) && n < len(chars) {
		c := s[j]
		if isAlnum(c) {
			chars[n] = upper(c)
			n++
			group++
			j++
			ends[n-1] = j
			continue
		}
		if c == ' ' && group == 4 && j+1 < len(s) && isAlnum(s[j+1]) {
			group = 0
			j++
			continue
		}
		break
	}
	for l := n; l >= 15; l-- {
		e := ends[l-1]
		if e < len(s) && isAlnum(s[e]) {
			continue
		}
		if ibanValid(chars[:l]) {
			return e
		}
	}
	return 0
}

// ibanValid checks the ISO 7064 mod 97-10 checksum of a compact, upper-case
// IBAN.
func ibanValid(iban []byte) bool {
	rem := 0
	add := func(c byte) bool {
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case 'A' <= c && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
		return true
	}
	for _, c := range iban[4:] {
		if !add(c) {
			return false
		}
	}
	for _, c := range iban[:4] {
		if !add(c) {
			return false
		}
	}
	return rem == 1
}

// matchCard matches a payment card number: 13 to 19 digits, optionally
// separated by single spaces or dashes, starting with 2-6 (the issuer ranges
// of Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) and
// passing the Luhn check.
func matchCard(s []byte, i int) int {
	if s[i] < '2' || s[i] > '6' {
		return 0
	}
	var digits [19]byte
	var ends [19]int
	n, j := 0, i
	for j < len(s) {
		c := s[j]
		if isDigit(c) {
			if n == len(digits) {
				break
			}
			digits[n] = c - '0'
			n++
			j++
			ends[n-1] = j
			continue
		}
		if (c == ' ' || c == '-') && j+1 < len(s) && isDigit(s[j+1]) && isDigit(s[j-1]) {
			j++
			continue
		}
		break
	}
	for l := n; l >= 13; l-- {
		e := ends[l-1]
		if e < len(s) && isAlnum(s[e]) {
			continue
		}
		if luhn(digits[:l]) {
			return e
		}
	}
	return 0
}

func luhn(d []byte) bool {
	sum := 0
	for k := 0; k < len(d); k++ {
		v := int(d[len(d)-1-k])
		if k%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// numberEnds reports whether a number may end at s[e]: the end of the text,
// or a character that is neither alphanumeric nor continues the number
// ("-5", ".5").
func numberEnds(s []byte, e int) bool {
	if e >= len(s) {
		return true
	}
	c := s[e]
	if isAlnum(c) {
		return false
	}
	if (c == '-' || c == '.') && e+1 < len(s) && isDigit(s[e+1]) {
		return false
	}
	return true
}

// matchSSN matches a US social security number, 123-45-6789.
func matchSSN(s []byte, i int) int {
	if len(s)-i < 11 {
		return 0
	}
	t := s[i : i+11]
	if t[3] != '-' || t[6] != '-' || !allDigits(t[:3]) || !allDigits(t[4:6]) || !allDigits(t[7:]) {
		return 0
	}
	if !numberEnds(s, i+11) {
		return 0
	}
	return i + 11
}

// matchDigits11 matches exactly eleven digits: tax and national IDs such as
// the German Steuer-ID, the Polish PESEL or the Brazilian CPF.
func matchDigits11(s []byte, i int) int {
	if len(s)-i < 11 || !allDigits(s[i:i+11]) || !numberEnds(s, i+11) {
		return 0
	}
	return i + 11
}

// matchIPv4 matches a dotted-quad IPv4 address.
func matchIPv4(s []byte, i int) int {
	j := i
	for j < len(s) && j-i < 16 && (isDigit(s[j]) || s[j] == '.') {
		j++
	}
	end := j
	for end > i && s[end-1] == '.' {
		end--
	}
	if _, ok := parseIPv4(s[i:end]); !ok || (end == j && !numberEnds(s, end)) || (j < len(s) && isAlnum(s[j])) {
		return 0
	}
	return end
}

// matchIPv6 matches an IPv6 address (two or more colons).
func matchIPv6(s []byte, i int) int {
	j := i
	colons := 0
	for j < len(s) && j-i < 46 && (isHex(s[j]) || s[j] == ':' || s[j] == '.') {
		if s[j] == ':' {
			colons++
		}
		j++
	}
	if colons < 2 || (j < len(s) && isAlnum(s[j])) {
		return 0
	}
	for end, tries := j, 0; end > i && tries < 3; tries++ {
		if _, ok := parseIPv6(s[i:end]); ok {
			return end
		}
		if c := s[end-1]; c != '.' && c != ':' {
			return 0
		}
		end--
	}
	return 0
}

// isDateAt reports whether s[i:] starts with a date: YYYY-MM-DD or
// DD.MM.YYYY (any of - . / as separators).
func isDateAt(s []byte, i int) bool {
	if len(s)-i < 10 {
		return false
	}
	t := s[i : i+10]
	sep := func(c byte) bool { return c == '-' || c == '.' || c == '/' }
	if allDigits(t[:4]) && sep(t[4]) && allDigits(t[5:7]) && sep(t[7]) && allDigits(t[8:]) {
		return true
	}
	return allDigits(t[:2]) && sep(t[2]) && allDigits(t[3:5]) && sep(t[5]) && allDigits(t[6:])
}

// matchPhone matches a telephone number: an optional '+', then digits with
// single separators (space, dash, dot) and at most one parenthesised group;
// 8 to 15 digits after a '+', 10 to 15 without. The longest candidate that
// ends at a word end wins.
func matchPhone(s []byte, i int) int {
	j := i
	minDigits := 10
	if s[j] == '+' {
		minDigits = 8
		j++
		if j >= len(s) || (!isDigit(s[j]) && s[j] != '(') {
			return 0
		}
	}
	if isDateAt(s, j) {
		return 0
	}
	digits, dots, seps := 0, 0, 0
	best, bestDots, bestSeps := 0, 0, 0
	paren, parens := false, false
loop:
	for j < len(s) {
		c := s[j]
		switch {
		case isDigit(c):
			digits++
			j++
			if digits > 15 {
				break loop
			}
			if digits >= minDigits && (j == len(s) || !isAlnum(s[j])) {
				best, bestDots, bestSeps = j, dots, seps
			}
		case (c == ' ' || c == '-' || c == '.') && j > i && (isDigit(s[j-1]) || s[j-1] == ')') &&
			j+1 < len(s) && (isDigit(s[j+1]) || (s[j+1] == '(' && !parens)):
			if c == '.' {
				dots++
			} else {
				seps++
			}
			j++
		case c == '(' && !parens && j+1 < len(s) && isDigit(s[j+1]) && (j == i || !isDigit(s[j-1])):
			paren, parens = true, true
			j++
		case c == ')' && paren && isDigit(s[j-1]):
			paren = false
			seps++
			j++
		default:
			break loop
		}
	}
	if best == 0 {
		return 0
	}
	if bestDots == 1 && bestSeps == 0 && s[i] != '+' {
		return 0 // a decimal number, 12345678.90
	}
	return best
}
