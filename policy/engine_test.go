package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pgveil/pgveil/rules"
)

// allowAll is a minimal valid policy.
const allowAll = `package pgveil

decision := {"allow": true, "reason": "v1"}
`

func customerEmail() *rules.Statement {
	return &rules.Statement{
		Kind: rules.KindSelect, Summary: "SELECT public.customers", Fingerprint: "f1",
		Tables:  []string{"public.customers"},
		Columns: []rules.ColumnUse{{ColumnRef: rules.ColumnRef{Table: "public.customers", Column: "email"}, Uses: rules.UseOutput | rules.UseFilter}},
		Outputs: []rules.Output{{Name: "email", Sources: []rules.ColumnRef{{Table: "public.customers", Column: "email"}}, Direct: true}},
		Returns: true,
	}
}

func analystID() *rules.Identity {
	return &rules.Identity{User: "analyst", Database: "demo", ApplicationName: "metabase", ClientAddr: "10.1.2.3", Roles: []string{"analyst", "analytics"}}
}

// newEngine compiles the given files (name -> content) in a temp dir.
func newEngine(t testing.TB, files map[string]string, cfg Config) (*Engine, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, dir, name, content)
	}
	cfg.Paths = []string{dir}
	if cfg.Catalog == nil {
		cat := demoCatalog(t)
		cfg.Catalog = func() *rules.Catalog { return cat }
	}
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, dir
}

func TestNewEngineErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"parse error names file and line", map[string]string{"p.rego": "package pgveil\n\ndecision := {\n"}, "p.rego:4: rego_parse_error"},
		{"compile error names file and line", map[string]string{"p.rego": "package pgveil\n\ndecision := {\"allow\": x}\n"}, "p.rego:3"},
		{"no decision rule", map[string]string{"p.rego": "package pgveil\n\nallow := true\n"}, "data.pgveil.decision"},
		{"network built-in refused", map[string]string{"p.rego": "package pgveil\n\ndecision := http.send({\"method\": \"get\", \"url\": \"http://x\"}).body\n"}, "http.send"},
		{"conflicting data", map[string]string{"p.rego": allowAll, "a/data.json": `{"x": 1}`, "a/b.yaml": "x: 2\n"}, "conflicting"},
		{"bad data", map[string]string{"p.rego": allowAll, "data.json": `{"x": `}, "data.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tt.files {
				writeFile(t, dir, n, c)
			}
			_, err := NewEngine(context.Background(), Config{Paths: []string{dir}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := NewEngine(context.Background(), Config{}); err == nil {
		t.Error("no paths and no bundle: want an error")
	}
	if _, err := NewEngine(context.Background(), Config{Paths: []string{"/nonexistent/pgveil"}}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: err = %v", err)
	}
}

func TestDataFilesAndIgnoredFiles(t *testing.T) {
	e, _ := newEngine(t, map[string]string{
		"p.rego": `package pgveil

decision := {"allow": true, "reason": concat(",", [data.teams.analytics.lead, data.top])}
`,
		"teams/analytics/data.yaml": "lead: ana\n",
		"data.json":                 `{"top": "t"}`,
		"README.md":                 "# not a policy",
		".hidden/bad.rego":          "this is not rego",
		".p.rego.swp":               "junk",
	}, Config{})
	d, err := e.Decide(context.Background(), analystID(), customerEmail())
	if err != nil {
		t.Fatal(err)
	}
	if d.Reason != "ana,t" {
		t.Errorf("reason = %q, want data from both data files", d.Reason)
	}
}

func TestMalformedDecisionsDeny(t *testing.T) {
	tests := []struct {
		name, rule, wantErr string
		target              error
	}{
		{"not an object", `decision := true`, "want an object", ErrMalformed},
		{"allow missing", `decision := {"reason": "x"}`, "allow must be", ErrMalformed},
		{"allow not bool", `decision := {"allow": "yes"}`, "allow must be", ErrMalformed},
		{"unknown key", `decision := {"allow": true, "mask": {}}`, `unknown key "mask"`, ErrMalformed},
		{"unknown mask", `decision := {"allow": true, "masks": {"email": "rot13"}}`, "rot13", ErrMalformed},
		{"bad column key", `decision := {"allow": true, "masks": {"customers.email": "null"}}`, "schema.table.column", ErrMalformed},
		{"reveal not strings", `decision := {"allow": true, "reveal": [1]}`, "reveal must hold strings", ErrMalformed},
		{"masks not strings", `decision := {"allow": true, "masks": {"email": 1}}`, "must be a string", ErrMalformed},
		{"bad row filter key", `decision := {"allow": true, "row_filters": {"customers": "true"}}`, "schema.table", ErrMalformed},
		{"undefined", `decision := {"allow": true} if input.nothing`, "undefined", ErrUndefined},
		{"conflict", "decision := {\"allow\": true}\ndecision := {\"allow\": false} if true", "", ErrEvaluation},
		{"built-in error", `decision := {"allow": net.cidr_contains("not a cidr", "1.2.3.4")}`, "", ErrEvaluation},
		{"row filter not enforced", `decision := {"allow": true, "row_filters": {"public.customers": "marketing_opt_in"}}`, "public.customers", ErrRowFilters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newEngine(t, map[string]string{"p.rego": "package pgveil\n\n" + tt.rule + "\n"}, Config{})
			d, err := e.Decide(context.Background(), analystID(), customerEmail())
			if !errors.Is(err, tt.target) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.target, tt.wantErr)
			}
			if d.Allow {
				t.Fatal("allowed")
			}
			if d.Revision != e.Revision() || d.Reason == "" || strings.Contains(d.Reason, "rego") {
				t.Errorf("refusal = %+v: want a generic reason and the revision", d)
			}
			if got := e.Stats().EvalErrors; got != 1 {
				t.Errorf("eval errors = %d, want 1", got)
			}
			// Refusals caused by errors are not cached.
			_, _ = e.Decide(context.Background(), analystID(), customerEmail())
			if got := e.Stats().CacheHits; got != 0 {
				t.Errorf("cache hits = %d, want 0", got)
			}
		})
	}
}

