package schemas

import "testing"

// BenchmarkRequest measures encoding and strict decoding of the golden Request. Compare runs
// with benchstat; there are no timing asserts.
func BenchmarkRequest(b *testing.B) {
	for _, format := range []OutputFormat{FormatSingleObject, FormatJSON} {
		c := mustCodec(b, CodecOptions{OutputFormat: format})
		r := sampleRequest()
		data, err := c.Encode(TypeRequest, r)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+string(format), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := c.Encode(TypeRequest, r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/"+string(format), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := c.DecodeRequest(data, c.ContentType()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeAuditEvent encodes one audit event as the roles emit about fifteen per request.
func BenchmarkEncodeAuditEvent(b *testing.B) {
	codec, err := NewCodec(CodecOptions{OutputFormat: FormatSingleObject})
	if err != nil {
		b.Fatal(err)
	}
	ev := AuditEvent{EventID: "run-1/req-000123/h0/attempt.succeeded/0", RequestID: "run-1/req-000123", TenantID: "acme",
		TS: 1795654000000000, Type: EventAttemptSucceeded, Stage: StageProvider, Provider: "openai", Model: "gpt-4o-mini-2024-07-18",
		DurationUS: 1834, Attrs: map[string]string{"attempt_id": "run-1/req-000123/h0/a0", "input_tokens": "42", "output_tokens": "40",
			"cost_usd": "2.4e-05", "finish_reason": "stop"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codec.Encode(TypeAuditEvent, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
