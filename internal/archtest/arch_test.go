// Package archtest holds the test that keeps the import rules of the project: dependencies
// point one way, toward schemas, and only cmd/switchyard names concrete adapters.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/switchyard-llm/switchyard"

// allowed lists, per package (by path below the module), the project packages it may depend
// on, directly or through others. Every package must be listed.
var allowed = map[string][]string{
	"schemas":                    {},
	"adapters":                   {"schemas"},
	"adapters/sse":               {},
	"adapters/internal/httpx":    {"adapters", "adapters/sse", "schemas"},
	"adapters/toolschema":        {"schemas"},
	"adapters/openai":            {"adapters", "adapters/internal/httpx", "adapters/sse", "adapters/toolschema", "schemas"},
	"adapters/anthropic":         {"adapters", "adapters/internal/httpx", "adapters/sse", "adapters/toolschema", "schemas"},
	"adapters/gemini":            {"adapters", "adapters/internal/httpx", "adapters/sse", "adapters/toolschema", "schemas"},
	"adapters/sim":               {"adapters/sse", "internal/jsonw", "schemas"},
	"adapters/adaptertest":       {"adapters", "adapters/sim", "internal/jsonw", "schemas"},
	"router":                     {"schemas"},
	"router/internal/complexity": {"router", "schemas"},
	"router/evalset":             {"schemas"},
	"router/internal/gendata":    {"router", "router/evalset", "router/internal/complexity", "schemas"},
	"router/internal/train":      {"router", "router/internal/complexity", "schemas"},
	"producers":                  {"schemas"},
	"analytics":                  {"schemas"},
	"analytics/dashboard":        {"analytics", "schemas"},
	"consumers":                  {"producers", "schemas"},
	"gateway":                    {"internal/jsonw", "internal/recent", "producers", "schemas"},
	"resilience":                 {"adapters", "schemas"},
	"consumers/roles":            {"adapters", "adapters/toolschema", "internal/recent", "producers", "resilience", "router", "schemas"},
	"internal/config":            {"resilience", "adapters", "router", "schemas"},
	"internal/promtest":          {},
	"internal/jsonw":             {},
	"internal/recent":            {},
	"cmd/switchyard":             {"*"},
}

// providerSDKs are the official clients used in tests to check the simulator's wire formats;
// no shipped code may depend on them.
var providerSDKs = []string{"github.com/openai/openai-go", "github.com/anthropics/anthropic-sdk-go", "google.golang.org/genai"}

type pkg struct {
	ImportPath string
	Deps       []string
}

func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if strings.HasPrefix(rel, "internal/archtest") {
			continue
		}
		seen++
		rules, ok := allowed[rel]
		if !ok {
			t.Errorf("package %s has no import rule: add it to allowed", rel)
			continue
		}
		if len(rules) == 1 && rules[0] == "*" {
			continue
		}
		for _, d := range p.Deps {
			if strings.Contains(d, "/kfake") || strings.Contains(d, "/srfake") {
				t.Errorf("%s depends on the test double %s outside tests", rel, d)
			}
			for _, sdk := range providerSDKs {
				if strings.HasPrefix(d, sdk) {
					t.Errorf("%s depends on the provider SDK %s outside tests: adapters speak the wire format themselves", rel, d)
				}
			}
			if !strings.HasPrefix(d, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(d, module+"/")
			if !contains(rules, dep) {
				t.Errorf("%s must not depend on %s (allowed: %v)", rel, dep, rules)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d packages listed: the rule check saw too little", seen)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
