#!/usr/bin/env python3
"""Run every analytics SQL file against current ClickHouse through chdb (in-process ClickHouse).

The same files run on the Debian ClickHouse server (18.16) through Migrate and the integration
tests; this script proves they also run unchanged on the current engine. It:

  1. runs analytics/bootstrap.sql and applies analytics/migrations/*.sql in order, recording them in
     schema_migrations as Migrate does, twice (every statement must be idempotent);
  2. inserts one row per table, twice, with the sink's explicit column lists, plus a second distinct
     row, and checks that each v_* view shows 2 rows, not 3;
  3. runs analytics/queries/*.sql and checks each returns rows (queries with parameters only as
     bound by the Go test, see --go-sql);
  4. checks the bodies retention statements (list day partitions, drop one);
  5. the query pack: in a fresh database, runs the seeded INSERTs and every bound analyst query, and
     writes each query's rows (JSONCompact "data") to a results file, which the Go test compares
     with the same expected values as on the 18.16 server.

--go-sql FILE (written by TestSQLOnCurrentClickHouse) is a JSON object with the statements that
live in Go code: {"insert_columns": {table: [column, ...]}, "record_migration": "INSERT INTO ...
(cols)", "applied_migrations": "SELECT ...", "retention": {"partitions": SQL, "drop": SQL},
"pack": {"inserts": [SQL], "queries": {case: SQL}, "results_file": PATH}}. Without it, every column
without a DEFAULT is inserted, the schema_migrations statements below are used, and steps 4-5 and the
queries with parameters are skipped.

Statements are split like analytics.SplitStatements: a statement ends with a line ending in ';',
whole-line '--' comments are dropped. ${database} is replaced with the database name.
Exits non-zero on the first failure, naming the file and statement.
"""

import argparse
import json
import pathlib
import sys
import tempfile

try:
    import chdb
    from chdb import session as chs
except ImportError as e:  # the Go test checks importability first; this is for direct callers
    print(f"chdb is not importable: {e} (pip install chdb)", file=sys.stderr)
    sys.exit(2)

HERE = pathlib.Path(__file__).resolve().parent
DB = "switchyard_chdb_check"
PACK_DB = "switchyard_chdb_pack"
TABLES = {"llm_requests": "v_requests", "llm_attempts": "v_attempts", "llm_audit_events": "v_audit_events",
          "llm_bodies": "v_bodies"}
KEYS = {"llm_requests": "request_id", "llm_attempts": "attempt_id", "llm_audit_events": "event_id",
        "llm_bodies": "request_id"}


def split_statements(sql):
    out, cur = [], []
    for line in sql.split("\n"):
        t = line.strip()
        if t.startswith("--"):
            continue
        cur.append(line.rstrip())
        if t.endswith(";"):
            s = "\n".join(cur).strip().rstrip(";").strip()
            if s:
                out.append(s)
            cur = []
    s = "\n".join(cur).strip().rstrip(";").strip()
    if s:
        out.append(s)
    return out


def run(sess, sql, where, fmt="CSV"):
    try:
        return sess.query(sql, fmt)
    except Exception as e:  # chdb raises its own error types; report them all the same way
        print(f"FAIL {where}\n{sql}\n{e}", file=sys.stderr)
        sys.exit(1)


