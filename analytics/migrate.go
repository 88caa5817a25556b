package analytics

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDatabase is the database Migrate and the sink use when none is given.
const DefaultDatabase = "switchyard"

// databasePlaceholder is replaced with the database name in every embedded SQL file. The same files
// run against chdb (analytics/chdb_check.py), which substitutes it the same way.
const databasePlaceholder = "${database}"

//go:embed migrations/*.sql
var migrationFS embed.FS

//go:embed bootstrap.sql
var bootstrapSQL string

// The statements Migrate uses on schema_migrations besides bootstrap.sql. TestSQLOnCurrentClickHouse
// hands this same text to chdb_check.py.
const (
	recordMigrationSQL   = "INSERT INTO ${database}.schema_migrations (version, name, checksum)"
	appliedMigrationsSQL = "SELECT version, checksum FROM ${database}.schema_migrations FINAL"
)

// Migration is one embedded DDL file, applied at most once per database.
type Migration struct {
	Version    uint32   // from the file name's numeric prefix, e.g. 1 for 0001_init.sql
	Name       string   // file name
	Checksum   string   // hex SHA-256 of the file as embedded
	Statements []string // with ${database} still in place
}

// Migrations returns the embedded migrations in the order they are applied.
func Migrations() ([]Migration, error) {
	return loadMigrations(migrationFS, "migrations")
}

var migrationName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("analytics: read migrations: %w", err)
	}
	var out []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("analytics: migration file %q: want NNNN_name.sql", e.Name())
		}
		v, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("analytics: migration file %q: bad version", e.Name())
		}
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("analytics: migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[uint32(v)] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("analytics: read migration %q: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		stmts := SplitStatements(string(body))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("analytics: migration %q has no statements", e.Name())
		}
		out = append(out, Migration{Version: uint32(v), Name: e.Name(), Checksum: hex.EncodeToString(sum[:]), Statements: stmts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// SplitStatements splits a SQL file into statements. A statement ends with a line whose last
// non-blank character is a semicolon; whole-line "--" comments are dropped (18.16 rejects a query
// that is only a comment). The semicolon is not part of the returned statement, since the native
// protocol takes one statement per query. A string literal with a semicolon at a line end would be
// split too; the embedded files have none, and chdb_check.py splits them the same way.
func SplitStatements(sql string) []string {
	var out []string
	var cur []string
	flush := func() {
		s := strings.TrimSpace(strings.Join(cur, "\n"))
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
		if s != "" {
			out = append(out, s)
		}
		cur = cur[:0]
	}
	for _, line := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") {
			continue
		}
		cur = append(cur, strings.TrimRight(line, " \t\r"))
		if strings.HasSuffix(t, ";") {
			flush()
		}
	}
	flush()
	return out
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validDatabase reports whether name can be spliced into SQL as a bare identifier. Database names
// are substituted textually (18.16 has no query parameters for identifiers), so anything else is
// rejected rather than quoted.
func validDatabase(name string) error {
	if !identifier.MatchString(name) || len(name) > 64 {
		return fmt.Errorf("analytics: database name %q: want [A-Za-z_][A-Za-z0-9_]{0,63}", name)
	}
	return nil
}

func withDatabase(sql, database string) string {
	return strings.ReplaceAll(sql, databasePlaceholder, database)
}

// Migrate brings database (DefaultDatabase when empty) up to the newest embedded migration.
//
// Applied versions are recorded in database.schema_migrations with the file's checksum; each
// migration is applied once, in version order, and re-running Migrate is a no-op. A migration whose
// file changed after it was applied is an error: write a new migration instead. Every statement is
// idempotent on its own (IF NOT EXISTS), so a migration interrupted half-way is simply re-run, and
// two processes migrating at once both succeed (schema_migrations is a ReplacingMergeTree keyed by
// version, so the doubled record collapses). ClickHouse has no transactional DDL to do better.
func Migrate(ctx context.Context, conn driver.Conn, database string) error {
	if database == "" {
		database = DefaultDatabase
	}
	if err := validDatabase(database); err != nil {
		return err
	}
	migrations, err := Migrations()
	if err != nil {
		return err
	}
	for _, q := range SplitStatements(bootstrapSQL) {
		if err := conn.Exec(ctx, withDatabase(q, database)); err != nil {
			return fmt.Errorf("analytics: migrate %s: bootstrap: %w", database, err)
		}
	}
	applied, err := appliedMigrations(ctx, conn, database)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return fmt.Errorf("analytics: migrate %s: migration %s was applied with checksum %.12s, the embedded file has %.12s: migrations are immutable, add a new one",
					database, m.Name, sum, m.Checksum)
			}
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, withDatabase(stmt, database)); err != nil {
				return fmt.Errorf("analytics: migrate %s: %s statement %d: %w", database, m.Name, i+1, err)
			}
		}
		batch, err := conn.PrepareBatch(ctx, withDatabase(recordMigrationSQL, database))
		if err != nil {
			return fmt.Errorf("analytics: migrate %s: record %s: %w", database, m.Name, err)
		}
		if err := batch.Append(m.Version, m.Name, m.Checksum); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("analytics: migrate %s: record %s: %w", database, m.Name, err)
		}
		if err := batch.Send(); err != nil {
			return fmt.Errorf("analytics: migrate %s: record %s: %w", database, m.Name, err)
		}
	}
	return nil
}

// appliedMigrations reads version → checksum of the migrations already applied to database.
func appliedMigrations(ctx context.Context, conn driver.Conn, database string) (map[uint32]string, error) {
	rows, err := conn.Query(ctx, withDatabase(appliedMigrationsSQL, database))
	if err != nil {
		return nil, fmt.Errorf("analytics: migrate %s: read schema_migrations: %w", database, err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("analytics: migrate %s: read schema_migrations: %w", database, err)
		}
		out[v] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: migrate %s: read schema_migrations: %w", database, err)
	}
	return out, nil
}
