package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules/demo"
)

// smallDemo sizes the dataset of the tests that only need the demo schema.
var smallDemo = demo.Options{Customers: 20, Messages: 40, Tickets: 20, LoginEvents: 40, Invoices: 20, Products: 5}

// startDemo starts a Postgres for the test, stopped when it ends, with the
// demo dataset generated with opts in database db. It skips the test when
// PostgreSQL is not installed, and fails it under CI=true (the project's
// rule).
func startDemo(t *testing.T, db string, opts demo.Options) (*pgtest.Server, *demo.Dataset) {
	t.Helper()
	if err := pgtest.Available(); err != nil {
		if os.Getenv(pgtest.EnvCI) == "true" {
			t.Fatalf("CI=true and %v", err)
		}
		t.Skipf("no PostgreSQL: %v", err)
	}
	ctx := context.Background()
	srv, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	if err := srv.CreateDatabase(ctx, db, ""); err != nil {
		t.Fatal(err)
	}
	ds := demo.Generate(opts)
	var sql bytes.Buffer
	if err := ds.WriteSQL(&sql); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, db, sql.String()); err != nil {
		t.Fatal(err)
	}
	return srv, ds
}
