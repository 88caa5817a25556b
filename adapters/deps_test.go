package adapters_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/switchyard-llm/switchyard"

// TestDependencies enforces the layering inside adapters: a provider package imports only
// schemas, adapters, adapters/sse, adapters/internal/httpx and adapters/toolschema from the
// project, and no third-party module (it speaks its provider's wire format itself); the simulator
// imports nothing from the project but internal/jsonw (a JSON string writer no adapter uses, so
// the simulator still checks the adapters with code of its own); httpx only adapters, sse and schemas; toolschema's only
// third-party import is its JSON Schema validator.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goBin, "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, module+"/adapters/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	provider := map[string]bool{
		module + "/schemas": true, module + "/adapters": true, module + "/adapters/sse": true,
		module + "/adapters/internal/httpx": true, module + "/adapters/toolschema": true,
	}
	providers := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		rel := strings.TrimPrefix(pkg, module+"/")
		var projectOK func(string) bool
		thirdPartyOK := func(string) bool { return false }
		switch rel {
		case "adapters":
			projectOK = func(d string) bool { return d == module+"/schemas" }
		case "adapters/sse":
			projectOK = func(string) bool { return false }
		case "adapters/sim":
			projectOK = func(d string) bool { return d == module+"/internal/jsonw" }
		case "adapters/internal/httpx":
			projectOK = func(d string) bool {
				return d == module+"/adapters" || d == module+"/adapters/sse" || d == module+"/schemas"
			}
		case "adapters/toolschema":
			projectOK = func(d string) bool { return d == module+"/schemas" }
			thirdPartyOK = func(d string) bool { return strings.HasPrefix(d, "github.com/santhosh-tekuri/jsonschema/") }
		case "adapters/adaptertest":
			continue // test support: it may use anything the suite needs
		default:
			projectOK = func(d string) bool { return provider[d] }
			providers++
		}
		for _, dep := range strings.Fields(imports) {
			first, _, _ := strings.Cut(dep, "/")
			switch {
			case strings.HasPrefix(dep, module+"/"):
				if !projectOK(dep) {
					t.Errorf("%s must not import %s", rel, dep)
				}
			case strings.Contains(first, ".") && !thirdPartyOK(dep):
				t.Errorf("%s imports the third-party package %s", rel, dep)
			}
		}
	}
	if providers == 0 {
		t.Error("no provider package found")
	}
}
