package roles

import (
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// BenchmarkOwnCode measures the narrow overhead of one request in our own code, stage by stage,
// without Kafka or HTTP: decode and validate the request, route it, encode and decode the work
// item, then build and encode the response and the audit events the roles emit (ten per
// request on the happy path).
func BenchmarkOwnCode(b *testing.B) {
	codec, err := schemas.NewCodec(schemas.CodecOptions{OutputFormat: schemas.FormatSingleObject})
	if err != nil {
		b.Fatal(err)
	}
	rt, err := router.New(router.Table{
		Models: []router.Model{
			{Name: "m", Provider: "p1", Version: "m-1", ContextWindow: 128000, MaxOutputTokens: 4000, Price: router.Price{InputPerMTok: 1, OutputPerMTok: 2}},
			{Name: "f", Provider: "p2", Version: "f-1", ContextWindow: 128000, MaxOutputTokens: 4000, Price: router.Price{InputPerMTok: 1, OutputPerMTok: 2}},
		},
		Default: router.Rule{Model: "m", Fallbacks: []string{"f"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	req := schemas.Request{RequestID: "bench/1", TenantID: "acme", UserID: "u1", CreatedAt: time.Now().UnixMilli(), TaskType: "chat",
		Priority: "interactive", ResponseFormat: schemas.ResponseFormat{Type: "text"}, MaxTokens: 64,
		Messages: []schemas.Message{{Role: "system", Content: "You are a concise assistant."},
			{Role: "user", Content: "Summarise the quarterly report in three bullet points."}}}
	raw, err := codec.Encode(schemas.TypeRequest, &req)
	if err != nil {
		b.Fatal(err)
	}
	var item schemas.WorkItem
	var workRaw []byte
	b.Run("decode-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := codec.DecodeRequest(raw, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("route", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rt.Decide(&req); err != nil {
				b.Fatal(err)
			}
		}
	})
	d, _ := rt.Decide(&req)
	item = schemas.WorkItem{Request: req, Provider: d.Provider, Model: d.Model, Fallbacks: d.Fallbacks, RoutedAt: req.CreatedAt}
	b.Run("encode-work", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if workRaw, err = codec.Encode(schemas.TypeWorkItem, &item); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-work", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var w schemas.WorkItem
			if err := codec.Decode(schemas.TypeWorkItem, workRaw, "", &w); err != nil {
				b.Fatal(err)
			}
		}
	})
	resp := &schemas.Response{RequestID: req.RequestID, TenantID: req.TenantID, Status: schemas.StatusOK, Provider: "p1", Model: "m-1",
		Content: "Revenue grew 12%. Costs fell 3%. Margin widened to 18%.", FinishReason: "stop",
		Usage: schemas.Usage{InputTokens: 30, OutputTokens: 20}, CostUSD: 0.00007,
		Attempts: []schemas.Attempt{{AttemptID: "bench/1/h0/a0", Provider: "p1", Model: "m-1", Outcome: "ok"}}}
	b.Run("encode-response-and-10-audit-events", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := newOutputs(codec, "llm.audit")
			out.forRequest(req.RequestID, req.TenantID, 0)
			if err := out.add("llm.responses", req.RequestID, schemas.TypeResponse, resp); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				out.audit(schemas.EventAttemptSucceeded, schemas.StageProvider, "p1", "m-1", time.Millisecond,
					"attempt_id", "bench/1/h0/a0", "finish_reason", "stop")
			}
		}
	})
}
