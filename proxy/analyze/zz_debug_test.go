package analyze

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestDebug(t *testing.T) {
	q := os.Getenv("Q")
	if q == "" {
		t.Skip()
	}
	snap := testSnapshot()
	a, _ := New(Config{})
	for _, st := range a.AnalyzeWith(snap, q) {
		fmt.Printf("kind=%s summary=%q norm=%q fp=%s params=%d returns=%v opaque=%v(%s) copy=%v catalog=%v cursor=%q prepared=%q fmt=%q\n",
			st.Kind, st.Summary, st.Normalized, st.Fingerprint, st.Params, st.Returns, st.Opaque, st.OpaqueReason, st.ServerCopy, st.CatalogData, st.Cursor, st.Prepared, st.CopyFormat)
		fmt.Println("  tables:", st.Tables)
		for _, c := range st.Columns {
			fmt.Printf("  col %s %s\n", c.ColumnRef, strings.Join(c.Uses.Names(), ","))
		}
		if st.Outputs == nil {
			fmt.Println("  outputs: nil")
		}
		for i, o := range st.Outputs {
			fmt.Printf("  out%d %s direct=%v unknown=%v %v\n", i+1, o.Name, o.Direct, o.Unknown, o.Sources)
		}
		if st.Inner != nil {
			fmt.Printf("  inner: kind=%s outputs=%d opaque=%v\n", st.Inner.Kind, len(st.Inner.Outputs), st.Inner.Opaque)
		}
	}
}
