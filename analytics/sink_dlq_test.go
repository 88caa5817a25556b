package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/schemas"
)

const testDLQ = "llm.sink.dlq"

// fakeConn is a ClickHouse connection whose inserts succeed or fail as fail decides, and which
// records the rows of every successful insert per table. Other methods are not used by the sink,
// except Query (the bodies retention), which fails harmlessly.
type fakeConn struct {
	driver.Conn
	mu       sync.Mutex
	inserted map[string][][]any
	sends    int
	// fail is called for every Append (row set) and Send (rows nil, all the block's rows in
	// block); a non-nil error fails that stage.
	fail func(table, stage string, row []any, block [][]any) error
}

func (c *fakeConn) PrepareBatch(_ context.Context, query string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	table := strings.Fields(query)[2]
	table = table[strings.IndexByte(table, '.')+1:]
	if err := c.fail(table, "prepare", nil, nil); err != nil {
		return nil, err
	}
	return &fakeBatch{c: c, table: table}, nil
}

func (c *fakeConn) Query(context.Context, string, ...any) (driver.Rows, error) {
	return nil, errors.New("fake: no queries")
}

func (c *fakeConn) ids(table string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.inserted[table] {
		out = append(out, r[0].(string))
	}
	sort.Strings(out)
	return out
}

type fakeBatch struct {
	driver.Batch
	c     *fakeConn
	table string
	rows  [][]any
}

func (b *fakeBatch) Append(v ...any) error {
	if err := b.c.fail(b.table, "append", v, nil); err != nil {
		return err
	}
	b.rows = append(b.rows, v)
	return nil
}

func (b *fakeBatch) Abort() error { return nil }

func (b *fakeBatch) Send() error {
	b.c.mu.Lock()
	b.c.sends++
	b.c.mu.Unlock()
	if err := b.c.fail(b.table, "send", nil, b.rows); err != nil {
		return err
	}
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	if b.c.inserted == nil {
		b.c.inserted = map[string][][]any{}
	}
	b.c.inserted[b.table] = append(b.c.inserted[b.table], b.rows...)
	return nil
}

// readDLQ returns the dead letters on the sink's dead-letter topic, keyed by dlq_id.
func (k *kafkaEnv) readDLQ(t *testing.T, want int) map[string]schemas.DeadLetter {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.cluster.ListenAddrs()...), kgo.ConsumeTopics(testDLQ),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]schemas.DeadLetter{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead-letter topic: got %d records, want %d: %v", len(out), want, out)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var d schemas.DeadLetter
			if err := json.Unmarshal(r.Value, &d); err != nil {
				t.Errorf("dead letter %q: %v", r.Value, err)
			}
			out[d.DLQID] = d
		})
	}
	return out
}

func chException(code int32, name string) error {
	return &proto.Exception{Code: code, CodeName: name, Message: "fake " + name}
}

