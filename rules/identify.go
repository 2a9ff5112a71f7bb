package rules

// This file exposes the scrub mask's detectors to discovery (rules/discover),
// which looks for personal data in a database: the same patterns that the
// proxy scrubs out of free text are the evidence that a column holds them.

// Kinds of structured identifiers that FindIdentifiers reports: the names
// of the tags the scrub mask writes, without brackets.
const (
	IdentEmail      = "email"
	IdentPhone      = "phone"
	IdentIP         = "ip"
	IdentIBAN       = "iban"
	IdentCard       = "card"
	IdentNationalID = "national_id"
)

// FindIdentifiers calls yield for each structured identifier in text that
// the scrub mask would replace, in order, with its kind (one of the Ident
// constants) and its byte range text[start:end]. It stops when yield
// returns false. It does not retain text.
func FindIdentifiers(text []byte, yield func(kind string, start, end int) bool) {
	copied := 0
	for i := 0; i < len(text); {
		c := text[i]
		end, tag := 0, ""
		switch {
		case c == '@':
			end, tag = matchEmailBackward(text, i, copied)
		case (isAlnum(c) || c == '+' || c == '(' || (c == ':' && i+1 < len(text) && text[i+1] == ':')) &&
			(i == copied || !isAlnum(text[i-1])):
			end, tag = matchAt(text, i, copied)
		}
		if end == 0 {
			i++
			continue
		}
		start := i
		if tag == tagEmail {
			start = emailLocalStart(text, i, copied)
		}
		if !yield(tag[1:len(tag)-1], start, end) {
			return
		}
		copied, i = end, end
	}
}
