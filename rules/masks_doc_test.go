package rules

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated table in MASKS.md")

// TestMasksDoc keeps the per-type table of MASKS.md in step with
// compileColumn: the table is generated from the code. Run
// `go test ./rules -run TestMasksDoc -update` after changing a mask.
func TestMasksDoc(t *testing.T) {
	const begin, end = "<!-- BEGIN GENERATED: go test ./rules -run TestMasksDoc -update -->\n", "<!-- END GENERATED -->\n"
	doc, err := os.ReadFile("MASKS.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("MASKS.md lacks the generated-table markers")
	}
	table := masksTable()
	if got := s[i+len(begin) : j]; got != table {
		if *update {
			s = s[:i+len(begin)] + table + s[j:]
			if err := os.WriteFile("MASKS.md", []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("MASKS.md is out of date; run go test ./rules -run TestMasksDoc -update\n%s", table)
	}
}

func masksTable() string {
	rows := []struct {
		types string
		oid   uint32
	}{
		{"text, varchar, char, name, unknown, `TextTypes`", oidText},
		{"json", oidJSON},
		{"jsonb", oidJSONB},
		{"int2, int4, int8", oidInt4},
		{"numeric", oidNumeric},
		{"float4, float8", oidFloat8},
		{"bool", oidBool},
		{"date", oidDate},
		{"timestamp", oidTimestamp},
		{"timestamptz", oidTimestamptz},
		{"time", oidTime},
		{"timetz", oidTimetz},
		{"uuid", oidUUID},
		{"inet", oidInet},
		{"cidr", oidCIDR},
		{"bytea", oidBytea},
		{"text[], varchar[], char[], name[]", 1009},
		{"other built-in arrays", 1007},
		{"any other type", 0},
	}
	actions := []Action{ActionNull, ActionRedact, ActionLast4, ActionEmail, ActionHash, ActionYear, ActionIPPrefix, ActionScrub}
	var b strings.Builder
	b.WriteString("| type | null | redact | partial / last4 | email | hash | year | ip_prefix | scrub |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		b.WriteString("| " + r.types + " |")
		ti := lookupType(r.oid, -1, nil)
		for _, a := range actions {
			text := describeOp(compileColumn(Mask{Action: a}, ti, false))
			bin := describeOp(compileColumn(Mask{Action: a}, ti, true))
			cell := text
			if bin != text && !(strings.HasPrefix(text, "`") && bin == "(binary encoding)") {
				cell += " (binary: " + bin + ")"
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func describeOp(pc planCol) string {
	switch pc.op {
	case opNull:
		return "NULL"
	case opConst:
		if pc.bin && pc.fam != famText && pc.fam != famJSON {
			return "(binary encoding)"
		}
		if pc.fam == famJSONB && pc.bin {
			return "`" + string(pc.konst[1:]) + "`"
		}
		return "`" + string(pc.konst) + "`"
	case opPartial:
		return "`*******4567`"
	case opEmail:
		return "`j***@example.com`"
	case opHashText:
		return "`h_` + 16 hex"
	case opHashJSON:
		return "JSON string `\"h_…\"`"
	case opHashInt:
		return "integer pseudonym ≥ 0"
	case opHashUUID:
		return "UUIDv8 pseudonym"
	case opHashBytea:
		return "16-byte pseudonym"
	case opYearDateText, opYearDateBinary:
		return "1 January"
	case opYearTimestampText, opYearTimestampBinary:
		return "1 January 00:00"
	case opYearText:
		return "year `1985`"
	case opIPText, opIPBinary:
		return "/24 or /48 network"
	case opScrubText:
		return "tags"
	case opScrubJSON, opScrubJSONB:
		return "tags in strings"
	}
	return "?"
}
