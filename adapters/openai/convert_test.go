package openai

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/adapters/sse"
	"github.com/switchyard-llm/switchyard/schemas"
)

func ptr[T any](v T) *T { return &v }

func fullCall() *adapters.Call {
	return &adapters.Call{
		RequestID: "req-1",
		Model:     "gpt-4o",
		Messages: []schemas.Message{
			{Role: "system", Content: "Be precise."},
			{Role: "user", Content: "What's the weather in Paris?"},
			{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
			{Role: "tool", Content: `{"temp_c":18}`, ToolCallID: "call_1"},
			{Role: "user", Content: "And tomorrow?", Name: "alice"},
		},
		Tools: []schemas.Tool{
			{Name: "get_weather", Description: "Weather by city", Parameters: `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`},
			{Name: "noop"},
		},
		ToolChoice:     "get_weather",
		ResponseFormat: schemas.ResponseFormat{Type: "json_schema", Name: "weather", Schema: `{"type":"object","properties":{"temp_c":{"type":"number"}},"required":["temp_c"]}`},
		MaxTokens:      256,
	}
}

func TestEncodeRequest(t *testing.T) {
	tests := []struct {
		name   string
		call   *adapters.Call
		opts   encodeOptions
		golden string // testdata file, or inline JSON when it starts with '{'
	}{
		{
			name: "basic",
			call: &adapters.Call{Model: "gpt-4o", MaxTokens: 100, Temperature: ptr(0.2), Messages: []schemas.Message{
				{Role: "system", Content: "You are terse."}, {Role: "user", Content: "Hi"}}},
			golden: "request_basic.json",
		},
		{
			name:   "tools, history, json_schema, stream, max_completion_tokens",
			call:   fullCall(),
			opts:   encodeOptions{stream: true, streamUsage: true, useMaxCompletionTokens: true},
			golden: "request_full_stream.json",
		},
		{
			name:   "json mode, tool_choice required, empty user content",
			call:   &adapters.Call{Model: "m", ToolChoice: "required", ResponseFormat: schemas.ResponseFormat{Type: "json"}, Tools: []schemas.Tool{{Name: "t", Parameters: `{"type":"object"}`}}, Messages: []schemas.Message{{Role: "user"}}},
			golden: `{"model":"m","messages":[{"role":"user","content":""}],"tools":[{"type":"function","function":{"name":"t","parameters":{"type":"object"}}}],"tool_choice":"required","response_format":{"type":"json_object"}}`,
		},
		{
			name:   "stream without usage, tool_choice none without tools dropped, temperature zero kept",
			call:   &adapters.Call{Model: "m", ToolChoice: "none", Temperature: ptr(0.0), ResponseFormat: schemas.ResponseFormat{Type: "text"}, Messages: []schemas.Message{{Role: "developer", Content: "d"}, {Role: "assistant", Content: "a"}}},
			opts:   encodeOptions{stream: true},
			golden: `{"model":"m","messages":[{"role":"developer","content":"d"},{"role":"assistant","content":"a"}],"temperature":0,"stream":true}`,
		},
		{
			name:   "assistant text with tool calls keeps both, empty arguments become {}",
			call:   &adapters.Call{Model: "m", Messages: []schemas.Message{{Role: "assistant", Content: "Let me check.", ToolCalls: []schemas.ToolCall{{ID: "c", Name: "f"}}}}},
			golden: `{"model":"m","messages":[{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRequest(tt.call, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			want := []byte(tt.golden)
			if !strings.HasPrefix(tt.golden, "{") {
				want = adaptertest.ReadTestdata(t, tt.golden)
			}
			adaptertest.JSONEqual(t, got, want)
			if bytes.Contains(got, []byte("req-1")) {
				t.Error("the request id leaked into the body")
			}
		})
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	const secretPrompt = "TOP SECRET PROMPT TEXT"
	base := func(mut func(c *adapters.Call)) *adapters.Call {
		c := &adapters.Call{Model: "m", Messages: []schemas.Message{{Role: "user", Content: secretPrompt}}}
		mut(c)
		return c
	}
	tests := map[string]*adapters.Call{
		"nil":                    nil,
		"no model":               base(func(c *adapters.Call) { c.Model = "" }),
		"no messages":            base(func(c *adapters.Call) { c.Messages = nil }),
		"unknown role":           base(func(c *adapters.Call) { c.Messages[0].Role = "wizard" }),
		"tool result without id": base(func(c *adapters.Call) { c.Messages[0].Role = "tool" }),
		"tool call without name": base(func(c *adapters.Call) {
			c.Messages = append(c.Messages, schemas.Message{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "x"}}})
		}),
		"bad tool name":            base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "has space"}} }),
		"bad tool parameters":      base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "t", Parameters: "{" + secretPrompt}} }),
		"tool_choice unknown tool": base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "t"}}; c.ToolChoice = "other" }),
		"required without tools":   base(func(c *adapters.Call) { c.ToolChoice = "required" }),
		"json_schema without one":  base(func(c *adapters.Call) { c.ResponseFormat.Type = "json_schema" }),
		"unknown response format":  base(func(c *adapters.Call) { c.ResponseFormat.Type = "yaml" }),
		"negative max tokens":      base(func(c *adapters.Call) { c.MaxTokens = -1 }),
	}
	a, err := New(Config{Name: "x", BaseURL: "http://127.0.0.1:1/v1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := encodeRequest(c, encodeOptions{})
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error quotes the prompt: %v", err)
			}
			// Through the adapter it is an InvalidRequest and nothing is sent.
			_, err = a.Complete(t.Context(), c)
			if adapters.KindOf(err) != adapters.InvalidRequest {
				t.Errorf("Complete: %v", err)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		file string
		want adapters.Result
	}{
		{"response_basic.json", adapters.Result{
			Content: "Hello! How can I assist you today?", FinishReason: "stop", Model: "gpt-4.1-2025-04-14",
			ResponseID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", Usage: schemas.Usage{InputTokens: 19, OutputTokens: 10},
		}},
		{"response_tool_calls.json", adapters.Result{
			FinishReason: "tool_calls", Model: "gpt-4o-mini-2024-07-18", ResponseID: "chatcmpl-abc123",
			ToolCalls: []schemas.ToolCall{
				{ID: "call_abc123", Name: "get_current_weather", Arguments: "{\n\"location\": \"Boston, MA\"\n}"},
				{ID: "call_def456", Name: "get_current_weather", Arguments: `{"location": "Paris, France", "unit": "celsius"}`},
			},
			Usage: schemas.Usage{InputTokens: 2006, OutputTokens: 300, CachedTokens: 1920, ReasoningTokens: 192},
		}},
		{"response_length.json", adapters.Result{
			Content: "The history of Rome begins", FinishReason: "length", Model: "gpt-4o-2024-08-06", ResponseID: "chatcmpl-len",
			Usage: schemas.Usage{InputTokens: 12, OutputTokens: 5},
		}},
		{"response_refusal.json", adapters.Result{
			Content: "I'm sorry, I cannot assist with that request.", FinishReason: "content_filter", Model: "gpt-4o-2024-08-06", ResponseID: "chatcmpl-ref",
			Usage: schemas.Usage{InputTokens: 81, OutputTokens: 11},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := decodeResponse(adaptertest.ReadTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestDecodeResponseMalformed(t *testing.T) {
	tests := map[string]string{
		"not JSON":                 `<html>bad gateway</html>`,
		"cut":                      `{"id":"x","choices":[{"index":0,"message":{"content":"hel`,
		"no choices":               `{"id":"x","choices":[]}`,
		"nothing at all":           `{"id":"x","choices":[{"index":0,"message":{"role":"assistant"},"finish_reason":null}]}`,
		"tool call without a name": `{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`,
		"wrong type":               `{"choices":"many"}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := decodeResponse([]byte(body))
			var me *malformedError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want malformed", err)
			}
			if strings.Contains(err.Error(), "hel") || strings.Contains(err.Error(), "many") {
				t.Errorf("error quotes the body: %v", err)
			}
		})
	}
	// finish_reason null on an otherwise complete answer (some compatible servers).
	res, err := decodeResponse([]byte(`{"choices":[{"message":{"content":"ok"},"finish_reason":null}]}`))
	if err != nil || res.FinishReason != adapters.FinishStop || res.Content != "ok" {
		t.Fatalf("lenient finish: %+v %v", res, err)
	}
	// An error object inside a 200.
	if _, err := decodeResponse([]byte(`{"error":{"message":"boom","type":"server_error"}}`)); !errors.As(err, new(*providerError)) {
		t.Fatalf("error in 200: %v", err)
	}
}

func TestMapFinish(t *testing.T) {
	for in, want := range map[string]string{
		"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
		"content_filter": "content_filter", "eos": "stop", "max_tokens": "length", "weird": "error",
	} {
		if got := mapFinish(in); got != want {
			t.Errorf("mapFinish(%q) = %q, want %q", in, got, want)
		}
	}
}

// parseStream runs a recorded SSE body through the same path Stream uses.
func parseStream(body []byte) (*adapters.Result, []adapters.Delta, error) {
	var st streamState
	var deltas []adapters.Delta
	rd := sse.NewReader(bytes.NewReader(body))
	for {
		ev, err := rd.Next()
		if err != nil {
			return nil, deltas, err
		}
		if string(ev.Data) == "[DONE]" {
			res, err := st.result()
			return res, deltas, err
		}
		if err := st.add(ev.Data, func(d adapters.Delta) error {
			if d.ToolCall != nil {
				tc := *d.ToolCall
				d.ToolCall = &tc
			}
			deltas = append(deltas, d)
			return nil
		}); err != nil {
			return nil, deltas, err
		}
	}
}

func TestStreamParse(t *testing.T) {
	t.Run("basic with usage", func(t *testing.T) {
		res, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_basic.sse"))
		if err != nil {
			t.Fatal(err)
		}
		want := adapters.Result{Content: "Hello! How can I help?", FinishReason: "stop", Model: "gpt-4o-mini", ResponseID: "chatcmpl-123",
			Usage: schemas.Usage{InputTokens: 1200, OutputTokens: 6, CachedTokens: 1024}}
		if !reflect.DeepEqual(*res, want) {
			t.Fatalf("got  %+v\nwant %+v", *res, want)
		}
		if len(deltas) != 3 || deltas[0].Content != "Hello" {
			t.Errorf("deltas = %+v", deltas)
		}
	})
	t.Run("parallel tool calls, CRLF, comments", func(t *testing.T) {
		res, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_tool_calls.sse"))
		if err != nil {
			t.Fatal(err)
		}
		want := []schemas.ToolCall{
			{ID: "call_DdmO9pD3xa9XTPNJ32zg2hcA", Name: "get_weather", Arguments: `{"location": "Paris"}`},
			{ID: "call_2", Name: "get_time", Arguments: `{"tz":"CET"}`},
		}
		if res.FinishReason != "tool_calls" || !reflect.DeepEqual(res.ToolCalls, want) || res.Content != "" {
			t.Fatalf("got %+v", res)
		}
		if len(deltas) != 5 || deltas[3].ToolCall.Index != 1 || deltas[3].ToolCall.Name != "get_time" {
			t.Errorf("deltas = %+v", deltas)
		}
	})
	t.Run("chunk fields do not leak into the next chunk", func(t *testing.T) {
		body := "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"length\"}]}\n\n" +
			"data: {\"choices\":[{\"index\":0,\"delta\":{}}]}\n\n" +
			"data: [DONE]\n\n"
		res, deltas, err := parseStream([]byte(body))
		if err != nil || res.Content != "a" || len(deltas) != 1 || res.FinishReason != "length" {
			t.Fatalf("res %+v deltas %+v err %v", res, deltas, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, name := range []string{"response_basic.json", "response_tool_calls.json", "response_refusal.json", "response_deepseek_reasoner.json"} {
		f.Add(adaptertest.ReadTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := decodeResponse(body)
		if err == nil && res.FinishReason == "" {
			t.Fatal("success without a finish reason")
		}
	})
}

func FuzzStreamChunks(f *testing.F) {
	f.Add(adaptertest.ReadTestdata(f, "stream_basic.sse"))
	f.Add(adaptertest.ReadTestdata(f, "stream_tool_calls.sse"))
	for _, name := range []string{"stream_deepseek_reasoner.sse", "stream_groq_x_groq.sse", "stream_mistral_usage.sse", "stream_ollama_no_index.sse", "stream_ollama_index0.sse"} {
		f.Add(adaptertest.ReadTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, _, err := parseStream(body)
		if err == nil && (res == nil || res.FinishReason == "") {
			t.Fatal("success without a finish reason")
		}
	})
}
