package policy

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pgveil/pgveil/rules"
)

// decisionCase is one entry of testdata/cases/*.yaml: an identity and a
// statement analysis (or a session), and the decision the example policy
// must return for them with the demo classification.
type decisionCase struct {
	Note     string       `yaml:"note"`
	Session  bool         `yaml:"session"`
	Identity caseIdentity `yaml:"identity"`
	Now      string       `yaml:"now"`
	Stmt     struct {
		Kind         string `yaml:"kind"`
		Summary      string `yaml:"summary"`
		Tables       []string
		Columns      []caseColumn `yaml:"columns"`
		Opaque       bool         `yaml:"opaque"`
		OpaqueReason string       `yaml:"opaque_reason"`
		ServerCopy   bool         `yaml:"server_copy"`
		CatalogData  bool         `yaml:"catalog_data"`
		CopyFormat   string       `yaml:"copy_format"`
	} `yaml:"statement"`
	WantAllow          bool              `yaml:"want_allow"`
	WantMasks          map[string]string `yaml:"want_masks"`
	WantReasonContains string            `yaml:"want_reason_contains"`
	// WantRevealsAll asserts Decision.RevealsAll over the demo catalog.
	WantRevealsAll bool `yaml:"want_reveals_all"`
	// WantRowFilters asserts the decision's row filters (table -> predicate).
	WantRowFilters map[string]string `yaml:"want_row_filters"`
	// WantUnrestricted, if set, asserts Decision.Unrestricted.
	WantUnrestricted *bool `yaml:"want_unrestricted"`
}

type caseIdentity struct {
	User            string   `yaml:"user"`
	Database        string   `yaml:"database"`
	ApplicationName string   `yaml:"application_name"`
	ClientAddr      string   `yaml:"client_addr"`
	TLSSubject      string   `yaml:"tls_subject"`
	Roles           []string `yaml:"roles"`
}

func (ci caseIdentity) identity() rules.Identity {
	id := rules.Identity{User: ci.User, Database: ci.Database, ApplicationName: ci.ApplicationName,
		ClientAddr: ci.ClientAddr, Roles: slices.Clone(ci.Roles)}
	if ci.TLSSubject != "" {
		id.TLS = rules.TLSInfo{Enabled: true, Subject: ci.TLSSubject}
	}
	if id.Database == "" {
		id.Database = "demo"
	}
	if id.ClientAddr == "" {
		id.ClientAddr = "127.0.0.1"
	}
	slices.Sort(id.Roles)
	return id
}

type caseColumn struct {
	Table    string   `yaml:"table"`
	Column   string   `yaml:"column"`
	Category string   `yaml:"category"`
	Uses     []string `yaml:"uses"`
}

func parseUses(t *testing.T, names []string) rules.Use {
	var u rules.Use
	for _, n := range names {
		found := false
		for bit := rules.UseOutput; bit <= rules.UseCopy; bit <<= 1 {
			if bit.Names()[0] == n {
				u |= bit
				found = true
			}
		}
		if !found {
			t.Fatalf("unknown use %q", n)
		}
	}
	return u
}

func loadCases(t *testing.T) map[string][]decisionCase {
	files, err := filepath.Glob("testdata/cases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files: %v", err)
	}
	out := map[string][]decisionCase{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		var cs []decisionCase
		if err := dec.Decode(&cs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = cs
	}
	return out
}

