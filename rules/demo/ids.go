package demo

import (
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"unicode"
)

// phone returns an E.164 mobile number for country. Where a country reserves
// numbers for fiction it uses them (US 555-01xx, UK 07700 900xxx); elsewhere
// the number is random.
func (r *rng) phone(cc string) string {
	switch cc {
	case "DE":
		return "+49" + pick(r, []string{"151", "152", "157", "160", "162", "170", "171", "172", "175", "176", "177", "179"}) + r.digits(8)
	case "US":
		// Area code NXX (not N11), exchange 555, line 0100-0199.
		area := fmt.Sprintf("%d%d%d", r.between(2, 9), r.between(0, 8), r.intn(10))
		if area[1:] == "11" {
			area = area[:2] + "2"
		}
		return "+1" + area + "55501" + r.digits(2)
	case "GB":
		return "+447700900" + r.digits(3)
	case "FR":
		return "+33" + pick(r, []string{"6", "7"}) + r.digits(8)
	case "NL":
		return "+316" + r.digits(8)
	case "AT":
		return "+43" + pick(r, []string{"650", "660", "664", "676", "680", "699"}) + r.digits(7)
	case "CH":
		return "+41" + pick(r, []string{"75", "76", "77", "78", "79"}) + r.digits(7)
	case "ES":
		return "+346" + r.digits(8)
	case "IT":
		return "+393" + r.digits(9)
	case "PL":
		return "+48" + pick(r, []string{"5", "6", "7", "8"}) + r.digits(8)
	}
	panic("demo: no phone plan for " + cc)
}

// iban returns a syntactically valid IBAN (ISO 13616: correct length and
// mod-97 check digits) for a country, in electronic form without spaces.
func (r *rng) iban(c country) string {
	var bban strings.Builder
	for _, k := range c.ibanBBAN {
		switch k {
		case 'n':
			bban.WriteByte(byte('0' + r.intn(10)))
		case 'a':
			bban.WriteByte(byte('A' + r.intn(26)))
		default:
			if r.percent(70) {
				bban.WriteByte(byte('0' + r.intn(10)))
			} else {
				bban.WriteByte(byte('A' + r.intn(26)))
			}
		}
	}
	return c.code + ibanCheck(c.code, bban.String()) + bban.String()
}

func ibanCheck(cc, bban string) string {
	var num strings.Builder
	for _, ch := range bban + cc + "00" {
		if ch >= 'A' && ch <= 'Z' {
			fmt.Fprintf(&num, "%d", ch-'A'+10)
		} else {
			num.WriteRune(ch)
		}
	}
	n, _ := new(big.Int).SetString(num.String(), 10)
	mod := new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%02d", 98-mod)
}

// groupIBAN prints an IBAN in groups of four, as people write it.
func groupIBAN(iban string) string {
	var b strings.Builder
	for i := 0; i < len(iban); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(iban[i:min(i+4, len(iban))])
	}
	return b.String()
}

// taxID returns a national tax identifier of kind:
//
//   - de_steuer_id: the German Steuer-ID, 11 digits, the first not 0, one of
//     the first ten digits twice and one missing, and an ISO 7064 MOD 11,10
//     check digit;
//   - us_ssn: ###-##-#### with area 001-899 except 666, group 13-99,
//     serial not 0000;
//   - gb_nino: a UK National Insurance number such as AB123456C;
//   - fr_spi: the French numéro fiscal, 13 digits starting 0-3.
func (r *rng) taxID(kind string) string {
	switch kind {
	case "de_steuer_id":
		return r.steuerID()
	case "us_ssn":
		area := r.between(1, 899)
		if area == 666 {
			area = 667
		}
		// Group 13-99 (01-99 are valid) keeps "-GG-SS" from looking like
		// the "-MM-DD" of a date, so SSN fragments never match timestamps.
		return fmt.Sprintf("%03d-%02d-%04d", area, r.between(13, 99), r.between(1, 9999))
	case "gb_nino":
		const first, second = "ABCEGHJKLMNPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
		var prefix string
		for {
			prefix = r.letters(1, first) + r.letters(1, second)
			if !strings.Contains(" BG GB NK KN TN NT ZZ ", " "+prefix+" ") {
				break
			}
		}
		return prefix + r.digits(6) + r.letters(1, "ABCD")
	case "fr_spi":
		return fmt.Sprintf("%d", r.intn(4)) + r.digits(12)
	}
	panic("demo: unknown tax id kind " + kind)
}

