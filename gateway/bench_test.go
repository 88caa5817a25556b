package gateway

import (
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// BenchmarkCallOwnCode is the gateway's own work for one plain call, without HTTP or Kafka:
// hash the key, parse the body, build and validate the canonical request, and write the
// completion body from the response.
func BenchmarkCallOwnCode(b *testing.B) {
	ring, err := newKeyring([]Key{{SHA256: HashKey(testKey), Tenant: "acme", Name: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"system","content":"Answer briefly."},{"role":"user","content":"What is a switchyard, and why would a railway need one?"}]}`)
	resp := &schemas.Response{RequestID: "gw-0123456789abcdef", TenantID: "acme", Status: "ok", Provider: "openai",
		Model: "gpt-4o-mini-2024-07-18", Content: "A switchyard sorts railway cars onto trains by destination.", FinishReason: "stop",
		Usage: schemas.Usage{InputTokens: 30, OutputTokens: 12}, CostUSD: 0.00001, Attempts: []schemas.Attempt{{Outcome: "ok"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, found := ring[hashOf(testKey)]; !found {
			b.Fatal("key")
		}
		chat, aerr := ParseChatRequest(body)
		if aerr != nil {
			b.Fatal(aerr)
		}
		req, aerr := chat.ToRequest(schemas.Request{RequestID: "gw-0123456789abcdef", TenantID: "acme", CreatedAt: time.Now().UnixMilli(),
			Priority: "interactive", TaskType: "chat", DeadlineMS: 120000})
		if aerr != nil || req == nil {
			b.Fatal(aerr)
		}
		if out := Completion(resp, "chatcmpl-gw-0123456789abcdef", 1); len(out) == 0 {
			b.Fatal("empty completion")
		}
	}
}
