package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/internal/config"
	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

// realServices returns the real local Kafka broker and ClickHouse server that `make test`
// starts. Without them the test is skipped, unless SWITCHYARD_REQUIRE_SERVICES=1 (as in
// `make test` and CI), where their absence fails it.
func realServices(t *testing.T) (kafka, ch string) {
	t.Helper()
	kafka, ch = os.Getenv("SWITCHYARD_TEST_KAFKA"), os.Getenv("SWITCHYARD_CLICKHOUSE_TEST_ADDR")
	if kafka == "" || ch == "" {
		if os.Getenv("SWITCHYARD_REQUIRE_SERVICES") == "1" {
			t.Fatal("SWITCHYARD_REQUIRE_SERVICES=1 but SWITCHYARD_TEST_KAFKA or SWITCHYARD_CLICKHOUSE_TEST_ADDR is unset")
		}
		t.Skip("real services not configured: run `make test` (sets SWITCHYARD_TEST_KAFKA and SWITCHYARD_CLICKHOUSE_TEST_ADDR)")
	}
	return kafka, ch
}

// testRegistry is the Confluent-compatible registry for Confluent framing: the real one that
// `make test` starts (Apicurio Registry, SWITCHYARD_TEST_REGISTRY), else the in-process srfake.
func testRegistry(t *testing.T) string {
	t.Helper()
	if url := os.Getenv("SWITCHYARD_TEST_REGISTRY"); url != "" {
		t.Logf("schema registry: %s", url)
		return url
	}
	if os.Getenv("SWITCHYARD_REQUIRE_SERVICES") == "1" {
		t.Fatal("SWITCHYARD_REQUIRE_SERVICES=1 but SWITCHYARD_TEST_REGISTRY is unset")
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	t.Log("schema registry: srfake (in-process)")
	return reg.URL()
}

// logVersions says which broker and ClickHouse server the test ran against.
func logVersions(t *testing.T, brokers []string, chAddr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	vs, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		t.Fatalf("kafka %v: %v", brokers, err)
	}
	vs.Each(func(v kadm.BrokerApiVersions) {
		t.Logf("Kafka broker %d at %v: %s", v.NodeID, brokers, v.VersionGuess())
	})
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var version string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatalf("clickhouse %s: %v", chAddr, err)
	}
	t.Logf("ClickHouse server at %s: version %s", chAddr, version)
}