def literal(column, ctype, key_value):
    if column == "status":  # the latency query reads answered requests only
        return "'ok'"
    if ctype == "String":
        return f"'{key_value}'"
    if ctype.startswith("DateTime"):
        return "toDateTime(1700000000, 'UTC')"
    if ctype.startswith(("Int", "UInt", "Float")):
        return "1"
    raise ValueError(f"no sample literal for type {ctype}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--go-sql", help="JSON file with the SQL that lives in Go code (see module doc)")
    args = ap.parse_args()
    go_sql = json.loads(pathlib.Path(args.go_sql).read_text()) if args.go_sql else {}
    columns = go_sql.get("insert_columns", {})
    record_sql = go_sql.get("record_migration", "INSERT INTO ${database}.schema_migrations (version, name, checksum)")
    applied_sql = go_sql.get("applied_migrations", "SELECT version, checksum FROM ${database}.schema_migrations FINAL")

    sess = chs.Session(tempfile.mkdtemp(prefix="chdb_check_"))
    print("chdb engine version:", run(sess, "SELECT version()", "version", "TSV").bytes().decode().strip())

    migrations = sorted((HERE / "migrations").glob("*.sql"))
    queries = sorted((HERE / "queries").glob("*.sql"))
    if not migrations or not queries:
        print("FAIL: no migration or query files found", file=sys.stderr)
        sys.exit(1)

    # As analytics.Migrate does: bootstrap, apply, record (round 1), read back; round 2 re-applies
    # every statement to prove each is idempotent on its own (a migration interrupted half-way).
    bootstrap = HERE / "bootstrap.sql"
    for rnd in (1, 2):
        for i, stmt in enumerate(split_statements(bootstrap.read_text().replace("${database}", DB)), 1):
            run(sess, stmt, f"bootstrap.sql statement {i} (round {rnd})")
        for f in migrations:
            for i, stmt in enumerate(split_statements(f.read_text().replace("${database}", DB)), 1):
                run(sess, stmt, f"{f.name} statement {i} (round {rnd})")
            if rnd == 1:
                version = int(f.name.split("_", 1)[0])
                run(sess, record_sql.replace("${database}", DB) + f" VALUES ({version}, '{f.name}', 'x')", f"record {f.name}")
        print(f"migrations applied (round {rnd}):", ", ".join(f.name for f in migrations))
    applied = run(sess, applied_sql.replace("${database}", DB), "read schema_migrations")
    if len(applied.bytes().decode().strip().splitlines()) != len(migrations):
        print(f"FAIL schema_migrations: want {len(migrations)} rows, got {applied.bytes()!r}", file=sys.stderr)
        sys.exit(1)

    for table, view in TABLES.items():
        desc = run(sess, f"SELECT name, type, default_kind FROM system.columns WHERE database = '{DB}' AND table = '{table}'",
                   f"describe {table}", "JSONCompact")
        types = {r[0]: r[1] for r in json.loads(desc.bytes())["data"]}
        cols = columns.get(table) or [r[0] for r in json.loads(desc.bytes())["data"] if r[2] == ""]
        missing = [c for c in cols if c not in types]
        if missing:
            print(f"FAIL {table}: insert columns not in table: {missing}", file=sys.stderr)
            sys.exit(1)
        for key in ("a", "a", "b"):  # "a" twice: a re-delivery
            values = ", ".join(literal(c, types[c], key) for c in cols)
            run(sess, f"INSERT INTO {DB}.{table} ({', '.join(cols)}) VALUES ({values})", f"insert into {table}")
        got = run(sess, f"SELECT count(), uniqExact({KEYS[table]}) FROM {DB}.{view}", f"count {view}").bytes().decode().strip()
        if got != "2,2":
            print(f"FAIL {view}: want 2 deduplicated rows (2 distinct ids), got count,ids = {got}", file=sys.stderr)
            sys.exit(1)
        print(f"{table}: {len(cols)} insert columns ok, {view} deduplicates (3 inserted, 2 shown)")

    pack = go_sql.get("pack", {})
    for f in queries:
        stmts = split_statements(f.read_text().replace("${database}", DB))
        if len(stmts) != 1:
            print(f"FAIL {f.name}: want one statement, got {len(stmts)}", file=sys.stderr)
            sys.exit(1)
        sql, bound_query = stmts[0], "${" in stmts[0]
        if bound_query:  # parameters: run it as the Go test bound it
            bound = pack.get("queries", {}).get(f.stem)
            if bound is None:
                print(f"{f.name}: has parameters and no bound text (run through the Go test): skipped")
                continue
            sql = bound.replace("${database}", DB)
        out = run(sess, sql, f.name).bytes().decode().strip()
        if not out and bound_query:  # bound for the pack's dates; its results are checked in step 5
            print(f"{f.name}: ok (ran; results checked by the pack)")
            continue
        if not out:
            print(f"FAIL {f.name}: no rows over sample data", file=sys.stderr)
            sys.exit(1)
        print(f"{f.name}: ok ({len(out.splitlines())} rows)")

    for view in ("v_cost_hourly", "v_latency_hourly"):
        run(sess, f"SELECT * FROM {DB}.{view}", view)
        print(f"{view}: ok")
    retention = go_sql.get("retention")
    if retention:
        parts = retention["partitions"].replace("${database_name}", f"'{DB}'")
        days = run(sess, parts, "retention: list partitions", "TSV").bytes().decode().split()
        if days != ["20231114"]:
            print(f"FAIL retention: llm_bodies partitions {days}, want ['20231114']", file=sys.stderr)
            sys.exit(1)
        run(sess, retention["drop"].replace("${database}", DB).replace("${day}", days[0]), "retention: drop partition")
        left = run(sess, f"SELECT count() FROM {DB}.llm_bodies", "retention: count").bytes().decode().strip()
        if left != "0":
            print(f"FAIL retention: {left} rows left after dropping the only day", file=sys.stderr)
            sys.exit(1)
        print("retention: list and drop of llm_bodies day partitions ok")

    if pack:
        for f in [bootstrap] + migrations:
            for i, stmt in enumerate(split_statements(f.read_text().replace("${database}", PACK_DB)), 1):
                run(sess, stmt, f"pack: {f.name} statement {i}")
        for i, stmt in enumerate(pack["inserts"], 1):
            run(sess, stmt.replace("${database}", PACK_DB), f"pack: insert {i}")
        results = {}
        for name, sql in sorted(pack["queries"].items()):
            out = run(sess, sql.replace("${database}", PACK_DB), f"pack: {name}", "JSONCompact").bytes()
            results[name] = json.loads(out)["data"]
            print(f"pack {name}: {len(results[name])} rows")
        pathlib.Path(pack["results_file"]).write_text(json.dumps(results))

    print("all SQL ran on chdb")


if __name__ == "__main__":
    main()
