package policy

import (
	"context"
	"testing"
)

func TestExampleRegoUnitTests(t *testing.T) {
	e := newExampleEngine(t, Config{})
	res, err := e.RunTests(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 20 {
		t.Errorf("ran %d Rego tests, want at least 20", len(res))
	}
	for _, r := range res {
		if r.Failed() {
			t.Errorf("%s %s.%s failed: %v\n%s", r.Location, r.Package, r.Name, r.Err, r.Output)
		}
	}
}