// itConfig is the demo config pointed at the real services, with a fresh topic prefix and
// database so that runs never see each other's data.
func itConfig(t *testing.T, simURL, kafka, ch string, extraModels string) *config.Config {
	t.Helper()
	run := fmt.Sprintf("it%d", time.Now().UnixNano())
	text := strings.ReplaceAll(demoYAML, "{{SIM}}", simURL)
	if extraModels != "" {
		text = strings.Replace(text, "  models:\n", "  models:\n"+extraModels, 1)
	}
	cfg, err := config.Parse([]byte(text), func(k string) (string, bool) {
		switch k {
		case "SWITCHYARD_KAFKA_BROKERS":
			return kafka, true
		case "SWITCHYARD_CLICKHOUSE_ADDR":
			return ch, true
		case "SWITCHYARD_CLICKHOUSE_DATABASE":
			return "switchyard_" + run, true
		case "SWITCHYARD_TOPIC_PREFIX":
			return run + ".", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Partitions = 4
	cfg.Analytics.FlushInterval = 200 * time.Millisecond
	t.Cleanup(func() {
		dropDatabase(t, ch, cfg.ClickHouse.Database)
		if err := deleteTopics(context.Background(), cfg.Kafka.Brokers, nil, cfg.Kafka.TopicPrefix); err != nil {
			t.Logf("delete topics %s*: %v", cfg.Kafka.TopicPrefix, err)
		}
	})
	return cfg
}

func dropDatabase(t *testing.T, addr, db string) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
}

// outcomes collects terminal outcomes from the response and DLQ topics.
type outcomes struct {
	mu        sync.Mutex
	responses map[string][]schemas.Response
	dlq       []schemas.DeadLetter
}

func watchOutcomes(t *testing.T, ctx context.Context, brokers []string, codec *schemas.Codec, topics config.Topics) *outcomes {
	o := &outcomes{responses: map[string][]schemas.Response{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Responses, topics.DLQ),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				ct := producers.Header(r, "content-type")
				o.mu.Lock()
				defer o.mu.Unlock()
				if r.Topic == topics.Responses {
					var resp schemas.Response
					if err := codec.Decode(schemas.TypeResponse, r.Value, ct, &resp); err != nil {
						t.Errorf("undecodable response at offset %d: %v", r.Offset, err)
						return
					}
					if string(r.Key) != resp.RequestID {
						t.Errorf("response key %q != request_id %q", r.Key, resp.RequestID)
					}
					o.responses[resp.RequestID] = append(o.responses[resp.RequestID], resp)
					return
				}
				var d schemas.DeadLetter
				if err := codec.Decode(schemas.TypeDeadLetter, r.Value, ct, &d); err != nil {
					t.Errorf("undecodable dead letter at offset %d: %v", r.Offset, err)
					return
				}
				o.dlq = append(o.dlq, d)
			})
		}
	}()
	return o
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (o *outcomes) count(ids []string) (answered, dups int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		if n := len(o.responses[id]); n > 0 {
			answered++
			dups += n - 1
		}
	}
	return answered, dups
}

// poisonCases are bad inputs and the reason each must be dead-lettered with.
func poisonCases(t *testing.T, single, confluent *schemas.Codec) []struct {
	name, reason string
	value        []byte
	ct           string
} {
	good := schemas.Request{RequestID: "poison-base", TenantID: "t", CreatedAt: 1, TaskType: "chat", Priority: "batch",
		Messages: []schemas.Message{{Role: "user", Content: "hello"}}, ResponseFormat: schemas.ResponseFormat{Type: "text"}}
	so, err := single.Encode(schemas.TypeRequest, &good)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := confluent.Encode(schemas.TypeRequest, &good)
	if err != nil {
		t.Fatal(err)
	}
	unknownID := append([]byte{0, 0, 0, 0x7f, 0x7f}, cf[5:]...)
	// The codec refuses to write invalid UTF-8, so patch it into valid bytes.
	badUTF8 := good
	badUTF8.TenantID = "tQZ"
	badUTF8Bytes, err := single.Encode(schemas.TypeRequest, &badUTF8)
	if err != nil {
		t.Fatal(err)
	}
	badUTF8Bytes = bytes.Replace(badUTF8Bytes, []byte("tQZ"), []byte("t\xff\xfe"), 1)
	// A negative length for request_id: zig-zag varint 0x01 is -1.
	negLen := append(append([]byte{}, so[:10]...), 0x01)
	// A length prefix of 2^31 for request_id.
	hugeLen := append(append([]byte{}, so[:10]...), binary.AppendUvarint(nil, uint64(1)<<32)...)
	return []struct {
		name, reason string
		value        []byte
		ct           string
	}{
		{"random bytes", schemas.ReasonBadHeader, []byte{0x7f, 0x13, 0x99, 0x42, 0x01, 0x02, 0x03}, ""},
		{"magic byte 0x01", schemas.ReasonBadHeader, append([]byte{1}, cf[1:]...), ""},
		{"header shorter than 5 bytes", schemas.ReasonBadHeader, []byte{0, 0, 1}, ""},
		{"empty value", schemas.ReasonBadHeader, []byte{}, ""},
		{"unknown schema id", schemas.ReasonUnknownSchema, unknownID, ""},
		{"unknown fingerprint", schemas.ReasonUnknownSchema, append([]byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, so[10:]...), ""},
		{"truncated body", schemas.ReasonTruncated, so[:len(so)-4], ""},
		{"trailing bytes", schemas.ReasonTrailingBytes, append(append([]byte{}, so...), 0, 0, 0), ""},
		{"invalid utf-8", schemas.ReasonInvalidUTF8, badUTF8Bytes, ""},
		{"negative length", schemas.ReasonDecodeError, negLen, ""},
		{"length prefix 2^31", schemas.ReasonFieldTooLarge, hugeLen, ""},
		{"json missing tenant", schemas.ValidationReason("tenant_id"),
			[]byte(`{"request_id":"poison-json","created_at":1,"messages":[{"role":"user","content":"hi"}]}`), "application/json"},
		{"json not json", schemas.ReasonDecodeError, []byte(`{"request_id": }`), "application/json"},
	}
}

