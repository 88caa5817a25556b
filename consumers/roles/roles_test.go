package roles

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters/openai"
	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/resilience"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

var topics = Topics{
	Requests: "llm.requests", Responses: "llm.responses", Stream: "llm.responses.stream",
	Audit: "llm.audit", DLQ: "llm.dlq", Work: func(p string) string { return "llm.work." + p },
}

type prices struct{}

func (prices) CostAt(_, _ string, _ time.Time, _ string, u schemas.Usage) (float64, bool) {
	return router.Price{InputPerMTok: 1, OutputPerMTok: 2}.Cost(u), true
}

type harness struct {
	t      *testing.T
	cl     *kgo.Client
	codec  *schemas.Codec
	sim    *sim.Server
	worker *WorkerRole
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1,
		topics.Requests, topics.Responses, topics.Stream, topics.Audit, topics.DLQ, topics.Work("p1"), topics.Work("p2")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	srv, err := sim.NewServer(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ad, err := openai.New(openai.Config{Name: "p1", BaseURL: url + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := schemas.NewCodec(schemas.CodecOptions{OutputFormat: schemas.FormatSingleObject})
	if err != nil {
		t.Fatal(err)
	}
	w := &WorkerRole{Provider: "p1", Adapter: ad, Client: cl, Codec: codec, Prices: prices{}, Topics: topics,
		Guard: NewGuard(GuardConfig{Settings: map[string]resilience.Settings{"p1": resilience.Settings{}.WithDefaults(5*time.Second, 16)}})}
	return &harness{t: t, cl: cl, codec: codec, sim: srv, worker: w}
}

func (h *harness) workRecord(model string, stream bool, createdAt time.Time, fallbacks ...schemas.RouteStep) *kgo.Record {
	h.t.Helper()
	return h.workRecordWith(model, stream, createdAt, nil, fallbacks...)
}

func (h *harness) workRecordWith(model string, stream bool, createdAt time.Time, edit func(*schemas.WorkItem), fallbacks ...schemas.RouteStep) *kgo.Record {
	h.t.Helper()
	item := schemas.WorkItem{
		Request: schemas.Request{RequestID: "req-1", TenantID: "acme", CreatedAt: createdAt.UnixMilli(), TaskType: "chat",
			Priority: "interactive", Stream: stream, DeadlineMS: 60_000, ResponseFormat: schemas.ResponseFormat{Type: "text"},
			Messages: []schemas.Message{{Role: "user", Content: "tell me a story"}}},
		Provider: "p1", Model: model, Fallbacks: fallbacks,
	}
	if edit != nil {
		edit(&item)
	}
	v, err := h.codec.Encode(schemas.TypeWorkItem, &item)
	if err != nil {
		h.t.Fatal(err)
	}
	return &kgo.Record{Topic: topics.Work("p1"), Partition: 0, Offset: 7, Key: []byte("req-1"), Value: v}
}

// read returns every record of topic decoded into values made by mk.
func read[T any](h *harness, topic string, typ schemas.Type) []T {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	var out []T
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		fs.EachRecord(func(r *kgo.Record) {
			var v T
			if err := h.codec.Decode(typ, r.Value, "", &v); err != nil {
				h.t.Fatalf("%s offset %d: %v", topic, r.Offset, err)
			}
			out = append(out, v)
		})
	}
}

func TestWorkerStreamsThenAnswers(t *testing.T) {
	h := newHarness(t)
	if err := h.worker.Handle(context.Background(), h.workRecord("sim-ok", true, time.Now())); err != nil {
		t.Fatal(err)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || resps[0].Status != schemas.StatusOK || resps[0].Content == "" || resps[0].CostUSD <= 0 {
		t.Fatalf("responses %+v", resps)
	}
	chunks := read[schemas.StreamChunk](h, topics.Stream, schemas.TypeStreamChunk)
	if len(chunks) < 3 {
		t.Fatalf("want deltas and a done chunk, got %d chunks", len(chunks))
	}
	var text strings.Builder
	for i, c := range chunks {
		if c.Seq != int32(i) {
			t.Fatalf("chunk %d has seq %d", i, c.Seq)
		}
		if c.Kind == "delta" {
			text.WriteString(c.Delta)
		}
	}
	if last := chunks[len(chunks)-1]; last.Kind != "done" || last.FinishReason != "stop" {
		t.Fatalf("last chunk %+v", last)
	}
	if text.String() != resps[0].Content {
		t.Fatalf("stream %q != response %q", text.String(), resps[0].Content)
	}
	types := map[string]int{}
	for _, ev := range read[schemas.AuditEvent](h, topics.Audit, schemas.TypeAuditEvent) {
		types[ev.Type]++
		if ev.Type == schemas.EventCostComputed && (ev.Attrs["est_input_tokens"] != "0" || ev.Attrs["estimate_error"] != "-1.0000") {
			// The work item carries no estimate here: an estimate of 0 is 100% under.
			t.Errorf("cost event %v", ev.Attrs)
		}
	}
	for _, want := range []string{schemas.EventWorkReceived, schemas.EventAttemptStarted, schemas.EventFirstToken,
		schemas.EventAttemptSucceeded, schemas.EventStreamChunks, schemas.EventCostComputed, schemas.EventResponsePublish} {
		if types[want] != 1 {
			t.Errorf("audit %s: %d events, want 1 (all: %v)", want, types[want], types)
		}
	}
}

// A stream cut mid-way is a failed attempt: readers are told to drop what they saw, and the
// response is an error, never the partial text as a success.
func TestWorkerNeverPublishesACutStreamAsSuccess(t *testing.T) {
	h := newHarness(t)
	if err := h.worker.Handle(context.Background(), h.workRecord("sim-stream-cut", true, time.Now())); err != nil {
		t.Fatal(err)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || resps[0].Status != schemas.StatusError || resps[0].Content != "" || resps[0].Error == nil {
		t.Fatalf("want one error response without content, got %+v", resps)
	}
	chunks := read[schemas.StreamChunk](h, topics.Stream, schemas.TypeStreamChunk)
	if len(chunks) == 0 || chunks[len(chunks)-1].Kind != "error" {
		t.Fatalf("want the stream to end with an error chunk, got %+v", chunks)
	}
}

func TestWorkerFallsBackToTheNextProvider(t *testing.T) {
	h := newHarness(t)
	next := schemas.RouteStep{Provider: "p2", Model: "m2"}
	if err := h.worker.Handle(context.Background(), h.workRecord("sim-503", false, time.Now(), next)); err != nil {
		t.Fatal(err)
	}
	if resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse); len(resps) != 0 {
		t.Fatalf("a fallback hop must not publish a response yet: %+v", resps)
	}
	hops := read[schemas.WorkItem](h, topics.Work("p2"), schemas.TypeWorkItem)
	if len(hops) != 1 {
		t.Fatalf("want one work item for p2, got %d", len(hops))
	}
	// The hop retries once (retry.max_attempts 2), then hands on both attempts.
	got := hops[0]
	if got.Provider != "p2" || got.Model != "m2" || got.Hop != 1 || len(got.Fallbacks) != 0 ||
		len(got.Attempts) != 2 || got.Attempts[1].ErrorCode != "unavailable" || got.Request.RequestID != "req-1" {
		t.Fatalf("fallback hop %+v", got)
	}
}

func TestWorkerChainExhaustedEndsInError(t *testing.T) {
	h := newHarness(t)
	if err := h.worker.Handle(context.Background(), h.workRecord("sim-503", false, time.Now())); err != nil {
		t.Fatal(err)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || resps[0].Status != schemas.StatusError || resps[0].Error.Code != "unavailable" || !resps[0].Error.Retryable {
		t.Fatalf("responses %+v", resps)
	}
}

func TestWorkerExpiredDeadlineCallsNoProvider(t *testing.T) {
	h := newHarness(t)
	if err := h.worker.Handle(context.Background(), h.workRecord("sim-ok", false, time.Now().Add(-2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || resps[0].Error == nil || resps[0].Error.Code != "deadline_exceeded" {
		t.Fatalf("responses %+v", resps)
	}
	if n := h.sim.TotalCalls(); n != 0 {
		t.Fatalf("the provider was called %d times for an expired request", n)
	}
}

func TestPanicIsDeadLetteredWithoutItsValue(t *testing.T) {
	h := newHarness(t)
	rec := h.workRecord("sim-ok", false, time.Now())
	if err := h.worker.OnPanic(context.Background(), rec, errors.New("secret prompt text"), []byte("goroutine 1 [running]:\nmain.f()")); err != nil {
		t.Fatal(err)
	}
	dl := read[schemas.DeadLetter](h, topics.DLQ, schemas.TypeDeadLetter)
	if len(dl) != 1 || dl[0].Reason != ReasonPanic || dl[0].SourceOffset != 7 || !strings.Contains(dl[0].Detail, "stack hash") {
		t.Fatalf("dead letters %+v", dl)
	}
	if strings.Contains(dl[0].Detail, "secret prompt text") {
		t.Fatal("the panic value leaked into the dead letter")
	}
}

func TestRouterDeadLettersPoisonAndRoutesValid(t *testing.T) {
	h := newHarness(t)
	rt, err := router.New(router.Table{
		Models:  []router.Model{{Name: "m", Provider: "p1", Version: "m-1", ContextWindow: 8000, MaxOutputTokens: 1000, Price: router.Price{InputPerMTok: 1, OutputPerMTok: 1}}},
		Default: router.Rule{Model: "m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &RouterRole{Client: h.cl, Codec: h.codec, Router: rt, Topics: topics}
	good := `{"request_id":"r1","tenant_id":"acme","created_at":1,"messages":[{"role":"user","content":"hi"}]}`
	recs := []*kgo.Record{
		{Topic: topics.Requests, Offset: 1, Value: []byte(good), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}},
		{Topic: topics.Requests, Offset: 2, Value: []byte{0x42, 0x00}},
		{Topic: topics.Requests, Offset: 3, Value: []byte(`{"request_id":"r2","created_at":1,"messages":[{"role":"user","content":"hi"}]}`)},
	}
	for _, rec := range recs {
		if err := r.Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	work := read[schemas.WorkItem](h, topics.Work("p1"), schemas.TypeWorkItem)
	if len(work) != 1 || work[0].Request.RequestID != "r1" || work[0].Model != "m-1" || work[0].RouteReason != "default" {
		t.Fatalf("work %+v", work)
	}
	dl := read[schemas.DeadLetter](h, topics.DLQ, schemas.TypeDeadLetter)
	if len(dl) != 2 || dl[0].Reason != schemas.ReasonBadHeader || dl[1].Reason != "validation:tenant_id" || dl[1].SourceOffset != 3 {
		t.Fatalf("dead letters %+v", dl)
	}
}

// Tool calls are checked against the request's schemas: a valid one passes, an invalid one is
// kept with its raw text, flagged, audited, and makes the response degraded. Streamed tool-call
// fragments reach the stream topic.
func TestWorkerValidatesToolCalls(t *testing.T) {
	h := newHarness(t)
	rec := h.workRecordWith("sim-ok", true, time.Now(), func(it *schemas.WorkItem) {
		it.Request.Messages[0].Content = "Please call all tools"
		it.Request.Tools = []schemas.Tool{
			{Name: "get_weather", Parameters: `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`},
			// The simulator fills strings with "sim", which this pattern refuses.
			{Name: "lookup", Parameters: `{"type":"object","properties":{"code":{"type":"string","pattern":"^[0-9]+$"}},"required":["code"]}`},
		}
	})
	if err := h.worker.Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 {
		t.Fatalf("responses %+v", resps)
	}
	r := resps[0]
	if r.Status != schemas.StatusDegraded || r.DegradedReason != "invalid_tool_call" || r.FinishReason != "tool_calls" || len(r.ToolCalls) != 2 {
		t.Fatalf("response %+v", r)
	}
	ok, bad := r.ToolCalls[0], r.ToolCalls[1]
	if !ok.Valid || ok.Name != "get_weather" || ok.Arguments != `{"city":"sim"}` || ok.Raw != ok.Arguments {
		t.Errorf("valid call %+v", ok)
	}
	if bad.Valid || bad.Name != "lookup" || bad.Raw != `{"code":"sim"}` || !strings.Contains(bad.ValidationError, "/code: pattern") {
		t.Errorf("invalid call %+v", bad)
	}
	var toolChunks int
	args := map[int32]string{}
	for _, c := range read[schemas.StreamChunk](h, topics.Stream, schemas.TypeStreamChunk) {
		if c.Kind == "tool_call" {
			toolChunks++
			args[c.ToolCall.Index] += c.ToolCall.Arguments
		}
	}
	if toolChunks < 2 || args[0] != ok.Raw || args[1] != bad.Raw {
		t.Errorf("tool_call chunks %d, arguments %v", toolChunks, args)
	}
	types := map[string]int{}
	for _, ev := range read[schemas.AuditEvent](h, topics.Audit, schemas.TypeAuditEvent) {
		types[ev.Type]++
		if ev.Type == schemas.EventToolCallsChecked && (ev.Attrs["calls"] != "2" || ev.Attrs["invalid"] != "1") {
			t.Errorf("validated event %v", ev.Attrs)
		}
		if ev.Type == schemas.EventToolCallInvalid && ev.Attrs["tool"] != "lookup" {
			t.Errorf("invalid event %v", ev.Attrs)
		}
	}
	if types[schemas.EventToolCallsChecked] != 1 || types[schemas.EventToolCallInvalid] != 1 {
		t.Errorf("audit %v", types)
	}
}

// A provider that stops the answer with its content filter yields a degraded response, never an
// ok one.
func TestWorkerContentFilterIsDegraded(t *testing.T) {
	h := newHarness(t)
	if err := h.worker.Handle(context.Background(), h.workRecord("sim-content-filter-finish", false, time.Now())); err != nil {
		t.Fatal(err)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || resps[0].Status != schemas.StatusDegraded || resps[0].DegradedReason != "content_filtered" ||
		resps[0].FinishReason != "content_filter" || resps[0].Content == "" {
		t.Fatalf("responses %+v", resps)
	}
}

// A request the router degraded (its rule's primary was unhealthy or over budget) is answered
// with status degraded and the router's reason.
func TestWorkerMarksRouterDegradation(t *testing.T) {
	h := newHarness(t)
	rec := h.workRecordWith("sim-ok", false, time.Now(), func(it *schemas.WorkItem) {
		it.RouteReason = router.DegradedPrefix + "primary_unhealthy"
	})
	if err := h.worker.Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || resps[0].Status != schemas.StatusDegraded || resps[0].DegradedReason != "primary_unhealthy" || resps[0].Content == "" {
		t.Fatalf("responses %+v", resps)
	}
}
