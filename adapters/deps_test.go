package adapters_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/switchyard-llm/switchyard"

// TestDependencies enforces the layering: adapter packages import only schemas and adapters/...
// from the project (the simulator nothing), and no third-party module.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	allowed := map[string]func(dep string) bool{
		module + "/adapters":                func(d string) bool { return d == module+"/schemas" },
		module + "/adapters/sse":            func(string) bool { return false },
		module + "/adapters/sim":            func(string) bool { return false },
		module + "/adapters/internal/httpx": func(d string) bool { return d == module+"/adapters" || d == module+"/schemas" },
		module + "/adapters/openai": func(d string) bool {
			return d == module+"/schemas" || d == module+"/adapters" || d == module+"/adapters/sse" || d == module+"/adapters/internal/httpx"
		},
	}
	for pkg, ok := range allowed {
		// Direct imports: the standard library plus the allowed project packages. (What schemas
		// itself imports is the schemas package's business.)
		out, err := exec.Command(goBin, "list", "-f", `{{join .Imports " "}}`, pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			first, _, _ := strings.Cut(dep, "/")
			switch {
			case strings.HasPrefix(dep, module+"/"):
				if !ok(dep) {
					t.Errorf("%s must not import %s", pkg, dep)
				}
			case strings.Contains(first, "."):
				t.Errorf("%s imports the third-party package %s: adapters use the standard library only", pkg, dep)
			}
		}
	}
}
