// Package leakcheck is the leak oracle's index of personal values, shared by
// the tests that assert that no personal data leaves pgveil: result streams
// (proxy), spans (audit), and pgveil's own logs and metrics (cmd/pgveil).
// It is test support: no pgveil binary imports it.
package leakcheck

import (
	"hash/maphash"
	"strings"

	"github.com/pgveil/pgveil/rules/demo"
)

// Index finds the demo dataset's personal values, and their telltale
// fragments, in bytes that pgveil sends or writes: the data-bearing fields of
// protocol messages, log output, metrics, spans.
//
// What counts as telltale:
//   - identifiers (names, emails, phones, IBANs, national IDs, addresses):
//     every 6-byte fragment that spans no white space and has a letter or
//     punctuation in it, and every run of 10 or more digits of
//     their digits (aggregates produce arbitrary shorter numbers);
//   - free text and SMS bodies: every 20-byte fragment;
//   - birth dates, user agents and IP addresses: the whole value (their
//     fragments look like any timestamp, any other user agent, any decimal
//     number such as "13.106" in an interval).
//
// Fragments that also occur in benign text (the SQL the client sent, the
// schema's names, pgveil's own messages) prove nothing and are dropped.
type Index struct {
	seed   maphash.Seed
	frag6  map[uint64]string
	frag20 map[uint64]string
	digits map[uint64]string         // 10-digit runs
	whole  map[int]map[uint64]string // whole values, by length
}

// New indexes ds's personal values. Fragments that occur in benign (text that
// proves nothing when it is seen, such as the schema's names or the SQL a
// client sent itself) are not indexed.
func New(ds *demo.Dataset, benign []byte) *Index {
	ix := &Index{seed: maphash.MakeSeed(), frag6: map[uint64]string{}, frag20: map[uint64]string{}, digits: map[uint64]string{}, whole: map[int]map[uint64]string{}}
	for _, p := range ds.Personal() {
		v := string(asciiLower([]byte(p.Value)))
		switch p.Category {
		case "birth_date", "user_agent", "ip_address":
			m := ix.whole[len(v)]
			if m == nil {
				m = map[uint64]string{}
				ix.whole[len(v)] = m
			}
			m[maphash.String(ix.seed, v)] = v
		case "message_body", "free_text":
			ix.addFrags(ix.frag20, v, 20)
		default:
			ix.addFrags(ix.frag6, v, 6)
			ix.addFrags(ix.digits, onlyDigits(v), 10)
		}
	}
	low := asciiLower(benign)
	for i := 0; i+6 <= len(low); i++ {
		delete(ix.frag6, maphash.Bytes(ix.seed, low[i:i+6]))
	}
	for i := 0; i+20 <= len(low); i++ {
		delete(ix.frag20, maphash.Bytes(ix.seed, low[i:i+20]))
	}
	return ix
}

// addFrags indexes the n-byte fragments of v. Identifier fragments (n = 6)
// never span white space and are never all digits.
func (ix *Index) addFrags(m map[uint64]string, v string, n int) {
	if len(v) < n {
		if n != 10 && len(v) >= 4 {
			m[maphash.String(ix.seed, v)] = v
		}
		return
	}
	for i := 0; i+n <= len(v); i++ {
		f := v[i : i+n]
		if n == 6 && (strings.ContainsAny(f, " \t\n") || onlyDigits(f) == f) {
			continue
		}
		m[maphash.String(ix.seed, f)] = v
	}
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if '0' <= c && c <= '9' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// asciiLower lowercases ASCII letters only, keeping every offset.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// Find returns the personal value (and the fragment of it) found in b, or
// "" when there is none. Matching is ASCII case-insensitive.
func (ix *Index) Find(field []byte) (string, string) {
	low := asciiLower(field)
	for i := 0; i+6 <= len(low); i++ {
		if v, ok := ix.frag6[maphash.Bytes(ix.seed, low[i:i+6])]; ok {
			return v, string(low[i : i+6])
		}
	}
	for i := 0; i+20 <= len(low); i++ {
		if v, ok := ix.frag20[maphash.Bytes(ix.seed, low[i:i+20])]; ok {
			return v, string(low[i : i+20])
		}
	}
	d := onlyDigitRuns(low)
	for _, run := range d {
		for i := 0; i+10 <= len(run); i++ {
			if v, ok := ix.digits[maphash.String(ix.seed, run[i:i+10])]; ok {
				return v, run
			}
		}
	}
	for n, m := range ix.whole {
		for i := 0; i+n <= len(low); i++ {
			if v, ok := m[maphash.Bytes(ix.seed, low[i:i+n])]; ok {
				return v, v
			}
		}
	}
	return "", ""
}

func onlyDigitRuns(b []byte) []string {
	var runs []string
	start := -1
	for i := 0; i <= len(b); i++ {
		if i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= 10 {
			runs = append(runs, string(b[start:i]))
		}
		start = -1
	}
	return runs
}
