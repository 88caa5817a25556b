package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
)

// postAnthropic sends body to /v1/messages with anthropic-version set (unless hdr overrides it).
func postAnthropic(t *testing.T, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type anTestMessage struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Content      []struct {
		Type  string          `json:"type"`
		Text  *string         `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	Usage struct {
		InputTokens              *int64 `json:"input_tokens"`
		OutputTokens             *int64 `json:"output_tokens"`
		CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	} `json:"usage"`
}

func decodeAnMessage(t *testing.T, body []byte) anTestMessage {
	t.Helper()
	var m anTestMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return m
}

func TestAnthropicMessageShape(t *testing.T) {
	_, hs := newTest(t, Config{})
	req := `{"model":"claude-test","max_tokens":1024,"system":"Be brief.","messages":[{"role":"user","content":"What is the capital of France? Tell me more about it"}]}`
	resp, body := postAnthropic(t, hs.URL, req)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	m := decodeAnMessage(t, body)
	if !strings.HasPrefix(m.ID, "msg_") || m.Type != "message" || m.Role != "assistant" || m.Model != "claude-test" {
		t.Errorf("envelope: %s", body)
	}
	if m.StopReason == nil || *m.StopReason != "end_turn" || !bytes.Contains(body, []byte(`"stop_sequence":null`)) {
		t.Errorf("stop: %s", body)
	}
	if len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text == nil {
		t.Fatalf("content: %s", body)
	}
	text := *m.Content[0].Text
	if !strings.HasPrefix(text, "Simulated answer to: What is the capital of France? Tell me m ") || len(text) != 160 {
		t.Errorf("text %q (%d bytes)", text, len(text))
	}
	u := m.Usage
	if u.InputTokens == nil || *u.InputTokens < 10 || u.OutputTokens == nil || *u.OutputTokens != 40 ||
		u.CacheCreationInputTokens == nil || *u.CacheCreationInputTokens != 0 || u.CacheReadInputTokens == nil || *u.CacheReadInputTokens != 0 {
		t.Errorf("usage: %s", body)
	}
	// The same conversation in the OpenAI format gets the same answer: one neutral model.
	_, oa := post(t, hs.URL, `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France? Tell me more about it"}]}`)
	if !bytes.Contains(oa, []byte(`"content":`+string(jsonw.String(nil, text)))) {
		t.Errorf("formats disagree:\n%s\n%s", body, oa)
	}
	// max_tokens cuts the answer.
	_, body = postAnthropic(t, hs.URL, `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"parts "},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"work"}]}]}`)
	m = decodeAnMessage(t, body)
	if *m.StopReason != "max_tokens" || *m.Usage.OutputTokens != 9 || !strings.HasPrefix(*m.Content[0].Text, "Simulated answer to: parts work") {
		t.Errorf("max_tokens: %s", body)
	}
}

func TestAnthropicCacheUsage(t *testing.T) {
	_, hs := newTest(t, Config{})
	long := strings.Repeat("word ", 2000)
	// Without a cache_control marker Anthropic caches nothing.
	_, body := postAnthropic(t, hs.URL, `{"model":"m","max_tokens":10,"system":[{"type":"text","text":"`+long+`"}],"messages":[{"role":"user","content":"hi"}]}`)
	m := decodeAnMessage(t, body)
	total := *m.Usage.InputTokens
	if *m.Usage.CacheCreationInputTokens != 0 || *m.Usage.CacheReadInputTokens != 0 || total < 2500 {
		t.Errorf("no marker: %s", body)
	}
	for _, marker := range []string{`"cache_control":{"type":"ephemeral"},`, ``} {
		system := `[{"type":"text","text":"` + long + `"}]`
		if marker == "" {
			system = `[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral","ttl":"1h"}}]`
		}
		_, body = postAnthropic(t, hs.URL, `{"model":"m","max_tokens":10,`+marker+`"system":`+system+`,"messages":[{"role":"user","content":"hi"}]}`)
		m = decodeAnMessage(t, body)
		if got := *m.Usage.InputTokens + *m.Usage.CacheCreationInputTokens + *m.Usage.CacheReadInputTokens; got != total {
			t.Errorf("marker %q: the counters add up to %d, want %d", marker, got, total)
		}
	}
	in, cw, cr := *m.Usage.InputTokens, *m.Usage.CacheCreationInputTokens, *m.Usage.CacheReadInputTokens
	if total < 2500 || cr == 0 || cr%128 != 0 || cw == 0 || cw%128 != 0 || in <= 0 || in >= total-cr {
		t.Errorf("input %d, cache write %d, cache read %d", in, cw, cr)
	}
	// The OpenAI format reports the same prompt as its total, with the same cached part.
	_, oa := post(t, hs.URL, `{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"`+long+`"},{"role":"user","content":"hi"}]}`)
	var v struct {
		Usage struct {
			PromptTokens int64 `json:"prompt_tokens"`
			Details      struct {
				CachedTokens int64 `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(oa, &v)
	if v.Usage.PromptTokens != total || v.Usage.Details.CachedTokens != cr {
		t.Errorf("OpenAI prompt %d cached %d; Anthropic total %d read %d", v.Usage.PromptTokens, v.Usage.Details.CachedTokens, total, cr)
	}
}

type anEvent struct {
	name string
	data map[string]any
	raw  string
}

// anEvents parses an SSE body into events, checking that each event line matches its data type.
func anEvents(t *testing.T, body []byte) []anEvent {
	t.Helper()
	var out []anEvent
	var cur anEvent
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.raw = strings.TrimPrefix(line, "data: ")
			if err := json.Unmarshal([]byte(cur.raw), &cur.data); err != nil {
				t.Fatalf("event %s: %v: %s", cur.name, err, cur.raw)
			}
			if cur.data["type"] != cur.name {
				t.Fatalf("event %q carries type %v", cur.name, cur.data["type"])
			}
		case line == "":
			if cur.name != "" {
				out = append(out, cur)
			}
			cur = anEvent{}
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	return out
}

func eventNames(evs []anEvent) string {
	var names []string
	for i, e := range evs {
		if i > 0 && e.name == evs[i-1].name && e.name == "content_block_delta" {
			continue
		}
		names = append(names, e.name)
	}
	return strings.Join(names, " ")
}

func TestAnthropicStreamShape(t *testing.T) {
	_, hs := newTest(t, Config{})
	resp, body := postAnthropic(t, hs.URL, `{"model":"sim-ok","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	evs := anEvents(t, body)
	if got := eventNames(evs); got != "message_start ping content_block_start content_block_delta content_block_stop message_delta message_stop" {
		t.Fatalf("events: %s", got)
	}
	msg := evs[0].data["message"].(map[string]any)
	if !strings.HasPrefix(msg["id"].(string), "msg_") || msg["model"] != "sim-ok" || msg["stop_reason"] != nil || len(msg["content"].([]any)) != 0 {
		t.Errorf("message_start: %s", evs[0].raw)
	}
	var text strings.Builder
	deltas := 0
	for _, e := range evs {
		if e.name == "content_block_delta" {
			d := e.data["delta"].(map[string]any)
			if d["type"] != "text_delta" || e.data["index"].(float64) != 0 {
				t.Fatalf("delta: %s", e.raw)
			}
			text.WriteString(d["text"].(string))
			deltas++
		}
	}
	if !strings.HasPrefix(text.String(), "Simulated answer to: hello there") || deltas < 3 {
		t.Errorf("%d deltas: %q", deltas, text.String())
	}
	md := evs[len(evs)-2]
	if md.data["delta"].(map[string]any)["stop_reason"] != "end_turn" || md.data["usage"].(map[string]any)["output_tokens"].(float64) != 40 {
		t.Errorf("message_delta: %s", md.raw)
	}

	// Faults that change the ending.
	for model, want := range map[string]string{
		ModelNoDone:             "message_start ping content_block_start content_block_delta content_block_stop message_delta",
		ModelStreamError:        "message_start ping content_block_start content_block_delta error",
		ModelContentFilterFinal: "message_start ping content_block_start content_block_delta content_block_stop message_delta message_stop",
	} {
		_, body := postAnthropic(t, hs.URL, `{"model":"`+model+`","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello"}]}`)
		evs := anEvents(t, body)
		if got := eventNames(evs); got != want {
			t.Errorf("%s: %s", model, got)
		}
		if model == ModelContentFilterFinal && !bytes.Contains(body, []byte(`"stop_reason":"refusal"`)) {
			t.Errorf("%s: no refusal", model)
		}
		if model == ModelStreamError && !strings.Contains(evs[len(evs)-1].raw, `"type":"overloaded_error"`) {
			t.Errorf("%s: %s", model, evs[len(evs)-1].raw)
		}
	}
	_, body = postAnthropic(t, hs.URL, `{"model":"sim-malformed-chunk","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello"}]}`)
	if !bytes.Contains(body, []byte(`"text":"broken"}]]}`)) || !bytes.Contains(body, []byte("event: message_stop")) {
		t.Errorf("malformed: %s", body)
	}
}

const anTools = `"tools":[{"name":"lookup","description":"Look it up","input_schema":{"type":"object","properties":{"q":{"type":"string"},"unit":{"enum":["c","f"]}},"required":["q","unit"]}},{"name":"other","input_schema":{"type":"object","properties":{}}}]`

func TestAnthropicToolUse(t *testing.T) {
	_, hs := newTest(t, Config{})
	for _, tc := range []struct {
		name, prompt, choice string
		want                 []string
	}{
		{"asked", "please call tool now", "", []string{"lookup"}},
		{"any", "hello", `,"tool_choice":{"type":"any"}`, []string{"lookup"}},
		{"named", "hello", `,"tool_choice":{"type":"tool","name":"other"}`, []string{"other"}},
		{"none", "please call tool now", `,"tool_choice":{"type":"none"}`, nil},
		{"parallel", "call all tools", "", []string{"lookup", "other"}},
		{"parallel disabled", "call all tools", `,"tool_choice":{"type":"auto","disable_parallel_tool_use":true}`, []string{"lookup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := `{"model":"m","max_tokens":100,` + anTools + tc.choice + `,"messages":[{"role":"user","content":"` + tc.prompt + `"}]`
			_, body := postAnthropic(t, hs.URL, req+`}`)
			m := decodeAnMessage(t, body)
			if tc.want == nil {
				if *m.StopReason != "end_turn" || m.Content[0].Type != "text" {
					t.Fatalf("%s", body)
				}
				return
			}
			if *m.StopReason != "tool_use" || len(m.Content) != len(tc.want) {
				t.Fatalf("%s", body)
			}
			for i, name := range tc.want {
				b := m.Content[i]
				if b.Type != "tool_use" || b.Name != name || !strings.HasPrefix(b.ID, "toolu_") {
					t.Errorf("block %d: %+v", i, b)
				}
				var in map[string]any
				if err := json.Unmarshal(b.Input, &in); err != nil {
					t.Errorf("input %s: %v", b.Input, err)
				}
				if name == "lookup" && (in["q"] != "sim" || in["unit"] != "c") {
					t.Errorf("input %s", b.Input)
				}
			}
			// The stream carries the same calls, one tool_use block each.
			_, body = postAnthropic(t, hs.URL, req+`,"stream":true}`)
			evs := anEvents(t, body)
			inputs := map[float64]*strings.Builder{}
			var starts []string
			for _, e := range evs {
				switch e.name {
				case "content_block_start":
					cb := e.data["content_block"].(map[string]any)
					if cb["type"] != "tool_use" || !strings.HasPrefix(cb["id"].(string), "toolu_") {
						t.Fatalf("start: %s", e.raw)
					}
					starts = append(starts, cb["name"].(string))
					inputs[e.data["index"].(float64)] = &strings.Builder{}
				case "content_block_delta":
					d := e.data["delta"].(map[string]any)
					if d["type"] != "input_json_delta" {
						t.Fatalf("delta: %s", e.raw)
					}
					inputs[e.data["index"].(float64)].WriteString(d["partial_json"].(string))
				}
			}
			if strings.Join(starts, ",") != strings.Join(tc.want, ",") {
				t.Errorf("streamed tools %v", starts)
			}
			for i := range tc.want {
				if got := inputs[float64(i)].String(); got != string(m.Content[i].Input) {
					t.Errorf("streamed input %d %q, non-streamed %s", i, got, m.Content[i].Input)
				}
			}
			if !bytes.Contains(body, []byte(`"stop_reason":"tool_use"`)) {
				t.Error("stream stop reason")
			}
		})
	}
	// A tool round trip: tool results answer the model, which then answers in text.
	_, body := postAnthropic(t, hs.URL, `{"model":"m","max_tokens":100,`+anTools+`,"messages":[
		{"role":"user","content":"what is up"},
		{"role":"assistant","content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q":"x","unit":"c"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"42"},{"type":"text","text":"thanks"}]}]}`)
	m := decodeAnMessage(t, body)
	if *m.StopReason != "end_turn" || !strings.HasPrefix(*m.Content[0].Text, "Simulated answer to: thanks") {
		t.Errorf("%s", body)
	}
}

func TestAnthropicStructuredOutput(t *testing.T) {
	_, hs := newTest(t, Config{})
	for _, field := range []string{`"output_config":{"format":`, `"output_format":`} {
		_, body := postAnthropic(t, hs.URL, `{"model":"m","max_tokens":100,`+field+`{"type":"json_schema","schema":{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"],"additionalProperties":false}}`+strings.Repeat("}", strings.Count(field, "{"))+`,"messages":[{"role":"user","content":"json please"}]}`)
		m := decodeAnMessage(t, body)
		var v map[string]any
		if len(m.Content) != 1 || json.Unmarshal([]byte(*m.Content[0].Text), &v) != nil || v["answer"] != "sim" {
			t.Errorf("%s: %s", field, body)
		}
	}
}

func TestAnthropicErrors(t *testing.T) {
	_, hs := newTest(t, Config{MaxRequestBytes: 4 << 10})
	msg := func(model string) string {
		return `{"model":"` + model + `","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`
	}
	tests := []struct {
		name   string
		body   string
		hdr    []string
		status int
		typ    string
		msg    string
	}{
		{"429", msg(Model429), nil, 429, "rate_limit_error", "rate limit"},
		{"500", msg(Model500), nil, 500, "api_error", ""},
		{"503 is Anthropic's 529", msg(Model503), nil, 529, "overloaded_error", "Overloaded"},
		{"400", msg(Model400), nil, 400, "invalid_request_error", ""},
		{"401", msg(Model401), nil, 401, "authentication_error", ""},
		{"404", msg(Model404), nil, 404, "not_found_error", ""},
		{"403", msg("sim-status-403"), nil, 403, "permission_error", ""},
		{"504", msg("sim-status-504"), nil, 504, "timeout_error", ""},
		{"context", msg(ModelContextLength), nil, 400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"},
		{"content filter", msg(ModelContentFilter), nil, 400, "invalid_request_error", "content filtering policy"},
		{"stream error, non-streaming", msg(ModelStreamError), nil, 529, "overloaded_error", ""},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "max_tokens"},
		{"no version", msg("m"), []string{"Anthropic-Version", ""}, 400, "invalid_request_error", "anthropic-version"},
		{"bad JSON", `{"model":`, nil, 400, "invalid_request_error", ""},
		{"bad role", `{"model":"m","max_tokens":1,"messages":[{"role":"tool","content":"x"}]}`, nil, 400, "invalid_request_error", "role"},
		{"bad image", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"x"}}]}]}`, nil, 400, "invalid_request_error", "media_type"},
		{"temperature over 1", `{"model":"m","max_tokens":1,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "temperature"},
		{"too large", msg(strings.Repeat("x", 5<<10)), nil, 413, "request_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postAnthropic(t, hs.URL, tt.body, tt.hdr...)
			var eb struct {
				Type  string `json:"type"`
				Error *struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(body, &eb); err != nil || eb.Type != "error" || eb.Error == nil || eb.Error.Message == "" || !strings.HasPrefix(eb.RequestID, "req_") {
				t.Fatalf("error body: %v %s", err, body)
			}
			if resp.StatusCode != tt.status || eb.Error.Type != tt.typ || !strings.Contains(eb.Error.Message, tt.msg) {
				t.Errorf("%d %s, want %d %s %q", resp.StatusCode, body, tt.status, tt.typ, tt.msg)
			}
		})
	}
	resp, _ := postAnthropic(t, hs.URL, msg(Model429RetryAfter))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("retry-after: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestAnthropicAuth(t *testing.T) {
	_, hs := newTest(t, Config{APIKey: "sk-ant-simkey-123456"})
	body := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`
	resp, b := postAnthropic(t, hs.URL, body, "X-Api-Key", "sk-ant-wrong-987654")
	if resp.StatusCode != 401 || !bytes.Contains(b, []byte(`"authentication_error"`)) || bytes.Contains(b, []byte("wrong-987654")) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	// The key may come as a bearer token (the official SDK sends it so); x-api-key decides when both come.
	if resp, _ := postAnthropic(t, hs.URL, body, "Authorization", "Bearer sk-ant-simkey-123456"); resp.StatusCode != 200 {
		t.Fatalf("Bearer key: %d", resp.StatusCode)
	}
	if resp, _ := postAnthropic(t, hs.URL, body, "Authorization", "Bearer sk-ant-wrong-987654"); resp.StatusCode != 401 {
		t.Fatalf("wrong Bearer key: %d", resp.StatusCode)
	}
	if resp, _ := postAnthropic(t, hs.URL, body, "Authorization", "Bearer sk-ant-simkey-123456", "X-Api-Key", "sk-ant-wrong-987654"); resp.StatusCode != 401 {
		t.Fatalf("wrong x-api-key with a right Bearer: %d", resp.StatusCode)
	}
	if resp, _ := postAnthropic(t, hs.URL, body); resp.StatusCode != 401 {
		t.Fatalf("no key: %d", resp.StatusCode)
	}
	if resp, b := postAnthropic(t, hs.URL, body, "X-Api-Key", "sk-ant-simkey-123456"); resp.StatusCode != 200 {
		t.Fatalf("right key: %d %s", resp.StatusCode, b)
	}
	// sim-echo never returns the key, which Anthropic's format carries in x-api-key.
	_, b = postAnthropic(t, hs.URL, `{"model":"sim-echo","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, "X-Api-Key", "sk-ant-simkey-123456")
	if bytes.Contains(b, []byte("simkey")) || !bytes.Contains(b, []byte("redacted by sim")) {
		t.Fatalf("echo: %s", b)
	}
}

func TestAnthropicHuge(t *testing.T) {
	_, hs := newTest(t, Config{HugeBytes: 1 << 20})
	_, body := postAnthropic(t, hs.URL, `{"model":"sim-huge","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`)
	m := decodeAnMessage(t, body)
	if len(*m.Content[0].Text) < 1<<20 || *m.StopReason != "end_turn" {
		t.Errorf("huge: %d bytes", len(*m.Content[0].Text))
	}
	_, body = postAnthropic(t, hs.URL, `{"model":"sim-huge","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	evs := anEvents(t, body)
	if got := eventNames(evs); got != "message_start ping content_block_start content_block_delta content_block_stop message_delta message_stop" {
		t.Errorf("huge stream: %s", got)
	}
}

func BenchmarkAnthropicHandler(b *testing.B) {
	s, err := NewServer(Config{})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, tc := range []struct{ name, body string }{
		{"complete", `{"model":"sim-ok","max_tokens":64,"system":"You are terse.","messages":[{"role":"user","content":"What is the capital of France?"}]}`},
		{"stream", `{"model":"sim-ok","max_tokens":64,"stream":true,"system":"You are terse.","messages":[{"role":"user","content":"What is the capital of France?"}]}`},
		{"tool-use", `{"model":"sim-ok","max_tokens":64,"tool_choice":{"type":"any"},"tools":[{"name":"f","input_schema":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}],"messages":[{"role":"user","content":"x"}]}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body := []byte(tc.body)
			rd := bytes.NewReader(body)
			req, _ := http.NewRequest(http.MethodPost, "/v1/messages", io.NopCloser(rd))
			req.Header.Set(requestIDHeader, "bench")
			req.Header.Set("Anthropic-Version", "2023-06-01")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			if w.n == 0 {
				b.Fatal("no output")
			}
		})
	}
}

// FuzzAnthropicMessages sends arbitrary bodies to the handler: it answers each with a status and
// never panics. Fault models are left out (some hang or drop the connection on purpose).
func FuzzAnthropicMessages(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":64,"system":"S","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":64,"stream":true,` + anTools + `,"messages":[{"role":"user","content":"call all tools"}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":8,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"array"}},"required":["a"]}}},"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"r"}]}]}]}`))
	s, err := NewServer(Config{})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		var probe struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(body, &probe)
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(probe.Model)), "sim-") {
			t.Skip("fault model")
		}
		req, _ := http.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
		req.Header.Set("Anthropic-Version", "2023-06-01")
		w := &statusWriter{discardWriter: discardWriter{h: http.Header{}}}
		h.ServeHTTP(w, req)
		if w.status != 200 && w.status != 400 && w.status != 413 {
			t.Fatalf("status %d for %q", w.status, body)
		}
	})
}

type statusWriter struct {
	discardWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.discardWriter.Write(p)
}
