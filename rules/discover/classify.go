package discover

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pgveil/pgveil/rules"
)

// Categories the scan proposes; they are the built-in category names of
// rules, so a proposal gets the default masks without further work.
const (
	catName       = "name"
	catEmail      = "email"
	catPhone      = "phone"
	catAddress    = "address"
	catIP         = "ip_address"
	catBirth      = "birth_date"
	catNationalID = "national_id"
	catCard       = "payment_card"
	catIBAN       = "iban"
	catFreeText   = "free_text"
	catMessage    = "message_body"
	catUserAgent  = "user_agent"
	catGender     = "gender"
)

// Type categories (pg_type.typcategory) the heuristics tell apart.
const (
	typeString  = 'S'
	typeNumeric = 'N'
	typeDate    = 'D'
	typeNetwork = 'I'
	typeUser    = 'U' // json, jsonb, uuid, ...
	typeArray   = 'A'
)

// column is what the heuristics know about one column.
type column struct {
	table, name string
	// typeName is the base type's name (text, jsonb, inet, ...) and
	// typeCat its pg_type.typcategory.
	typeName string
	typeCat  byte
}

// hint is what a column's (or JSON key's) name suggests.
type hint struct {
	category string
	strength float64
	// types are the type categories the hint applies to.
	types string
}

// nameHints maps a name token, or two tokens joined by "_", to a hint.
var nameHints = map[string]hint{
	"email": {catEmail, 0.7, "SUA"}, "mail": {catEmail, 0.6, "SA"}, "e_mail": {catEmail, 0.7, "SUA"},
	"phone": {catPhone, 0.7, "SNA"}, "mobile": {catPhone, 0.6, "SN"}, "msisdn": {catPhone, 0.8, "SN"},
	"telephone": {catPhone, 0.7, "SN"}, "tel": {catPhone, 0.6, "SN"}, "fax": {catPhone, 0.6, "SN"}, "cell": {catPhone, 0.5, "SN"},
	"full_name": {catName, 0.7, "S"}, "fullname": {catName, 0.7, "S"}, "first_name": {catName, 0.7, "S"},
	"firstname": {catName, 0.7, "S"}, "last_name": {catName, 0.7, "S"}, "lastname": {catName, 0.7, "S"},
	"surname": {catName, 0.7, "S"}, "given_name": {catName, 0.7, "S"}, "family_name": {catName, 0.7, "S"},
	"forename": {catName, 0.7, "S"}, "middle_name": {catName, 0.7, "S"}, "maiden_name": {catName, 0.7, "S"},
	"birth": {catBirth, 0.8, "DS"}, "birthday": {catBirth, 0.8, "DS"}, "birthdate": {catBirth, 0.8, "DS"},
	"dob": {catBirth, 0.8, "DS"}, "date_of_birth": {catBirth, 0.8, "DS"},
	"ip": {catIP, 0.7, "IS"}, "ip_address": {catIP, 0.8, "IS"}, "ipaddr": {catIP, 0.7, "IS"},
	"remote_addr": {catIP, 0.7, "IS"}, "client_addr": {catIP, 0.7, "IS"}, "client_ip": {catIP, 0.8, "IS"},
	"address": {catAddress, 0.6, "SUA"}, "street": {catAddress, 0.6, "S"}, "city": {catAddress, 0.5, "S"},
	"zip": {catAddress, 0.5, "SN"}, "zipcode": {catAddress, 0.5, "SN"}, "postcode": {catAddress, 0.5, "S"},
	"postal": {catAddress, 0.6, "SU"}, "postal_code": {catAddress, 0.5, "S"},
	"ssn": {catNationalID, 0.8, "SN"}, "nino": {catNationalID, 0.8, "S"}, "tax_id": {catNationalID, 0.7, "SNU"},
	"taxid": {catNationalID, 0.7, "SN"}, "tax_number": {catNationalID, 0.7, "SN"}, "tax_no": {catNationalID, 0.7, "SN"}, "tin": {catNationalID, 0.6, "SN"}, "steuer_id": {catNationalID, 0.8, "SN"},
	"national_id": {catNationalID, 0.8, "SN"}, "passport": {catNationalID, 0.7, "S"}, "social_security": {catNationalID, 0.8, "SN"},
	"iban": {catIBAN, 0.8, "S"}, "bank_account": {catIBAN, 0.7, "S"}, "account_number": {catIBAN, 0.6, "SN"},
	"card_number": {catCard, 0.8, "SN"}, "credit_card": {catCard, 0.8, "SN"}, "cc_number": {catCard, 0.8, "SN"}, "pan": {catCard, 0.6, "SN"},
	"user_agent": {catUserAgent, 0.7, "S"}, "useragent": {catUserAgent, 0.7, "S"},
	"gender": {catGender, 0.6, "S"}, "sex": {catGender, 0.6, "S"},
}

