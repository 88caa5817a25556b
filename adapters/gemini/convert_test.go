package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/adapters/sse"
	"github.com/switchyard-llm/switchyard/schemas"
)

func ptr[T any](v T) *T { return &v }

// fullCall exercises every part of the encoder: system and developer messages, image parts,
// assistant text with two tool calls (one with a synthetic id, one with Gemini's), their
// results (one named by lookup, one by Name, one not a JSON object), tools with a schema that
// needs rewriting, a named tool choice, a JSON schema, max tokens and temperature.
func fullCall() *adapters.Call {
	return &adapters.Call{
		RequestID: "req-1",
		Model:     "gemini-2.5-flash",
		Messages: []schemas.Message{
			{Role: "system", Content: "Be precise."},
			{Role: "developer", Content: "Answer in English."},
			{Role: "user", Parts: []schemas.ContentPart{
				{Type: schemas.PartText, Text: "What's the weather where this photo was taken?"},
				{Type: schemas.PartImage, Data: "iVBORw0KGgo=", MediaType: "image/png"},
				{Type: schemas.PartImage, URL: "https://example.com/paris.JPG?size=large"},
			}},
			{Role: "assistant", Content: "Let me check.", ToolCalls: []schemas.ToolCall{
				{ID: "call_0", Name: "get_weather", Arguments: `{"city": "Paris"}`},
				{ID: "fc-7", Name: "get_time"},
			}},
			{Role: "tool", ToolCallID: "call_0", Content: `{"temp_c":18}`},
			{Role: "tool", ToolCallID: "fc-7", Name: "get_time", Content: "12:00 CET"},
			{Role: "user", Content: "And tomorrow?"},
		},
		Tools: []schemas.Tool{
			{Name: "get_weather", Description: "Weather by city", Parameters: `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"city":{"type":"string"},"unit":{"type":["string","null"],"enum":["c","f"]}},"required":["city"],"additionalProperties":false}`},
			{Name: "get_time"},
		},
		ToolChoice:     "get_weather",
		ResponseFormat: schemas.ResponseFormat{Type: "json_schema", Name: "weather", Schema: `{"type":"object","properties":{"temp_c":{"type":"number"}},"required":["temp_c"],"additionalProperties":false}`},
		MaxTokens:      256,
		Temperature:    ptr(0.2),
	}
}