// TestSinkDeadLettersRejectedRows runs the sink against a fake ClickHouse that refuses, for good,
// one audit row in Append (the driver's type conversion) and, at Send, any block holding the
// attempt of request dlq-3 (a server-side data error), and fails the first requests insert with a
// transient error. The sink must retry the transient failure with the same rows, find the refused
// rows (halving the attempts block), dead-letter exactly those with reason, table and source
// position, insert every other row, and commit to the end.
func TestSinkDeadLettersRejectedRows(t *testing.T) {
	k := newKafka(t, 1)
	f := newFixture("dlq", 8)
	k.produceFixture(t, f, 1)
	k.produce(t, testResponses, "junk", []byte("not json")) // undecodable: dead-lettered too

	var transientOnce sync.Once
	conn := &fakeConn{fail: func(table, stage string, row []any, block [][]any) error {
		switch {
		case table == "llm_requests" && stage == "send":
			var err error
			transientOnce.Do(func() { err = io.ErrUnexpectedEOF })
			return err
		case table == "llm_audit_events" && stage == "append" && row[0] == "dlq-5-ev-b":
			return errors.New("clickhouse [AppendRow]: (type Enum8('route.decided' = 1)) unknown element")
		case table == "llm_attempts" && stage == "send":
			for _, r := range block {
				if r[0] == "att-dlq-3-1" {
					return chException(53, "TYPE_MISMATCH")
				}
			}
		}
		return nil
	}}
	s := startSink(t, k, SinkConfig{Conn: conn, DeadLetterTopic: testDLQ, FlushInterval: 50 * time.Millisecond,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	ends := k.ends(t)
	waitFor(t, 30*time.Second, "offsets committed to the end", func() bool { return reflect.DeepEqual(k.committed(t), ends) })

	dls := k.readDLQ(t, 3)
	if len(dls) != 3 {
		t.Fatalf("dead letters: %+v", dls)
	}
	want := map[string]struct{ reason, detail, request string }{
		"sink:llm.audit:0:11:llm_audit_events:dlq-5-ev-b": {ReasonSinkRowRejected, "table llm_audit_events: append row: clickhouse [AppendRow]", "dlq-5"},
		"sink:llm.responses:0:3:llm_attempts:att-dlq-3-1": {ReasonSinkRowRejected, "table llm_attempts: send: code: 53", "dlq-3"},
		"sink:llm.responses:0:8::":                        {ReasonSinkUndecodable, "undecodable record", "junk"},
	}
	for id, w := range want {
		d, ok := dls[id]
		if !ok {
			t.Errorf("no dead letter %s; got %v", id, reflect.ValueOf(dls).MapKeys())
			continue
		}
		if d.Reason != w.reason || !strings.HasPrefix(d.Detail, w.detail) || d.RequestID != w.request ||
			d.Stage != "analytics_sink" || len(d.Payload) == 0 || d.PayloadSHA256 == "" {
			t.Errorf("dead letter %s: %+v, want reason %s, detail prefix %q, request %s", id, d, w.reason, w.detail, w.request)
		}
		if want := strings.Split(id, ":")[1]; d.SourceTopic != want {
			t.Errorf("dead letter %s: source topic %s", id, d.SourceTopic)
		}
	}

	if got := len(conn.ids("llm_requests")); got != 8 {
		t.Errorf("llm_requests rows: %d, want 8", got)
	}
	att := conn.ids("llm_attempts")
	if len(att) != 15 || strings.Contains(strings.Join(att, ","), "att-dlq-3-1") {
		t.Errorf("llm_attempts rows: %v, want the 15 accepted ones", att)
	}
	if aud := conn.ids("llm_audit_events"); len(aud) != 15 {
		t.Errorf("llm_audit_events rows: %d, want 15", len(aud))
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.DeadLetters != 3 || st.RejectedRows != 2 || st.DecodeErrors != 1 || st.RequestRows != 8 || st.AttemptRows != 15 ||
		st.AuditRows != 15 || st.InsertErrors < 3 {
		t.Errorf("stats: %+v", st)
	}
}

// TestSinkSchemaMismatchDeadLettersTable: the server refuses the INSERT statement itself (a column
// the sink writes is gone): every row of that table goes to the dead-letter topic at once, the
// other tables go in, and the sink commits.
func TestSinkSchemaMismatchDeadLettersTable(t *testing.T) {
	k := newKafka(t, 1)
	k.produceFixture(t, newFixture("schema", 3), 1)
	conn := &fakeConn{fail: func(table, stage string, _ []any, _ [][]any) error {
		if table == "llm_attempts" && stage == "prepare" {
			return chException(16, "NO_SUCH_COLUMN_IN_TABLE")
		}
		return nil
	}}
	s := startSink(t, k, SinkConfig{Conn: conn, DeadLetterTopic: testDLQ, FlushInterval: 50 * time.Millisecond})
	ends := k.ends(t)
	waitFor(t, 30*time.Second, "offsets committed to the end", func() bool { return reflect.DeepEqual(k.committed(t), ends) })
	dls := k.readDLQ(t, 6)
	for id, d := range dls {
		if d.Reason != ReasonSinkSchemaMismatch || !strings.Contains(id, ":llm_attempts:att-schema-") {
			t.Errorf("dead letter %s: %+v", id, d)
		}
	}
	if st := s.Stats(); st.RejectedRows != 6 || st.AttemptRows != 0 || st.RequestRows != 3 || st.AuditRows != 6 {
		t.Errorf("stats: %+v", st)
	}
}

// TestSinkFatalStopsWithoutCommit: ClickHouse refuses the sink's credentials; Run returns a
// *FatalError and no offset is committed.
func TestSinkFatalStopsWithoutCommit(t *testing.T) {
	k := newKafka(t, 1)
	k.produceFixture(t, newFixture("auth", 2), 1)
	conn := &fakeConn{fail: func(string, string, []any, [][]any) error { return chException(516, "AUTHENTICATION_FAILED") }}
	s := startSink(t, k, SinkConfig{Conn: conn, DeadLetterTopic: testDLQ, FlushInterval: 50 * time.Millisecond})
	var err error
	select {
	case err = <-s.done:
		close(s.done)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop on an authentication failure")
	}
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Table != "llm_requests" {
		t.Fatalf("Run: %v, want a *FatalError for llm_requests", err)
	}
	if got := k.committed(t); len(got) != 0 {
		t.Errorf("committed after a fatal error: %v", got)
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want errClass
	}{
		{chException(53, "TYPE_MISMATCH"), classPermanent},
		{fmt.Errorf("wrapped: %w", &insertError{stage: stageSend, err: chException(16, "NO_SUCH_COLUMN_IN_TABLE")}), classPermanent},
		{&insertError{stage: stageAppend, err: errors.New("converting string to UInt8 is unsupported")}, classPermanent},
		{&insertError{stage: stageSend, err: io.EOF}, classTransient},
		{&insertError{stage: stagePrepare, err: chException(60, "UNKNOWN_TABLE")}, classTransient},
		{chException(252, "TOO_MANY_PARTS"), classTransient},
		{chException(241, "MEMORY_LIMIT_EXCEEDED"), classTransient},
		{context.DeadlineExceeded, classTransient},
		{chException(516, "AUTHENTICATION_FAILED"), classFatal},
		{chException(194, "REQUIRED_PASSWORD"), classFatal},
	} {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestSinkDeadLettersOnServer is the dead-letter path against the real server: llm_audit_events'
// type column is narrowed to an Enum8 that knows only route.decided, so one event of another type
// violates the column type. That row must go to the dead-letter topic with its table and source
// position, every other row must be in ClickHouse, and the offsets must reach the end.
func TestSinkDeadLettersOnServer(t *testing.T) {
	conn, db := migrated(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, "ALTER TABLE "+db+".llm_audit_events MODIFY COLUMN type Enum8('route.decided' = 1)"); err != nil {
		t.Fatal(err)
	}
	k := newKafka(t, 1)
	f := newFixture("chdlq", 4)
	f.audits[5].Type = "route.unknown" // chdlq-2-ev-b
	k.produceFixture(t, f, 1)

	s := startSink(t, k, SinkConfig{Conn: conn, Database: db, DeadLetterTopic: testDLQ, FlushInterval: 50 * time.Millisecond})
	ends := k.ends(t)
	waitFor(t, 30*time.Second, "offsets committed to the end", func() bool { return reflect.DeepEqual(k.committed(t), ends) })
	dls := k.readDLQ(t, 1)
	d, ok := dls["sink:llm.audit:0:5:llm_audit_events:chdlq-2-ev-b"]
	if len(dls) != 1 || !ok || d.Reason != ReasonSinkRowRejected || d.RequestID != "chdlq-2" || d.TenantID != "acme" ||
		d.SourceTopic != testAudit || d.SourceOffset != 5 || !strings.Contains(d.Detail, "Enum8") {
		t.Fatalf("dead letters: %+v", dls)
	}
	for q, want := range map[string]uint64{
		"SELECT toUInt64(count()) FROM " + db + ".v_audit_events":                                 7,
		"SELECT toUInt64(count()) FROM " + db + ".v_audit_events WHERE event_id = 'chdlq-2-ev-b'": 0,
		"SELECT toUInt64(count()) FROM " + db + ".v_requests":                                     4,
	} {
		if got := queryUint(t, conn, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	if st := s.Stats(); st.RejectedRows != 1 || st.DeadLetters != 1 || st.AuditRows != 7 {
		t.Errorf("stats: %+v", st)
	}
}

// TestSinkStoresBodiesOnlyWhenEnabled: with StoreBodies the answer goes to llm_bodies redacted
// (error responses store nothing); by default no body is written at all.
func TestSinkStoresBodiesOnlyWhenEnabled(t *testing.T) {
	for _, store := range []bool{false, true} {
		t.Run(fmt.Sprint("store=", store), func(t *testing.T) {
			k := newKafka(t, 1)
			f := newFixture("body", 3) // body-2 is an error response
			for i := range f.responses {
				f.responses[i].Content = "mail me at a.b@example.com, card 4111 1111 1111 1111"
			}
			k.produceFixture(t, f, 1)
			conn := &fakeConn{fail: func(string, string, []any, [][]any) error { return nil }}
			s := startSink(t, k, SinkConfig{Conn: conn, DeadLetterTopic: testDLQ, FlushInterval: 50 * time.Millisecond, StoreBodies: store})
			ends := k.ends(t)
			waitFor(t, 30*time.Second, "offsets committed to the end", func() bool { return reflect.DeepEqual(k.committed(t), ends) })
			conn.mu.Lock()
			bodies := conn.inserted["llm_bodies"]
			conn.mu.Unlock()
			if !store {
				if len(bodies) != 0 || s.Stats().BodyRows != 0 {
					t.Fatalf("bodies stored with StoreBodies off: %v", bodies)
				}
				return
			}
			if len(bodies) != 2 {
				t.Fatalf("bodies: %v, want body-0 and body-1", bodies)
			}
			for _, b := range bodies {
				if b[5] != "mail me at [EMAIL], card [CARD]" || b[6] != uint32(2) {
					t.Errorf("body row %v: want the redacted answer and 2 redactions", b)
				}
			}
		})
	}
}
