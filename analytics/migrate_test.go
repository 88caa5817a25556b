package analytics

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"comments only", "-- a\n  -- b\n", nil},
		{"two", "-- head\nCREATE DATABASE x;\n\nCREATE TABLE x.t\n(\n    a String -- inline stays\n)\nENGINE = Memory;\n",
			[]string{"CREATE DATABASE x", "CREATE TABLE x.t\n(\n    a String -- inline stays\n)\nENGINE = Memory"}},
		{"no trailing semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"semicolon mid-line does not split", "SELECT ';' AS s,\n 2;", []string{"SELECT ';' AS s,\n 2"}},
		{"crlf", "SELECT 1;\r\nSELECT 2;\r\n", []string{"SELECT 1", "SELECT 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitStatements(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatalf("got %d migrations", len(ms))
	}
	for i, m := range ms {
		if m.Version != uint32(i+1) {
			t.Errorf("migration %d (%s) has version %d: versions must be 1..n without gaps", i, m.Name, m.Version)
		}
		if len(m.Checksum) != 64 {
			t.Errorf("%s: checksum %q", m.Name, m.Checksum)
		}
	}
}

// TestSQLAvoidsNewFeatures guards the "runs unchanged on 18.16" rule offline; the integration and
// chdb tests are the real check.
func TestSQLAvoidsNewFeatures(t *testing.T) {
	forbidden := []struct {
		re, why string
	}{
		{`DateTime64`, "18.16 has no DateTime64"},
		{`\bMap\(`, "18.16 has no Map"},
		{`LowCardinality`, "experimental on 18.16"},
		{`\bJSON\b\s*[,)]`, "no JSON type on 18.16"},
		{`\bBool\b`, "18.16 has no Bool"},
		{`MergeTree\([^)]*,`, "deprecated MergeTree(date, key, granularity) syntax"},
		{`\{\w+:\w+\}`, "query parameters do not exist on 18.16"},
		{`(?i)\bINSERT INTO [\w.${}]+\s+(VALUES|SELECT)`, "INSERT needs an explicit column list"},
	}
	files := map[string][]byte{}
	for _, dir := range []string{"migrations", "queries"} {
		fsys := migrationFS
		if dir == "queries" {
			fsys = queryFS
		}
		entries, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := fsys.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			files[dir+"/"+e.Name()] = b
		}
	}
	files["bootstrap.sql"] = []byte(bootstrapSQL)
	files["(Go) recordMigrationSQL"] = []byte(recordMigrationSQL)
	files["(Go) appliedMigrationsSQL"] = []byte(appliedMigrationsSQL)
	if len(files) < 7 {
		t.Fatalf("found %d SQL files", len(files))
	}
	for name, body := range files {
		sql := strings.Join(SplitStatements(string(body)), "\n") // comments may mention anything
		for _, f := range forbidden {
			if loc := regexp.MustCompile(f.re).FindString(sql); loc != "" {
				t.Errorf("%s: %q: %s", name, loc, f.why)
			}
		}
		creates := regexp.MustCompile(`(?i)\bCREATE\s+(TABLE|VIEW|DATABASE)\s`).FindAllString(sql, -1)
		guarded := regexp.MustCompile(`(?i)\bCREATE\s+(TABLE|VIEW|DATABASE)\s+IF NOT EXISTS\s`).FindAllString(sql, -1)
		if len(creates) != len(guarded) {
			t.Errorf("%s: %d CREATE statements, %d with IF NOT EXISTS: a migration interrupted half-way is re-run", name, len(creates), len(guarded))
		}
		if !strings.Contains(sql, databasePlaceholder) {
			t.Errorf("%s: tables must be qualified with %s", name, databasePlaceholder)
		}
	}
}

func TestLoadMigrationsRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"bad name", fstest.MapFS{"m/init.sql": {Data: []byte("SELECT 1;")}}, "want NNNN_name.sql"},
		{"duplicate version", fstest.MapFS{
			"m/0001_a.sql": {Data: []byte("SELECT 1;")}, "m/001_b.sql": {Data: []byte("SELECT 1;")},
		}, "share version 1"},
		{"empty", fstest.MapFS{"m/0001_a.sql": {Data: []byte("-- nothing\n")}}, "no statements"},
		{"zero", fstest.MapFS{"m/0000_a.sql": {Data: []byte("SELECT 1;")}}, "bad version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadMigrations(tt.files, "m")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
	ms, err := loadMigrations(fstest.MapFS{
		"m/0010_c.sql": {Data: []byte("SELECT 10;")}, "m/0002_b.sql": {Data: []byte("SELECT 2;\nSELECT 3;")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 2 || ms[1].Version != 10 || len(ms[0].Statements) != 2 {
		t.Fatalf("got %+v", ms)
	}
}

func TestValidDatabase(t *testing.T) {
	for _, ok := range []string{"switchyard", "switchyard_test_ab12", "_x", "A1"} {
		if err := validDatabase(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1x", "a-b", "a.b", "a b", "x;DROP", "`x`", strings.Repeat("a", 65)} {
		if err := validDatabase(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAnalystQuery(t *testing.T) {
	q, err := AnalystQuery("cost_by_provider", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(q, "FROM switchyard.v_requests") || strings.Contains(q, "$") || strings.HasSuffix(q, ";") {
		t.Errorf("query not substituted or not trimmed:\n%s", q)
	}
	if _, err := AnalystQuery("nope", ""); err == nil {
		t.Error("unknown query accepted")
	}
	if _, err := AnalystQuery("cost_by_provider", "bad-name"); err == nil {
		t.Error("bad database accepted")
	}
}
