package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/schemas"
)

const (
	testResponses = "llm.responses"
	testAudit     = "llm.audit"
	testGroup     = "switchyard-analytics-test"
)

// jsonDecode decodes records with encoding/json and the schemas' json tags, standing in for the
// real codec.
func jsonDecode(topic string, value []byte, _ []kgo.RecordHeader) (any, error) {
	switch topic {
	case testResponses:
		var r schemas.Response
		return &r, json.Unmarshal(value, &r)
	case testAudit:
		var e schemas.AuditEvent
		return &e, json.Unmarshal(value, &e)
	}
	return nil, fmt.Errorf("unexpected topic %q", topic)
}

type kafkaEnv struct {
	cluster *kfake.Cluster
	cl      *kgo.Client // producer
	adm     *kadm.Client
}

func newKafka(t *testing.T, partitions int32) *kafkaEnv {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, testResponses, testAudit), kfake.SeedTopics(1, testDLQ))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(testResponses))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &kafkaEnv{cluster: c, cl: cl, adm: kadm.NewClient(cl)}
}

func (k *kafkaEnv) produce(t *testing.T, topic, key string, value []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (k *kafkaEnv) produceJSON(t *testing.T, topic, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	k.produce(t, topic, key, b)
}

func (k *kafkaEnv) produceFixture(t *testing.T, f fixture, copies int) {
	t.Helper()
	for range copies {
		for _, r := range f.responses {
			k.produceJSON(t, testResponses, r.RequestID, r)
		}
	}
	for _, e := range f.audits {
		k.produceJSON(t, testAudit, e.RequestID, e)
	}
}

// committed returns the group's committed offset per "topic/partition" (absent: none).
func (k *kafkaEnv) committed(t *testing.T) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := k.adm.FetchOffsets(ctx, testGroup)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[string]int64{} // the group has not been created yet
	}
	if err != nil && !errors.Is(err, kadm.ErrEmpty) {
		t.Fatal(err)
	}
	out := map[string]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			out[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.At
		}
	})
	return out
}

// ends returns the end offset per "topic/partition" for partitions holding records.
func (k *kafkaEnv) ends(t *testing.T) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := k.adm.ListEndOffsets(ctx, testResponses, testAudit)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	resp.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			out[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.Offset
		}
	})
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type runningSink struct {
	*Sink
	cancel context.CancelFunc
	done   chan error
}

