package otelcoltest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDistVersion keeps DistVersion in step with the manifest build.sh
// builds from, which decides the cache path Binary looks at.
func TestDistVersion(t *testing.T) {
	b, err := os.ReadFile("../otelcol/manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  version: *(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no dist.version in manifest.yaml")
	}
	if got := string(m[1]); got != DistVersion {
		t.Fatalf("manifest dist.version %s, DistVersion %s", got, DistVersion)
	}
}

func postSpan(t *testing.T, c *Collector, name string) {
	t.Helper()
	body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"otelcoltest"}}]},"scopeSpans":[{"scope":{"name":"test"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":%q,"kind":3,"startTimeUnixNano":"1795471488500315871","endTimeUnixNano":"1795471488505315871","attributes":[{"key":"n","value":{"intValue":"7"}},{"key":"l","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}}]}]}]}]}`, name)
	resp, err := http.Post("http://"+c.HTTPEndpoint()+"/v1/traces", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/traces: %s", resp.Status)
	}
}

func TestCollectorRestartKeepsFile(t *testing.T) {
	c := Run(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	postSpan(t, c, "first")
	spans, err := c.WaitSpans(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := spans[0]
	if s.Name != "first" || s.Scope != "test" || s.TraceID != "5b8efff798038103d269b633813fc60c" {
		t.Fatalf("span = %+v", s)
	}
	if n, ok := s.Int("n"); !ok || n != 7 {
		t.Errorf("n = %d, %v", n, ok)
	}
	if got := s.Strings("l"); strings.Join(got, ",") != "a,b" {
		t.Errorf("l = %q", got)
	}

	start := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatal("running after Stop")
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(start))
	postSpan(t, c, "second")
	spans, err = c.WaitSpans(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if spans[0].Name != "first" || spans[1].Name != "second" {
		t.Fatalf("names = %q, %q", spans[0].Name, spans[1].Name)
	}
}
