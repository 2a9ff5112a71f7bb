package policy

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// rolesSetup creates the roles the RoleLookup integration test reads:
// alice is in team, team is in staff (alice reaches staff indirectly).
const rolesSetup = `
CREATE ROLE staff NOLOGIN;
CREATE ROLE team NOLOGIN IN ROLE staff;
CREATE ROLE alice LOGIN IN ROLE team;
CREATE ROLE "Mixed Case" LOGIN;
`

func TestMain(m *testing.M) {
	// The shared Postgres serves the RoleLookup and explain/check
	// integration tests; without PostgreSQL binaries they skip (and fail
	// under CI=true, the project's rule).
	code := pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) error {
		return s.Exec(context.Background(), "postgres", rolesSetup)
	})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}