func startSink(t *testing.T, k *kafkaEnv, cfg SinkConfig) *runningSink {
	t.Helper()
	cfg.Brokers = k.cluster.ListenAddrs()
	cfg.Group = testGroup
	cfg.Decode = jsonDecode
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.ExtraOpts = append(cfg.ExtraOpts, kgo.FetchMaxWait(100*time.Millisecond))
	s, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningSink{Sink: s, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- s.Run(ctx) }()
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

// stop cancels Run and waits for it; idempotent.
func (rs *runningSink) stop(t *testing.T) error {
	t.Helper()
	rs.cancel()
	select {
	case err, ok := <-rs.done:
		if ok {
			close(rs.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Sink.Run did not return within 30s of cancel")
		return nil
	}
}

type testWriter struct{ t *testing.T }

var logMu sync.Mutex

func (w testWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestSinkCommitsOnlyAfterInsert runs the sink end to end (kfake → sink → ClickHouse) while one
// table is missing: inserts fail and are retried, other tables of the batch may already be in,
// and the group's committed offsets must not move. Once the table is back, the same batch goes in
// and the offsets reach the end of every partition.
func TestSinkCommitsOnlyAfterInsert(t *testing.T) {
	conn, db := migrated(t)
	ctx := context.Background()
	k := newKafka(t, 2)

	f := newFixture("e2e", 40)
	k.produceFixture(t, f, 2) // every response twice: an upstream re-delivery
	k.produce(t, testResponses, "junk", []byte("not json"))
	k.produceJSON(t, testResponses, "no-id", schemas.Response{TenantID: "acme"})
	k.produceJSON(t, testAudit, "no-id", schemas.AuditEvent{RequestID: "e2e-0"})
	const records = 40*2 + 80 + 3

	if err := conn.Exec(ctx, "RENAME TABLE "+db+".llm_audit_events TO "+db+".llm_audit_events_away"); err != nil {
		t.Fatal(err)
	}
	s := startSink(t, k, SinkConfig{
		Conn: conn, Database: db,
		FlushInterval: 100 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
	})

	waitFor(t, 30*time.Second, "failed insert retries", func() bool { return s.Stats().InsertErrors >= 5 })
	if got := k.committed(t); len(got) != 0 {
		t.Fatalf("offsets committed while llm_audit_events inserts fail: %v", got)
	}
	st := s.Stats()
	if st.Commits != 0 || st.Batches != 0 || st.AuditRows != 0 {
		t.Fatalf("stats while inserts fail: %+v", st)
	}
	t.Logf("while failing: %+v (llm_requests rows already in: %d)", st,
		queryUint(t, conn, "SELECT toUInt64(count()) FROM "+db+".llm_requests"))

	if err := conn.Exec(ctx, "RENAME TABLE "+db+".llm_audit_events_away TO "+db+".llm_audit_events"); err != nil {
		t.Fatal(err)
	}
	ends := k.ends(t)
	waitFor(t, 30*time.Second, "offsets committed to the end", func() bool { return reflect.DeepEqual(k.committed(t), ends) })

	for _, c := range []struct {
		q    string
		want uint64
	}{
		{"SELECT toUInt64(count()) FROM " + db + ".v_requests", 40},
		{"SELECT toUInt64(uniqExact(request_id)) FROM " + db + ".v_requests", 40},
		{"SELECT toUInt64(count()) FROM " + db + ".v_attempts", 80},
		{"SELECT toUInt64(count()) FROM " + db + ".v_audit_events", 80},
	} {
		if got := queryUint(t, conn, c.q); got != c.want {
			t.Errorf("%s = %d, want %d", c.q, got, c.want)
		}
	}
	costs, err := CostByProvider(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ProviderCost{}
	for _, c := range costs {
		got[c.Provider] = c
	}
	if want := f.costByProvider(); !reflect.DeepEqual(got, want) {
		t.Errorf("CostByProvider\n got %+v\nwant %+v", got, want)
	}

	if err := s.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st = s.Stats()
	// Each table's rows went in exactly once per batch, however often the audit insert was retried.
	if st.Records != records || st.RequestRows != 80 || st.AttemptRows != 160 || st.AuditRows != 80 ||
		st.DecodeErrors != 1 || st.InvalidRecords != 2 || st.CommitErrors != 0 || st.Commits < 1 {
		t.Errorf("stats: %+v", st)
	}
}

// TestSinkFlushesOnShutdown buffers records that no size or time trigger would flush, and checks
// that cancelling Run inserts and commits them.
func TestSinkFlushesOnShutdown(t *testing.T) {
	conn, db := migrated(t)
	k := newKafka(t, 3)
	f := newFixture("shutdown", 10)
	k.produceFixture(t, f, 1)

	s := startSink(t, k, SinkConfig{Conn: conn, Database: db, FlushInterval: time.Hour, BatchRows: 1 << 20})
	waitFor(t, 30*time.Second, "all records buffered", func() bool { return s.Stats().Records == 30 })
	if got := k.committed(t); len(got) != 0 {
		t.Fatalf("committed before any flush: %v", got)
	}
	if n := queryUint(t, conn, "SELECT toUInt64(count()) FROM "+db+".llm_requests"); n != 0 {
		t.Fatalf("%d rows inserted before any flush", n)
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := k.committed(t), k.ends(t); !reflect.DeepEqual(got, want) {
		t.Errorf("committed after shutdown %v, want %v", got, want)
	}
	if n := queryUint(t, conn, "SELECT toUInt64(count()) FROM "+db+".v_requests"); n != 10 {
		t.Errorf("v_requests after shutdown: %d, want 10", n)
	}
	if n := queryUint(t, conn, "SELECT toUInt64(count()) FROM "+db+".v_audit_events"); n != 20 {
		t.Errorf("v_audit_events after shutdown: %d, want 20", n)
	}
}

// TestSinkShutdownAbandonsWithinBudget: when ClickHouse refuses the final flush, Run still returns
// within ShutdownTimeout, reports the abandoned rows, and commits nothing.
func TestSinkShutdownAbandonsWithinBudget(t *testing.T) {
	conn, db := migrated(t)
	k := newKafka(t, 1)
	k.produceFixture(t, newFixture("abandon", 3), 1)
	if err := conn.Exec(context.Background(), "DROP TABLE "+db+".llm_requests"); err != nil {
		t.Fatal(err)
	}
	s := startSink(t, k, SinkConfig{Conn: conn, Database: db, FlushInterval: time.Hour, ShutdownTimeout: 300 * time.Millisecond,
		RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 50 * time.Millisecond})
	waitFor(t, 30*time.Second, "all records buffered", func() bool { return s.Stats().Records == 9 })
	start := time.Now()
	err := s.stop(t)
	if err == nil || !strings.Contains(err.Error(), "rows not inserted") {
		t.Fatalf("Run: got %v, want an error about rows not inserted", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v with a 300ms budget", d)
	}
	if got := k.committed(t); len(got) != 0 {
		t.Errorf("committed after a failed final flush: %v", got)
	}
}

// TestSinkFlushesBeforeRevoke: a second member joins while the first holds a batch that no trigger
// would flush; the rebalance makes the first flush and commit before its partitions move.
func TestSinkFlushesBeforeRevoke(t *testing.T) {
	conn, db := migrated(t)
	k := newKafka(t, 4)
	f := newFixture("revoke", 20)
	k.produceFixture(t, f, 1)

	cfg := SinkConfig{Conn: conn, Database: db, FlushInterval: time.Hour, BatchRows: 1 << 20}
	a := startSink(t, k, cfg)
	waitFor(t, 30*time.Second, "first member buffered everything", func() bool { return a.Stats().Records == 60 })
	if a.Stats().Batches != 0 {
		t.Fatal("flushed before the rebalance")
	}
	b := startSink(t, k, cfg)
	ends := k.ends(t)
	waitFor(t, 60*time.Second, "offsets committed after the rebalance", func() bool { return reflect.DeepEqual(k.committed(t), ends) })
	if st := a.Stats(); st.Batches < 1 || st.RequestRows != 20 || st.AuditRows != 40 {
		t.Errorf("first member: %+v, want its batch flushed on revoke", st)
	}
	if n := queryUint(t, conn, "SELECT toUInt64(count()) FROM "+db+".v_requests"); n != 20 {
		t.Errorf("v_requests: %d, want 20", n)
	}
	for _, s := range []*runningSink{a, b} {
		if err := s.stop(t); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}
