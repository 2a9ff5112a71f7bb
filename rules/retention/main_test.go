package retention_test

import (
	"os"
	"testing"

	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/internal/demotest"
)

// demoOptions sizes the dataset: big enough for many batches, small enough
// to copy in a blink.
var demoOptions = demo.Options{Customers: 300, Messages: 3000, Tickets: 300, LoginEvents: 1500, Invoices: 400, Products: 20}

func TestMain(m *testing.M) { os.Exit(demotest.Main(m, demoOptions)) }

var (
	demoDB  = demotest.DB
	connect = demotest.Connect
	testCtx = demotest.Ctx
)

type fakeTracer = demotest.Tracer