func TestRowFiltersWhenEnforced(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"p.rego": `package pgveil

decision := {"allow": true, "row_filters": {"public.customers": "marketing_opt_in"}}
`}, Config{RowFilters: true})
	d, err := e.Decide(context.Background(), analystID(), customerEmail())
	if err != nil || !d.Allow || d.RowFilters["public.customers"] != "marketing_opt_in" {
		t.Fatalf("decision = %+v, %v", d, err)
	}
	// Not enforced, but the statement does not read the filtered table.
	e2, _ := newEngine(t, map[string]string{"p.rego": `package pgveil

decision := {"allow": true, "row_filters": {"public.other": "true"}}
`}, Config{})
	if d, err := e2.Decide(context.Background(), analystID(), customerEmail()); err != nil || !d.Allow {
		t.Fatalf("decision = %+v, %v", d, err)
	}
}

func TestPolicyDenialHasReason(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"p.rego": `package pgveil

decision := {"allow": false}
`}, Config{})
	d, err := e.Decide(context.Background(), analystID(), customerEmail())
	if err != nil || d.Allow || d.Reason != reasonDenied {
		t.Fatalf("decision = %+v, %v", d, err)
	}
}

func TestTimeoutDenies(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"p.rego": `package pgveil

decision := {"allow": n > 0} if {
	n := count([1 | some i in numbers.range(1, 20000); some j in numbers.range(1, 20000); i == j + 1000000])
}
`}, Config{Timeout: 20 * time.Millisecond})
	start := time.Now()
	d, err := e.Decide(context.Background(), analystID(), customerEmail())
	if !errors.Is(err, ErrTimeout) || d.Allow || d.Reason != reasonTimeout {
		t.Fatalf("decision = %+v, err = %v; want a timeout refusal", d, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("timeout took %s", el)
	}
	if e.Stats().Timeouts != 1 {
		t.Errorf("timeouts = %d", e.Stats().Timeouts)
	}
}

