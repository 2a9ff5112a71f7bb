package discover_test

import (
	"os"
	"testing"

	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/internal/demotest"
)

// demoTemplate holds the default demo dataset; tests that change it work on
// a copy.
const demoTemplate = demotest.Template

func TestMain(m *testing.M) { os.Exit(demotest.Main(m, demo.Options{})) }

var (
	connect = demotest.Connect
	testCtx = demotest.Ctx
)
