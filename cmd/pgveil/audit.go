package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/pgveil/pgveil/audit"
)

// runAudit is `pgveil audit`: tools for reading the audit trail.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		auditUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "pseudonym":
		return runAuditPseudonym(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "pgveil audit: unknown subcommand %q\n\n", args[0])
	auditUsage(stderr)
	return 2
}

func auditUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: pgveil audit pseudonym --config pgveil.yaml VALUE...")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  pseudonym  print the pseudonym under which audit spans record a data")
	fmt.Fprintln(w, "             subject (pgveil.subjects), e.g. of customer 42")
}

// runAuditPseudonym prints, one per line, the audit pseudonym of each
// subject-key value (as PostgreSQL prints it: "42", a UUID in lower case),
// so that an auditor can search spans for a data subject. Values come from
// the arguments, or from standard input (one per line) when the only
// argument is "-". The key is masking.hash_key_file of the config, read as
// `pgveil serve` reads it; the key id goes to stderr.
func runAuditPseudonym(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit pseudonym", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML) whose masking.hash_key_file keys the pseudonyms")
	keyFile := fs.String("key-file", "", "the key file itself (instead of --config)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pgveil audit pseudonym (--config pgveil.yaml | --key-file FILE) VALUE... | -")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	values := fs.Args()
	if len(values) == 0 {
		fs.Usage()
		return 2
	}
	key, err := auditKey(*configPath, *keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil audit pseudonym: %v\n", err)
		return 1
	}
	p, err := audit.NewPseudonymizer(key)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil audit pseudonym: %v\n", err)
		return 1
	}
	if len(values) == 1 && values[0] == "-" {
		values = nil
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			values = append(values, strings.TrimRight(sc.Text(), "\r"))
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintf(stderr, "pgveil audit pseudonym: stdin: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "key id %s (pgveil.subjects.key_id)\n", p.KeyID())
	w := bufio.NewWriter(stdout)
	for _, v := range values {
		fmt.Fprintln(w, p.Pseudonym(v))
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

// auditKey reads the pseudonym key the way `pgveil serve` does: the raw
// bytes of masking.hash_key_file (from which audit derives its own key).
func auditKey(configPath, keyFile string) ([]byte, error) {
	switch {
	case keyFile != "" && configPath != "":
		return nil, errors.New("give --config or --key-file, not both")
	case keyFile != "":
		return os.ReadFile(keyFile)
	case configPath == "":
		return nil, errors.New("--config or --key-file is required")
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	if cfg.Masking.HashKeyFile == "" {
		return nil, fmt.Errorf("%s sets no masking.hash_key_file: pgveil then keys pseudonyms with a random key per process, which nobody can compute", configPath)
	}
	return loadHashKey(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}