func TestCacheHitAndMiss(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 1, 10, 0, 5, 0, time.UTC).UnixNano())
	e := newExampleEngine(t, Config{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	ctx := context.Background()
	id, st := analystID(), customerEmail()
	st.Columns[0].Uses = rules.UseOutput
	d1, err := e.Decide(ctx, id, st)
	if err != nil || !d1.Allow {
		t.Fatal(d1, err)
	}
	d2, _ := e.Decide(ctx, id, st)
	if s := e.Stats(); s.CacheHits != 1 || s.Evaluations != 1 {
		t.Fatalf("stats = %+v, want one hit and one evaluation", s)
	}
	if d2.Revision != d1.Revision || d2.Masks["email"] != "hash" {
		t.Errorf("cached decision = %+v", d2)
	}
	// Same minute: still cached. Next minute: evaluated again.
	now.Add(int64(30 * time.Second))
	_, _ = e.Decide(ctx, id, st)
	if e.Stats().Evaluations != 1 {
		t.Error("same minute evaluated again")
	}
	now.Add(int64(30 * time.Second))
	_, _ = e.Decide(ctx, id, st)
	if e.Stats().Evaluations != 2 {
		t.Error("next minute not evaluated")
	}
	// Anything in the input changes the key.
	variants := []func(id *rules.Identity, st *rules.Statement){
		func(id *rules.Identity, _ *rules.Statement) { id.ApplicationName = "psql" },
		func(id *rules.Identity, _ *rules.Statement) { id.ClientAddr = "10.1.2.4" },
		func(id *rules.Identity, _ *rules.Statement) { id.Roles = append(id.Roles, "x") },
		func(id *rules.Identity, _ *rules.Statement) { id.TLS.Subject = "CN=a" },
		func(_ *rules.Identity, st *rules.Statement) { st.Columns[0].Uses |= rules.UseFilter },
		func(_ *rules.Identity, st *rules.Statement) { st.Outputs[0].Direct = false },
		func(_ *rules.Identity, st *rules.Statement) { st.Opaque = true },
		func(_ *rules.Identity, st *rules.Statement) { st.Kind = rules.KindCopyTo },
		func(_ *rules.Identity, st *rules.Statement) { st.Tables = append(st.Tables, "public.x") },
	}
	for i, mut := range variants {
		id2, st2 := analystID(), customerEmail()
		st2.Columns[0].Uses = rules.UseOutput
		mut(id2, st2)
		before := e.Stats().Evaluations
		_, _ = e.Decide(ctx, id2, st2)
		if e.Stats().Evaluations != before+1 {
			t.Errorf("variant %d hit the cache", i)
		}
	}
	// A new catalog revision misses.
	cat2, err := rules.ParseCatalog([]byte("tables:\n  public.customers:\n    columns: {email: email}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Catalog = func() *rules.Catalog { return cat2 }
	before := e.Stats().Evaluations
	_, _ = e.Decide(ctx, id, st)
	if e.Stats().Evaluations != before+1 {
		t.Error("new catalog revision hit the cache")
	}
}

func TestCacheCollisionIsAMiss(t *testing.T) {
	e := newExampleEngine(t, Config{})
	ctx, id, st := context.Background(), analystID(), customerEmail()
	s := e.state.Load()
	kb, hash := e.keys.encode(s.revision, e.catalog().cat.Revision(), minuteOf(time.Now()), id, st)
	e.keys.put(kb)
	// Plant another input's decision under the same hash.
	e.cache.Add(hash, cacheEntry{key: []byte("something else"), d: rules.Decision{Allow: true, Reason: "planted"}})
	d, err := e.Decide(ctx, id, st)
	if err != nil || d.Reason == "planted" || e.Stats().Evaluations != 1 {
		t.Fatalf("collision returned the planted decision: %+v, %v", d, err)
	}
}

func TestCacheDisabled(t *testing.T) {
	e := newExampleEngine(t, Config{CacheSize: -1})
	for range 3 {
		if _, err := e.Decide(context.Background(), analystID(), customerEmail()); err != nil {
			t.Fatal(err)
		}
	}
	if s := e.Stats(); s.Evaluations != 3 || s.CacheHits != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestInputMatchesContract(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 42, 0, time.FixedZone("CET", 3600))
	e := newExampleEngine(t, Config{Now: func() time.Time { return now }})
	id := analystID()
	id.TLS = rules.TLSInfo{Enabled: true, Subject: "CN=analyst"}
	st := customerEmail()
	st.Columns = append(st.Columns, rules.ColumnUse{ColumnRef: rules.ColumnRef{Table: "public.customers", Column: "country"}, Uses: rules.UseOutput})
	st.Outputs = append(st.Outputs, rules.Output{Name: "c", Sources: []rules.ColumnRef{{Table: "public.customers", Column: "country"}, {Table: "public.customers", Column: "full_name"}}})
	ex, err := e.Explain(context.Background(), id, st)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(ex.Input, &got); err != nil {
		t.Fatal(err)
	}
	// input.identity is rules.Identity's JSON form.
	idJSON, _ := json.Marshal(id)
	var wantID any
	_ = json.Unmarshal(idJSON, &wantID)
	gotID, _ := json.Marshal(got["identity"])
	wantIDb, _ := json.Marshal(wantID)
	if string(gotID) != string(wantIDb) {
		t.Errorf("identity = %s, want %s", gotID, wantIDb)
	}
	if got["now"] != "2026-11-23T09:00:00Z" {
		t.Errorf("now = %v, want UTC truncated to the minute", got["now"])
	}
	stmt, _ := json.Marshal(got["statement"])
	want := `{"catalog_data":false,"columns":[{"category":"email","column":"email","table":"public.customers","uses":["output","filter"]}],` +
		`"copy_format":"","kind":"select","opaque":false,"opaque_reason":"",` +
		`"outputs":[{"categories":["email"],"direct":true,"name":"email","sources":["public.customers.email"],"unknown":false},` +
		`{"categories":["name"],"direct":false,"name":"c","sources":["public.customers.full_name"],"unknown":false}],` +
		`"returns":true,"server_copy":false,"summary":"SELECT public.customers","tables":["public.customers"]}`
	if string(stmt) != want {
		t.Errorf("statement =\n%s\nwant\n%s", stmt, want)
	}
	catJSON, _ := json.Marshal(got["catalog"])
	if !strings.Contains(string(catJSON), `"categories":["birth_date","email","free_text","ip_address","message_body","name","phone","user_agent"]`) {
		t.Errorf("catalog = %s", catJSON)
	}
	if ex.Decision.Allow || !strings.Contains(ex.Decision.Reason, "filter") || ex.Result == nil {
		t.Errorf("explanation = %+v", ex)
	}
	// The session input has no statement.
	ex, err = e.Explain(context.Background(), id, nil)
	if err != nil || strings.Contains(string(ex.Input), `"statement"`) || !ex.Decision.Allow {
		t.Errorf("session explanation = %+v, %v", ex, err)
	}
}

func TestInputTermEqualsJSON(t *testing.T) {
	// The hand-built ast input must equal what OPA would build from JSON.
	id := analystID()
	v := identityTerm(id).Value
	b, _ := json.Marshal(id)
	w, err := ast.ValueFromReader(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Compare(w) != 0 {
		t.Errorf("identity term %v != %v", v, w)
	}
}

func TestSessionRules(t *testing.T) {
	ctx := context.Background()
	// No session rule: every session is accepted.
	e, _ := newEngine(t, map[string]string{"p.rego": allowAll}, Config{})
	if d, err := e.DecideSession(ctx, analystID()); err != nil || !d.Allow || d.Revision != e.Revision() {
		t.Fatalf("no session rule: %+v, %v", d, err)
	}
	if e.HasSessionRule() {
		t.Error("HasSessionRule = true")
	}
	// A session rule that is undefined for an input refuses.
	e, _ = newEngine(t, map[string]string{"p.rego": allowAll + `
session := {"allow": true} if input.identity.user == "dpo"
`}, Config{})
	if d, err := e.DecideSession(ctx, analystID()); !errors.Is(err, ErrUndefined) || d.Allow {
		t.Fatalf("undefined session: %+v, %v", d, err)
	}
	// Session decisions may only have allow and reason.
	e, _ = newEngine(t, map[string]string{"p.rego": allowAll + `
session := {"allow": true, "masks": {}}
`}, Config{})
	if d, err := e.DecideSession(ctx, analystID()); !errors.Is(err, ErrMalformed) || d.Allow {
		t.Fatalf("malformed session: %+v, %v", d, err)
	}
	// Statement inputs have no statement in the session input.
	e, _ = newEngine(t, map[string]string{"p.rego": allowAll + `
session := {"allow": false, "reason": "has statement"} if input.statement
session := {"allow": false, "reason": sprintf("no %s on %s", [input.identity.user, input.now])} if not input.statement
`}, Config{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
	d, err := e.DecideSession(ctx, analystID())
	if err != nil || d.Allow || d.Reason != "no analyst on 2026-01-02T03:04:00Z" {
		t.Fatalf("session = %+v, %v", d, err)
	}
}

func TestNowBuiltinIsInputNow(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"p.rego": `package pgveil

decision := {"allow": time.now_ns() == time.parse_rfc3339_ns(input.now)}
`}, Config{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC) }})
	d, err := e.Decide(context.Background(), analystID(), customerEmail())
	if err != nil || !d.Allow {
		t.Fatalf("time.now_ns differs from input.now: %+v, %v", d, err)
	}
}

func TestReloadKeepsOldRevisionOnFailure(t *testing.T) {
	var logs lockedBuffer
	e, dir := newEngine(t, map[string]string{"p.rego": allowAll}, Config{Logger: logs.logger()})
	ctx := context.Background()
	rev1 := e.Revision()
	writeFile(t, dir, "p.rego", "package pgveil\n\ndecision := {\n")
	err := e.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "p.rego:4: rego_parse_error") {
		t.Fatalf("reload err = %v", err)
	}
	if e.Revision() != rev1 {
		t.Fatal("revision changed after a failed reload")
	}
	if d, err := e.Decide(ctx, analystID(), customerEmail()); err != nil || !d.Allow || d.Reason != "v1" {
		t.Fatalf("old policy not in force: %+v, %v", d, err)
	}
	if e.LastError() == nil || e.Stats().ReloadErrors != 1 || e.Stats().LastErrorAt.IsZero() {
		t.Errorf("failure not recorded: %v %+v", e.LastError(), e.Stats())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "p.rego:4") {
		t.Errorf("failure not logged at ERROR:\n%s", logs.String())
	}
	// The same broken content is not compiled or counted again.
	_ = e.Reload(ctx)
	if e.Stats().ReloadErrors != 1 {
		t.Errorf("reload errors = %d after retrying the same content", e.Stats().ReloadErrors)
	}
	// Reverting to the revision in force clears the error.
	writeFile(t, dir, "p.rego", allowAll)
	if err := e.Reload(ctx); err != nil || e.LastError() != nil || e.Revision() != rev1 {
		t.Fatalf("revert: %v, %v, %s", err, e.LastError(), e.Revision())
	}
	// A good change swaps.
	writeFile(t, dir, "p.rego", strings.ReplaceAll(allowAll, "v1", "v2"))
	if err := e.Reload(ctx); err != nil || e.Revision() == rev1 {
		t.Fatalf("reload: %v, revision %s", err, e.Revision())
	}
	if d, _ := e.Decide(ctx, analystID(), customerEmail()); d.Reason != "v2" || d.Revision != e.Revision() {
		t.Fatalf("new policy not in force: %+v", d)
	}
	if e.Stats().Reloads != 1 {
		t.Errorf("reloads = %d", e.Stats().Reloads)
	}
}

func TestReloadSwapIsAtomicUnderLoad(t *testing.T) {
	e, dir := newEngine(t, map[string]string{"p.rego": allowAll}, Config{CacheSize: 64})
	revOf := sync.Map{}
	revOf.Store(e.Revision(), "v1")
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				st := customerEmail()
				st.Summary = fmt.Sprint(w, i%50)
				d, err := e.Decide(ctx, analystID(), st)
				if err != nil || !d.Allow {
					bad.Add(1)
					continue
				}
				// The reason must be the one of the revision the decision
				// claims: never a mix.
				if want, ok := revOf.Load(d.Revision); !ok || want != d.Reason {
					bad.Add(1)
				}
			}
		})
	}
	for i := 2; i <= 20; i++ {
		v := fmt.Sprintf("v%d", i)
		writeFile(t, dir, "p.rego", strings.ReplaceAll(allowAll, "v1", v))
		fset, err := readFiles([]string{dir})
		if err != nil {
			t.Fatal(err)
		}
		rev, _ := revisionOf(fset, nil)
		revOf.Store(rev, v)
		if err := e.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // let decisions overlap each revision
		if i%5 == 0 {
			writeFile(t, dir, "p.rego", "package pgveil\ndecision := {")
			_ = e.Reload(ctx)
		}
	}
	close(stop)
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d inconsistent or failed decisions during reloads", n)
	}
}

