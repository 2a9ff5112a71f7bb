package policy

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
)

// bundleServer serves an OPA bundle tarball with an ETag and counts
// requests and 304 answers.
type bundleServer struct {
	mu       sync.Mutex
	tarball  []byte
	etag     string
	status   int // if not 0, answer this instead
	requests atomic.Int64
	notMod   atomic.Int64
	auth     atomic.Value // last Authorization header
}

func (s *bundleServer) set(t testing.TB, revision, rego string, data map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: revision},
		Modules:  []bundle.ModuleFile{{Path: "/pgveil/policy.rego", URL: "/pgveil/policy.rego", Raw: []byte(rego)}},
		Data:     data,
	}
	if data == nil {
		b.Data = map[string]any{}
	}
	if err := bundle.NewWriter(&buf).DisableFormat(true).Write(b); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tarball = buf.Bytes()
	s.etag = `"` + revision + `"`
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.auth.Store(r.Header.Get("Authorization"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	if r.Header.Get("If-None-Match") == s.etag {
		s.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Content-Type", "application/gzip")
	_, _ = w.Write(s.tarball)
}

func TestBundlePolling(t *testing.T) {
	srv := &bundleServer{}
	srv.set(t, "r1", allowAll, map[string]any{"teams": map[string]any{"lead": "ana"}})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	var logs lockedBuffer
	ctx := context.Background()
	e, err := NewEngine(ctx, Config{
		Bundle: BundleConfig{URL: hs.URL + "/bundles/pgveil.tar.gz?token=secret", Poll: 20 * time.Millisecond,
			Headers: map[string]string{"Authorization": "Bearer t0ken"}},
		Logger: logs.logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.Revision(), "r1@") || e.Stats().BundleRevision != "r1" {
		t.Fatalf("revision = %q", e.Revision())
	}
	if got := srv.auth.Load(); got != "Bearer t0ken" {
		t.Errorf("Authorization = %v", got)
	}
	if mods := e.Modules(); len(mods) != 1 || mods[0] != "bundle:pgveil/policy.rego" {
		t.Errorf("modules = %v", mods)
	}

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Unchanged bundle: 304s, no reload.
	waitUntil("304 answers", func() bool { return srv.notMod.Load() >= 2 })
	if e.Stats().Reloads != 0 {
		t.Fatal("reloaded an unchanged bundle")
	}
	// New revision: swapped in.
	srv.set(t, "r2", `package pgveil

decision := {"allow": true, "reason": data.teams.lead}
`, map[string]any{"teams": map[string]any{"lead": "bo"}})
	waitUntil("r2", func() bool { return strings.HasPrefix(e.Revision(), "r2@") })
	d, err := e.Decide(ctx, analystID(), customerEmail())
	if err != nil || d.Reason != "bo" || d.Revision != e.Revision() {
		t.Fatalf("decision = %+v, %v", d, err)
	}
	// A broken bundle keeps r2 and is reported.
	srv.set(t, "r3", "package pgveil\n\ndecision := {", nil)
	waitUntil("r3 failure", func() bool { return e.LastError() != nil })
	if !strings.HasPrefix(e.Revision(), "r2@") {
		t.Fatalf("revision = %q after a broken bundle", e.Revision())
	}
	if !strings.Contains(e.LastError().Error(), "pgveil/policy.rego:3") {
		t.Errorf("error does not name the module: %v", e.LastError())
	}
	// A server error keeps r2 too, and the URL's query is not logged.
	srv.mu.Lock()
	srv.status = http.StatusInternalServerError
	srv.mu.Unlock()
	waitUntil("server error", func() bool {
		err := e.LastError()
		return err != nil && strings.Contains(err.Error(), "500")
	})
	if strings.Contains(logs.String(), "secret") {
		t.Error("bundle URL query leaked into the log")
	}
	srv.mu.Lock()
	srv.status = 0
	srv.mu.Unlock()
	srv.set(t, "r4", allowAll, nil)
	waitUntil("r4", func() bool { return strings.HasPrefix(e.Revision(), "r4@") && e.LastError() == nil })
}

func TestBundleFailsAtStartup(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	_, err := NewEngine(context.Background(), Config{Bundle: BundleConfig{URL: hs.URL}})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewEngine(context.Background(), Config{Bundle: BundleConfig{URL: "ftp://x"}}); err == nil {
		t.Error("ftp URL accepted")
	}
}

func TestBundleAndFilesTogether(t *testing.T) {
	srv := &bundleServer{}
	srv.set(t, "b1", "package pgveil.lib\n\nreason := \"from bundle\"\n", nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	dir := t.TempDir()
	writeFile(t, dir, "p.rego", "package pgveil\n\ndecision := {\"allow\": true, \"reason\": data.pgveil.lib.reason}\n")
	e, err := NewEngine(context.Background(), Config{Paths: []string{dir}, Bundle: BundleConfig{URL: hs.URL}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), analystID(), customerEmail())
	if err != nil || d.Reason != "from bundle" {
		t.Fatalf("decision = %+v, %v", d, err)
	}
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if srv.notMod.Load() != 1 {
		t.Errorf("reload did not send If-None-Match")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@host/b.tar.gz?x=1": "https://host/b.tar.gz",
		"http://host/a#frag":            "http://host/a",
		"http://host/a@b":               "http://host/a@b",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
