package analytics

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSQLOnCurrentClickHouse runs chdb_check.py: bootstrap.sql and every migration (twice), the
// schema_migrations statements and the sink's INSERT column lists from Go, the views'
// deduplication and every analyst query on the current ClickHouse engine
// embedded in chdb (pip install chdb). It skips when python3 or chdb is missing, and fails instead
// under SWITCHYARD_REQUIRE_SERVICES=1.
func TestSQLOnCurrentClickHouse(t *testing.T) {
	missing := func(why string) {
		t.Helper()
		if requireServices() {
			t.Fatalf("SWITCHYARD_REQUIRE_SERVICES=1 but %s: cannot check the SQL on current ClickHouse", why)
		}
		t.Skipf("chdb check skipped: %s (pip install chdb)", why)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		missing("python3 is not in PATH")
	}
	if out, err := exec.Command(py, "-c", "import chdb").CombinedOutput(); err != nil {
		missing("python3 cannot import chdb: " + string(out))
	}

	// The SQL that lives in Go rather than in .sql files, so that it is checked too.
	goSQL, err := json.Marshal(map[string]any{
		"insert_columns": map[string][]string{
			"llm_requests": requestColumns, "llm_attempts": attemptColumns, "llm_audit_events": auditColumns,
		},
		"record_migration":   recordMigrationSQL,
		"applied_migrations": appliedMigrationsSQL,
	})
	if err != nil {
		t.Fatal(err)
	}
	goSQLFile := filepath.Join(t.TempDir(), "go_sql.json")
	if err := os.WriteFile(goSQLFile, goSQL, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "chdb_check.py", "--go-sql", goSQLFile).CombinedOutput()
	t.Logf("chdb_check.py:\n%s", out)
	if err != nil {
		t.Fatalf("chdb_check.py failed: %v", err)
	}
}