func TestRunPicksUpFileEditsWithin2s(t *testing.T) {
	var logs lockedBuffer
	e, dir := newEngine(t, map[string]string{"p.rego": allowAll}, Config{Logger: logs.logger()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	}()
	waitFor := func(what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 2*time.Second {
			if cond() {
				return time.Since(start)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s not picked up within 2s", what)
		return 0
	}
	reason := func() string {
		d, _ := e.Decide(context.Background(), analystID(), customerEmail())
		return d.Reason
	}
	writeFile(t, dir, "p.rego", strings.ReplaceAll(allowAll, "v1", "edited"))
	el := waitFor("edit", func() bool { return reason() == "edited" })
	t.Logf("edit took effect after %s", el)

	rev := e.Revision()
	writeFile(t, dir, "p.rego", "package pgveil\n\ndecision := {\"allow\": }\n")
	waitFor("broken edit report", func() bool { return e.LastError() != nil })
	if e.Revision() != rev || reason() != "edited" {
		t.Fatal("broken policy replaced the one in force")
	}
	// A new file in a new directory is picked up too.
	writeFile(t, dir, "p.rego", allowAll)
	writeFile(t, dir, "sub/more.rego", "package pgveil\n\nextra := 1\n")
	waitFor("repair", func() bool { return e.LastError() == nil && reason() == "v1" && len(e.Modules()) == 2 })
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
