package analytics

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The statements of the bodies retention; TestSQLOnCurrentClickHouse hands them to chdb_check.py.
const (
	bodyPartitionsSQL    = "SELECT DISTINCT partition FROM system.parts WHERE database = ${database_name} AND table = 'llm_bodies' AND active"
	dropBodyPartitionSQL = "ALTER TABLE ${database}.llm_bodies DROP PARTITION ${day}"
)

// PruneBodies drops the day partitions of database.llm_bodies that lie wholly before now - ttl,
// and returns the days dropped (YYYYMMDD). This is the bodies' retention: 18.16 has no TTL
// clause, so llm_bodies is partitioned by day and whole days are dropped. ttl <= 0 drops nothing.
func PruneBodies(ctx context.Context, conn driver.Conn, database string, ttl time.Duration, now time.Time) ([]uint32, error) {
	if ttl <= 0 {
		return nil, nil
	}
	if database == "" {
		database = DefaultDatabase
	}
	if err := validDatabase(database); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, prunePartitionsQuery(database))
	if err != nil {
		return nil, fmt.Errorf("analytics: prune bodies: %w", err)
	}
	var days []uint32
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, fmt.Errorf("analytics: prune bodies: %w", err)
		}
		day, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			continue // not a partition this package made
		}
		days = append(days, uint32(day))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: prune bodies: %w", err)
	}
	cutoff := now.Add(-ttl).UTC()
	var dropped []uint32
	for _, day := range days {
		start, err := time.Parse("20060102", strconv.FormatUint(uint64(day), 10))
		if err != nil || start.Add(24*time.Hour).After(cutoff) {
			continue
		}
		if err := conn.Exec(ctx, dropPartitionQuery(database, day)); err != nil {
			return dropped, fmt.Errorf("analytics: prune bodies: drop day %d: %w", day, err)
		}
		dropped = append(dropped, day)
	}
	return dropped, nil
}

func prunePartitionsQuery(database string) string {
	q, _ := BindQuery(bodyPartitionsSQL, Params{"database_name": database}) // validDatabase already passed
	return q
}

func dropPartitionQuery(database string, day uint32) string {
	q, _ := BindQuery(withDatabase(dropBodyPartitionSQL, database), Params{"day": uint64(day)})
	return q
}
