package analytics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
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

	// The SQL that lives in Go rather than in .sql files, so that it is checked too, and the
	// query pack: every analyst query bound with its test parameters, the seeded rows, and a file
	// for chdb's results, compared below with the same expectations as TestQueryPackOnServer.
	resultsFile := filepath.Join(t.TempDir(), "pack_results.json")
	goSQL, err := json.Marshal(map[string]any{
		"insert_columns": map[string][]string{
			"llm_requests": requestColumns, "llm_attempts": attemptColumns, "llm_audit_events": auditColumns,
			"llm_bodies": bodyColumns,
		},
		"record_migration":   recordMigrationSQL,
		"applied_migrations": appliedMigrationsSQL,
		"retention": map[string]string{
			"partitions": bodyPartitionsSQL, "drop": dropBodyPartitionSQL,
		},
		"pack": map[string]any{
			"inserts":      packInserts(t),
			"queries":      boundPackQueries(t),
			"results_file": resultsFile,
		},
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

	raw, err := os.ReadFile(resultsFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var results map[string][][]any
	if err := dec.Decode(&results); err != nil {
		t.Fatal(err)
	}
	for _, c := range packCases() {
		rows, ok := results[c.name]
		if !ok {
			t.Errorf("%s: no result from chdb", c.name)
			continue
		}
		got := make([][]string, len(rows))
		for i, row := range rows {
			got[i] = make([]string, len(row))
			for j, v := range row {
				got[i][j] = jsonCell(t, v)
			}
		}
		if c.want == nil {
			c.want = [][]string{}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s on chdb:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// jsonCell renders a JSONCompact value like FormatValue renders the server's: numbers (64-bit
// integers arrive quoted, as strings) through float64, so 2 and 2.0 both read "2".
func jsonCell(t *testing.T, v any) string {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			t.Fatalf("JSON number %q: %v", x, err)
		}
		return FormatValue(f)
	case string:
		return x
	case nil:
		return "nan" // JSON output writes nan and inf as null
	}
	return fmt.Sprint(v)
}
