package demo

import (
	"math/bits"
	"math/rand/v2"
	"strings"
)

// rng is the generator's only source of randomness. It draws raw 64-bit
// outputs from PCG (whose algorithm math/rand/v2 fixes) and derives every
// integer itself, so that the dataset stays byte-identical across Go
// releases even if rand.Rand's helpers change their algorithms.
type rng struct{ src *rand.PCG }

// Streams keep the tables independent: changing how one table is generated
// does not shift the values of another.
const (
	streamCustomers uint64 = iota + 1
	streamMessages
	streamTickets
	streamLogins
	streamInvoices
	streamProducts
	streamProfile = 1 << 32 // + customer id: per-customer stable facts
)

func newRNG(seed, stream uint64) *rng {
	return &rng{rand.NewPCG(seed, stream*0x9e3779b97f4a7c15+1)}
}

// intn returns a number in [0, n) by Lemire's multiply-shift; the bias for
// the small n used here is below 2^-40 and does not matter for a fixture.
func (r *rng) intn(n int) int {
	if n <= 0 {
		panic("demo: intn of non-positive n")
	}
	hi, _ := bits.Mul64(r.src.Uint64(), uint64(n))
	return int(hi)
}

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// int64n returns a number in [0, n).
func (r *rng) int64n(n int64) int64 {
	hi, _ := bits.Mul64(r.src.Uint64(), uint64(n))
	return int64(hi)
}

// percent returns true with probability p/100.
func (r *rng) percent(p int) bool { return r.intn(100) < p }

func pick[T any](r *rng, list []T) T { return list[r.intn(len(list))] }

// weighted picks an index by integer weights.
func (r *rng) weighted(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.intn(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// digits returns n random decimal digits.
func (r *rng) digits(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + r.intn(10)))
	}
	return b.String()
}

// letters returns n random upper-case letters from set.
func (r *rng) letters(n int, set string) string {
	var b strings.Builder
	for range n {
		b.WriteByte(set[r.intn(len(set))])
	}
	return b.String()
}

func (r *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.intn(i+1))
	}
}
