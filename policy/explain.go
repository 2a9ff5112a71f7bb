package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/pgveil/pgveil/rules"
)

// Explanation is what `pgveil explain` shows for one statement (or session).
type Explanation struct {
	// Revision is the policy revision that was evaluated.
	Revision string
	// Input is the input document, exactly as the policy saw it (JSON).
	Input json.RawMessage
	// Result is data.pgveil.decision (or data.pgveil.session) as the policy
	// returned it (JSON); nil when it was undefined or evaluation failed.
	Result json.RawMessage
	// Decision is what Decide would return: the validated decision, or the
	// refusal pgveil substitutes when Err is set.
	Decision rules.Decision
	// Err says why pgveil refused on the policy's behalf (see Decide); nil
	// when the policy produced a valid decision.
	Err error
}

// Explain evaluates the policy for one statement like Decide does, without
// the cache, and returns everything that went into the decision. st nil
// explains the session decision instead (DecideSession).
func (e *Engine) Explain(ctx context.Context, id *rules.Identity, st *rules.Statement) (*Explanation, error) {
	s := e.state.Load()
	now := e.cfg.Now()
	input := buildInput(id, st, e.catalog(), now)
	ex := &Explanation{Revision: s.revision}
	iv, err := ast.JSON(input)
	if err != nil {
		return nil, fmt.Errorf("explain input: %w", err)
	}
	if ex.Input, err = json.MarshalIndent(iv, "", "  "); err != nil {
		return nil, fmt.Errorf("explain input: %w", err)
	}
	var raw any
	switch {
	case st == nil && s.session == nil:
		ex.Decision = rules.Decision{Allow: true, Revision: s.revision, Reason: "the policy defines no session rule: every authenticated session is accepted"}
		return ex, nil
	case st == nil:
		ex.Decision, raw, ex.Err = e.eval(ctx, s, s.session, input, now, true)
	default:
		ex.Decision, raw, ex.Err = e.eval(ctx, s, &s.decision, input, now, false)
		if ex.Err == nil && !e.cfg.RowFilters {
			ex.Err = checkRowFilters(&ex.Decision, st)
		}
	}
	if raw != nil {
		if ex.Result, err = json.MarshalIndent(raw, "", "  "); err != nil {
			return nil, fmt.Errorf("explain result: %w", err)
		}
	}
	if ex.Err != nil {
		ex.Decision = deniedFor(s.revision, ex.Err)
	}
	return ex, nil
}

// TestResult is the outcome of one Rego unit test (a rule whose name starts
// with test_), as `opa test` reports it.
type TestResult struct {
	// Package is the test's package ("data.pgveil_test").
	Package string
	// Name is the rule name ("test_support_sees_names").
	Name string
	// Location is "file:line" of the rule.
	Location string
	// Pass, Fail and Skip: exactly one is true unless Err is set.
	Pass, Fail, Skip bool
	// Err is an evaluation error (which counts as a failure).
	Err error
	// Duration is how long the test ran.
	Duration time.Duration
	// Output is what the test printed with print().
	Output string
}

// Failed reports whether the test counts as a failure.
func (r *TestResult) Failed() bool { return r.Fail || r.Err != nil }

// RunTests runs the Rego unit tests of the policy in force (every rule
// named test_* in any of its modules; todo_test_* rules are skipped) with
// the data documents it was compiled with, the way `opa test` does, with
// the same built-ins the engine allows and built-in errors raised. filter,
// if not empty, is a regular expression that test names must match (as
// `opa test --run`). The results are sorted by location.
func (e *Engine) RunTests(ctx context.Context, filter string) ([]TestResult, error) {
	s := e.state.Load()
	// Parse again: the compiler rewrites the modules it compiles, and the
	// runner adds its own stages.
	modules, _, err := parseModules(s.files, s.bundle, parserOptions(e.caps))
	if err != nil {
		return nil, err
	}
	data, err := mergeData(s.files, bundleData(s.bundle))
	if err != nil {
		return nil, err
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))
	compiler := ast.NewCompiler().
		WithCapabilities(e.caps).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(true)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy tests: %w", err)
	}
	defer store.Abort(ctx, txn)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		SetTimeout(30 * time.Second).
		Filter(filter)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return nil, fmt.Errorf("policy tests: %w", err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{
			Package:  r.Package,
			Name:     r.Name,
			Pass:     r.Pass(),
			Fail:     r.Fail,
			Skip:     r.Skip,
			Err:      r.Error,
			Duration: r.Duration,
			Output:   strings.TrimRight(string(r.Output), "\n"),
		}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		out = append(out, tr)
	}
	slices.SortFunc(out, func(a, b TestResult) int {
		if c := strings.Compare(a.Package, b.Package); c != 0 {
			return c
		}
		if c := strings.Compare(fileOf(a.Location), fileOf(b.Location)); c != 0 {
			return c
		}
		return lineOf(a.Location) - lineOf(b.Location)
	})
	return out, nil
}

func bundleData(b *bundleSnapshot) map[string]any {
	if b == nil {
		return nil
	}
	return b.data
}

func fileOf(loc string) string {
	if i := strings.LastIndexByte(loc, ':'); i >= 0 {
		return loc[:i]
	}
	return loc
}

func lineOf(loc string) int {
	n := 0
	if i := strings.LastIndexByte(loc, ':'); i >= 0 {
		for _, c := range loc[i+1:] {
			if c < '0' || c > '9' {
				return n
			}
			n = n*10 + int(c-'0')
		}
	}
	return n
}
