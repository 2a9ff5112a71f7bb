package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Action is what a mask does to a value. The zero value, ActionUnspecified,
// is not a mask: Compile and CompileCopy reject it, so that a forgotten field
// can never mean "pass through".
type Action uint8

// Actions. The contract names (ParseMask, Mask.String) are given in quotes.
// MASKS.md shows what each action produces for each column type and format.
const (
	// ActionUnspecified is the zero value; it is rejected wherever a mask is
	// required.
	ActionUnspecified Action = iota
	// ActionPass reveals the value unchanged ("pass"). It is what a revealed
	// column compiles to.
	ActionPass
	// ActionNull replaces the value with SQL NULL ("null"). It fits every
	// type and format.
	ActionNull
	// ActionRedact replaces the value with a constant of the column's type
	// ("redact"; "erase" is accepted as a synonym for retention rules).
	ActionRedact
	// ActionPartial keeps the Keep trailing characters of a text value and
	// stars the rest ("partial", "partial:N"; N defaults to 4).
	ActionPartial
	// ActionLast4 is ActionPartial with Keep 4 ("last4").
	ActionLast4
	// ActionEmail keeps the first character and the domain of an e-mail
	// address: j***@example.com ("email").
	ActionEmail
	// ActionHash replaces the value with a keyed HMAC-SHA256 pseudonym that is
	// the same for the same key and value in every table and session, so
	// masked columns can still be joined and counted ("hash").
	ActionHash
	// ActionYear generalises a date or timestamp to 1 January of its year,
	// and a date held in text to the year alone ("year").
	ActionYear
	// ActionIPPrefix generalises an IP address to its /24 (IPv4) or /48
	// (IPv6) network ("ip_prefix").
	ActionIPPrefix
	// ActionScrub replaces structured identifiers inside free text and JSON
	// (e-mail addresses, phone numbers, IP addresses, IBANs, payment cards,
	// national identifiers) with tags such as [email], keeping the rest of
	// the text and the JSON structure ("scrub").
	ActionScrub

	numActions
)

var actionNames = [numActions]string{
	ActionUnspecified: "unspecified",
	ActionPass:        "pass",
	ActionNull:        "null",
	ActionRedact:      "redact",
	ActionPartial:     "partial",
	ActionLast4:       "last4",
	ActionEmail:       "email",
	ActionHash:        "hash",
	ActionYear:        "year",
	ActionIPPrefix:    "ip_prefix",
	ActionScrub:       "scrub",
}

// String returns the action's contract name ("unspecified" for the zero
// value, "action(N)" for an out-of-range value).
func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// DefaultKeep is the number of trailing characters "partial" keeps when no
// count is given.
const DefaultKeep = 4

// MaxKeep is the largest count "partial:N" accepts.
const MaxKeep = 64

// Mask is one masking rule for one value: an action plus its parameter.
// The zero Mask is unspecified and is rejected by Compile.
type Mask struct {
	Action Action
	// Keep is the number of trailing characters ActionPartial keeps; 0 means
	// DefaultKeep. It is ignored by every other action.
	Keep int
}

// Pass is the mask of a revealed value.
func Pass() Mask { return Mask{Action: ActionPass} }

// ErrUnknownMask is returned (wrapped) by ParseMask for a name that is not a
// mask.
var ErrUnknownMask = errors.New("unknown mask")

