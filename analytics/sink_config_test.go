package analytics

import (
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSinkConfigListsEveryProblem(t *testing.T) {
	_, err := NewSink(SinkConfig{
		Database:        "no-dashes",
		Brokers:         []string{" "},
		ResponsesTopic:  "same",
		AuditTopic:      "same",
		BatchRows:       -1,
		FlushInterval:   -time.Second,
		RetryBackoff:    time.Second,
		MaxRetryBackoff: time.Millisecond,
	})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"Conn: required", "Database:", "Brokers[0]: empty", "both are \"same\"",
		"Decode: required", "BatchRows: -1 is negative", "FlushInterval: -1s is negative", "MaxRetryBackoff: 1ms is below"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestSinkConfigDefaults(t *testing.T) {
	var conn driver.Conn = struct{ driver.Conn }{} // never called: validation only
	cfg := SinkConfig{Conn: conn, Brokers: []string{"127.0.0.1:1"}, Decode: func(string, []byte, []kgo.RecordHeader) (any, error) { return nil, nil }}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.Database, cfg.Group, cfg.ResponsesTopic, cfg.AuditTopic, cfg.BatchRows, cfg.BatchBytes,
		cfg.FlushInterval, cfg.RetryBackoff, cfg.MaxRetryBackoff, cfg.InsertTimeout, cfg.ShutdownTimeout, cfg.Logger != nil}
	want := []any{"switchyard", "switchyard-analytics", "llm.responses", "llm.audit", 5000, 16 << 20,
		time.Second, 100 * time.Millisecond, 5 * time.Second, 30 * time.Second, 10 * time.Second, true}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default %d: got %v, want %v", i, got[i], want[i])
		}
	}
}
