package audit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinPseudonymKeyLen is the shortest secret NewPseudonymizer accepts, the
// same floor as the hash mask's key (rules.MinHashKeyLen): with a short or
// guessable key anyone can hash a list of candidate ids and re-identify
// them.
const MinPseudonymKeyLen = 16

// subjectKeyLabel separates the audit's subject pseudonyms from every other
// use of the same secret (the hash mask in particular): the audit key is
// HMAC-SHA256(secret, subjectKeyLabel). A data subject's pseudonym in the
// audit trail therefore never equals a hash-masked value a client received.
const subjectKeyLabel = "pgveil/audit/subject/v1"

// keyIDLabel names the message whose HMAC under the audit key identifies
// the key (pgveil.subjects.key_id), so that after a key rotation auditors
// know which key a span's pseudonyms were made with.
const keyIDLabel = "pgveil/audit/key-id"

// pseudonymPrefix starts every subject pseudonym, so one is recognisable as
// such in a span; 32 hex digits (128 bits of the HMAC) follow.
const pseudonymPrefix = "s_"

// Pseudonymizer turns the raw value of a data subject's key (a customer id)
// into the keyed pseudonym recorded in audit spans:
//
//	k         = HMAC-SHA256(secret, "pgveil/audit/subject/v1")
//	pseudonym = "s_" + hex(HMAC-SHA256(k, value))[:32]
//
// where value is the key's text as PostgreSQL prints it ("42", a UUID in
// lower case). The same value gets the same pseudonym in every table, span
// and pgveil instance that shares the secret; without the secret, a
// pseudonym cannot be linked back to the value, nor can a guessed value be
// confirmed. Auditors compute the pseudonym of a subject they are asked
// about with `pgveil audit pseudonym` (or the formula above) and search
// spans for it.
//
// A Pseudonymizer is safe for concurrent use.
type Pseudonymizer struct {
	key   []byte
	keyID string
	// macs recycles *macState: hmac.New costs two SHA-256 block
	// computations and several allocations; Reset keeps the keyed state.
	macs sync.Pool
}

// macState is one HMAC under the audit key plus scratch space, so that
// hashing a string needs no allocation.
type macState struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// NewPseudonymizer derives the audit key from secret, which must be at
// least MinPseudonymKeyLen bytes.
func NewPseudonymizer(secret []byte) (*Pseudonymizer, error) {
	if len(secret) < MinPseudonymKeyLen {
		return nil, fmt.Errorf("audit: pseudonym key: %d bytes, need at least %d", len(secret), MinPseudonymKeyLen)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(subjectKeyLabel))
	p := &Pseudonymizer{key: m.Sum(nil)}
	p.macs.New = func() any { return &macState{mac: hmac.New(sha256.New, p.key)} }
	id := p.sum([]byte(keyIDLabel))
	p.keyID = hex.EncodeToString(id[:4])
	return p, nil
}

// randomPseudonymizer returns a Pseudonymizer with a random per-process
// secret: pseudonyms still tell subjects apart within one run, but no
// auditor can compute them. Used when no key is configured.
func randomPseudonymizer() *Pseudonymizer {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+).
		panic(errors.New("audit: crypto/rand: " + err.Error()))
	}
	p, _ := NewPseudonymizer(secret) // 32 bytes: always long enough
	return p
}

func (p *Pseudonymizer) sum(b []byte) [sha256.Size]byte {
	m := p.macs.Get().(*macState)
	m.mac.Reset()
	m.mac.Write(b)
	m.mac.Sum(m.sum[:0])
	out := m.sum
	p.macs.Put(m)
	return out
}

// Pseudonym returns the pseudonym of one subject-key value.
func (p *Pseudonymizer) Pseudonym(value string) string {
	var buf [len(pseudonymPrefix) + 32]byte
	return string(p.appendPseudonym(buf[:0], value))
}

func (p *Pseudonymizer) appendPseudonym(dst []byte, value string) []byte {
	m := p.macs.Get().(*macState)
	// Copy into the state's scratch buffer: a []byte(value) conversion
	// passed to the hash would escape and allocate on every call.
	m.buf = append(m.buf[:0], value...)
	m.mac.Reset()
	m.mac.Write(m.buf)
	m.mac.Sum(m.sum[:0])
	if cap(m.buf) > 4096 {
		m.buf = nil // do not pin a huge buffer in the pool
	}
	dst = append(dst, pseudonymPrefix...)
	dst = hex.AppendEncode(dst, m.sum[:16])
	p.macs.Put(m)
	return dst
}

// KeyID identifies the audit key (8 hex digits of an HMAC under it). It is
// recorded in every span that carries pseudonyms (pgveil.subjects.key_id) and
// printed by `pgveil audit pseudonym`, so auditors can tell which key a span
// needs. It reveals nothing about the key.
func (p *Pseudonymizer) KeyID() string { return p.keyID }
