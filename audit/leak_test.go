package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgveil/pgveil/audit/otelcoltest"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/demo"
)

// TestNoPersonalDataExported is the leak oracle over exported spans: events
// whose subject keys are the demo dataset's personal values (a table may
// well use an e-mail address as its subject key) go through the whole
// export path (queue, spool, pgveil's own OTLP/JSON file exporter), and no
// personal value, nor any 6-byte fragment of one (case-insensitive), may
// appear in a span's name, status or attribute values. Subject pseudonyms
// must be exactly the keyed HMAC of their value.
//
// Free-text values (ticket bodies) share words with the schema ("address"
// in client.address, "customer" in public.customers). The oracle is
// therefore differential: the same events with made-up subject keys are
// exported first, and fragments that occur in those control spans (the
// schema, SQL and identity vocabulary) are not evidence of a leak.
func TestNoPersonalDataExported(t *testing.T) {
	ds := demo.Generate(demo.Options{})
	values := ds.PersonalValues()
	if len(values) < 1000 {
		t.Fatalf("only %d personal values", len(values))
	}
	control := make([]string, len(values))
	for i := range control {
		control[i] = fmt.Sprintf("subject-%06d", i)
	}
	controlSpans, _ := exportLeakEvents(t, ds, control)
	spans, events := exportLeakEvents(t, ds, values)
	if len(spans) != events {
		t.Fatalf("%d spans exported, want %d", len(spans), events)
	}
	ps := testPseudonymizer(t)
	pseudonymOf := map[string]string{}
	for _, v := range values {
		pseudonymOf[ps.Pseudonym(v)] = v
	}
	for _, c := range ds.Customers[:20] {
		id := strconv.FormatInt(c.ID, 10)
		pseudonymOf[ps.Pseudonym(id)] = id
	}

	const frag = 6
	safe := map[string]bool{}
	for _, s := range controlSpans {
		for _, txt := range slicesWithout(s.Texts(), s.Strings(string(AttrSubjects))) {
			lt := strings.ToLower(txt)
			for i := 0; i+frag <= len(lt); i++ {
				safe[lt[i:i+frag]] = true
			}
		}
	}

	fragments := map[string]string{} // fragment -> a value it comes from
	var short []string
	for _, v := range values {
		lv := strings.ToLower(v)
		if len(lv) < frag {
			short = append(short, lv)
			continue
		}
		for i := 0; i+frag <= len(lv); i++ {
			if !safe[lv[i:i+frag]] {
				fragments[lv[i:i+frag]] = v
			}
		}
	}
	pseudonymRE := regexp.MustCompile(`^s_[0-9a-f]{32}$`)
	checked := 0
	for _, s := range spans {
		for _, p := range s.Strings(string(AttrSubjects)) {
			if !pseudonymRE.MatchString(p) {
				t.Fatalf("subject %q is not a pseudonym", p)
			}
			if _, ok := pseudonymOf[p]; !ok {
				t.Fatalf("subject %q is no subject key's keyed pseudonym", p)
			}
		}
		// Pseudonyms are HMAC outputs (checked above); their hex may
		// contain a digit run that also occurs in a phone number.
		for _, txt := range slicesWithout(s.Texts(), s.Strings(string(AttrSubjects))) {
			lt := strings.ToLower(txt)
			checked++
			for i := 0; i+frag <= len(lt); i++ {
				if v, ok := fragments[lt[i:i+frag]]; ok {
					t.Fatalf("span %q: %q contains %q, a fragment of the personal value %q", s.Name, txt, lt[i:i+frag], v)
				}
			}
			for _, v := range short {
				if lt == v {
					t.Fatalf("span %q: attribute value %q is a personal value", s.Name, txt)
				}
			}
		}
	}
	t.Logf("%d spans, %d personal values as subject keys, %d strings checked against %d fragments (%d schema fragments set aside)",
		len(spans), len(values), checked, len(fragments), len(safe))
}

// exportLeakEvents traces events whose subject keys are keys (50 per
// event; the Tracer keeps up to 100), in statements of several kinds and
// outcomes, plus 20 events keyed by customer ids, through pgveil's file
// exporter with a spool, and reads the spans back.
func exportLeakEvents(t *testing.T, ds *demo.Dataset, keys []string) ([]otelcoltest.Span, int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "spans.jsonl")
	tr := e2eTracerFile(t, file)
	kinds := []struct {
		kind    rules.Kind
		summary string
		outcome string
	}{
		{rules.KindSelect, "SELECT public.customers", proxy.OutcomeOK},
		{rules.KindUpdate, "UPDATE public.customers", proxy.OutcomeOK},
		{rules.KindCopyTo, "COPY public.messages", proxy.OutcomeOK},
		{rules.KindSelect, "SELECT public.tickets", proxy.OutcomeDenied},
		{rules.KindDelete, "DELETE public.invoices", proxy.OutcomeError},
	}
	events := 0
	for i := 0; i < len(keys); i += 50 {
		page := keys[i:min(i+50, len(keys))]
		k := kinds[events%len(kinds)]
		ev := seqEvent(events)
		ev.Statement.Kind, ev.Statement.Summary = k.kind, k.summary
		ev.Statement.Tables = []string{strings.Fields(k.summary)[1]}
		ev.Statement.Normalized = strings.ToLower(k.summary) + " WHERE email = $1 AND full_name LIKE $2"
		ev.Outcome = k.outcome
		if k.outcome != proxy.OutcomeOK {
			ev.SQLState = "42501"
		}
		ev.SubjectKeys = page
		ev.SubjectCount = int64(len(page))
		tr.TraceStatement(context.Background(), ev)
		events++
	}
	// Customer ids are subject keys too (not personal values themselves).
	for _, c := range ds.Customers[:20] {
		ev := seqEvent(events)
		ev.SubjectKeys = []string{strconv.FormatInt(c.ID, 10)}
		tr.TraceStatement(context.Background(), ev)
		events++
	}
	if err := tr.Shutdown(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}

	spans, err := otelcoltest.ReadSpans(file)
	if err != nil {
		t.Fatal(err)
	}
	return spans, events
}

// slicesWithout returns s without the elements of drop (each once).
func slicesWithout(s, drop []string) []string {
	out := s[:0:0]
	skip := map[string]int{}
	for _, d := range drop {
		skip[d]++
	}
	for _, x := range s {
		if skip[x] > 0 {
			skip[x]--
			continue
		}
		out = append(out, x)
	}
	return out
}

// e2eTracerFile is a Tracer exporting to pgveil's own JSON-lines file
// exporter, with a spool.
func e2eTracerFile(t testing.TB, file string) *Tracer {
	t.Helper()
	tr, err := New(context.Background(), Config{Exporter: ExporterFile, File: file, SpoolDir: t.TempDir(), PseudonymKey: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	return tr
}
