package schemas

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var updateAuditDocs = flag.Bool("update-audit-docs", false, "rewrite docs/audit-events.md from the audit catalogue")

const auditDocPath = "../docs/audit-events.md"

// attrKinds are the kinds an attribute may declare.
var attrKinds = []string{"string", "int", "float", "bool", "duration_us"}

// commonFields are the fields every audit event carries, in the order of audit_event.avsc.
var commonFields = [][2]string{
	{"event_id", "deterministic id, so a re-delivered input yields the same ids and copies collapse"},
	{"request_id", "the request (empty for health events, which belong to no request)"},
	{"tenant_id", "the request's tenant (empty for health events)"},
	{"ts", "when the event was made, Unix microseconds"},
	{"type", "the event type, one of this catalogue"},
	{"stage", "the pipeline stage that emitted it"},
	{"provider", "the provider concerned, empty if none"},
	{"model", "the pinned model concerned, empty if none"},
	{"duration_us", "the duration the event measures, 0 if none"},
}

// renderAuditDocs renders docs/audit-events.md from Catalog.
func renderAuditDocs() string {
	var b strings.Builder
	b.WriteString("# Audit events\n\n")
	b.WriteString("<!-- Generated from schemas.Catalog (schemas/audit_catalog.go); do not edit.\n")
	b.WriteString("     Rewrite with: go test ./schemas -run TestAuditEventsDocIsCurrent -update-audit-docs -->\n\n")
	fmt.Fprintf(&b, "Every event goes to `llm.audit`, keyed by its request id, as an `AuditEvent` (schemas/audit_event.avsc). "+
		"The catalogue declares %d event types. Attribute values travel as strings in `attrs`; each attribute's kind says how to read it. "+
		"No event carries prompt text, answer text, tool arguments or secrets.\n\n", len(Catalog))
	b.WriteString("## Common fields\n\n| Field | Meaning |\n|---|---|\n")
	for _, f := range commonFields {
		fmt.Fprintf(&b, "| `%s` | %s |\n", f[0], f[1])
	}
	b.WriteString("\n## Contents\n\n")
	for _, st := range Stages {
		var names []string
		for _, e := range Catalog {
			if e.Stage == st {
				names = append(names, fmt.Sprintf("[`%s`](#%s)", e.Type, anchor(e.Type)))
			}
		}
		if len(names) > 0 {
			fmt.Fprintf(&b, "- **%s** (%d): %s\n", st, len(names), strings.Join(names, ", "))
		}
	}
	for _, st := range Stages {
		first := true
		for _, e := range Catalog {
			if e.Stage != st {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n## Stage %s\n", st)
				first = false
			}
			fmt.Fprintf(&b, "\n### %s\n\nStage `%s`. %s\n\n", e.Type, e.Stage, e.Doc)
			if len(e.Attrs) == 0 {
				b.WriteString("No attributes beyond the common fields.\n")
				continue
			}
			b.WriteString("| Attribute | Kind | Meaning |\n|---|---|---|\n")
			for _, a := range e.Attrs {
				fmt.Fprintf(&b, "| `%s` | %s | %s |\n", a.Name, a.Kind, strings.ReplaceAll(a.Doc, "|", `\|`))
			}
		}
	}
	return b.String()
}

// anchor is the GitHub heading anchor of an event type's heading.
func anchor(typ string) string {
	return strings.ReplaceAll(typ, ".", "")
}

// docs/audit-events.md is what the catalogue declares.
func TestAuditEventsDocIsCurrent(t *testing.T) {
	want := renderAuditDocs()
	got, err := os.ReadFile(auditDocPath)
	if err != nil && !*updateAuditDocs {
		t.Fatalf("%v: run go test ./schemas -run TestAuditEventsDocIsCurrent -update-audit-docs", err)
	}
	if string(got) == want {
		return
	}
	if *updateAuditDocs {
		if err := os.WriteFile(auditDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale: run go test ./schemas -run TestAuditEventsDocIsCurrent -update-audit-docs", auditDocPath)
}

var (
	typeName = regexp.MustCompile(`^[a-z][a-z_]*\.[a-z][a-z_]*$`)
	attrName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// The catalogue declares each type once, with a known stage, a meaning and typed, documented,
// snake_case attributes that do not shadow the common fields; there are at least 64, and
// every stage has some.
func TestAuditCatalogIsWellFormed(t *testing.T) {
	if len(Catalog) < 64 {
		t.Errorf("the catalogue declares %d event types, want at least 64", len(Catalog))
	}
	common := map[string]bool{}
	for _, f := range commonFields {
		common[f[0]] = true
	}
	seen := map[string]bool{}
	for _, e := range Catalog {
		switch {
		case !typeName.MatchString(e.Type):
			t.Errorf("type %q: want <noun>.<snake_case>", e.Type)
		case seen[e.Type]:
			t.Errorf("type %q declared twice", e.Type)
		}
		seen[e.Type] = true
		if !slices.Contains(Stages, e.Stage) {
			t.Errorf("%s: unknown stage %q", e.Type, e.Stage)
		}
		if len(strings.TrimSpace(e.Doc)) < 20 || !strings.HasSuffix(e.Doc, ".") {
			t.Errorf("%s: its meaning %q is not a sentence", e.Type, e.Doc)
		}
		attrs := map[string]bool{}
		for _, a := range e.Attrs {
			switch {
			case !attrName.MatchString(a.Name):
				t.Errorf("%s: attribute %q is not snake_case", e.Type, a.Name)
			case attrs[a.Name]:
				t.Errorf("%s: attribute %q declared twice", e.Type, a.Name)
			case common[a.Name]:
				t.Errorf("%s: attribute %q shadows a common field", e.Type, a.Name)
			}
			attrs[a.Name] = true
			if !slices.Contains(attrKinds, a.Kind) {
				t.Errorf("%s.%s: kind %q, want one of %v", e.Type, a.Name, a.Kind, attrKinds)
			}
			if strings.TrimSpace(a.Doc) == "" {
				t.Errorf("%s.%s: no meaning", e.Type, a.Name)
			}
		}
	}
	for _, st := range Stages {
		n := 0
		for _, e := range Catalog {
			if e.Stage == st {
				n++
			}
		}
		if n == 0 {
			t.Errorf("stage %s has no event type", st)
		}
	}
}
