package policy

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/pgveil/pgveil/policy/examples"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/demo"
)

// demoCatalog is the demo dataset's classification.
func demoCatalog(t testing.TB) *rules.Catalog {
	t.Helper()
	c, err := rules.ParseCatalog(demo.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newExampleEngine compiles the example policies (written to a temp dir)
// with the demo catalog; cfg's zero fields get those defaults.
func newExampleEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	dir := t.TempDir()
	if err := examples.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	if cfg.Paths == nil {
		cfg.Paths = []string{dir}
	}
	if cfg.Catalog == nil {
		cat := demoCatalog(t)
		cfg.Catalog = func() *rules.Catalog { return cat }
	}
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// writeFile writes name under dir.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (l *lockedBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, nil))
}