func TestPipelineOnRealKafkaAndClickHouse(t *testing.T) {
	kafka, ch := realServices(t)
	brokers := strings.Split(kafka, ",")
	logVersions(t, brokers, ch)

	// The demo's grok-flaky model (sim-flap) stays in its first, healthy window for the whole
	// test: xai must answer here; flapping, breakers and fallbacks are TestResilienceOnRealKafka's.
	_, simURL := startSim(t, sim.Config{Latency: sim.Latency{Base: 2 * time.Millisecond}, FlapWindow: 10 * time.Minute})
	// A model that always fails, so its requests must fall back to the next one in the chain.
	extra := "    - {name: down-model, provider: groq, version: sim-503, context_window: 8192, max_output_tokens: 1024, price: {input_per_mtok: 1, output_per_mtok: 1}}\n"
	cfg := itConfig(t, simURL, kafka, ch, extra)
	cfg.Routing.Tasks["extraction"] = routerRule("down-model", "gpt-4o-mini")

	regClient, err := sr.NewClient(sr.URLs(testRegistry(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	app, err := NewApp(cfg, AppOptions{Logger: testLogger(t), Registry: regClient})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctx, allRoles, nil); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- app.Run(ctx) }()

	topics := cfg.Topics()
	o := watchOutcomes(t, ctx, brokers, app.Codec(), topics)
	codecs := inputCodecs(t, app.Codec())
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	// Valid requests in every encoding, interleaved with every kind of poison input.
	const perEncoding = 40
	encodings := []string{"json", "single-object", "confluent"}
	poison := poisonCases(t, codecs["single-object"], codecs["confluent"])
	var ids []string
	want := map[string]schemas.Request{}
	var recs []*kgo.Record
	for i := 0; i < perEncoding*len(encodings); i++ {
		enc := encodings[i%len(encodings)]
		req := schemas.Request{
			RequestID: fmt.Sprintf("%s/%d", topics.Requests, i), TenantID: tenants[i%len(tenants)], CreatedAt: time.Now().UnixMilli(),
			TaskType: []string{"chat", "summarization", "code", "extraction", "reasoning", "classification", "translation"}[i%7], Priority: "interactive",
			Messages:       []schemas.Message{{Role: "user", Content: fmt.Sprintf("question number %d about %s", i, enc)}},
			ResponseFormat: schemas.ResponseFormat{Type: "text"}, MaxTokens: 64, Stream: i%5 == 0,
		}
		if i%6 == 1 && req.TaskType != "extraction" {
			// A tool call through every format: the worker validates it against the schema.
			req.Tools = []schemas.Tool{{Name: "lookup", Parameters: `{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}`}}
			req.Messages[0].Content += ": please call tool lookup"
		}
		if i == 7 {
			req.Model = "no-such-model" // refused by the router: an error response, not a DLQ record
		}
		val, err := codecs[enc].Encode(schemas.TypeRequest, &req)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Requests, Key: []byte(req.RequestID), Value: val,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(codecs[enc].ContentType())}}})
		ids = append(ids, req.RequestID)
		want[req.RequestID] = req
		if i%9 == 0 && i/9 < len(poison) {
			p := poison[i/9]
			r := &kgo.Record{Topic: topics.Requests, Value: p.value}
			if p.ct != "" {
				r.Headers = []kgo.RecordHeader{{Key: "content-type", Value: []byte(p.ct)}}
			}
			recs = append(recs, r)
		}
	}
	for _, p := range poison[min(len(poison), (perEncoding*len(encodings)+8)/9):] {
		recs = append(recs, &kgo.Record{Topic: topics.Requests, Value: p.value})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 2*time.Minute, "every request answered and every poison record dead-lettered", func() (bool, string) {
		answered, _ := o.count(ids)
		o.mu.Lock()
		dl := len(o.dlq)
		o.mu.Unlock()
		return answered == len(ids) && dl >= len(poison), fmt.Sprintf("%d/%d answered, %d/%d dead-lettered", answered, len(ids), dl, len(poison))
	})

	o.mu.Lock()
	for _, id := range ids {
		resp := o.responses[id][0]
		req := want[id]
		switch {
		case req.Model == "no-such-model":
			if resp.Status != schemas.StatusError || resp.Error == nil || resp.Error.Code != "model_not_allowed" {
				t.Errorf("%s: want error model_not_allowed, got %s %+v", id, resp.Status, resp.Error)
			}
		case resp.Status != schemas.StatusOK && !(req.TaskType == "extraction" && resp.DegradedReason == "primary_unhealthy"):
			t.Errorf("%s: status %s error %+v", id, resp.Status, resp.Error)
		case len(req.Tools) > 0:
			if len(resp.ToolCalls) != 1 || !resp.ToolCalls[0].Valid || resp.ToolCalls[0].Name != "lookup" || resp.FinishReason != "tool_calls" {
				t.Errorf("%s (%s): want one valid tool call, got %+v finish %q", id, resp.Provider, resp.ToolCalls, resp.FinishReason)
			}
		default:
			if !strings.Contains(resp.Content, req.Messages[0].Content[:20]) {
				t.Errorf("%s: content %q does not answer %q", id, resp.Content, req.Messages[0].Content)
			}
			if resp.TenantID != req.TenantID || resp.Usage.OutputTokens <= 0 || resp.CostUSD <= 0 {
				t.Errorf("%s: tenant %q usage %+v cost %v", id, resp.TenantID, resp.Usage, resp.CostUSD)
			}
			if req.TaskType == "extraction" {
				// down-model always fails: the answer comes from its fallback, one hop later
				// after the hop's calls (or local refusals, once its breaker opened) failed; or,
				// once the routers heard of the open breaker, straight from the fallback,
				// marked degraded.
				n := len(resp.Attempts)
				viaHop := resp.FallbackDepth == 1 && n >= 2 && resp.Attempts[n-1].Outcome == "ok" && resp.Attempts[n-2].Outcome != "ok"
				routedAround := resp.FallbackDepth == 0 && n == 1 && resp.Status == schemas.StatusDegraded
				if resp.Model != "gpt-4o-mini-2024-07-18" || !(viaHop || routedAround) {
					t.Errorf("%s: want a fallback to gpt-4o-mini, got model %s depth %d attempts %+v", id, resp.Model, resp.FallbackDepth, resp.Attempts)
				}
			}
		}
	}
	gotReasons := map[string]int{}
	for _, d := range o.dlq {
		gotReasons[d.Reason]++
		if d.SourceTopic != topics.Requests || d.PayloadSHA256 == "" {
			t.Errorf("dead letter without its source: %+v", d)
		}
	}
	o.mu.Unlock()
	wantReasons := map[string]int{}
	for _, p := range poison {
		wantReasons[p.reason]++
	}
	for r, n := range wantReasons {
		if gotReasons[r] < n {
			t.Errorf("DLQ reason %s: got %d, want %d (all reasons: %v)", r, gotReasons[r], n, gotReasons)
		}
	}

	// Every outcome lands in ClickHouse, once in the deduplicated view.
	conn, err := openClickHouse(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	db := cfg.ClickHouse.Database
	waitFor(t, time.Minute, "rows in ClickHouse", func() (bool, string) {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".v_requests").Scan(&n); err != nil {
			return false, err.Error()
		}
		return n == uint64(len(ids)), fmt.Sprintf("%d of %d requests", n, len(ids))
	})
	// The sink flushes each table in its own insert and the audit topic in its own batches: wait
	// for every row, not just the requests.
	wantAttempts := 0
	o.mu.Lock()
	for _, id := range ids {
		wantAttempts += len(o.responses[id][0].Attempts)
	}
	o.mu.Unlock()
	var attempts, events uint64
	waitFor(t, time.Minute, "attempts and audit events in ClickHouse", func() (bool, string) {
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".v_attempts").Scan(&attempts); err != nil {
			return false, err.Error()
		}
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".v_audit_events").Scan(&events); err != nil {
			return false, err.Error()
		}
		// At least five audit events per request: received, decoded, routed or rejected, ...
		return attempts == uint64(wantAttempts) && events >= uint64(5*len(ids)),
			fmt.Sprintf("%d of %d attempts, %d audit events for %d requests", attempts, wantAttempts, events, len(ids))
	})
	// Every wire format answered on the real broker: OpenAI, Anthropic, Gemini and the
	// compatible flavors (demo.yaml routes task types across them).
	byProvider, toolsByProvider := map[string]int{}, map[string]int{}
	o.mu.Lock()
	for _, id := range ids {
		if r := o.responses[id][0]; r.Status == schemas.StatusOK {
			byProvider[r.Provider]++
			toolsByProvider[r.Provider] += len(r.ToolCalls)
		}
	}
	o.mu.Unlock()
	for _, p := range []string{"openai", "anthropic", "gemini", "groq", "xai"} {
		if byProvider[p] == 0 || toolsByProvider[p] == 0 {
			t.Errorf("provider %s: %d answers, %d tool calls (all: %v, tools %v)", p, byProvider[p], toolsByProvider[p], byProvider, toolsByProvider)
		}
	}
	var cost float64
	if err := conn.QueryRow(ctx, "SELECT sum(cost_usd) FROM "+db+".v_requests").Scan(&cost); err != nil {
		t.Fatal(err)
	}
	var kafkaCost float64
	o.mu.Lock()
	for _, id := range ids {
		kafkaCost += o.responses[id][0].CostUSD
	}
	o.mu.Unlock()
	if diff := cost - kafkaCost; diff > 1e-9 || diff < -1e-9 {
		t.Errorf("ClickHouse cost %v != response topic cost %v", cost, kafkaCost)
	}
	t.Logf("%d requests answered in %d encodings (by provider %v), %d poison records dead-lettered with reasons %v; ClickHouse: %d requests, %d attempts, %d events, $%.6f",
		len(ids), len(encodings), byProvider, len(poison), gotReasons, len(ids), attempts, events, cost)
	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("pipeline: %v", err)
	}
}