// ParseMask parses a mask name as it appears in policies and rules files:
// "pass", "null", "redact", "erase" (= redact), "partial", "partial:N"
// (1 <= N <= MaxKeep), "last4", "email", "hash", "year", "ip_prefix",
// "scrub". Names are case-sensitive and lower case.
func ParseMask(s string) (Mask, error) {
	name, arg, hasArg := strings.Cut(s, ":")
	if hasArg && name != "partial" {
		return Mask{}, fmt.Errorf("mask %s: %w (only partial takes an argument, as partial:N)", quoteName(s), ErrUnknownMask)
	}
	switch name {
	case "pass":
		return Mask{Action: ActionPass}, nil
	case "null":
		return Mask{Action: ActionNull}, nil
	case "redact", "erase":
		return Mask{Action: ActionRedact}, nil
	case "partial":
		if !hasArg {
			return Mask{Action: ActionPartial, Keep: DefaultKeep}, nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > MaxKeep || arg[0] == '+' {
			return Mask{}, fmt.Errorf("mask %s: partial:N needs 1 <= N <= %d", quoteName(s), MaxKeep)
		}
		return Mask{Action: ActionPartial, Keep: n}, nil
	case "last4":
		return Mask{Action: ActionLast4, Keep: 4}, nil
	case "email":
		return Mask{Action: ActionEmail}, nil
	case "hash":
		return Mask{Action: ActionHash}, nil
	case "year":
		return Mask{Action: ActionYear}, nil
	case "ip_prefix":
		return Mask{Action: ActionIPPrefix}, nil
	case "scrub":
		return Mask{Action: ActionScrub}, nil
	}
	return Mask{}, fmt.Errorf("mask %s: %w (want one of pass, null, redact, erase, partial, partial:N, last4, email, hash, year, ip_prefix, scrub)", quoteName(s), ErrUnknownMask)
}

// quoteName quotes a user-supplied name for an error message, shortened so a
// pasted value cannot flood a log line.
func quoteName(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// String returns the mask's contract name; ParseMask(m.String()) == m for
// every valid mask (with partial's Keep made explicit).
func (m Mask) String() string {
	if m.Action == ActionPartial {
		return "partial:" + strconv.Itoa(m.keep())
	}
	return m.Action.String()
}

// keep returns the effective number of characters a partial mask keeps.
func (m Mask) keep() int {
	switch m.Action {
	case ActionLast4:
		return 4
	case ActionPartial:
		if m.Keep == 0 {
			return DefaultKeep
		}
		return m.Keep
	}
	return 0
}

// Validate reports whether m is a usable mask: a known, specified action and
// a Keep in range for ActionPartial.
func (m Mask) Validate() error {
	if m.Action == ActionUnspecified {
		return errors.New("mask action unspecified")
	}
	if m.Action >= numActions {
		return fmt.Errorf("mask action %d out of range", m.Action)
	}
	if m.Action == ActionPartial && (m.Keep < 0 || m.Keep > MaxKeep) {
		return fmt.Errorf("partial mask keep %d out of range 0..%d", m.Keep, MaxKeep)
	}
	return nil
}

// IsPass reports whether m reveals the value.
func (m Mask) IsPass() bool { return m.Action == ActionPass }

// Derived returns the mask for a value that an expression derived from a
// value masked with m (lower(email), email || ”, substr(phone, 1, 3), a
// cast, an aggregate). A derived value has lost the shape that the
// format-preserving masks rely on, and a partial view of it could reveal what
// the partial mask hides of the original (substr(phone, 1, 8) under last4
// would show the first digits), so:
//
//	pass          -> pass (revealed data stays revealed)
//	null          -> null
//	hash          -> hash (a keyed pseudonym of the derived value reveals
//	                 nothing but equality)
//	anything else -> redact (partial, last4, email, year, ip_prefix, scrub,
//	                 redact)
//
// An unspecified mask stays unspecified (and is rejected by Compile).
func (m Mask) Derived() Mask {
	switch m.Action {
	case ActionUnspecified, ActionPass, ActionNull, ActionHash:
		return Mask{Action: m.Action}
	}
	return Mask{Action: ActionRedact}
}

// derivedRank orders derived masks by how much they hide.
func derivedRank(a Action) int {
	switch a {
	case ActionPass:
		return 0
	case ActionHash:
		return 1
	case ActionRedact:
		return 2
	case ActionNull:
		return 3
	}
	return 4 // unspecified or invalid: strictest, and rejected by Compile
}

// Combine returns the mask for a value derived from two inputs, one masked
// with m and one with o (first_name || ' ' || last_name). Both are first made
// Derived, then the stricter wins in the order pass < hash < redact < null.
// Combine with Pass() is the identity on derived masks, so a fold over any
// number of sources can start from Pass().
func (m Mask) Combine(o Mask) Mask {
	a, b := m.Derived(), o.Derived()
	if derivedRank(b.Action) > derivedRank(a.Action) {
		return b
	}
	return a
}
