package gemini

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/adapters/sse"
	"github.com/switchyard-llm/switchyard/schemas"
)

func BenchmarkEncodeRequest(b *testing.B) {
	basic := &adapters.Call{Model: "gemini-2.5-flash", MaxTokens: 100, Messages: []schemas.Message{
		{Role: "system", Content: "You are terse."}, {Role: "user", Content: "What is the capital of France?"}}}
	for _, tc := range []struct {
		name string
		call *adapters.Call
	}{
		{"basic", basic},
		{"tools+history+images+schema", fullCall()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := encodeRequest(tc.call); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	for _, name := range []string{"response_text.json", "response_function_calls.json"} {
		body := adaptertest.ReadTestdata(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeResponse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream measures SSE framing plus chunk decoding and accumulation of a 200-chunk
// answer in Gemini's shapes (every chunk carries usage, model version and response id).
func BenchmarkStream(b *testing.B) {
	var body bytes.Buffer
	chunk := []byte(`data: {"candidates": [{"content": {"parts": [{"text": " three words here"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 12,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 12}]},"modelVersion": "gemini-2.5-flash","responseId": "7lPEaP6WH8WYz7IPqeXW-A4"}` + "\r\n\r\n")
	for range 200 {
		body.Write(chunk)
	}
	body.WriteString(`data: {"candidates": [{"content": {"parts": [{"text": "."}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 12,"candidatesTokenCount": 600,"totalTokenCount": 612},"modelVersion": "gemini-2.5-flash","responseId": "7lPEaP6WH8WYz7IPqeXW-A4"}` + "\r\n\r\n")
	payload := body.Bytes()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	rd := bytes.NewReader(payload)
	emit := func(adapters.Delta) error { return nil }
	for b.Loop() {
		rd.Reset(payload)
		r := sse.NewReader(rd)
		var st streamState
		for {
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := st.add(ev.Data, emit); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := st.result(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTrip is a full adapter call against the in-process simulator over loopback HTTP
// (no simulated latency): encode, HTTP, the simulator's work, decode.
func BenchmarkRoundTrip(b *testing.B) {
	srv, err := sim.NewServer(sim.Config{})
	if err != nil {
		b.Fatal(err)
	}
	root, err := srv.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	a, err := New(Config{Name: "sim", BaseURL: root, APIKey: "AIza-bench"})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	mkCall := func() *adapters.Call {
		return &adapters.Call{RequestID: "bench-" + time.Now().String() + string(rune('a'+n.Add(1)%26)), Model: "sim-ok", MaxTokens: 64,
			Messages: []schemas.Message{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "What is the capital of France?"}}}
	}
	call := mkCall()
	noop := func(adapters.Delta) error { return nil }
	b.Run("complete", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Complete(context.Background(), call); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Stream(context.Background(), call, noop); err != nil {
				b.Fatal(err)
			}
		}
	})
}
