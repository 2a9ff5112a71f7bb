package subject_test

import (
	"os"
	"testing"

	"github.com/pgveil/pgveil/rules/internal/demotest"
)

func TestMain(m *testing.M) { os.Exit(demotest.Main(m, demoOptions)) }

var (
	demoOptions = demotest.BatchOptions
	demoDB      = demotest.DB
	connect     = demotest.Connect
	testCtx     = demotest.Ctx
)

type fakeTracer = demotest.Tracer
