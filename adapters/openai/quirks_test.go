package openai

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/schemas"
)

// captureServer answers every call with a recorded body and keeps the last request body.
func captureServer(t *testing.T, cfg Config, respond func(w http.ResponseWriter, stream bool)) (*Adapter, *map[string]any) {
	t.Helper()
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = nil
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("request body is not JSON: %v", err)
		}
		stream, _ := got["stream"].(bool)
		respond(w, stream)
	}))
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/v1"
	if cfg.APIKey == "" {
		cfg.APIKey = canary
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, &got
}

func recorded(t *testing.T, jsonFile, sseFile string) func(w http.ResponseWriter, stream bool) {
	return func(w http.ResponseWriter, stream bool) {
		if stream {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(adaptertest.ReadTestdata(t, sseFile))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(adaptertest.ReadTestdata(t, jsonFile))
	}
}

// quirkCall has every field a quirk touches: a developer message, a named user, a tool-call
// round trip with OpenAI-style ids, max tokens and a temperature.
func quirkCall(model string) *adapters.Call {
	return &adapters.Call{
		RequestID: "req-q", Model: model, MaxTokens: 300, Temperature: ptr(0.3),
		Messages: []schemas.Message{
			{Role: "developer", Content: "Be brief."},
			{Role: "user", Content: "Weather?", Name: "alice"},
			{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "call_PTLP8xhu3uwZk4l3nlnrrJha", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
			{Role: "tool", ToolCallID: "call_PTLP8xhu3uwZk4l3nlnrrJha", Content: `{"temp_c":18}`},
		},
		Tools: []schemas.Tool{{Name: "get_weather", Parameters: `{"type":"object","properties":{"city":{"type":"string"}}}`}},
	}
}

// TestFlavorRequestQuirks asserts, per flavor, the request body the adapter sends.
func TestFlavorRequestQuirks(t *testing.T) {
	type want struct {
		devRole      string // role sent for the developer message
		userName     bool   // messages[1].name sent
		maxField     string // "max_tokens" or "max_completion_tokens"
		temperature  bool
		streamOpts   bool
		toolIDLength int // length of the tool-call id sent back (0: unchanged)
	}
	tests := []struct {
		name   string
		cfg    Config
		model  string
		want   want
		stream bool
	}{
		{"openai chat model", Config{}, "gpt-4o", want{"developer", true, "max_tokens", true, true, 0}, true},
		{"openai reasoning model", Config{}, "o3-mini", want{"developer", true, "max_completion_tokens", false, true, 0}, true},
		{"openai gpt-5", Config{}, "gpt-5-mini", want{"developer", true, "max_completion_tokens", false, false, 0}, false},
		{"openai gpt-5-chat keeps temperature", Config{}, "gpt-5-chat-latest", want{"developer", true, "max_tokens", true, false, 0}, false},
		{"openai max_completion_tokens asked", Config{UseMaxCompletionTokens: true}, "gpt-4o", want{"developer", true, "max_completion_tokens", true, false, 0}, false},
		{"groq", Config{Flavor: FlavorGroq}, "llama-3.3-70b-versatile", want{"system", false, "max_tokens", true, true, 0}, true},
		{"xai", Config{Flavor: FlavorXAI}, "grok-4", want{"system", true, "max_tokens", true, true, 0}, true},
		{"mistral", Config{Flavor: FlavorMistral, UseMaxCompletionTokens: true}, "mistral-small-latest", want{"system", false, "max_tokens", true, false, 9}, true},
		{"deepseek chat", Config{Flavor: FlavorDeepSeek}, "deepseek-chat", want{"system", true, "max_tokens", true, true, 0}, true},
		{"deepseek reasoner", Config{Flavor: FlavorDeepSeek}, "deepseek-reasoner", want{"system", true, "max_tokens", false, true, 0}, true},
		{"together", Config{Flavor: FlavorTogether, UseMaxCompletionTokens: true}, "meta-llama/Llama-3.3-70B-Instruct-Turbo", want{"system", true, "max_tokens", true, true, 0}, true},
		{"ollama", Config{Flavor: FlavorOllama}, "llama3.1", want{"system", true, "max_tokens", true, true, 0}, true},
		{"vllm old server", Config{Flavor: FlavorVLLM, UseMaxCompletionTokens: true}, "Qwen/Qwen2.5-7B-Instruct", want{"system", true, "max_tokens", true, true, 0}, true},
		{"generic", Config{Flavor: FlavorGeneric}, "m", want{"system", true, "max_tokens", true, false, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, got := captureServer(t, tt.cfg, recorded(t, "response_basic.json", "stream_basic.sse"))
			var err error
			if tt.stream {
				_, err = a.Stream(t.Context(), quirkCall(tt.model), nil)
			} else {
				_, err = a.Complete(t.Context(), quirkCall(tt.model))
			}
			if err != nil {
				t.Fatal(err)
			}
			body := *got
			msgs := body["messages"].([]any)
			if role := msgs[0].(map[string]any)["role"]; role != tt.want.devRole {
				t.Errorf("developer message sent as %v, want %s", role, tt.want.devRole)
			}
			if _, ok := msgs[1].(map[string]any)["name"]; ok != tt.want.userName {
				t.Errorf("name sent = %v, want %v", ok, tt.want.userName)
			}
			other := map[string]string{"max_tokens": "max_completion_tokens", "max_completion_tokens": "max_tokens"}[tt.want.maxField]
			if body[tt.want.maxField] != 300.0 || body[other] != nil {
				t.Errorf("max tokens: %s=%v %s=%v, want %s=300", tt.want.maxField, body[tt.want.maxField], other, body[other], tt.want.maxField)
			}
			if _, ok := body["temperature"]; ok != tt.want.temperature {
				t.Errorf("temperature sent = %v, want %v", ok, tt.want.temperature)
			}
			if _, ok := body["stream_options"]; ok != tt.want.streamOpts {
				t.Errorf("stream_options sent = %v, want %v", ok, tt.want.streamOpts)
			}
			callID := msgs[2].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)["id"].(string)
			resultID := msgs[3].(map[string]any)["tool_call_id"].(string)
			if callID != resultID {
				t.Errorf("tool call id %q and tool result id %q no longer pair up", callID, resultID)
			}
			switch tt.want.toolIDLength {
			case 0:
				if callID != "call_PTLP8xhu3uwZk4l3nlnrrJha" {
					t.Errorf("tool call id rewritten to %q", callID)
				}
			default:
				if len(callID) != tt.want.toolIDLength || strings.Trim(callID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
					t.Errorf("tool call id %q is not [a-zA-Z0-9]{%d}", callID, tt.want.toolIDLength)
				}
			}
			if _, ok := msgs[3].(map[string]any)["name"]; ok {
				t.Error("a tool message carries a name")
			}
		})
	}
}

func TestMistralToolCallID(t *testing.T) {
	if got := mistralToolCallID("D681PevKs"); got != "D681PevKs" {
		t.Errorf("a valid id was rewritten: %q", got)
	}
	a, b := mistralToolCallID("call_1"), mistralToolCallID("call_2")
	if a == b || a != mistralToolCallID("call_1") || len(a) != 9 {
		t.Errorf("ids %q %q: want stable, distinct, 9 long", a, b)
	}
}

func TestEncodeMultiPart(t *testing.T) {
	parts := []schemas.ContentPart{
		{Type: schemas.PartText, Text: "What is in"},
		{Type: schemas.PartText, Text: "this picture?"},
		{Type: schemas.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
		{Type: schemas.PartImage, URL: "https://example.com/cat.jpg"},
	}
	call := &adapters.Call{Model: "gpt-4o", Messages: []schemas.Message{
		{Role: "system", Parts: []schemas.ContentPart{{Type: schemas.PartText, Text: "Be brief."}}},
		{Role: "user", Parts: parts},
	}}
	openai := flavors[FlavorOpenAI]
	xai := flavors[FlavorXAI]
	groq := flavors[FlavorGroq]
	tests := []struct {
		name   string
		q      *quirks
		golden string
	}{
		{"openai keeps parts", &openai, `{"model":"gpt-4o","messages":[
			{"role":"system","content":[{"type":"text","text":"Be brief."}]},
			{"role":"user","content":[{"type":"text","text":"What is in"},{"type":"text","text":"this picture?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
				{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}]}`},
		{"groq: text-only content as a string", &groq, `{"model":"gpt-4o","messages":[
			{"role":"system","content":"Be brief."},
			{"role":"user","content":[{"type":"text","text":"What is in"},{"type":"text","text":"this picture?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
				{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}]}`},
		{"xai: one text element per message", &xai, `{"model":"gpt-4o","messages":[
			{"role":"system","content":"Be brief."},
			{"role":"user","content":[{"type":"text","text":"What is in\nthis picture?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
				{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRequest(call, encodeOptions{quirks: tt.q})
			if err != nil {
				t.Fatal(err)
			}
			adaptertest.JSONEqual(t, got, []byte(tt.golden))
		})
	}
	for name, m := range map[string]schemas.Message{
		"image in a system message": {Role: "system", Parts: []schemas.ContentPart{{Type: schemas.PartImage, URL: "https://x/y.png"}}},
		"image without a source":    {Role: "user", Parts: []schemas.ContentPart{{Type: schemas.PartImage, MediaType: "image/png"}}},
		"unknown part type":         {Role: "user", Parts: []schemas.ContentPart{{Type: "audio"}}},
	} {
		if _, err := encodeRequest(&adapters.Call{Model: "m", Messages: []schemas.Message{m}}, encodeOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestStreamQuirks parses recorded streams of the compatible servers.
func TestStreamQuirks(t *testing.T) {
	tests := []struct {
		file  string
		want  adapters.Result
		tools int // deltas carrying a tool call
	}{
		{"stream_deepseek_reasoner.sse", adapters.Result{Content: "9.11 is smaller.", FinishReason: "stop", Model: "deepseek-reasoner", ResponseID: "d1",
			Usage: schemas.Usage{InputTokens: 13, OutputTokens: 20, ReasoningTokens: 15}}, 0},
		{"stream_groq_x_groq.sse", adapters.Result{Content: "Fast answer.", FinishReason: "stop", Model: "llama-3.3-70b-versatile", ResponseID: "chatcmpl-g1",
			Usage: schemas.Usage{InputTokens: 42, OutputTokens: 3}}, 0},
		{"stream_mistral_usage.sse", adapters.Result{FinishReason: "tool_calls", Model: "mistral-small-latest", ResponseID: "cmpl-e5cc70bb28c444948073e77776eb30ef",
			ToolCalls: []schemas.ToolCall{{ID: "D681PevKs", Name: "get_weather", Arguments: `{"city": "Paris"}`}},
			Usage:     schemas.Usage{InputTokens: 90, OutputTokens: 22}}, 1},
		{"stream_ollama_no_index.sse", adapters.Result{FinishReason: "tool_calls", Model: "llama3.1", ResponseID: "chatcmpl-451",
			ToolCalls: []schemas.ToolCall{
				{ID: "call_d4z0tke2", Name: "get_weather", Arguments: `{"location":"Paris"}`},
				{ID: "call_8ndl2b1q", Name: "get_time", Arguments: `{"tz":"CET"}`},
			}}, 2},
		{"stream_ollama_index0.sse", adapters.Result{FinishReason: "tool_calls", Model: "llama3.1", ResponseID: "chatcmpl-451",
			ToolCalls: []schemas.ToolCall{
				{ID: "call_d4z0tke2", Name: "get_weather", Arguments: `{"location":"Paris"}`},
				{ID: "call_8ndl2b1q", Name: "get_time", Arguments: `{"tz":"CET"}`},
			}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res, deltas, err := parseStream(adaptertest.ReadTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*res, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", *res, tt.want)
			}
			var content strings.Builder
			n := 0
			for _, d := range deltas {
				content.WriteString(d.Content)
				if d.ToolCall != nil {
					if d.ToolCall.Index != n {
						t.Errorf("tool delta %d has index %d", n, d.ToolCall.Index)
					}
					n++
				}
			}
			if content.String() != tt.want.Content || n != tt.tools {
				t.Errorf("deltas: content %q, %d tool deltas", content.String(), n)
			}
		})
	}
	t.Run("reused index continues the call it last named", func(t *testing.T) {
		body := `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"{\"y\":"}}]}}]}` + "\n\n" +
			`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"g","arguments":"2}"}}]},"finish_reason":"tool_calls"}]}` + "\n\n" +
			"data: [DONE]\n\n"
		res, _, err := parseStream([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want := []schemas.ToolCall{{ID: "a", Name: "f", Arguments: `{"x":1}`}, {ID: "b", Name: "g", Arguments: `{"y":2}`}}
		if !reflect.DeepEqual(res.ToolCalls, want) {
			t.Fatalf("tool calls %+v", res.ToolCalls)
		}
	})
}

func TestDecodeResponseQuirks(t *testing.T) {
	res, err := decodeResponse(adaptertest.ReadTestdata(t, "response_deepseek_reasoner.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := adapters.Result{Content: "9.11 is smaller than 9.8.", FinishReason: "stop", Model: "deepseek-reasoner", ResponseID: "930c60df-bf64-41c9-a88e-3ec75f81e00e",
		Usage: schemas.Usage{InputTokens: 1300, OutputTokens: 210, CachedTokens: 1280, ReasoningTokens: 190}}
	if !reflect.DeepEqual(*res, want) {
		t.Fatalf("got  %+v\nwant %+v", *res, want)
	}
}

// TestCompatibleErrorBodies maps the error bodies of the compatible servers.
func TestCompatibleErrorBodies(t *testing.T) {
	tests := []struct {
		file    string
		status  int
		kind    adapters.Kind
		code    string
		message string // a part of the message that must be kept
	}{
		{"error_mistral_422.json", 422, adapters.InvalidRequest, "invalid_request_error", "body.max_completion_tokens: Extra inputs are not permitted"},
		{"error_mistral_tool_id.json", 400, adapters.InvalidRequest, "3280", "must be a-z, A-Z, 0-9, with a length of 9"},
		{"error_fastapi_detail.json", 422, adapters.InvalidRequest, "", "body.stream_options: Extra inputs are not permitted; body.messages.0.content: Field required"},
		{"error_vllm_context.json", 400, adapters.ContextTooLong, "400", "maximum context length is 4096"},
		{"error_xai.json", 400, adapters.InvalidRequest, "Client specified an invalid argument", "single `text` element"},
		{"error_xai_bad_key.json", 400, adapters.Auth, "", "Incorrect API key provided"},
		{"error_ollama_native.json", 404, adapters.InvalidRequest, "", "not found, try pulling it first"},
		{"error_groq_stream_options.json", 400, adapters.InvalidRequest, "invalid_request_error", "stream_options' is unsupported"},
		{"error_deepseek_balance.json", 402, adapters.Auth, "invalid_request_error", "Insufficient Balance"},
		{"error_groq_flex.json", 498, adapters.Unavailable, "capacity_exceeded", "capacity"},
		{"error_openai_quota.json", 429, adapters.Auth, "insufficient_quota", "exceeded your current quota"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write(adaptertest.ReadTestdata(t, tt.file))
			})
			_, err := a.Complete(t.Context(), testCall())
			ae, ok := errors.AsType[*adapters.Error](err)
			if !ok {
				t.Fatalf("err = %v", err)
			}
			if ae.Kind != tt.kind || ae.Code != tt.code || ae.Status != tt.status {
				t.Errorf("kind %v code %q status %d, want %v %q %d", ae.Kind, ae.Code, ae.Status, tt.kind, tt.code, tt.status)
			}
			if !strings.Contains(ae.Message, tt.message) {
				t.Errorf("message %q lacks %q", ae.Message, tt.message)
			}
			if s := err.Error(); strings.Contains(s, "scrubbed from errors") || strings.Contains(s, "include_usage") || strings.Contains(s, "32000") {
				t.Errorf("error quotes the request: %s", s)
			}
		})
	}
}

func TestFlavorConfig(t *testing.T) {
	for _, f := range Flavors() {
		q := flavors[f]
		a, err := New(Config{Flavor: f, APIKey: canary})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if a.Name() != string(f) || a.BaseURL() != q.baseURL || a.Flavor() != f {
			t.Errorf("%s: name %q base %q", f, a.Name(), a.BaseURL())
		}
		_, err = New(Config{Flavor: f})
		if q.keyRequired != (err != nil) {
			t.Errorf("%s without a key: %v (key required: %v)", f, err, q.keyRequired)
		}
	}
	if a, err := New(Config{Flavor: FlavorGroq, BaseURL: "http://127.0.0.1:9/v1"}); err != nil || a.Name() != "groq" {
		t.Errorf("groq flavor on another host needs no key: %v", err)
	}
	if _, err := New(Config{Flavor: "bedrock"}); err == nil || !strings.Contains(err.Error(), `Flavor "bedrock"`) {
		t.Errorf("unknown flavor: %v", err)
	}
}

func TestModelCapabilities(t *testing.T) {
	a, _ := New(Config{APIKey: canary})
	tests := []struct {
		model                     string
		context, output           int
		images, schema, tools, ok bool
	}{
		{"gpt-4o-2024-08-06", 128000, 16384, true, true, true, true},
		{"gpt-4.1-mini", 1047576, 32768, true, true, true, true},
		{"gpt-5", 400000, 128000, true, true, true, true},
		{"o3-mini", 200000, 100000, false, true, true, true},
		{"o4-mini-2025-04-16", 200000, 100000, true, true, true, true},
		{"deepseek-chat", 128000, 8192, false, false, true, true},
		{"openai/gpt-oss-120b", 131072, 65536, false, true, true, true},
		{"unknown-model", 128000, 0, true, true, true, true},
	}
	for _, tt := range tests {
		c := a.ModelCapabilities(tt.model)
		if c.MaxContext != tt.context || c.MaxOutput != tt.output || c.Images != tt.images || c.JSONSchema != tt.schema || c.Tools != tt.tools || !c.Streaming {
			t.Errorf("%s: %+v", tt.model, c)
		}
	}
	if c := adapters.CapabilitiesFor(a, "gpt-4.1"); c.MaxContext != 1047576 {
		t.Errorf("CapabilitiesFor: %+v", c)
	}
	o, _ := New(Config{Flavor: FlavorOllama})
	if c := o.ModelCapabilities("llama3.1"); c.MaxContext != 4096 {
		t.Errorf("ollama context: %+v", c)
	}
	d, _ := New(Config{Flavor: FlavorDeepSeek, APIKey: canary})
	if c := d.Capabilities(); c.JSONSchema || !c.JSONMode {
		t.Errorf("deepseek: %+v", c)
	}
	fixed := adapters.Capabilities{Streaming: true, MaxContext: 8192}
	f, _ := New(Config{Flavor: FlavorVLLM, Capabilities: &fixed})
	if c := f.ModelCapabilities("gpt-4o"); c != fixed {
		t.Errorf("configured capabilities not kept: %+v", c)
	}
}

// FuzzStreamChunkLines feeds chunk payloads straight to the accumulator (no SSE framing), one per
// line, to exercise the tool-call index rules with arbitrary index, id and name combinations.
func FuzzStreamChunkLines(f *testing.F) {
	for _, name := range []string{"stream_tool_calls.sse", "stream_ollama_no_index.sse", "stream_ollama_index0.sse", "stream_mistral_usage.sse"} {
		var lines []string
		for _, l := range strings.Split(string(adaptertest.ReadTestdata(f, name)), "\n") {
			if p, ok := strings.CutPrefix(strings.TrimSpace(l), "data: "); ok && p != "[DONE]" {
				lines = append(lines, p)
			}
		}
		f.Add(strings.Join(lines, "\n"))
	}
	f.Fuzz(func(t *testing.T, body string) {
		var st streamState
		emitted := map[int]bool{}
		for _, line := range strings.Split(body, "\n") {
			if err := st.add([]byte(line), func(d adapters.Delta) error {
				if d.ToolCall != nil {
					if d.ToolCall.Index < 0 || d.ToolCall.Index >= maxToolCalls {
						t.Fatalf("delta index %d", d.ToolCall.Index)
					}
					emitted[d.ToolCall.Index] = true
				}
				return nil
			}); err != nil {
				return
			}
		}
		res, err := st.result()
		if err != nil {
			return
		}
		if len(res.ToolCalls) != len(emitted) {
			t.Fatalf("%d tool calls from %d delta indexes", len(res.ToolCalls), len(emitted))
		}
		for _, tc := range res.ToolCalls {
			if tc.Name == "" {
				t.Fatal("tool call without a name")
			}
		}
	})
}

func TestStreamRefusal(t *testing.T) {
	body := `data: {"id":"r","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"r","model":"gpt-4o","choices":[{"index":0,"delta":{"refusal":"I'm sorry, "},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"r","model":"gpt-4o","choices":[{"index":0,"delta":{"refusal":"I cannot help with that."},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"r","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	res, deltas, err := parseStream([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != adapters.FinishContentFilter || res.Content != "I'm sorry, I cannot help with that." {
		t.Fatalf("refusal: %+v", res)
	}
	if len(deltas) != 0 {
		t.Errorf("a refusal was streamed as content deltas: %+v", deltas)
	}
}

