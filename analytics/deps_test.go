package analytics

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces the package doc: analytics depends on schemas and third-party code
// only, never on the Kafka edges, the router, the adapters or the binary.
func TestImportDirection(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/switchyard-llm/switchyard"
	allowed := map[string]bool{module + "/analytics": true, module + "/schemas": true}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, module+"/") && !allowed[pkg] {
			t.Errorf("analytics imports %s; it may import only schemas from this module", pkg)
		}
	}
}
