package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/adapters/sse"
	"github.com/switchyard-llm/switchyard/schemas"
)

func ptr[T any](v T) *T { return &v }

// fullCall exercises every mapping: system and developer messages, images by data, URL and data
// URL, parallel tool calls and their results, consecutive user messages, and a prefill with
// trailing whitespace.
func fullCall() *adapters.Call {
	return &adapters.Call{
		RequestID:   "req-1",
		Model:       "claude-sonnet-4-5",
		MaxTokens:   1024,
		Temperature: ptr(0.2),
		Messages: []schemas.Message{
			{Role: "system", Content: "Be precise."},
			{Role: "user", Parts: []schemas.ContentPart{
				{Type: schemas.PartText, Text: "What's the weather in Paris?"},
				{Type: schemas.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: schemas.PartImage, URL: "https://example.com/sky.jpg"},
				{Type: schemas.PartImage, URL: "data:image/gif;base64,R0lGODlh"},
			}},
			{Role: "assistant", Content: "Let me check.", ToolCalls: []schemas.ToolCall{
				{ID: "toolu_1", Name: "get_weather", Arguments: `{ "city": "Paris" }`},
				{ID: "toolu_2", Name: "get_time"},
			}},
			{Role: "tool", Content: `{"temp_c":18}`, ToolCallID: "toolu_1"},
			{Role: "tool", Content: "14:05", ToolCallID: "toolu_2"},
			{Role: "developer", Content: "Answer in French."},
			{Role: "user", Content: "And tomorrow?"},
			{Role: "user", Content: "Be brief."},
			{Role: "assistant", Content: "Demain, il fera \n"},
		},
		Tools: []schemas.Tool{
			{Name: "get_weather", Description: "Weather by city", Parameters: `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`},
			{Name: "get_time", Parameters: `{"properties":{"tz":{"type":"string"}}}`},
			{Name: "noop"},
		},
		ToolChoice: "get_weather",
	}
}

func TestEncodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		call    *adapters.Call
		opts    encodeOptions
		golden  string // testdata file, or inline JSON when it starts with '{'
		prefill string
	}{
		{
			name:    "full",
			call:    fullCall(),
			golden:  "request_full.json",
			prefill: "Demain, il fera",
		},
		{
			name:   "prompt cache 1h",
			call:   &adapters.Call{Model: "m", MaxTokens: 5, Messages: []schemas.Message{{Role: "system", Content: "S"}, {Role: "user", Content: "x"}}},
			opts:   encodeOptions{cacheTTL: "1h"},
			golden: `{"model":"m","max_tokens":5,"system":"S","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"cache_control":{"type":"ephemeral","ttl":"1h"}}`,
		},
		{
			name:   "prompt cache 5m is the API's default lifetime",
			call:   &adapters.Call{Model: "m", MaxTokens: 5, Messages: []schemas.Message{{Role: "user", Content: "x"}}},
			opts:   encodeOptions{cacheTTL: "5m"},
			golden: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"cache_control":{"type":"ephemeral"}}`,
		},
		{
			name:   "basic stream, default max_tokens, tool_choice none",
			call:   &adapters.Call{Model: "m", ToolChoice: "none", Tools: []schemas.Tool{{Name: "t"}}, Messages: []schemas.Message{{Role: "user", Content: "Hi"}}},
			opts:   encodeOptions{stream: true, maxTokens: 4096},
			golden: `{"model":"m","max_tokens":4096,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"}}`,
		},
		{
			name:   "json_schema uses structured outputs, required is any, temperature zero kept",
			call:   &adapters.Call{Model: "m", MaxTokens: 5, Temperature: ptr(0.0), ToolChoice: "required", Tools: []schemas.Tool{{Name: "t", Parameters: `{"type":"object"}`}}, ResponseFormat: schemas.ResponseFormat{Type: "json_schema", Name: "a", Schema: `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`}, Messages: []schemas.Message{{Role: "user", Content: "x"}}},
			golden: `{"model":"m","max_tokens":5,"temperature":0,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}}}}`,
		},
		{
			name:   "json is asked for in the system prompt; tool_choice auto without tools dropped",
			call:   &adapters.Call{Model: "m", MaxTokens: 5, ToolChoice: "auto", ResponseFormat: schemas.ResponseFormat{Type: "json"}, Messages: []schemas.Message{{Role: "system", Content: "S"}, {Role: "user", Content: "x"}}},
			golden: `{"model":"m","max_tokens":5,"system":"S\n\n` + jsonInstruction + `","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		},
		{
			name: "empty messages dropped, whitespace-only prefill dropped, tool result with parts",
			call: &adapters.Call{Model: "m", MaxTokens: 5, Messages: []schemas.Message{
				{Role: "user", Content: "x"}, {Role: "assistant"}, {Role: "user", Parts: []schemas.ContentPart{{Type: "text"}}},
				{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "c", Name: "f", Arguments: " "}}},
				{Role: "tool", ToolCallID: "c", Parts: []schemas.ContentPart{{Type: "text", Text: "chart:"}, {Type: "image", MediaType: "image/jpeg", Data: "/9j/"}}},
				{Role: "tool", ToolCallID: "c"},
				{Role: "assistant", Content: "  "},
			}},
			golden: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","content":[{"type":"text","text":"chart:"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]},{"type":"tool_result","tool_use_id":"c"}]}]}`,
		},
		{
			name:   "tool results go first in their user turn",
			call:   &adapters.Call{Model: "m", MaxTokens: 5, Messages: []schemas.Message{{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "c", Name: "f"}}}, {Role: "user", Content: "by the way"}, {Role: "tool", ToolCallID: "c", Content: "r"}}},
			golden: `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","content":"r"},{"type":"text","text":"by the way"}]}]}`,
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
			adaptertest.JSONEqual(t, got.body, want)
			if got.prefill != tt.prefill {
				t.Errorf("prefill = %q, want %q", got.prefill, tt.prefill)
			}
			if bytes.Contains(got.body, []byte("req-1")) {
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
	assistantCall := func(args string) func(c *adapters.Call) {
		return func(c *adapters.Call) {
			c.Messages = append(c.Messages, schemas.Message{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "x", Name: "f", Arguments: args}}})
		}
	}
	tests := map[string]*adapters.Call{
		"nil":                    nil,
		"no model":               base(func(c *adapters.Call) { c.Model = "" }),
		"no messages":            base(func(c *adapters.Call) { c.Messages = nil }),
		"only system":            base(func(c *adapters.Call) { c.Messages[0].Role = "system" }),
		"unknown role":           base(func(c *adapters.Call) { c.Messages[0].Role = "wizard" }),
		"tool result without id": base(func(c *adapters.Call) { c.Messages[0].Role = "tool" }),
		"tool call without name": base(func(c *adapters.Call) {
			c.Messages = append(c.Messages, schemas.Message{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "x"}}})
		}),
		"tool call arguments not JSON":   base(assistantCall(`{"city": "` + secretPrompt)),
		"tool call arguments not object": base(assistantCall(`["` + secretPrompt + `"]`)),
		"image in assistant message": base(func(c *adapters.Call) {
			c.Messages[0] = schemas.Message{Role: "assistant", Parts: []schemas.ContentPart{{Type: "image", URL: "https://x"}}}
		}),
		"image in system message": base(func(c *adapters.Call) {
			c.Messages[0] = schemas.Message{Role: "system", Parts: []schemas.ContentPart{{Type: "image", URL: "https://x"}}}
		}),
		"image data without media type": base(func(c *adapters.Call) { c.Messages[0].Parts = []schemas.ContentPart{{Type: "image", Data: "AAAA"}} }),
		"image without data or URL":     base(func(c *adapters.Call) { c.Messages[0].Parts = []schemas.ContentPart{{Type: "image"}} }),
		"bad data URL": base(func(c *adapters.Call) {
			c.Messages[0].Parts = []schemas.ContentPart{{Type: "image", URL: "data:image/png,raw"}}
		}),
		"unknown part":                    base(func(c *adapters.Call) { c.Messages[0].Parts = []schemas.ContentPart{{Type: "audio"}} }),
		"bad tool name":                   base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "has space"}} }),
		"bad tool parameters":             base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "t", Parameters: "{" + secretPrompt}} }),
		"tool parameters not an object":   base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "t", Parameters: `{"type":"string"}`}} }),
		"tool_choice unknown tool":        base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "t"}}; c.ToolChoice = "other" }),
		"required without tools":          base(func(c *adapters.Call) { c.ToolChoice = "required" }),
		"json_schema without one":         base(func(c *adapters.Call) { c.ResponseFormat.Type = "json_schema" }),
		"json_schema not an object":       base(func(c *adapters.Call) { c.ResponseFormat = schemas.ResponseFormat{Type: "json_schema", Schema: `"x"`} }),
		"unknown response format":         base(func(c *adapters.Call) { c.ResponseFormat.Type = "yaml" }),
		"negative max tokens":             base(func(c *adapters.Call) { c.MaxTokens = -1 }),
		"temperature over Anthropic's 1":  base(func(c *adapters.Call) { c.Temperature = ptr(1.5) }),
		"negative temperature":            base(func(c *adapters.Call) { c.Temperature = ptr(-0.1) }),
		"only an empty assistant message": base(func(c *adapters.Call) { c.Messages[0] = schemas.Message{Role: "assistant", Content: " "} }),
	}
	a, err := New(Config{Name: "x", BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := encodeRequest(c, encodeOptions{maxTokens: 10})
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
		file    string
		prefill string
		want    adapters.Result
	}{
		{"response_basic.json", "", adapters.Result{
			Content: "Hi! My name is Claude.", FinishReason: "stop", Model: "claude-sonnet-4-5-20250929",
			ResponseID: "msg_013Zva2CMHLNnXjNJJKqJ2EF", Usage: schemas.Usage{InputTokens: 2095, OutputTokens: 503},
		}},
		{"response_basic.json", "Well. ", adapters.Result{
			Content: "Well. Hi! My name is Claude.", FinishReason: "stop", Model: "claude-sonnet-4-5-20250929",
			ResponseID: "msg_013Zva2CMHLNnXjNJJKqJ2EF", Usage: schemas.Usage{InputTokens: 2095, OutputTokens: 503},
		}},
		{"response_tool_use.json", "", adapters.Result{
			Content: "I'll check the current weather in San Francisco for you.", FinishReason: "tool_calls", Model: "claude-opus-4-6",
			ResponseID: "msg_01Aq9w938a90dw8q", Usage: schemas.Usage{InputTokens: 472, OutputTokens: 91},
			ToolCalls: []schemas.ToolCall{{ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather", Arguments: `{"location":"San Francisco, CA","unit":"celsius"}`}},
		}},
		{"response_parallel_tools_cached.json", "", adapters.Result{
			FinishReason: "tool_calls", Model: "claude-sonnet-4-6", ResponseID: "msg_01HjkQ8mWcN4pVzR2sTyXaBc",
			// Canonical input includes the cache: 21 + 1860 read + 188 written.
			Usage: schemas.Usage{InputTokens: 2069, OutputTokens: 112, CachedTokens: 1860, CacheWriteTokens: 188},
			ToolCalls: []schemas.ToolCall{
				{ID: "toolu_01WeatherNYC", Name: "get_weather", Arguments: `{"location":"New York, NY"}`},
				{ID: "toolu_01TimeNYC", Name: "get_time", Arguments: `{"timezone":"America/New_York"}`},
			},
		}},
		{"response_thinking.json", "", adapters.Result{
			Content: "Based on my analysis, the answer is", FinishReason: "length", Model: "claude-sonnet-4-5-20250929",
			ResponseID: "msg_01ThinkingExample", Usage: schemas.Usage{InputTokens: 56, OutputTokens: 1024, ReasoningTokens: 980},
		}},
		{"response_refusal.json", "", adapters.Result{
			Content: "I can't help with that.", FinishReason: "content_filter", Model: "claude-sonnet-4-5-20250929",
			ResponseID: "msg_01RefusalExample", Usage: schemas.Usage{InputTokens: 30, OutputTokens: 8},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := decodeResponse(adaptertest.ReadTestdata(t, tt.file), tt.prefill)
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
		"not JSON":              `<html>bad gateway</html>`,
		"cut":                   `{"id":"x","content":[{"type":"text","text":"hel`,
		"no stop reason":        `{"id":"x","type":"message","content":[{"type":"text","text":"hello"}],"stop_reason":null}`,
		"tool_use without name": `{"content":[{"type":"tool_use","id":"t","input":{}}],"stop_reason":"tool_use"}`,
		"tool_use input array":  `{"content":[{"type":"tool_use","id":"t","name":"f","input":["many"]}],"stop_reason":"tool_use"}`,
		"wrong type":            `{"content":"many","stop_reason":"end_turn"}`,
		"error type no object":  `{"type":"error"}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := decodeResponse([]byte(body), "")
			var me *malformedError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want malformed", err)
			}
			if strings.Contains(err.Error(), "hel") || strings.Contains(err.Error(), "many") {
				t.Errorf("error quotes the body: %v", err)
			}
		})
	}
	// An error envelope inside a 200.
	if _, err := decodeResponse(adaptertest.ReadTestdata(t, "error_overloaded.json"), ""); !errors.As(err, new(*providerError)) {
		t.Fatalf("error in 200: %v", err)
	}
	// A tool_use without input means no arguments.
	res, err := decodeResponse([]byte(`{"content":[{"type":"tool_use","id":"t","name":"f"}],"stop_reason":"tool_use"}`), "")
	if err != nil || res.ToolCalls[0].Arguments != "{}" {
		t.Fatalf("no input: %+v %v", res, err)
	}
}

func TestMapStop(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter", "weird": "error",
	} {
		if got := mapStop(in); got != want {
			t.Errorf("mapStop(%q) = %q, want %q", in, got, want)
		}
	}
}

// parseStream runs a recorded SSE body through the same path Stream uses.
func parseStream(body []byte, prefill string) (*adapters.Result, []adapters.Delta, error) {
	st := streamState{prefill: prefill}
	var deltas []adapters.Delta
	emit := func(d adapters.Delta) error {
		if d.ToolCall != nil {
			tc := *d.ToolCall
			d.ToolCall = &tc
		}
		deltas = append(deltas, d)
		return nil
	}
	rd := sse.NewReader(bytes.NewReader(body))
	for !st.done {
		ev, err := rd.Next()
		if err == io.EOF {
			break // result reports the missing message_stop
		}
		if err != nil {
			return nil, deltas, err
		}
		if err := st.add(ev.Type, ev.Data, emit); err != nil {
			return nil, deltas, err
		}
	}
	res, err := st.result(emit)
	return res, deltas, err
}

func joinContent(ds []adapters.Delta) string {
	var sb strings.Builder
	for _, d := range ds {
		sb.WriteString(d.Content)
	}
	return sb.String()
}

func TestStreamParse(t *testing.T) {
	t.Run("basic", func(t *testing.T) {
		res, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_basic.sse"), "")
		if err != nil {
			t.Fatal(err)
		}
		want := adapters.Result{Content: "Hello!", FinishReason: "stop", Model: "claude-opus-4-6", ResponseID: "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
			Usage: schemas.Usage{InputTokens: 25, OutputTokens: 15}}
		if !reflect.DeepEqual(*res, want) {
			t.Fatalf("got  %+v\nwant %+v", *res, want)
		}
		if len(deltas) != 2 || deltas[0].Content != "Hello" || deltas[1].Content != "!" {
			t.Errorf("deltas = %+v", deltas)
		}
	})
	t.Run("basic with prefill", func(t *testing.T) {
		res, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_basic.sse"), "Well: ")
		if err != nil || res.Content != "Well: Hello!" || joinContent(deltas) != res.Content || deltas[0].Content != "Well: " {
			t.Fatalf("res %+v deltas %+v err %v", res, deltas, err)
		}
	})
	t.Run("text then tool_use", func(t *testing.T) {
		res, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_tool_use.sse"), "")
		if err != nil {
			t.Fatal(err)
		}
		wantCalls := []schemas.ToolCall{{ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Name: "get_weather", Arguments: `{"location": "San Francisco, CA", "unit": "fahrenheit"}`}}
		if res.FinishReason != "tool_calls" || res.Content != "Okay, let's check the weather for San Francisco, CA:" || !reflect.DeepEqual(res.ToolCalls, wantCalls) ||
			res.Usage != (schemas.Usage{InputTokens: 472, OutputTokens: 89}) || res.ResponseID != "msg_014p7gG3wDgGV9EUtLvnow3U" {
			t.Fatalf("got %+v", res)
		}
		// The tool call's first delta names it; the empty first fragment is not delivered.
		var tool []adapters.ToolCallDelta
		for _, d := range deltas {
			if d.ToolCall != nil {
				tool = append(tool, *d.ToolCall)
			}
		}
		if len(tool) != 9 || tool[0] != (adapters.ToolCallDelta{Index: 0, ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Name: "get_weather"}) || tool[1].Arguments != `{"location":` || tool[1].Index != 0 {
			t.Errorf("tool deltas = %+v", tool)
		}
		if joinContent(deltas) != res.Content {
			t.Errorf("content deltas %q", joinContent(deltas))
		}
	})
	t.Run("thinking ignored, tool index counts tool_use blocks, CRLF, usage from message_delta", func(t *testing.T) {
		res, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_thinking_tools.sse"), "")
		if err != nil {
			t.Fatal(err)
		}
		wantCalls := []schemas.ToolCall{
			{ID: "toolu_01A", Name: "get_weather", Arguments: `{"location": "Paris"}`},
			{ID: "toolu_01B", Name: "get_time", Arguments: `{"tz":"CET"}`},
		}
		if res.Content != "Checking both." || !reflect.DeepEqual(res.ToolCalls, wantCalls) || res.FinishReason != "tool_calls" {
			t.Fatalf("got %+v", res)
		}
		if want := (schemas.Usage{InputTokens: 12 + 2048 + 256, OutputTokens: 74, CachedTokens: 2048, CacheWriteTokens: 256, ReasoningTokens: 31}); res.Usage != want {
			t.Errorf("usage %+v, want %+v", res.Usage, want)
		}
		// Index 1 is the second tool call although it is content block 3; its input came whole
		// with content_block_start and is delivered at content_block_stop.
		last := deltas[len(deltas)-1].ToolCall
		if last == nil || last.Index != 1 || last.Arguments != `{"tz":"CET"}` {
			t.Errorf("deltas = %+v", deltas)
		}
	})
	t.Run("error event", func(t *testing.T) {
		_, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_error.sse"), "")
		var pe *providerError
		if !errors.As(err, &pe) || pe.err.Type != "overloaded_error" || len(deltas) != 1 {
			t.Fatalf("err = %v, deltas %+v", err, deltas)
		}
	})
	bad := map[string]string{
		"no message_stop":          strings.TrimSuffix(string(adaptertest.ReadTestdata(t, "stream_basic.sse")), "event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n"),
		"no message_delta":         "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"x\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		"delta before start":       "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
		"delta for unknown block":  "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
		"block index skips":        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":5,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		"json delta for text":      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
		"malformed data":           "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"text\":\"broken\"}]]}\n\n",
		"second message_start":     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\nevent: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n",
		"error event, no object":   "event: error\ndata: {\"type\":\"error\"}\n\n",
		"tool_use without a name":  "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"input\":{}}}\n\n",
		"delta after block stop":   "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
		"empty body":               "",
		"cut inside an event":      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"cont",
		"stop reason only at stop": "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"stop_reason\":\"end_turn\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			res, _, err := parseStream([]byte(body), "")
			if err == nil || res != nil {
				t.Fatalf("res %+v, err %v", res, err)
			}
		})
	}
	t.Run("unknown events, ping and server-tool blocks ignored", func(t *testing.T) {
		body := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"x\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n" +
			"event: future_event\ndata: {\"type\":\"future_event\",\"x\":1}\n\n" +
			"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"all \"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"there\"}}\n\n" +
			"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"query\\\": \\\"x\\\"}\"}}\n\n" +
			"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"pause_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
		res, deltas, err := parseStream([]byte(body), "")
		if err != nil || res.Content != "all there" || len(deltas) != 2 || res.FinishReason != "stop" || res.Usage != (schemas.Usage{InputTokens: 3, OutputTokens: 2}) {
			t.Fatalf("res %+v deltas %+v err %v", res, deltas, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, name := range []string{"response_basic.json", "response_tool_use.json", "response_parallel_tools_cached.json", "response_thinking.json"} {
		f.Add(adaptertest.ReadTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := decodeResponse(body, "")
		if err == nil && res.FinishReason == "" {
			t.Fatal("success without a finish reason")
		}
	})
}

func FuzzStreamEvents(f *testing.F) {
	for _, name := range []string{"stream_basic.sse", "stream_tool_use.sse", "stream_thinking_tools.sse", "stream_error.sse"} {
		f.Add(adaptertest.ReadTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, deltas, err := parseStream(body, "")
		if err != nil {
			return
		}
		if res == nil || res.FinishReason == "" {
			t.Fatal("success without a finish reason")
		}
		if joinContent(deltas) != res.Content {
			t.Fatalf("deltas %q do not add up to the content %q", joinContent(deltas), res.Content)
		}
	})
}

// FuzzEncodeRequest feeds arbitrary texts, tool arguments and schemas through the encoder: it
// either refuses the call or produces valid JSON that keeps the turns alternating.
func FuzzEncodeRequest(f *testing.F) {
	f.Add("hello", `{"city":"Paris"}`, `{"type":"object","properties":{"a":{"type":"string"}}}`, "json_schema", " trailing ")
	f.Add("", "", "", "", "")
	f.Add("\u2028\x00\"", `[1]`, `{"type":"string"}`, "json", "\n")
	f.Fuzz(func(t *testing.T, text, args, schema, format, prefill string) {
		call := &adapters.Call{Model: "m", MaxTokens: 10, ResponseFormat: schemas.ResponseFormat{Type: format, Schema: schema},
			Tools: []schemas.Tool{{Name: "t", Parameters: schema}},
			Messages: []schemas.Message{
				{Role: "system", Content: text},
				{Role: "user", Content: text},
				{Role: "assistant", Content: text, ToolCalls: []schemas.ToolCall{{ID: "c", Name: "t", Arguments: args}}},
				{Role: "tool", ToolCallID: "c", Content: text},
				{Role: "assistant", Content: prefill},
			}}
		enc, err := encodeRequest(call, encodeOptions{})
		if err != nil {
			return
		}
		var req struct {
			Messages []struct {
				Role    string            `json:"role"`
				Content []json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(enc.body, &req); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, enc.body)
		}
		for i, m := range req.Messages {
			if len(m.Content) == 0 || i > 0 && m.Role == req.Messages[i-1].Role {
				t.Fatalf("turn %d: %s", i, enc.body)
			}
		}
		if enc.prefill != strings.TrimRightFunc(enc.prefill, unicode.IsSpace) {
			t.Fatalf("prefill %q ends with whitespace", enc.prefill)
		}
	})
}