// TestDeepSeekInsufficientResource: DeepSeek ends an answer it cut short for lack of resources
// with finish_reason insufficient_system_resource; that truncated answer must be an error.
func TestDeepSeekInsufficientResource(t *testing.T) {
	const body = `{"id":"x","model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"The history of Ro"},"finish_reason":"insufficient_system_resource"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`
	const stream = `data: {"id":"x","model":"deepseek-chat","choices":[{"index":0,"delta":{"content":"The history of Ro"},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"x","model":"deepseek-chat","choices":[{"index":0,"delta":{"content":""},"finish_reason":"insufficient_system_resource"}]}` + "\n\ndata: [DONE]\n\n"
	a, _ := captureServer(t, Config{Flavor: FlavorDeepSeek}, func(w http.ResponseWriter, isStream bool) {
		if isStream {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, stream)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})
	for _, isStream := range []bool{false, true} {
		var res *adapters.Result
		var err error
		if isStream {
			res, err = a.Stream(t.Context(), testCall(), nil)
		} else {
			res, err = a.Complete(t.Context(), testCall())
		}
		if res != nil || adapters.KindOf(err) != adapters.Unavailable || !adapters.IsRetryable(err) {
			t.Errorf("stream=%v: res %+v err %v, want a retryable Unavailable error", isStream, res, err)
		}
	}
}

func TestFinishAgreesWithToolCalls(t *testing.T) {
	res, err := decodeResponse(adaptertest.ReadTestdata(t, "response_forced_tool.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != adapters.FinishToolCalls || len(res.ToolCalls) != 1 || res.ToolCalls[0].Arguments != `{"city":"Paris"}` {
		t.Fatalf("forced tool answer: %+v", res)
	}
	stream := `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"
	sres, _, err := parseStream([]byte(stream))
	if err != nil || sres.FinishReason != adapters.FinishToolCalls {
		t.Fatalf("streamed forced tool answer: %+v %v", sres, err)
	}
	res, err = decodeResponse([]byte(`{"choices":[{"message":{"content":"No tool needed."},"finish_reason":"tool_calls"}]}`))
	if err != nil || res.FinishReason != adapters.FinishStop {
		t.Fatalf("tool_calls without calls: %+v %v", res, err)
	}
	res, err = decodeResponse([]byte(`{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"length"}]}`))
	if err != nil || res.FinishReason != adapters.FinishLength {
		t.Fatalf("a cut tool call must stay length: %+v %v", res, err)
	}
}
