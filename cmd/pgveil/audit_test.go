package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgveil/pgveil/audit"
)

func TestAuditPseudonym(t *testing.T) {
	dir := t.TempDir()
	key := []byte("\x00\x01binary-key-with-a-newline\n")
	if err := os.WriteFile(filepath.Join(dir, "hash.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "pgveil.yaml")
	if err := os.WriteFile(cfg, []byte("upstream: 127.0.0.1:5432\nmasking:\n  hash_key_file: hash.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := audit.NewPseudonymizer(key) // what serve passes to audit.Config.PseudonymKey
	if err != nil {
		t.Fatal(err)
	}
	want := p.Pseudonym("42") + "\n" + p.Pseudonym("43") + "\n"

	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"config", []string{"--config", cfg, "42", "43"}, ""},
		{"key file", []string{"--key-file", filepath.Join(dir, "hash.key"), "42", "43"}, ""},
		{"stdin", []string{"--config", cfg, "-"}, "42\n43\r\n"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := runAuditPseudonym(context.Background(), tt.args, strings.NewReader(tt.stdin), &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d: %s", tt.name, code, errb.String())
		}
		if out.String() != want {
			t.Errorf("%s: got %q, want %q", tt.name, out.String(), want)
		}
		if !strings.Contains(errb.String(), p.KeyID()) {
			t.Errorf("%s: stderr %q lacks the key id", tt.name, errb.String())
		}
	}

	noKey := filepath.Join(dir, "nokey.yaml")
	os.WriteFile(noKey, []byte("upstream: 127.0.0.1:5432\n"), 0o600)
	var out, errb bytes.Buffer
	if code := runAuditPseudonym(context.Background(), []string{"--config", noKey, "42"}, nil, &out, &errb); code == 0 || !strings.Contains(errb.String(), "hash_key_file") {
		t.Errorf("no key: exit %d, %q", code, errb.String())
	}
	if code := run([]string{"audit", "nonsense"}, &out, &errb); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}
