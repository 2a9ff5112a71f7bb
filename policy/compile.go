package policy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// The rules pgveil evaluates.
const (
	decisionQuery = "data.pgveil.decision"
	sessionQuery  = "data.pgveil.session"
)

// deniedBuiltins are the built-in functions a pgveil policy may not call:
// they do I/O or are random, which would put network latency on the
// statement path and make cached decisions differ from fresh ones. Data a
// policy needs from elsewhere belongs in a bundle or a data file.
// time.now_ns stays: it returns input.now (minute precision, see doc.go).
var deniedBuiltins = []string{
	"http.send",
	"net.lookup_ip_addr",
	"rand.intn",
	"uuid.rfc4122",
	"opa.runtime",
}

// capabilities returns the built-ins pgveil policies may use.
func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool {
		return slices.Contains(deniedBuiltins, b.Name)
	})
	caps.AllowNet = []string{} // no remote schema fetches either
	return caps
}

// parserOptions are the options every module is parsed with: Rego v1
// (OPA 1.0 syntax), annotations processed.
func parserOptions(caps *ast.Capabilities) ast.ParserOptions {
	return ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true, Capabilities: caps}
}

// state is one compiled policy revision. It is immutable once built and
// swapped in whole (Engine.state).
type state struct {
	revision       string
	bundleRevision string
	loadedAt       time.Time
	files          *fileSet
	bundle         *bundleSnapshot
	moduleNames    []string
	data           map[string]any

	decision rego.PreparedEvalQuery
	// session is nil when the policy defines no session rule: every session
	// Postgres authenticated is accepted.
	session *rego.PreparedEvalQuery
}

// parseModules parses the Rego files of fset and the bundle.
func parseModules(fset *fileSet, b *bundleSnapshot, opts ast.ParserOptions) (map[string]*ast.Module, []string, error) {
	modules := map[string]*ast.Module{}
	var names []string
	var errs ast.Errors
	add := func(name string, raw []byte) {
		m, err := ast.ParseModuleWithOpts(name, string(raw), opts)
		if err != nil {
			if ae, ok := err.(ast.Errors); ok {
				errs = append(errs, ae...)
			} else {
				errs = append(errs, ast.NewError(ast.ParseErr, &ast.Location{File: name}, "%v", err))
			}
			return
		}
		if m == nil { // an empty file
			return
		}
		modules[name] = m
		names = append(names, name)
	}
	if fset != nil {
		for _, f := range fset.files {
			if f.kind == kindRego {
				add(f.name, f.raw)
			}
		}
	}
	if b != nil {
		for _, m := range b.modules {
			add(m.name, m.raw)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	return modules, names, nil
}

// compileState compiles files and bundle into a new state.
func compileState(ctx context.Context, fset *fileSet, b *bundleSnapshot, caps *ast.Capabilities, now time.Time) (*state, error) {
	modules, names, err := parseModules(fset, b, parserOptions(caps))
	if err != nil {
		return nil, err
	}
	var bdata map[string]any
	if b != nil {
		bdata = b.data
	}
	data, err := mergeData(fset, bdata)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().
		WithCapabilities(caps).
		WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, compiler.Errors
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(decisionQuery))) == 0 {
		return nil, errNoDecision
	}
	hasSession := len(compiler.GetRulesExact(ast.MustParseRef(sessionQuery))) > 0

	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		return rego.New(
			rego.Query(query),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.Capabilities(caps),
			// A built-in that fails (a malformed CIDR, a bad regex) is an
			// evaluation error, which denies. Without this it would make
			// its expression undefined, and a refusal rule that depends on
			// it would silently not fire.
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
	}
	st := &state{files: fset, bundle: b, moduleNames: names, data: data, loadedAt: now}
	if st.decision, err = prepare(decisionQuery); err != nil {
		return nil, fmt.Errorf("prepare %s: %w", decisionQuery, err)
	}
	if hasSession {
		pq, err := prepare(sessionQuery)
		if err != nil {
			return nil, fmt.Errorf("prepare %s: %w", sessionQuery, err)
		}
		st.session = &pq
	}
	st.revision, st.bundleRevision = revisionOf(fset, b)
	return st, nil
}

// revisionOf is the policy revision: a hash of everything that was
// compiled, prefixed by the bundle's manifest revision when there is one
// ("v42@1a2b3c4d5e6f7a8b").
func revisionOf(fset *fileSet, b *bundleSnapshot) (revision, bundleRevision string) {
	h := sha256.New()
	if fset != nil {
		h.Write(fset.hash[:])
	}
	if b != nil {
		h.Write(b.hash[:])
		bundleRevision = b.revision
	}
	rev := shortHash(h.Sum(nil))
	if bundleRevision != "" {
		rev = bundleRevision + "@" + rev
	}
	return rev, bundleRevision
}
