package policy

import (
	"encoding/binary"
	"hash/maphash"
	"sync"

	"github.com/pgveil/pgveil/rules"
)

// A decision is cached under the encoding of everything it depends on:
// the policy revision, the catalog revision, the minute of input.now, the
// whole identity and every field of the statement that the input carries
// (see appendStatement). Because the input is a function of these and
// evaluation is deterministic (no I/O, no randomness: see deniedBuiltins),
// a cached decision is the decision a fresh evaluation would return.
//
// Why not pg_query's fingerprint of the text alone: the analysis of the same
// text changes when the schema does (a view redefined, a column
// classified), and the fingerprint ignores details that the analysis does
// not. Encoding the analysis itself cannot go stale.
//
// The LRU is indexed by a 64-bit keyed hash of the encoding (maphash, a
// random seed per Engine) and every entry keeps the full encoding, which a
// hit compares byte for byte: a hash collision is a miss, never somebody
// else's decision.

// cacheEntry is one cached decision and the encoding it was decided for.
type cacheEntry struct {
	key []byte
	d   rules.Decision
}

// keyHasher encodes and hashes cache keys. It is safe for concurrent use.
type keyHasher struct {
	seed maphash.Seed
	bufs sync.Pool // *[]byte
}

func newKeyHasher() *keyHasher {
	k := &keyHasher{seed: maphash.MakeSeed()}
	k.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return k
}

// maxPooledKeyBuf bounds the buffers kept in the pool: a huge statement
// does not pin a huge buffer.
const maxPooledKeyBuf = 64 << 10

// encode appends the key encoding of a decision's inputs to a pooled
// buffer and returns it with its hash; release the buffer with put. It
// allocates nothing once the pool is warm.
func (k *keyHasher) encode(policyRev, catalogRev string, minute int64, id *rules.Identity, st *rules.Statement) (*[]byte, uint64) {
	bp := k.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = appendStr(b, policyRev)
	b = appendStr(b, catalogRev)
	b = binary.LittleEndian.AppendUint64(b, uint64(minute))
	b = appendIdentity(b, id)
	if st == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendStatement(b, st)
	}
	*bp = b
	return bp, maphash.Bytes(k.seed, b)
}

// put returns a buffer from encode to the pool.
func (k *keyHasher) put(bp *[]byte) {
	if cap(*bp) <= maxPooledKeyBuf {
		k.bufs.Put(bp)
	}
}

// appendStr appends a length-prefixed string: no two sequences of fields
// encode the same.
func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendIdentity(b []byte, id *rules.Identity) []byte {
	if id == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendStr(b, id.User)
	b = appendStr(b, id.Database)
	b = appendStr(b, id.ApplicationName)
	b = appendStr(b, id.ClientAddr)
	b = appendBool(b, id.TLS.Enabled)
	b = appendStr(b, id.TLS.Subject)
	b = binary.AppendUvarint(b, uint64(len(id.Roles)))
	for _, r := range id.Roles {
		b = appendStr(b, r)
	}
	return b
}

// appendStatement covers every field statementTerm reads. Columns and
// output sources are hashed whether classified or not: their
// classification is a function of the catalog revision, which is part of
// the key.
func appendStatement(b []byte, st *rules.Statement) []byte {
	b = appendStr(b, string(st.Kind))
	b = appendStr(b, st.Summary)
	b = binary.AppendUvarint(b, uint64(len(st.Tables)))
	for _, t := range st.Tables {
		b = appendStr(b, t)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Columns)))
	for _, c := range st.Columns {
		b = appendStr(b, c.Table)
		b = appendStr(b, c.Column)
		b = binary.AppendUvarint(b, uint64(c.Uses))
	}
	b = binary.AppendUvarint(b, uint64(len(st.Outputs)))
	for _, o := range st.Outputs {
		b = appendStr(b, o.Name)
		b = appendBool(b, o.Direct)
		b = appendBool(b, o.Unknown)
		b = binary.AppendUvarint(b, uint64(len(o.Sources)))
		for _, s := range o.Sources {
			b = appendStr(b, s.Table)
			b = appendStr(b, s.Column)
		}
	}
	b = appendBool(b, st.Outputs == nil)
	b = appendBool(b, st.Returns)
	b = appendBool(b, st.Opaque)
	b = appendStr(b, st.OpaqueReason)
	b = appendBool(b, st.ServerCopy)
	b = appendBool(b, st.CatalogData)
	b = appendStr(b, st.CopyFormat)
	return b
}