// TestDecisionCases runs the decision tests as data against the example
// policy.
func TestDecisionCases(t *testing.T) {
	cat := demoCatalog(t)
	var now time.Time
	e := newExampleEngine(t, Config{Now: func() time.Time { return now }, RowFilters: true})
	all := loadCases(t)
	total := 0
	roles := map[string]bool{}
	for file, cases := range all {
		for _, c := range cases {
			total++
			for _, r := range c.Identity.Roles {
				roles[r] = true
			}
			t.Run(strings.TrimSuffix(file, ".yaml")+"/"+c.Note, func(t *testing.T) {
				now = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
				if c.Now != "" {
					var err error
					if now, err = time.Parse(time.RFC3339, c.Now); err != nil {
						t.Fatal(err)
					}
				}
				id := c.Identity.identity()
				var d rules.Decision
				var err error
				if c.Session {
					d, err = e.DecideSession(context.Background(), &id)
				} else {
					st := c.statement(t, cat)
					d, err = e.Decide(context.Background(), &id, st)
				}
				if err != nil {
					t.Fatalf("decide: %v", err)
				}
				if d.Allow != c.WantAllow {
					t.Errorf("allow = %v (reason %q), want %v", d.Allow, d.Reason, c.WantAllow)
				}
				if !strings.Contains(d.Reason, c.WantReasonContains) {
					t.Errorf("reason = %q, want it to contain %q", d.Reason, c.WantReasonContains)
				}
				if d.Revision != e.Revision() {
					t.Errorf("revision = %q, want %q", d.Revision, e.Revision())
				}
				for key, want := range c.WantMasks {
					i := strings.LastIndexByte(key, '.')
					ref := rules.ColumnRef{Table: key[:i], Column: key[i+1:]}
					category, ok := cat.Classify(ref)
					if !ok {
						t.Fatalf("want_masks names %s, which the demo catalog does not classify", key)
					}
					if got := d.MaskFor(ref, category).String(); got != want {
						t.Errorf("mask of %s = %s, want %s", key, got, want)
					}
				}
				if c.WantRowFilters != nil && !maps.Equal(d.RowFilters, c.WantRowFilters) {
					t.Errorf("row filters = %v, want %v", d.RowFilters, c.WantRowFilters)
				}
				if c.WantUnrestricted != nil && d.Unrestricted != *c.WantUnrestricted {
					t.Errorf("unrestricted = %v, want %v", d.Unrestricted, *c.WantUnrestricted)
				}
				if c.WantRevealsAll && !d.RevealsAll(cat) {
					t.Errorf("decision does not reveal every column: %+v", d)
				}
			})
		}
	}
	if total < 40 {
		t.Errorf("%d decision cases, want at least 40", total)
	}
	for _, r := range []string{"app_service", "support_agent", "analyst", "dpo", "marketing"} {
		if !roles[r] {
			t.Errorf("no decision case for role %s", r)
		}
	}
}

// statement builds the rules.Statement a case describes, checking that the
// categories it claims are the demo catalog's.
func (c *decisionCase) statement(t *testing.T, cat *rules.Catalog) *rules.Statement {
	t.Helper()
	st := &rules.Statement{
		Kind:         rules.Kind(c.Stmt.Kind),
		Summary:      c.Stmt.Summary,
		Tables:       c.Stmt.Tables,
		Opaque:       c.Stmt.Opaque,
		OpaqueReason: c.Stmt.OpaqueReason,
		ServerCopy:   c.Stmt.ServerCopy,
		CatalogData:  c.Stmt.CatalogData,
		CopyFormat:   c.Stmt.CopyFormat,
		Returns:      c.Stmt.Kind == "select",
	}
	if st.Kind == "" {
		t.Fatal("case statement has no kind")
	}
	for _, col := range c.Stmt.Columns {
		ref := rules.ColumnRef{Table: col.Table, Column: col.Column}
		got, _ := cat.Classify(ref)
		if got != col.Category {
			t.Fatalf("case says %s is %q; the demo catalog says %q", ref, col.Category, got)
		}
		u := parseUses(t, col.Uses)
		st.Columns = append(st.Columns, rules.ColumnUse{ColumnRef: ref, Uses: u})
		if u&rules.UseOutput != 0 {
			st.Outputs = append(st.Outputs, rules.Output{Name: col.Column, Sources: []rules.ColumnRef{ref}, Direct: true})
		}
	}
	return st
}