func (r *rng) steuerID() string {
	d := []byte("0123456789")
	r.shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	// Position 9 is dropped and replaced by a copy of another digit, so that
	// exactly one digit appears twice and one is missing.
	d[9] = d[r.intn(9)]
	r.shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	if d[0] == '0' {
		for i := 1; i < len(d); i++ {
			if d[i] != '0' {
				d[0], d[i] = d[i], d[0]
				break
			}
		}
	}
	product := 10
	for _, c := range d {
		sum := (int(c-'0') + product) % 10
		if sum == 0 {
			sum = 10
		}
		product = (sum * 2) % 11
	}
	check := 11 - product
	if check == 10 {
		check = 0
	}
	return string(d) + string(byte('0'+check))
}

// address returns a one-line postal address in the country's style.
func (r *rng) address(c country) string {
	street, city := pick(r, c.streets), pick(r, c.cities)
	n := r.between(1, 199)
	switch c.code {
	case "US":
		return fmt.Sprintf("%d %s, %s %s", r.between(10, 9999), street, city, r.digits(5))
	case "GB":
		post := r.letters(r.between(1, 2), "BCEGHLMNSW") + fmt.Sprint(r.between(1, 29)) + " " + fmt.Sprint(r.intn(10)) + r.letters(2, "ABDEFGHJLNPQRSTUWXYZ")
		return fmt.Sprintf("%d %s, %s %s", n, street, city, post)
	case "FR":
		return fmt.Sprintf("%d %s, %s %s", n, street, r.digits(5), city)
	case "NL":
		return fmt.Sprintf("%s %d, %d %s %s", street, n, r.between(1000, 9999), r.letters(2, "ABCDEGHJKLMNPRSTVWXZ"), city)
	case "AT", "CH":
		return fmt.Sprintf("%s %d, %d %s", street, n, r.between(1000, 9999), city)
	case "PL":
		return fmt.Sprintf("%s %d, %s-%s %s", street, n, r.digits(2), r.digits(3), city)
	default: // DE, ES, IT
		return fmt.Sprintf("%s %d, %s %s", street, n, r.digits(5), city)
	}
}

// ip returns an address from ranges that are reserved and belong to no one:
// IPv4 from 198.18.0.0/15 (RFC 2544) and 203.0.113.0/24 (RFC 5737), IPv6
// from 2001:db8::/32 (RFC 3849). IPv6 groups are never zero, so that every
// formatter prints the same text.
func (r *rng) ip(v6 bool) netip.Addr {
	if !v6 {
		if r.percent(90) {
			return netip.AddrFrom4([4]byte{198, byte(18 + r.intn(2)), byte(r.intn(256)), byte(r.between(1, 254))})
		}
		return netip.AddrFrom4([4]byte{203, 0, 113, byte(r.between(1, 254))})
	}
	var a [16]byte
	a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
	for i := 4; i < 16; i += 2 {
		g := r.between(1, 0xffff)
		a[i], a[i+1] = byte(g>>8), byte(g)
	}
	return netip.AddrFrom16(a)
}

// asciiFold spells a name in lower-case ASCII for e-mail local parts:
// umlauts as two letters, other diacritics dropped, and everything that is
// not a letter removed.
func asciiFold(s string) string {
	var b strings.Builder
	for _, ch := range strings.ToLower(s) {
		switch {
		case ch >= 'a' && ch <= 'z':
			b.WriteRune(ch)
		case foldTable[ch] != "":
			b.WriteString(foldTable[ch])
		case unicode.IsLetter(ch):
			// An unlisted letter: leave it out rather than guess.
		}
	}
	return b.String()
}

var foldTable = map[rune]string{
	'ä': "ae", 'ö': "oe", 'ü': "ue", 'ß': "ss", 'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'å': "a",
	'ç': "c", 'ć': "c", 'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i",
	'ı': "i", 'ñ': "n", 'ń': "n", 'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ø': "o", 'ù': "u", 'ú': "u",
	'û': "u", 'ł': "l", 'ś': "s", 'ş': "s", 'ź': "z", 'ż': "z", 'ğ': "g",
}