// workerRun is a router in the test process, a worker as a separate process of the real binary,
// and n slow requests published for them.
type workerRun struct {
	sim     *sim.Server
	bin     string
	cfgPath string
	env     []string // for the worker processes
	brokers []string
	prefix  string // the run's topic (and group) prefix
	worker  *exec.Cmd
	out     *outcomes
	ids     []string
}

func startWorkerRun(t *testing.T, name string, n int, env ...string) *workerRun {
	t.Helper()
	kafka, ch := realServices(t)
	brokers := strings.Split(kafka, ",")
	w := &workerRun{bin: buildBinary(t), env: env, brokers: brokers}
	// Slow answers, so that a good share of the requests are in flight when the worker stops.
	var simURL string
	w.sim, simURL = startSim(t, sim.Config{Latency: sim.Latency{Base: 300 * time.Millisecond, Jitter: 200 * time.Millisecond}})
	cfg := itConfig(t, simURL, kafka, ch, "")
	cfg.ClickHouse.Addr = "" // these tests are about Kafka; keep ClickHouse out of them
	cfg.Kafka.SessionTimeout = 10 * time.Second
	w.prefix = cfg.Kafka.TopicPrefix
	w.cfgPath = writeConfig(t, cfg, simURL)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	app, err := NewApp(cfg, AppOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctx, []string{RoleRouter}, nil); err != nil {
		t.Fatal(err)
	}
	go app.Run(ctx)
	w.worker = startWorker(t, w.bin, w.cfgPath, w.env...)

	topics := cfg.Topics()
	w.out = watchOutcomes(t, ctx, brokers, app.Codec(), topics)
	codec, err := schemas.NewCodec(schemas.CodecOptions{OutputFormat: "single-object"})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		req := schemas.Request{RequestID: fmt.Sprintf("%s/%s/%d", topics.Requests, name, i), TenantID: "acme", CreatedAt: time.Now().UnixMilli(),
			TaskType: "chat", Priority: "batch", Messages: []schemas.Message{{Role: "user", Content: fmt.Sprintf("request %d", i)}},
			ResponseFormat: schemas.ResponseFormat{Type: "text"},
			// A dead member holds its partitions until its session timeout ends; the deadline
			// must outlast that for the requests to be answered, not expired.
			DeadlineMS: 5 * 60 * 1000}
		val, err := codec.Encode(schemas.TypeRequest, &req)
		if err != nil {
			t.Fatal(err)
		}
		w.ids = append(w.ids, req.RequestID)
		recs = append(recs, &kgo.Record{Topic: topics.Requests, Key: []byte(req.RequestID), Value: val})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "the first answers", func() (bool, string) {
		a, _ := w.out.count(w.ids)
		return a >= 30, fmt.Sprintf("%d answered", a)
	})
	return w
}

