package anthropic

import (
	"bytes"
	"context"
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
	basic := &adapters.Call{Model: "claude-sonnet-4-5", MaxTokens: 100, Messages: []schemas.Message{
		{Role: "system", Content: "You are terse."}, {Role: "user", Content: "What is the capital of France?"}}}
	for _, tc := range []struct {
		name string
		call *adapters.Call
		opts encodeOptions
	}{
		{"basic", basic, encodeOptions{}},
		{"tools+history+images+stream", fullCall(), encodeOptions{stream: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := encodeRequest(tc.call, tc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	for _, name := range []string{"response_basic.json", "response_tool_use.json", "response_parallel_tools_cached.json"} {
		body := adaptertest.ReadTestdata(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeResponse(body, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream measures SSE framing plus event decoding and accumulation: the recorded
// documented streams, and a long text answer of 200 deltas.
func BenchmarkStream(b *testing.B) {
	var long bytes.Buffer
	long.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n")
	long.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n")
	for range 200 {
		long.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" three words here\"}}\n\n")
	}
	long.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	long.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":600}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"stream_basic.sse", adaptertest.ReadTestdata(b, "stream_basic.sse")},
		{"stream_tool_use.sse", adaptertest.ReadTestdata(b, "stream_tool_use.sse")},
		{"text-200-deltas", long.Bytes()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			rd := bytes.NewReader(tc.body)
			emit := func(adapters.Delta) error { return nil }
			for b.Loop() {
				rd.Reset(tc.body)
				r := sse.NewReader(rd)
				st := streamState{}
				for !st.done {
					ev, err := r.Next()
					if err != nil {
						b.Fatal(err)
					}
					if err := st.add(ev.Type, ev.Data, emit); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := st.result(emit); err != nil {
					b.Fatal(err)
				}
			}
		})
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
	a, err := New(Config{Name: "sim", BaseURL: root, APIKey: "sk-bench"})
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
