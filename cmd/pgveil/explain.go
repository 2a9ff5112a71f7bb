package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/policy"
	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/rules"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// runExplain implements `pgveil explain`: for an identity and a SQL text it
// prints, per statement, the policy input, the policy's result, the
// decision and the mask of every result column, without running anything.
func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML) (required)")
	user := fs.String("user", "", "the user Postgres would authenticate (required)")
	var roles stringList
	fs.Var(&roles, "role", "a role the user is a member of (repeatable); if none is given, they are read from the database")
	database := fs.String("database", "", "database name (default: control_dsn's)")
	app := fs.String("app", "", "application_name")
	addr := fs.String("addr", "127.0.0.1", "client IP address")
	tlsSubject := fs.String("tls-subject", "", "TLS client certificate subject (implies a TLS session)")
	session := fs.Bool("session", false, "explain the session decision (data.pgveil.session) instead of a statement")
	asJSON := fs.Bool("json", false, "print one JSON document per statement")
	noDB := fs.Bool("no-db", false, "do not connect to control_dsn: no schema (lineage unknown) and no role lookup")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: pgveil explain --config pgveil.yaml --user U [--role R ...] [--app A] [--addr IP] "SQL"`)
		fmt.Fprintln(stderr, `       pgveil explain --config pgveil.yaml --user U --session`)
		fmt.Fprintln(stderr, "\nShows the policy input, the decision and the per-column masks for a statement, without running it.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sql := strings.Join(fs.Args(), " ")
	if *configPath == "" || *user == "" || (sql == "" && !*session) || (sql != "" && *session) {
		fs.Usage()
		return 2
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
		return 2
	}
	cat, err := loadRules(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
		return 1
	}
	pcfg := enginePolicyConfig(cfg, cat, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if len(pcfg.Paths) == 0 && pcfg.Bundle.URL == "" {
		fmt.Fprintf(stderr, "pgveil explain: %s configures no policy (policy.paths or policy.bundle.url)\n", *configPath)
		return 1
	}
	engine, err := policy.NewEngine(ctx, pcfg)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
		return 1
	}

	id := rules.Identity{User: *user, Database: *database, ApplicationName: *app, ClientAddr: *addr}
	if *tlsSubject != "" {
		id.TLS = rules.TLSInfo{Enabled: true, Subject: *tlsSubject}
	}
	snap := analyze.NewSnapshot(&analyze.Schema{}, nil, analyze.Trust{})
	useDB := cfg.ControlDSN != "" && !*noDB
	if useDB {
		if id.Database == "" {
			if pc, err := pgx.ParseConfig(cfg.ControlDSN); err == nil {
				id.Database = pc.Database
			}
		}
		if !*session {
			if snap, err = loadSnapshot(ctx, cfg.ControlDSN, cat); err != nil {
				fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
				return 1
			}
		}
		if len(roles) == 0 {
			rl, err := policy.NewRoleLookup(policy.RoleLookupConfig{DSN: cfg.ControlDSN, Timeout: 10 * time.Second})
			if err != nil {
				fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
				return 1
			}
			r, err := rl.Roles(ctx, *user)
			rl.Close()
			if err != nil {
				fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
				return 1
			}
			roles = r
		}
	} else if !*session {
		fmt.Fprintln(stderr, "pgveil explain: no schema (no control_dsn, or --no-db): every relation is unknown, so lineage is unknown")
	}
	if !slices.Contains(roles, *user) {
		roles = append(roles, *user)
	}
	slices.Sort(roles)
	id.Roles = slices.Compact(roles)

	if *session {
		ex, err := engine.Explain(ctx, &id, nil)
		if err != nil {
			fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
			return 1
		}
		printExplanation(stdout, *asJSON, "session", ex, nil, cat)
		return 0
	}
	a, err := analyze.New(analyze.Config{})
	if err != nil {
		fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
		return 1
	}
	stmts := a.AnalyzeWith(snap, sql)
	for i, st := range stmts {
		ex, err := engine.Explain(ctx, &id, st)
		if err != nil {
			fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
			return 1
		}
		title := fmt.Sprintf("statement %d of %d: %s", i+1, len(stmts), st.Summary)
		if st.Summary == "" {
			title = fmt.Sprintf("statement %d of %d: %s", i+1, len(stmts), st.Kind)
		}
		printExplanation(stdout, *asJSON, title, ex, st, cat)
	}
	return 0
}

// explainedColumn is one result column and its mask.
type explainedColumn struct {
	Name    string   `json:"name"`
	Mask    string   `json:"mask"`
	Sources []string `json:"sources,omitempty"`
	Direct  bool     `json:"direct"`
	Unknown bool     `json:"unknown,omitempty"`
}

type explainedDecision struct {
	Allow      bool              `json:"allow"`
	Reason     string            `json:"reason,omitempty"`
	Reveal     []string          `json:"reveal,omitempty"`
	Masks      map[string]string `json:"masks,omitempty"`
	RowFilters map[string]string `json:"row_filters,omitempty"`
	Revision   string            `json:"revision"`
	Error      string            `json:"error,omitempty"`
}

type explainedStatement struct {
	Title    string            `json:"title"`
	Input    json.RawMessage   `json:"input"`
	Result   json.RawMessage   `json:"result"`
	Decision explainedDecision `json:"decision"`
	// Columns are the masks of the result columns (nil when the statement
	// returns no rows or the analysis cannot tell its columns).
	Columns []explainedColumn `json:"columns,omitempty"`
	// ResultUnknown is true when the statement returns rows whose columns
	// the analysis cannot tell: the proxy masks every one of them as derived
	// from personal data unless the decision reveals everything.
	ResultUnknown bool `json:"result_columns_unknown,omitempty"`
}

func printExplanation(w io.Writer, asJSON bool, title string, ex *policy.Explanation, st *rules.Statement, cat *rules.Catalog) {
	es := explainedStatement{
		Title:  title,
		Input:  ex.Input,
		Result: ex.Result,
		Decision: explainedDecision{
			Allow: ex.Decision.Allow, Reason: ex.Decision.Reason, Reveal: ex.Decision.Reveal,
			Masks: ex.Decision.Masks, RowFilters: ex.Decision.RowFilters, Revision: ex.Decision.Revision,
		},
	}
	if ex.Err != nil {
		es.Decision.Error = ex.Err.Error()
	}
	if es.Result == nil {
		es.Result = json.RawMessage("null")
	}
	if st != nil && ex.Decision.Allow {
		for _, o := range st.Outputs {
			c := explainedColumn{Name: o.Name, Mask: ex.Decision.OutputMask(cat, o).String(), Direct: o.Direct, Unknown: o.Unknown}
			for _, s := range o.Sources {
				c.Sources = append(c.Sources, s.String())
			}
			es.Columns = append(es.Columns, c)
		}
		es.ResultUnknown = st.Returns && st.Outputs == nil
	}
	if asJSON {
		b, _ := json.MarshalIndent(es, "", "  ")
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "== %s\n\n", es.Title)
	fmt.Fprintf(w, "input:\n%s\n\n", es.Input)
	fmt.Fprintf(w, "policy result:\n%s\n\n", es.Result)
	d := es.Decision
	verdict := "ALLOW"
	if !d.Allow {
		verdict = "DENY"
	}
	fmt.Fprintf(w, "decision: %s (policy revision %s)\n", verdict, d.Revision)
	if d.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", d.Reason)
	}
	if d.Error != "" {
		fmt.Fprintf(w, "  pgveil refused on the policy's behalf: %s\n", d.Error)
	}
	if len(d.Reveal) > 0 {
		fmt.Fprintf(w, "  reveal: %s\n", strings.Join(d.Reveal, ", "))
	}
	if len(d.Masks) > 0 {
		keys := make([]string, 0, len(d.Masks))
		for k := range d.Masks {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + d.Masks[k]
		}
		fmt.Fprintf(w, "  masks: %s\n", strings.Join(parts, ", "))
	}
	for t, f := range d.RowFilters {
		fmt.Fprintf(w, "  row filter on %s: %s\n", t, f)
	}
	if len(es.Columns) > 0 {
		fmt.Fprintln(w, "\nresult columns:")
		width := 0
		for _, c := range es.Columns {
			width = max(width, len(c.Name))
		}
		for _, c := range es.Columns {
			from := "from no column"
			switch {
			case c.Unknown:
				from = "lineage unknown"
			case len(c.Sources) > 0 && c.Direct:
				from = "= " + strings.Join(c.Sources, ", ")
			case len(c.Sources) > 0:
				from = "derived from " + strings.Join(c.Sources, ", ")
			}
			fmt.Fprintf(w, "  %-*s  %-10s %s\n", width, c.Name, c.Mask, from)
		}
	}
	if es.ResultUnknown {
		fmt.Fprintln(w, "\nresult columns: unknown to the analysis; each is masked as derived from personal data unless the decision reveals everything")
	}
	fmt.Fprintln(w)
}