func TestEncodeRequest(t *testing.T) {
	tests := []struct {
		name   string
		call   *adapters.Call
		golden string // testdata file, or inline JSON when it starts with '{'
	}{
		{name: "full", call: fullCall(), golden: "request_full.json"},
		{
			name:   "basic",
			call:   &adapters.Call{Model: "gemini-2.0-flash", Messages: []schemas.Message{{Role: "user", Content: "Hi"}}},
			golden: `{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}`,
		},
		{
			name: "json mode, required, none without tools dropped, temperature zero kept",
			call: &adapters.Call{Model: "m", ResponseFormat: schemas.ResponseFormat{Type: "json"}, Temperature: ptr(0.0),
				Tools: []schemas.Tool{{Name: "t", Parameters: `{"type":"object"}`}}, ToolChoice: "required",
				Messages: []schemas.Message{{Role: "user", Content: "x"}}},
			golden: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"t","parameters":{"type":"object"}}]}],` +
				`"toolConfig":{"functionCallingConfig":{"mode":"ANY"}},"generationConfig":{"temperature":0,"responseMimeType":"application/json"}}`,
		},
		{
			name:   "empty system and assistant messages and empty text parts are left out",
			call:   &adapters.Call{Model: "m", Messages: []schemas.Message{{Role: "system"}, {Role: "user", Parts: []schemas.ContentPart{{Type: "text"}, {Type: "text", Text: "x"}}}, {Role: "assistant"}}},
			golden: `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`,
		},
		{
			name:   "tool choice none without tools is dropped; auto and none with tools are sent",
			call:   &adapters.Call{Model: "m", ToolChoice: "none", Messages: []schemas.Message{{Role: "user", Content: "x"}}},
			golden: `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`,
		},
		{
			name: "tool choice auto",
			call: &adapters.Call{Model: "m", ToolChoice: "auto", Tools: []schemas.Tool{{Name: "t"}}, Messages: []schemas.Message{{Role: "user", Content: "x"}}},
			golden: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"t","parameters":{"type":"object","properties":{}}}]}],` +
				`"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`,
		},
		{
			name: "Gemini 3: the first function call of each model turn carries the documented skip signature",
			call: &adapters.Call{Model: "gemini-3-pro-preview", Messages: []schemas.Message{
				{Role: "user", Content: "x"},
				{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "call_0", Name: "f"}, {ID: "call_1", Name: "g"}}},
				{Role: "tool", ToolCallID: "call_0", Content: "1"},
				{Role: "tool", ToolCallID: "call_1", Content: "2"},
				{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "call_0", Name: "f"}}},
				{Role: "tool", ToolCallID: "call_0", Content: "3"},
			}},
			golden: `{"contents":[{"role":"user","parts":[{"text":"x"}]},` +
				`{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"},{"functionCall":{"name":"g","args":{}}}]},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"content":"1"}}},{"functionResponse":{"name":"g","response":{"content":"2"}}}]},` +
				`{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"content":"3"}}}]}]}`,
		},
		{
			name: "a signature Gemini returned goes back unchanged, on every call that has one",
			call: &adapters.Call{Model: "gemini-3-pro-preview", Messages: []schemas.Message{
				{Role: "user", Content: "x"},
				{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "call_0", Name: "f", Signature: "c2lnLWE="}, {ID: "call_1", Name: "g"}}},
				{Role: "tool", ToolCallID: "call_0", Content: "1"},
				{Role: "tool", ToolCallID: "call_1", Content: "2"},
			}},
			golden: `{"contents":[{"role":"user","parts":[{"text":"x"}]},` +
				`{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"c2lnLWE="},{"functionCall":{"name":"g","args":{}}}]},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"content":"1"}}},{"functionResponse":{"name":"g","response":{"content":"2"}}}]}]}`,
		},
		{
			name: "data URL image, tool result that is a JSON array, tool calls without text",
			call: &adapters.Call{Model: "m", Messages: []schemas.Message{
				{Role: "user", Parts: []schemas.ContentPart{{Type: "image", URL: "data:image/webp;base64,UklGRg=="}}},
				{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "call_3", Name: "f", Arguments: "{}"}}},
				{Role: "tool", ToolCallID: "call_3", Content: `[1,2]`},
			}},
			golden: `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/webp","data":"UklGRg=="}}]},` +
				`{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"content":"[1,2]"}}}]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRequest(tt.call)
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
		"nil":                   nil,
		"no model":              base(func(c *adapters.Call) { c.Model = "" }),
		"no messages":           base(func(c *adapters.Call) { c.Messages = nil }),
		"only a system message": base(func(c *adapters.Call) { c.Messages[0].Role = "system" }),
		"unknown role":          base(func(c *adapters.Call) { c.Messages[0].Role = "wizard" }),
		"empty user message":    base(func(c *adapters.Call) { c.Messages[0].Content = "" }),
		"tool result, no caller": base(func(c *adapters.Call) {
			c.Messages[0] = schemas.Message{Role: "tool", ToolCallID: "x", Content: secretPrompt}
		}),
		"tool result, no id": base(func(c *adapters.Call) { c.Messages[0] = schemas.Message{Role: "tool", Content: secretPrompt} }),
		"tool call without name": base(func(c *adapters.Call) {
			c.Messages = append(c.Messages, schemas.Message{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "x"}}})
		}),
		"tool call args not an object": base(func(c *adapters.Call) {
			c.Messages = append(c.Messages, schemas.Message{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "x", Name: "f", Arguments: `["` + secretPrompt + `"]`}}})
		}),
		"tool call args invalid": base(func(c *adapters.Call) {
			c.Messages = append(c.Messages, schemas.Message{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "x", Name: "f", Arguments: `{"a":` + secretPrompt}}})
		}),
		"prefill": base(func(c *adapters.Call) {
			c.Messages = append(c.Messages, schemas.Message{Role: "assistant", Content: "The answer is"})
		}),
		"image without media type": base(func(c *adapters.Call) {
			c.Messages[0].Parts = []schemas.ContentPart{{Type: "image", URL: "https://example.com/picture"}}
		}),
		"image data without media type": base(func(c *adapters.Call) {
			c.Messages[0].Parts = []schemas.ContentPart{{Type: "image", Data: "AAAA"}}
		}),
		"image in a system message": base(func(c *adapters.Call) {
			c.Messages = append(c.Messages, schemas.Message{Role: "system", Parts: []schemas.ContentPart{{Type: "image", Data: "AAAA", MediaType: "image/png"}}})
		}),
		"unknown part type":        base(func(c *adapters.Call) { c.Messages[0].Parts = []schemas.ContentPart{{Type: "audio"}} }),
		"bad tool name":            base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "has space"}} }),
		"bad tool parameters":      base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "t", Parameters: `{"type":"string"}`}} }),
		"tool_choice unknown tool": base(func(c *adapters.Call) { c.Tools = []schemas.Tool{{Name: "t"}}; c.ToolChoice = "other" }),
		"required without tools":   base(func(c *adapters.Call) { c.ToolChoice = "required" }),
		"json_schema without one":  base(func(c *adapters.Call) { c.ResponseFormat.Type = "json_schema" }),
		"json_schema invalid": base(func(c *adapters.Call) {
			c.ResponseFormat = schemas.ResponseFormat{Type: "json_schema", Schema: `{"$ref":"http://x/y"}`}
		}),
		"unknown response format": base(func(c *adapters.Call) { c.ResponseFormat.Type = "yaml" }),
		"negative max tokens":     base(func(c *adapters.Call) { c.MaxTokens = -1 }),
	}
	a, err := New(Config{Name: "x", BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := encodeRequest(c)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error quotes the prompt: %v", err)
			}
			// Through the adapter it is an InvalidRequest and nothing is sent (port 1 refuses).
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
		{"response_text.json", adapters.Result{
			Content: "AI learns patterns from data and uses them to make predictions.", FinishReason: "stop",
			Model: "gemini-2.5-flash", ResponseID: "mAitaLmkHPPlz7IPvtfUqQ4",
			Usage: schemas.Usage{InputTokens: 2100, OutputTokens: 60, CachedTokens: 2048, ReasoningTokens: 48},
		}},
		{"response_function_calls.json", adapters.Result{
			FinishReason: "tool_calls", Model: "gemini-2.5-flash", ResponseID: "Xr3EaJqMCIS_z7IPnf6dWQ",
			ToolCalls: []schemas.ToolCall{
				{ID: "call_0", Name: "power_disco_ball", Arguments: `{"power":true}`, Signature: "CiQB0e2Kb6Kx4m1Hq0b0sJcJ6ZcPqk9YfG0="},
				{ID: "call_1", Name: "start_music", Arguments: `{"energetic":true,"loud":true}`},
				{ID: "fc-dim-1", Name: "dim_lights", Arguments: `{"brightness":0.5}`},
			},
			Usage: schemas.Usage{InputTokens: 158, OutputTokens: 44},
		}},
		{"response_max_tokens.json", adapters.Result{
			Content: "The history of Rome begins", FinishReason: "length", Model: "gemini-2.0-flash-001", ResponseID: "len-1",
			Usage: schemas.Usage{InputTokens: 9, OutputTokens: 5},
		}},
		{"response_safety.json", adapters.Result{
			Content: "Here is the beginning of", FinishReason: "content_filter", Model: "gemini-2.0-flash", ResponseID: "safety-1",
			Usage: schemas.Usage{InputTokens: 12, OutputTokens: 6},
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

func TestDecodeBlockedAndMalformed(t *testing.T) {
	_, err := decodeResponse(adaptertest.ReadTestdata(t, "response_blocked_prompt.json"))
	be, ok := errors.AsType[*blockedError](err)
	if !ok || be.reason != "SAFETY" {
		t.Fatalf("blocked prompt: %v", err)
	}
	_, err = decodeResponse(adaptertest.ReadTestdata(t, "response_malformed_call.json"))
	me, ok := errors.AsType[*malformedError](err)
	if !ok || me.code != "MALFORMED_FUNCTION_CALL" || strings.Contains(err.Error(), "Paris") {
		t.Fatalf("malformed function call: %v", err)
	}
	tests := map[string]string{
		"not JSON":           `<html>bad gateway</html>`,
		"cut":                `{"candidates":[{"content":{"parts":[{"text":"hel`,
		"no candidates":      `{"candidates":[],"usageMetadata":{"promptTokenCount":3}}`,
		"nothing at all":     `{"candidates":[{"index":0}]}`,
		"call without name":  `{"candidates":[{"content":{"parts":[{"functionCall":{"args":{}}}]},"finishReason":"STOP"}]}`,
		"args not an object": `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":"hel"}}]},"finishReason":"STOP"}]}`,
		"wrong type":         `{"candidates":"many"}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := decodeResponse([]byte(body))
			if _, ok := errors.AsType[*malformedError](err); !ok {
				t.Fatalf("err = %v, want malformed", err)
			}
			if strings.Contains(err.Error(), "hel") || strings.Contains(err.Error(), "many") {
				t.Errorf("error quotes the body: %v", err)
			}
		})
	}
	// No finishReason on an otherwise complete body: a stop.
	res, err := decodeResponse([]byte(`{"candidates":[{"content":{"parts":[{"text":"ok"}]}}]}`))
	if err != nil || res.FinishReason != adapters.FinishStop || res.Content != "ok" {
		t.Fatalf("lenient finish: %+v %v", res, err)
	}
	// An error object inside a 200.
	if _, err := decodeResponse([]byte(`{"error":{"code":500,"message":"boom","status":"INTERNAL"}}`)); !errors.As(err, new(*providerError)) {
		t.Fatalf("error in 200: %v", err)
	}
}

func TestMapFinish(t *testing.T) {
	for in, want := range map[string]string{
		"STOP": "stop", "OTHER": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
		"BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter", "IMAGE_SAFETY": "content_filter",
		"LANGUAGE": "error", "FINISH_REASON_UNSPECIFIED": "error", "SOMETHING_NEW": "error",
	} {
		if got := mapFinish(in, false); got != want {
			t.Errorf("mapFinish(%q) = %q, want %q", in, got, want)
		}
	}
	if mapFinish("STOP", true) != "tool_calls" || mapFinish("MAX_TOKENS", true) != "length" {
		t.Error("function calls with STOP must finish as tool_calls")
	}
}

// parseStream runs a recorded SSE body through the same path Stream uses.
func parseStream(body []byte) (*adapters.Result, []adapters.Delta, error) {
	var st streamState
	var deltas []adapters.Delta
	rd := sse.NewReader(bytes.NewReader(body))
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			res, err := st.result()
			return res, deltas, err
		}
		if err != nil {
			return nil, deltas, err
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
	t.Run("text, CRLF framing", func(t *testing.T) {
		res, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_text.sse"))
		if err != nil {
			t.Fatal(err)
		}
		want := adapters.Result{Content: "The quick brown fox jumps over the lazy dog.", FinishReason: "stop", Model: "gemini-2.0-flash",
			ResponseID: "7lPEaP6WH8WYz7IPqeXW-A4", Usage: schemas.Usage{InputTokens: 1205, OutputTokens: 10, CachedTokens: 1024}}
		if !reflect.DeepEqual(*res, want) {
			t.Fatalf("got  %+v\nwant %+v", *res, want)
		}
		if len(deltas) != 3 || deltas[0].Content != "The" || deltas[2].Content != " over the lazy dog." {
			t.Errorf("deltas = %+v", deltas)
		}
	})
	t.Run("function calls across chunks, thought skipped", func(t *testing.T) {
		res, deltas, err := parseStream(adaptertest.ReadTestdata(t, "stream_function_calls.sse"))
		if err != nil {
			t.Fatal(err)
		}
		want := []schemas.ToolCall{
			{ID: "call_0", Name: "get_weather", Arguments: `{"location":"Paris"}`},
			{ID: "call_1", Name: "get_time", Arguments: `{"tz":"CET"}`},
		}
		if res.FinishReason != "tool_calls" || !reflect.DeepEqual(res.ToolCalls, want) || res.Content != "" {
			t.Fatalf("got %+v", res)
		}
		if res.Usage != (schemas.Usage{InputTokens: 80, OutputTokens: 50, ReasoningTokens: 30}) {
			t.Errorf("usage = %+v", res.Usage)
		}
		if len(deltas) != 2 || deltas[1].ToolCall.Index != 1 || deltas[1].ToolCall.ID != "call_1" || deltas[1].ToolCall.Arguments != `{"tz":"CET"}` {
			t.Errorf("deltas = %+v", deltas)
		}
	})
	t.Run("no finishReason", func(t *testing.T) {
		body := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n"
		if _, _, err := parseStream([]byte(body)); !errors.As(err, new(*malformedError)) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("finish then a usage-only chunk", func(t *testing.T) {
		body := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"finishReason\":\"MAX_TOKENS\"}]}\n\n" +
			"data: {\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":1},\"modelVersion\":\"models/gemini-2.5-flash-preview-05-20\"}\n\n"
		res, _, err := parseStream([]byte(body))
		if err != nil || res.FinishReason != "length" || res.Usage.OutputTokens != 1 || res.Model != "gemini-2.5-flash-preview-05-20" {
			t.Fatalf("res %+v err %v", res, err)
		}
	})
	t.Run("blocked prompt", func(t *testing.T) {
		body := "data: " + string(bytes.ReplaceAll(adaptertest.ReadTestdata(t, "response_blocked_prompt.json"), []byte("\n"), nil)) + "\r\n\r\n"
		if _, _, err := parseStream([]byte(body)); !errors.As(err, new(*blockedError)) {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, name := range []string{"response_text.json", "response_function_calls.json", "response_blocked_prompt.json", "response_malformed_call.json"} {
		f.Add(adaptertest.ReadTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := decodeResponse(body)
		if err == nil && res.FinishReason == "" {
			t.Fatal("success without a finish reason")
		}
		if err == nil {
			for _, tc := range res.ToolCalls {
				if tc.ID == "" || tc.Name == "" || !json.Valid([]byte(tc.Arguments)) {
					t.Fatalf("bad tool call %+v", tc)
				}
			}
		}
	})
}

func FuzzStreamChunks(f *testing.F) {
	f.Add(adaptertest.ReadTestdata(f, "stream_text.sse"))
	f.Add(adaptertest.ReadTestdata(f, "stream_function_calls.sse"))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, _, err := parseStream(body)
		if err == nil && (res == nil || res.FinishReason == "") {
			t.Fatal("success without a finish reason")
		}
	})
}