// finish restarts the worker and waits for every answer; it returns the duplicate responses and
// the repeated provider calls, and checks that every response is ok.
func (w *workerRun) finish(t *testing.T) (dups, extraCalls int) {
	t.Helper()
	startWorker(t, w.bin, w.cfgPath, w.env...)
	waitFor(t, 3*time.Minute, "every request answered after the restart", func() (bool, string) {
		a, _ := w.out.count(w.ids)
		return a == len(w.ids), fmt.Sprintf("%d/%d answered", a, len(w.ids))
	})
	_, dups = w.out.count(w.ids)
	for _, id := range w.ids {
		if c := w.sim.Calls(id); c > 1 {
			extraCalls += c - 1
		}
	}
	w.out.mu.Lock()
	defer w.out.mu.Unlock()
	bad := 0
	for _, id := range w.ids {
		for _, r := range w.out.responses[id] {
			if r.RequestID != id || r.Status != schemas.StatusOK {
				if bad++; bad <= 5 {
					t.Errorf("%s: status %s error %+v", id, r.Status, r.Error)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d responses were not ok", bad)
	}
	return dups, extraCalls
}

func TestWorkerKilledMidFlightLosesNothing(t *testing.T) {
	const n = 300
	w := startWorkerRun(t, "kill", n)
	before, _ := w.out.count(w.ids)
	inFlight := w.sim.InFlight()
	if err := w.worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.worker.Wait()
	t.Logf("worker killed with SIGKILL after %d of %d answers, %d provider calls in flight", before, n, inFlight)
	if inFlight == 0 {
		t.Fatal("no provider call was in flight at the kill: the test proved nothing")
	}
	dups, extra := w.finish(t)
	t.Logf("lost 0 of %d across one worker crash; duplicate responses %d; repeated provider calls %d", n, dups, extra)
}

// A worker stopped with SIGTERM drains what it is doing, commits, and leaves the group: its
// successor answers the rest without answering anything twice.
func TestWorkerGracefulStopDuplicatesNothing(t *testing.T) {
	const n = 300
	w := startWorkerRun(t, "term", n)
	inFlight := w.sim.InFlight()
	start := time.Now()
	if err := w.worker.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := w.worker.Wait()
	took := time.Since(start)
	if err != nil {
		t.Errorf("worker exited with %v after SIGTERM", err)
	}
	// demo.yaml's drain budget is 5 s; leaving the group and closing add a little.
	if took > 10*time.Second {
		t.Errorf("graceful stop took %s, over the 5 s drain budget", took)
	}
	if inFlight == 0 {
		t.Fatal("no provider call was in flight at SIGTERM: the test proved nothing")
	}
	dups, extra := w.finish(t)
	t.Logf("SIGTERM with %d provider calls in flight: stopped in %s; lost 0 of %d; duplicate responses %d; repeated provider calls %d",
		inFlight, took.Round(time.Millisecond), n, dups, extra)
	if dups != 0 || extra != 0 {
		t.Errorf("a graceful stop must not cause duplicates: %d responses, %d provider calls", dups, extra)
	}
}

// A static member (kafka.instance_id) that restarts within its session timeout gets its
// partitions back without a rebalance: the group never leaves the Stable state.
func TestStaticMemberRestartsWithoutRebalance(t *testing.T) {
	const n = 300
	w := startWorkerRun(t, "static", n, "SWITCHYARD_INSTANCE_ID=it-worker")
	group := w.prefix + "switchyard-worker-openai" // chat requests route to gpt-4o-mini on openai
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	state := func() (string, []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return "error: " + err.Error(), nil
		}
		var ids []string
		for _, m := range groups[group].Members {
			if m.InstanceID != nil {
				ids = append(ids, *m.InstanceID)
			}
		}
		return groups[group].State, ids
	}
	if st, ids := state(); st != "Stable" || len(ids) != 1 || ids[0] != "it-worker-worker-openai" {
		t.Fatalf("before the restart: state %s, static members %v", st, ids)
	}
	// Watch the group's state through the restart.
	seen := map[string]int{}
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			st, _ := state()
			mu.Lock()
			seen[st]++
			mu.Unlock()
		}
	}()
	if err := w.worker.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.worker.Wait(); err != nil {
		t.Errorf("worker exited with %v after SIGTERM", err)
	}
	dups, extra := w.finish(t)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	t.Logf("static member restarted: group states seen %v; lost 0 of %d; duplicate responses %d; repeated provider calls %d",
		seen, n, dups, extra)
	for st := range seen {
		if st != "Stable" {
			t.Errorf("the group left Stable during the restart (%s): a rebalance happened", st)
		}
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchyard-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "switchyard")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func startWorker(t *testing.T, bin, cfgPath string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "run", "--roles", "worker", "--config", cfgPath, "--log-level", "warn")
	cmd.Env = append(append(os.Environ(), "SWITCHYARD_METRICS_ADDR="), env...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			t.Logf("worker log:\n%s", data)
		}
	})
	return cmd
}

// writeConfig writes cfg as the demo YAML with the test's brokers and topic prefix.
func writeConfig(t *testing.T, cfg *config.Config, simURL string) string {
	t.Helper()
	text := strings.ReplaceAll(demoYAML, "{{SIM}}", simURL)
	text = strings.Replace(text, "kafka:\n  partitions: 12\n", fmt.Sprintf("kafka:\n  partitions: %d\n  brokers: %s\n  topic_prefix: %q\n  session_timeout: %s\n",
		cfg.Kafka.Partitions, mustJSON(cfg.Kafka.Brokers), cfg.Kafka.TopicPrefix, cfg.Kafka.SessionTimeout), 1)
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