// personPrefixes are the words before "_name" that make it a person's name
// (billing_name) rather than a thing's (product_name).
var personPrefixes = wordSet(`billing customer contact person user holder account recipient sender patient employee
member owner shipping buyer client guest passenger student author display`)

// notAddress are the words before "_address" that make it something else.
var notAddress = map[string]string{"ip": catIP, "email": catEmail, "e_mail": catEmail, "mac": "", "wallet": "", "billing": catAddress, "home": catAddress}

// tokens splits a column or key name into lower-case words: snake_case,
// camelCase, kebab-case and spaces.
func tokens(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, r := range name {
		switch {
		case r == '_' || r == '-' || r == ' ' || r == '.':
			flush()
			prevLower = false
		case unicode.IsUpper(r) && prevLower:
			flush()
			cur = append(cur, r)
			prevLower = false
		default:
			cur = append(cur, r)
			prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		}
	}
	flush()
	return out
}

// nameHint returns the hint of a column or JSON key name, for a type
// category (0: any, for JSON keys).
func nameHint(name string, typeCat byte) (hint, bool) {
	toks := tokens(name)
	best, found := hint{}, false
	consider := func(h hint) {
		if typeCat != 0 && !strings.ContainsRune(h.types, rune(typeCat)) {
			return
		}
		if !found || h.strength > best.strength {
			best, found = h, true
		}
	}
	for i, t := range toks {
		if i+1 < len(toks) {
			pair := t + "_" + toks[i+1]
			if h, ok := nameHints[pair]; ok {
				consider(h)
			}
		}
		switch {
		case t == "name" && i > 0 && personPrefixes[toks[i-1]]:
			consider(hint{catName, 0.6, "S"})
		case t == "name" && len(toks) == 1:
			consider(hint{catName, 0.2, "S"})
		case t == "address" && i > 0:
			if cat, ok := notAddress[toks[i-1]]; ok {
				if cat != "" {
					consider(hint{cat, 0.7, "SIU"})
				}
				continue
			}
			consider(nameHints[t])
		default:
			if h, ok := nameHints[t]; ok {
				consider(h)
			}
		}
	}
	return best, found
}

// Evidence kinds found in values, besides the rules.Ident* kinds.
const (
	kindName      = "name"
	kindAddress   = "address"
	kindUserAgent = "user_agent"
	// kindSteuerID is an 11-digit number that passes the German tax ID's
	// checks (a national_id with more certainty).
	kindSteuerID = "steuer_id"
)

