package openai

import (
	"bytes"
	"context"
	"fmt"
	"strings"
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
	basic := &adapters.Call{Model: "gpt-4o", MaxTokens: 100, Messages: []schemas.Message{
		{Role: "system", Content: "You are terse."}, {Role: "user", Content: "What is the capital of France?"}}}
	for _, tc := range []struct {
		name string
		call *adapters.Call
		opts encodeOptions
	}{
		{"basic", basic, encodeOptions{}},
		{"tools+history+stream", fullCall(), encodeOptions{stream: true, streamUsage: true}},
		{"mistral quirks", quirkCall("mistral-small-latest"), encodeOptions{stream: true, streamUsage: true, quirks: ptr(flavors[FlavorMistral])}},
		{"image parts", &adapters.Call{Model: "gpt-4o", Messages: []schemas.Message{{Role: "user", Parts: []schemas.ContentPart{
			{Type: schemas.PartText, Text: "What is in this picture?"},
			{Type: schemas.PartImage, MediaType: "image/png", Data: strings.Repeat("iVBORw0KGgo", 1000)},
		}}}}, encodeOptions{quirks: ptr(flavors[FlavorOpenAI])}},
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
	for _, name := range []string{"response_basic.json", "response_tool_calls.json"} {
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

// BenchmarkDecodeToolCalls decodes answers with parallel tool calls: non-streamed (one body)
// and streamed (a header delta and argument fragments per call, as OpenAI sends them).
func BenchmarkDecodeToolCalls(b *testing.B) {
	const calls = 8
	var body, stream bytes.Buffer
	body.WriteString(`{"id":"chatcmpl-t","object":"chat.completion","created":1727000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[`)
	for i := range calls {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"id":"call_%024d","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"unit\": \"celsius\", \"days\": %d}"}}`, i, i)
		fmt.Fprintf(&stream, `data: {"id":"chatcmpl-t","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":%d,"id":"call_%024d","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`+"\n\n", i, i)
		for _, frag := range []string{`{\"city\": \"Par`, `is\", \"unit\": \"cel`, `sius\", \"days\": 1}`} {
			fmt.Fprintf(&stream, `data: {"id":"chatcmpl-t","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":%d,"function":{"arguments":"%s"}}]},"finish_reason":null}]}`+"\n\n", i, frag)
		}
	}
	body.WriteString(`]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":120,"completion_tokens":200,"total_tokens":320}}`)
	stream.WriteString(`data: {"id":"chatcmpl-t","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\ndata: [DONE]\n\n")
	b.Run("complete", func(b *testing.B) {
		data := body.Bytes()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			res, err := decodeResponse(data)
			if err != nil || len(res.ToolCalls) != calls {
				b.Fatal(err)
			}
		}
	})
	b.Run("stream", func(b *testing.B) {
		data := stream.Bytes()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			res, _, err := parseStream(data)
			if err != nil || len(res.ToolCalls) != calls {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStreamParse measures SSE framing plus chunk decoding and accumulation.
func BenchmarkStreamParse(b *testing.B) {
	var body bytes.Buffer
	chunk := []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" three words here"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for range 200 {
		body.Write(chunk)
	}
	body.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n")
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
			if err != nil {
				b.Fatal(err)
			}
			if string(ev.Data) == "[DONE]" {
				break
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
	a, err := New(Config{Name: "sim", BaseURL: root + "/v1", APIKey: "sk-bench"})
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
	b.Run("complete-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			c := mkCall()
			for pb.Next() {
				if _, err := a.Complete(context.Background(), c); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
