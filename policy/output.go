package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pgveil/pgveil/rules"
)

// Sentinel errors. Decide and DecideSession wrap one of them whenever they
// refuse because the policy could not produce a valid decision; test with
// errors.Is. The refusal itself is also in the returned Decision.
var (
	// ErrEvaluation: the policy failed to evaluate (a conflict between
	// rules, a built-in that failed, a cancelled context).
	ErrEvaluation = errors.New("policy evaluation failed")
	// ErrTimeout: the evaluation took longer than Config.Timeout.
	ErrTimeout = errors.New("policy evaluation timed out")
	// ErrUndefined: data.pgveil.decision (or a session rule the policy
	// declares) is undefined for this input.
	ErrUndefined = errors.New("policy decision undefined")
	// ErrMalformed: the decision does not follow the output contract
	// (doc.go, "Output").
	ErrMalformed = errors.New("malformed policy decision")
	// ErrRowFilters: the decision returns a row filter for a table the
	// statement reads, and the consumer does not enforce row filters
	// (Config.RowFilters).
	ErrRowFilters = errors.New("row filters are not enforced")
)

// Reasons given to the client when pgveil, not the policy, refuses. They say
// nothing about the policy's internals; the error returned alongside (and
// the proxy's log) has the detail.
const (
	reasonError      = "the policy could not be evaluated"
	reasonTimeout    = "the policy could not be evaluated in time"
	reasonRowFilters = "the policy restricts rows of a table this statement reads, which this pgveil cannot enforce"
	reasonDenied     = "refused by the pgveil policy"
)

// maxReasonBytes bounds the reason a policy returns.
const maxReasonBytes = 512

// decisionKeys are the keys a decision object may have.
var decisionKeys = []string{"allow", "reason", "reveal", "masks", "row_filters", "unrestricted"}

// sessionKeys are the keys a session decision object may have.
var sessionKeys = []string{"allow", "reason"}

// parseDecision turns the policy's output (a JSON-like value as the rego
// package returns it) into a validated rules.Decision. Anything that does
// not follow the contract is an error: a typo such as "mask" for "masks"
// must not silently fall back to defaults without anyone noticing.
func parseDecision(v any, session bool) (rules.Decision, error) {
	var d rules.Decision
	obj, ok := v.(map[string]any)
	if !ok {
		return d, fmt.Errorf("%w: want an object, got %s", ErrMalformed, typeName(v))
	}
	allowed := decisionKeys
	if session {
		allowed = sessionKeys
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return d, fmt.Errorf("%w: unknown key %q (want %s)", ErrMalformed, k, strings.Join(allowed, ", "))
		}
	}
	allow, ok := obj["allow"].(bool)
	if !ok {
		return d, fmt.Errorf("%w: allow must be true or false, got %s", ErrMalformed, typeName(obj["allow"]))
	}
	d.Allow = allow
	if r, present := obj["reason"]; present {
		s, ok := r.(string)
		if !ok {
			return d, fmt.Errorf("%w: reason must be a string, got %s", ErrMalformed, typeName(r))
		}
		d.Reason = truncateReason(s)
	}
	if r, present := obj["reveal"]; present {
		arr, ok := r.([]any)
		if !ok {
			return d, fmt.Errorf("%w: reveal must be an array or set of strings, got %s", ErrMalformed, typeName(r))
		}
		d.Reveal = make([]string, 0, len(arr))
		for _, x := range arr {
			s, ok := x.(string)
			if !ok {
				return d, fmt.Errorf("%w: reveal must hold strings, got %s", ErrMalformed, typeName(x))
			}
			d.Reveal = append(d.Reveal, s)
		}
		slices.Sort(d.Reveal)
		d.Reveal = slices.Compact(d.Reveal)
	}
	if u, present := obj["unrestricted"]; present {
		b, ok := u.(bool)
		if !ok {
			return d, fmt.Errorf("%w: unrestricted must be true or false, got %s", ErrMalformed, typeName(u))
		}
		d.Unrestricted = b
	}
	var err error
	if d.Masks, err = stringMap(obj, "masks"); err != nil {
		return d, err
	}
	if d.RowFilters, err = stringMap(obj, "row_filters"); err != nil {
		return d, err
	}
	for t, f := range d.RowFilters {
		if strings.Count(t, ".") != 1 || strings.HasPrefix(t, ".") || strings.HasSuffix(t, ".") {
			return d, fmt.Errorf("%w: row_filters key %q must be schema.table", ErrMalformed, t)
		}
		if strings.TrimSpace(f) == "" {
			return d, fmt.Errorf("%w: row_filters[%q] is empty", ErrMalformed, t)
		}
	}
	if err := d.Validate(); err != nil {
		return d, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !d.Allow && d.Reason == "" {
		d.Reason = reasonDenied
	}
	return d, nil
}

func stringMap(obj map[string]any, key string) (map[string]string, error) {
	r, present := obj[key]
	if !present {
		return nil, nil
	}
	m, ok := r.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s must be an object of strings, got %s", ErrMalformed, key, typeName(r))
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s[%q] must be a string, got %s", ErrMalformed, key, k, typeName(v))
		}
		out[k] = s
	}
	return out, nil
}

// truncateReason caps a reason at maxReasonBytes, on a UTF-8 boundary.
func truncateReason(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	cut := maxReasonBytes
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// typeName names a JSON value's type for error messages (never its value:
// messages go to logs).
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null or undefined"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return "a number"
	}
}

// deniedFor returns the refusal pgveil substitutes when the policy cannot
// produce a decision.
func deniedFor(revision string, err error) rules.Decision {
	reason := reasonError
	switch {
	case errors.Is(err, ErrTimeout):
		reason = reasonTimeout
	case errors.Is(err, ErrRowFilters):
		reason = reasonRowFilters
	}
	return rules.Decision{Allow: false, Reason: reason, Revision: revision}
}

// checkRowFilters refuses an allowed decision that filters rows of a table
// st reads when row filters are not enforced.
func checkRowFilters(d *rules.Decision, st *rules.Statement) error {
	if !d.Allow || len(d.RowFilters) == 0 {
		return nil
	}
	for _, t := range st.Tables {
		if _, ok := d.RowFilters[t]; ok {
			return fmt.Errorf("%w: the decision filters rows of %s", ErrRowFilters, t)
		}
	}
	return nil
}