var (
	ninoRE      = regexp.MustCompile(`^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$`)
	userAgentRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*/\d+(\.\d+)*( |$)`)
	// streetRE finds a street word: German and Dutch ones end compounds
	// (Hauptstraße, Kerkstraat), the others stand alone (Maple Street).
	streetRE     = regexp.MustCompile(`(?i)((straße|strasse|gasse|weg|allee|platz|straat|gracht|laan|plein|str\.)|\b(street|road|avenue|lane|drive|boulevard|place|crescent|rue|chemin|via|corso|piazza|calle|paseo|plaza|ulica|ul\.))(\s|,|$)`)
	digitRE      = regexp.MustCompile(`\d`)
	phoneCharsRE = regexp.MustCompile(`^\+?[0-9][0-9 ()./-]*[0-9]$`)
)

// phoneLike reports whether v is 8 to 15 digits with an optional '+' and
// the separators people write phone numbers with.
func phoneLike(v string) bool {
	v = strings.TrimSpace(v)
	if !phoneCharsRE.MatchString(v) {
		return false
	}
	d := len(digitRE.FindAllStringIndex(v, -1))
	return d >= 8 && d <= 15
}

// kindCategory maps a rules.Ident* kind to the category the scan proposes.
func kindCategory(kind string) string {
	switch kind {
	case rules.IdentEmail:
		return catEmail
	case rules.IdentPhone:
		return catPhone
	case rules.IdentIP:
		return catIP
	case rules.IdentIBAN:
		return catIBAN
	case rules.IdentCard:
		return catCard
	case rules.IdentNationalID:
		return catNationalID
	case kindName:
		return catName
	case kindAddress:
		return catAddress
	case kindUserAgent:
		return catUserAgent
	case kindSteuerID:
		return catNationalID
	}
	return ""
}

// steuerIDValid reports whether v is a German tax identification number:
// 11 digits, the first not 0, in the first ten one digit appearing twice
// or three times (so some digit is missing), and the ISO 7064 MOD 11,10
// check digit last.
func steuerIDValid(v string) bool {
	if len(v) != 11 || v[0] == '0' {
		return false
	}
	var seen [10]int
	for i := 0; i < 11; i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
		if i < 10 {
			seen[v[i]-'0']++
		}
	}
	repeated := 0
	for _, n := range seen {
		switch {
		case n == 2 || n == 3:
			repeated++
		case n > 3:
			return false
		}
	}
	if repeated != 1 {
		return false
	}
	product := 10
	for i := 0; i < 10; i++ {
		sum := (int(v[i]-'0') + product) % 10
		if sum == 0 {
			sum = 10
		}
		product = (sum * 2) % 11
	}
	check := 11 - product
	if check == 10 {
		check = 0
	}
	return int(v[10]-'0') == check
}

// wholeKind returns the kind of identifier v is as a whole ("" if none).
// withHint allows single-word names (a first_name column).
func wholeKind(v string, singleName bool) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	kind := ""
	rules.FindIdentifiers([]byte(v), func(k string, start, end int) bool {
		if start == 0 && end == len(v) {
			kind = k
		}
		return false
	})
	switch {
	case kind == rules.IdentNationalID && steuerIDValid(v):
		return kindSteuerID
	case kind != "":
		return kind
	case ninoRE.MatchString(v):
		return rules.IdentNationalID
	case userAgentRE.MatchString(v):
		return kindUserAgent
	case looksLikeName(v, singleName):
		return kindName
	case looksLikeAddress(v):
		return kindAddress
	}
	return ""
}

// looksLikeName reports whether v has the shape of a person's name (two to
// five capitalised words, allowing particles, apostrophes and hyphens, no
// digits) with at least one word on the name lists.
func looksLikeName(v string, single bool) bool {
	words := strings.Fields(v)
	if len(words) == 0 || len(words) > 5 || (len(words) == 1 && !single) {
		return false
	}
	known, capitalised := false, 0
	for _, w := range words {
		lw := strings.ToLower(w)
		if particles[lw] {
			continue
		}
		if !isNameWord(w) {
			return false
		}
		capitalised++
		for _, part := range strings.FieldsFunc(lw, func(r rune) bool { return r == '-' }) {
			if firstNames[part] || lastNames[part] {
				known = true
			}
		}
	}
	return known && capitalised >= 1
}

// isNameWord reports whether w is a capitalised word of letters (with
// apostrophes and hyphens inside): "Müller", "O'Brien", "Jean-Luc".
func isNameWord(w string) bool {
	r, size := utf8.DecodeRuneInString(w)
	if !unicode.IsUpper(r) || utf8.RuneCountInString(w) < 2 {
		return false
	}
	lower := false
	for _, r := range w[size:] {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r), r == '\'', r == '’', r == '-':
		default:
			return false
		}
	}
	return lower
}

// looksLikeAddress reports whether v looks like a postal address: a street
// word and a number.
func looksLikeAddress(v string) bool {
	return len(v) < 200 && streetRE.MatchString(v) && digitRE.MatchString(v)
}

// containedKinds returns the kinds of identifiers found inside the text v:
// the structured ones, person names (a known first name followed by a
// capitalised word, or a capitalised word followed by a known family name)
// and street addresses.
func containedKinds(v string, into map[string]bool) {
	rules.FindIdentifiers([]byte(v), func(k string, _, _ int) bool {
		into[k] = true
		return true
	})
	words := strings.FieldsFunc(v, func(r rune) bool {
		return !(unicode.IsLetter(r) || r == '\'' || r == '-' || r == '’')
	})
	for i := 0; i+1 < len(words); i++ {
		a, b := words[i], words[i+1]
		if !isNameWord(a) || !isNameWord(b) || notNames[strings.ToLower(a)] {
			continue
		}
		if firstNames[strings.ToLower(a)] || lastNames[strings.ToLower(b)] {
			into[kindName] = true
			break
		}
	}
	for _, line := range strings.Split(v, "\n") {
		if looksLikeAddress(line) {
			into[kindAddress] = true
			break
		}
	}
}

// Finding is the scan's verdict on one column.
type Finding struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Type   string `json:"type"`
	// Category is the proposed category; "" when the column does not look
	// like personal data.
	Category string `json:"category,omitempty"`
	// Confidence is between 0 and 1.
	Confidence float64 `json:"confidence"`
	// Reason is the evidence, without values.
	Reason string `json:"reason,omitempty"`
	// Sampled is the number of non-NULL values examined.
	Sampled int `json:"sampled"`
	// Current is the category the current rules give the column ("" when
	// they do not name it).
	Current string `json:"current,omitempty"`
}

// classify decides on one column from its name, type and sampled values
// (non-NULL, as text).
func classify(c column, values []string) Finding {
	f := Finding{Table: c.table, Column: c.name, Type: c.typeName, Sampled: len(values)}
	h, hasHint := nameHint(c.name, c.typeCat)
	if c.typeCat == typeNetwork && (c.typeName == "inet" || c.typeName == "cidr") && (!hasHint || h.category != catIP) {
		h, hasHint = hint{catIP, 0.6, "I"}, true
	}
	n := len(values)
	var reasons []string
	if hasHint && h.strength >= 0.5 {
		reasons = append(reasons, "column name")
	}
	set := func(cat string, conf float64, why string) Finding {
		f.Category, f.Confidence = cat, math.Round(min(conf, 0.99)*100)/100
		f.Reason = strings.Join(append([]string{why}, reasons...), "; ")
		return f
	}

	switch {
	case c.typeName == "json" || c.typeName == "jsonb":
		if f, ok := classifyJSON(c, values, set); ok {
			return f
		}
	case c.typeCat == typeString || c.typeCat == typeNetwork || c.typeCat == typeArray || c.typeCat == typeNumeric:
		// Whole values.
		counts := map[string]int{}
		steuer := 0
		single := hasHint && h.category == catName
		for _, v := range values {
			if c.typeCat == typeNetwork {
				v, _, _ = strings.Cut(v, "/") // inet text carries the prefix length
			}
			kind := wholeKind(v, single)
			if kind == kindSteuerID {
				steuer++
			}
			k := kindCategory(kind)
			if hasHint && h.category == catPhone && k != catPhone && phoneLike(v) {
				// A number the name calls a phone is one, even if it also
				// passes a card's or an ID's check.
				k = catPhone
			}
			if k != "" {
				counts[k]++
			}
		}
		if c.typeCat == typeNumeric {
			// Numbers are phone numbers or IDs only when the name says so
			// (a counter of ten digits is not a phone number), and cards
			// when they pass Luhn.
			for cat := range counts {
				checked := cat == catCard || (cat == catNationalID && 2*steuer >= n)
				if !checked && (!hasHint || h.category != cat) {
					delete(counts, cat)
				}
			}
		}
		best, bestN := "", 0
		for cat, k := range counts {
			if k > bestN || (k == bestN && hasHint && cat == h.category) {
				best, bestN = cat, k
			}
		}
		if n > 0 && float64(bestN)/float64(n) >= 0.5 {
			frac := float64(bestN) / float64(n)
			conf := 0.55 + 0.4*frac
			if hasHint && h.category == best {
				conf += 0.04
			} else if hasHint && h.strength >= 0.5 {
				reasons = reasons[:0] // the name suggests something else
			}
			why := fmt.Sprintf("%s in %d%% of %d sampled values", describe(best), pct(frac), n)
			if best == catNationalID && steuer > 0 {
				why += fmt.Sprintf(" (%d%% German tax IDs with a valid check digit)", pct(float64(steuer)/float64(n)))
			}
			return set(best, conf, why)
		}
		// Identifiers inside free text.
		if c.typeCat == typeString || c.typeCat == typeArray {
			kinds := map[string]int{}
			with := 0
			for _, v := range values {
				found := map[string]bool{}
				containedKinds(v, found)
				if len(found) > 0 {
					with++
				}
				for k := range found {
					kinds[k]++
				}
			}
			if n > 0 && with >= 2 && float64(with)/float64(n) >= 0.01 {
				frac := float64(with) / float64(n)
				cat := catFreeText
				if isMessageColumn(c) {
					cat = catMessage
				}
				return set(cat, 0.55+0.4*min(1, frac*2),
					fmt.Sprintf("%s inside text in %d%% of %d sampled values", describeKinds(kinds), pct(frac), n))
			}
		}
		// The name alone, unless the values contradict it.
		if hasHint && h.strength >= 0.5 {
			if n >= 20 && counts[h.category] == 0 && hasValueDetector(h.category) {
				f.Confidence = math.Round(h.strength*0.5*100) / 100
				f.Reason = fmt.Sprintf("column name suggests %s, but none of %d sampled values looks like one", h.category, n)
				return f
			}
			reasons = nil
			return set(h.category, h.strength, "column name")
		}
		return f
	}
	if hasHint && h.strength >= 0.5 {
		reasons = nil
		return set(h.category, h.strength, "column name")
	}
	return f
}

// classifyJSON looks into json and jsonb documents: keys named like
// personal data, and identifiers in values.
func classifyJSON(c column, values []string, set func(string, float64, string) Finding) (Finding, bool) {
	n := len(values)
	keys := map[string]int{}
	kinds := map[string]int{}
	with := 0
	for _, v := range values {
		dec := json.NewDecoder(bytes.NewReader([]byte(v)))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			continue
		}
		docKeys, docKinds := map[string]bool{}, map[string]bool{}
		walkJSON(doc, "", docKeys, docKinds, 0)
		if len(docKeys)+len(docKinds) > 0 {
			with++
		}
		for k := range docKeys {
			keys[k]++
		}
		for k := range docKinds {
			kinds[k]++
		}
	}
	if n == 0 || with < 2 || float64(with)/float64(n) < 0.01 {
		return Finding{}, false
	}
	frac := float64(with) / float64(n)
	var why []string
	if len(keys) > 0 {
		names := sortedKeys(keys)
		if len(names) > 8 {
			names = append(names[:8], "...")
		}
		why = append(why, "keys "+strings.Join(names, ", "))
	}
	if len(kinds) > 0 {
		why = append(why, describeKinds(kinds)+" in values")
	}
	return set(catFreeText, 0.6+0.35*min(1, frac*2),
		fmt.Sprintf("JSON with %s, in %d%% of %d sampled documents", strings.Join(why, " and "), pct(frac), n)), true
}

// walkJSON records the personal-data keys and the identifier kinds of a
// JSON value. Keys are reported by name (never values).
func walkJSON(v any, key string, keys, kinds map[string]bool, depth int) {
	if depth > 32 {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if h, ok := nameHint(k, 0); ok && h.strength >= 0.5 && !emptyJSON(child) {
				if len(k) > 64 {
					k = k[:64]
				}
				keys[k] = true
			}
			walkJSON(child, k, keys, kinds, depth+1)
		}
	case []any:
		for _, child := range x {
			walkJSON(child, key, keys, kinds, depth+1)
		}
	case string:
		if k := wholeKind(x, false); k != "" {
			kinds[k] = true
			return
		}
		found := map[string]bool{}
		containedKinds(x, found)
		for k := range found {
			kinds[k] = true
		}
	case json.Number:
		if k := wholeKind(x.String(), false); k == rules.IdentCard || k == rules.IdentNationalID || k == rules.IdentPhone {
			kinds[k] = true
		}
	}
}

func emptyJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// isMessageColumn reports whether a free-text column holds messages (SMS,
// chat): the table or the column says so.
func isMessageColumn(c column) bool {
	for _, t := range append(tokens(c.table), tokens(c.name)...) {
		switch t {
		case "message", "messages", "sms", "chat", "chats", "texts":
			return true
		}
	}
	return false
}

// hasValueDetector reports whether the scan can recognise values of a
// category, so that a sample without any is evidence against a name hint.
func hasValueDetector(cat string) bool {
	switch cat {
	case catEmail, catPhone, catIP, catIBAN, catCard, catUserAgent:
		return true
	}
	return false
}

func describe(cat string) string {
	switch cat {
	case catEmail:
		return "e-mail addresses"
	case catPhone:
		return "phone numbers"
	case catIP:
		return "IP addresses"
	case catIBAN:
		return "IBANs (mod-97 valid)"
	case catCard:
		return "payment card numbers (Luhn valid)"
	case catNationalID:
		return "national ID numbers"
	case catName:
		return "person names"
	case catAddress:
		return "postal addresses"
	case catUserAgent:
		return "user agent strings"
	}
	return cat
}

func describeKinds(kinds map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(kinds) {
		if d := describe(kindCategory(k)); !slices.Contains(parts, d) {
			parts = append(parts, d)
		}
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func pct(f float64) int { return int(math.Round(f * 100)) }
