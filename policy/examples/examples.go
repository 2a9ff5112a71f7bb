// Package examples holds pgveil's example policy for the demo dataset
// (pgveil.rego) and its Rego unit tests (pgveil_test.rego), embedded so that
// `pgveil demo` can write them out and the policy package can test them.
//
// The policy shows one profile per demo role: app_service, support_agent,
// analyst, dpo and marketing, plus what identities no rule names get; read
// the comment at the top of pgveil.rego for the summary.
package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FS holds the example policy files at its root.
//
//go:embed *.rego
var FS embed.FS

// Files returns the names of the example files, sorted.
func Files() []string {
	entries, _ := fs.ReadDir(FS, ".") // the embedded root always reads
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// WriteTo writes the example files into dir (created if missing, mode
// 0755), each with mode 0644, replacing files of the same name.
func WriteTo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write example policies: %w", err)
	}
	for _, name := range Files() {
		b, err := FS.ReadFile(name)
		if err != nil {
			return fmt.Errorf("write example policies: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write example policies: %w", err)
		}
	}
	return nil
}
