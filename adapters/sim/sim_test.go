package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTest(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { _ = s.Close(); hs.Close() })
	return s, hs
}

func post(t *testing.T, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
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

func TestCompletionShape(t *testing.T) {
	_, hs := newTest(t, Config{})
	resp, body := post(t, hs.URL, `{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France? Tell me more about it"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var v struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Role    string  `json:"role"`
				Content *string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens        int `json:"prompt_tokens"`
			CompletionTokens    int `json:"completion_tokens"`
			TotalTokens         int `json:"total_tokens"`
			PromptTokensDetails *struct {
				CachedTokens *int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
			CompletionTokensDetails *struct {
				ReasoningTokens *int `json:"reasoning_tokens"`
			} `json:"completion_tokens_details"`
		} `json:"usage"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if !strings.HasPrefix(v.ID, "chatcmpl-") || v.Object != "chat.completion" || v.Created == 0 || v.Model != "gpt-4o" {
		t.Errorf("envelope: %s", body)
	}
	if len(v.Choices) != 1 || v.Choices[0].Message.Role != "assistant" || v.Choices[0].FinishReason != "stop" || v.Choices[0].Message.Content == nil {
		t.Fatalf("choices: %s", body)
	}
	content := *v.Choices[0].Message.Content
	if !strings.HasPrefix(content, "Simulated answer to: What is the capital of France? Tell me m ") {
		t.Errorf("content = %q", content)
	}
	if len(content) != 160 || v.Usage.CompletionTokens != 40 {
		t.Errorf("content %d bytes, %d completion tokens; want about 40 tokens", len(content), v.Usage.CompletionTokens)
	}
	if v.Usage.PromptTokens < 10 || v.Usage.TotalTokens != v.Usage.PromptTokens+v.Usage.CompletionTokens ||
		v.Usage.PromptTokensDetails == nil || v.Usage.PromptTokensDetails.CachedTokens == nil ||
		v.Usage.CompletionTokensDetails == nil || v.Usage.CompletionTokensDetails.ReasoningTokens == nil {
		t.Errorf("usage: %s", body)
	}
	// Deterministic: the same request gives the same content.
	_, body2 := post(t, hs.URL, `{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France? Tell me more about it"}]}`)
	var v2 struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	_ = json.Unmarshal(body2, &v2)
	if v2.Choices[0].Message.Content != content {
		t.Error("content is not deterministic")
	}
}

func TestCachedTokensOnLongPrompts(t *testing.T) {
	_, hs := newTest(t, Config{})
	long := strings.Repeat("word ", 2000)
	_, body := post(t, hs.URL, `{"model":"m","messages":[{"role":"user","content":"`+long+`"}]}`)
	var v struct {
		Usage struct {
			PromptTokens        int64 `json:"prompt_tokens"`
			PromptTokensDetails struct {
				CachedTokens int64 `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(body, &v)
	if v.Usage.PromptTokens < 2500 || v.Usage.PromptTokensDetails.CachedTokens == 0 || v.Usage.PromptTokensDetails.CachedTokens%128 != 0 {
		t.Errorf("usage = %+v", v.Usage)
	}
}

// sseData returns the data payloads of an SSE body.
func sseData(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, d)
		} else if line != "" {
			t.Fatalf("unexpected line %q", line)
		}
	}
	return out
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func TestStreamShape(t *testing.T) {
	_, hs := newTest(t, Config{})
	for _, withUsage := range []bool{true, false} {
		opts := ""
		if withUsage {
			opts = `,"stream_options":{"include_usage":true}`
		}
		resp, body := post(t, hs.URL, `{"model":"sim-ok","stream":true`+opts+`,"messages":[{"role":"user","content":"hello there"}]}`)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("content type %q", ct)
		}
		data := sseData(t, body)
		if data[len(data)-1] != "[DONE]" {
			t.Fatalf("last data %q", data[len(data)-1])
		}
		var chunks []chunk
		for _, d := range data[:len(data)-1] {
			var c chunk
			if err := json.Unmarshal([]byte(d), &c); err != nil {
				t.Fatalf("%v: %s", err, d)
			}
			if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion.chunk" || c.Model != "sim-ok" || c.ID != chunks0ID(chunks, c.ID) {
				t.Fatalf("chunk envelope: %s", d)
			}
			chunks = append(chunks, c)
		}
		if chunks[0].Choices[0].Delta.Role != "assistant" {
			t.Errorf("first chunk is not the role chunk")
		}
		var content strings.Builder
		finishes := 0
		for _, c := range chunks {
			for _, ch := range c.Choices {
				if ch.Delta.Content != nil {
					content.WriteString(*ch.Delta.Content)
					if n := len(strings.Fields(*ch.Delta.Content)); n > 3 {
						t.Errorf("chunk of %d words", n)
					}
				}
				if ch.FinishReason != nil {
					finishes++
				}
			}
		}
		if !strings.HasPrefix(content.String(), "Simulated answer to: hello there") || finishes != 1 {
			t.Errorf("content %q, %d finish chunks", content.String(), finishes)
		}
		last := chunks[len(chunks)-1]
		if withUsage {
			if len(last.Choices) != 0 || last.Usage == nil || last.Usage.CompletionTokens != 40 {
				t.Errorf("usage chunk: %+v", last)
			}
		} else if last.Usage != nil || !bytes.Contains(body, []byte(`"finish_reason":"stop"`)) || bytes.Contains(body, []byte(`"usage"`)) {
			t.Errorf("usage without include_usage: %s", body)
		}
	}
}

func chunks0ID(chunks []chunk, id string) string {
	if len(chunks) == 0 {
		return id
	}
	return chunks[0].ID
}

func TestToolCalls(t *testing.T) {
	_, hs := newTest(t, Config{})
	tools := `"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"},"n":{"type":["integer","null"]},"opts":{"type":"object","properties":{"deep":{"type":"boolean"}},"required":["deep"]},"mode":{"enum":["fast","slow"]}},"required":["q","n","opts","mode"]}}},{"type":"function","function":{"name":"other","parameters":{}}}]`
	tests := []struct {
		name, extra, prompt, wantTool, wantArgs string
	}{
		{"call tool", "", "please call tool", "lookup", `{"q":"sim","n":1,"opts":{"deep":true},"mode":"fast"}`},
		{"required", `,"tool_choice":"required"`, "hi", "lookup", `{"q":"sim","n":1,"opts":{"deep":true},"mode":"fast"}`},
		{"named", `,"tool_choice":{"type":"function","function":{"name":"other"}}`, "hi", "other", `{}`},
		{"none", `,"tool_choice":"none"`, "call tool", "", ""},
		{"auto, not asked", `,"tool_choice":"auto"`, "hi", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				body := `{"model":"m","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,` + tools + tt.extra + `,"messages":[{"role":"user","content":"` + tt.prompt + `"}]}`
				_, out := post(t, hs.URL, body)
				name, args, finish := "", "", ""
				if !stream {
					var v struct {
						Choices []struct {
							Message struct {
								Content   *string `json:"content"`
								ToolCalls []struct {
									ID       string `json:"id"`
									Type     string `json:"type"`
									Function struct{ Name, Arguments string }
								} `json:"tool_calls"`
							} `json:"message"`
							FinishReason string `json:"finish_reason"`
						} `json:"choices"`
					}
					if err := json.Unmarshal(out, &v); err != nil {
						t.Fatal(err)
					}
					m := v.Choices[0].Message
					finish = v.Choices[0].FinishReason
					if len(m.ToolCalls) > 0 {
						if m.Content != nil || m.ToolCalls[0].Type != "function" || !strings.HasPrefix(m.ToolCalls[0].ID, "call_") {
							t.Errorf("tool call shape: %s", out)
						}
						name, args = m.ToolCalls[0].Function.Name, m.ToolCalls[0].Function.Arguments
					}
				} else {
					for _, d := range sseData(t, out) {
						var c chunk
						if d == "[DONE]" || json.Unmarshal([]byte(d), &c) != nil {
							continue
						}
						for _, ch := range c.Choices {
							for _, tc := range ch.Delta.ToolCalls {
								name += tc.Function.Name
								args += tc.Function.Arguments
							}
							if ch.FinishReason != nil {
								finish = *ch.FinishReason
							}
						}
					}
				}
				if name != tt.wantTool || args != tt.wantArgs {
					t.Errorf("stream=%v: tool %q args %s, want %q %s", stream, name, args, tt.wantTool, tt.wantArgs)
				}
				wantFinish := "stop"
				if tt.wantTool != "" {
					wantFinish = "tool_calls"
				}
				if finish != wantFinish {
					t.Errorf("stream=%v: finish %q", stream, finish)
				}
			}
		})
	}
}

func TestContentParts(t *testing.T) {
	_, hs := newTest(t, Config{})
	_, body := post(t, hs.URL, `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"parts "},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"work"}]}]}`)
	if !bytes.Contains(body, []byte(`"content":"Simulated answer to: parts work`)) || !bytes.Contains(body, []byte(`"finish_reason":"length"`)) {
		t.Fatalf("%s", body)
	}
}

func TestRequestErrors(t *testing.T) {
	_, hs := newTest(t, Config{MaxRequestBytes: 1 << 10})
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"bad JSON", "POST", "/v1/chat/completions", `{"model":`, 400},
		{"wrong types", "POST", "/v1/chat/completions", `{"model":1,"messages":"x"}`, 400},
		{"no model", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"m"}`, 400},
		{"bad content", "POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":5}]}`, 400},
		{"too large", "POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2<<10) + `"}]}`, 413},
		{"GET", "GET", "/v1/chat/completions", ``, 405},
		{"unknown path", "POST", "/v1/embeddings", `{}`, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, hs.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb struct {
				Error *struct {
					Message string  `json:"message"`
					Type    *string `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error == nil || eb.Error.Message == "" {
				t.Fatalf("error body: %v %+v", err, eb)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestAPIKeyCheck(t *testing.T) {
	_, hs := newTest(t, Config{APIKey: "sk-simkey-123456"})
	resp, body := post(t, hs.URL, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "Authorization", "Bearer sk-wrongkey-987654")
	if resp.StatusCode != 401 || !bytes.Contains(body, []byte(`"code":"invalid_api_key"`)) || bytes.Contains(body, []byte("sk-wrongkey-987654")) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, _ := post(t, hs.URL, `{"model":"m","messages":[{"role":"user","content":"x"}]}`); resp.StatusCode != 401 {
		t.Fatalf("no key: %d", resp.StatusCode)
	}
	if resp, _ := post(t, hs.URL, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "Authorization", "Bearer sk-simkey-123456"); resp.StatusCode != 200 {
		t.Fatalf("right key: %d", resp.StatusCode)
	}
}

func TestStatsAndReset(t *testing.T) {
	s, hs := newTest(t, Config{MaxTrackedRequests: 2})
	msg := `{"model":"sim-ok","messages":[{"role":"user","content":"x"}]}`
	for _, id := range []string{"a", "a", "a", "b", "c", ""} {
		post(t, hs.URL, msg, requestIDHeader, id)
	}
	post(t, hs.URL, `{"model":"sim-503","messages":[{"role":"user","content":"x"}]}`, requestIDHeader, "b")
	if s.Calls("a") != 3 || s.Calls("b") != 2 || s.Calls("c") != 0 || s.TotalCalls() != 7 || s.ModelCalls("sim-ok") != 6 || s.ModelCalls("sim-503") != 1 {
		t.Fatalf("calls a=%d b=%d c=%d total=%d", s.Calls("a"), s.Calls("b"), s.Calls("c"), s.TotalCalls())
	}
	resp, err := http.Get(hs.URL + "/_sim/stats?request_id=a")
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.TotalCalls != 7 || st.RequestsSeen != 2 || st.DuplicateRequests != 2 || st.MaxCallsPerRequest != 3 || st.UntrackedCalls != 1 ||
		st.Calls == nil || *st.Calls != 3 || st.ByModel["sim-ok"] != 6 {
		t.Fatalf("stats %+v", st)
	}
	resp, err = http.Post(hs.URL+"/_sim/reset", "", nil)
	if err != nil || resp.StatusCode != 204 {
		t.Fatal(err, resp.StatusCode)
	}
	if s.TotalCalls() != 0 || s.Calls("a") != 0 || len(s.Stats().ByModel) != 0 {
		t.Fatal("reset left counters")
	}
}

func Test500OnceWithoutRequestID(t *testing.T) {
	_, hs := newTest(t, Config{})
	var codes []int
	for range 4 {
		resp, _ := post(t, hs.URL, `{"model":"sim-500-once","messages":[{"role":"user","content":"x"}]}`)
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 500 || codes[1] != 200 || codes[2] != 500 || codes[3] != 200 {
		t.Fatalf("codes %v", codes)
	}
}

func TestLatency(t *testing.T) {
	_, hs := newTest(t, Config{Latency: Latency{Base: 60 * time.Millisecond, Jitter: 10 * time.Millisecond}, TokenDelay: 5 * time.Millisecond})
	start := time.Now()
	post(t, hs.URL, `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("answered in %v, base latency 60ms", d)
	}
	start = time.Now()
	post(t, hs.URL, `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	// A sleep never ends early, so these are lower bounds that cannot flake: the answer has
	// about nine content chunks, and at least five pauses are counted here.
	if d := time.Since(start); d < 60*time.Millisecond+5*5*time.Millisecond {
		t.Errorf("stream took %v, want base + per-chunk delays", d)
	}
	if got := (Latency{Base: time.Second, TailProb: 1, Tail: 3 * time.Second}).sample(); got != 3*time.Second {
		t.Errorf("tail sample %v", got)
	}
}

func TestCloseReleasesHungHandlers(t *testing.T) {
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"sim-hang","messages":[{"role":"user","content":"x"}]}`))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	_ = s.Close()
	_ = s.Close() // idempotent
	select {
	case err := <-done:
		if err == nil {
			t.Error("a hung call got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hung handler")
	}
}

func TestEchoRedactsAuthorization(t *testing.T) {
	_, hs := newTest(t, Config{})
	_, body := post(t, hs.URL, `{"model":"sim-echo","messages":[{"role":"user","content":"marker-123"}]}`, "Authorization", "Bearer sk-echo-secret", "X-Custom", "v")
	var v struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Headers map[string][]string `json:"headers"`
		Body    map[string]any      `json:"body"`
	}
	if err := json.Unmarshal([]byte(v.Choices[0].Message.Content), &echo); err != nil {
		t.Fatal(err)
	}
	if echo.Headers["X-Custom"][0] != "v" || echo.Body["model"] != "sim-echo" || strings.Contains(string(body), "sk-echo-secret") {
		t.Fatalf("echo %s", body)
	}
}

func TestModelsList(t *testing.T) {
	_, hs := newTest(t, Config{})
	resp, err := http.Get(hs.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Data []struct{ ID string } `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&v)
	if len(v.Data) != len(Faults()) || v.Data[0].ID != ModelOK {
		t.Fatalf("%+v", v)
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := NewServer(Config{TokenDelay: -1, HugeBytes: -1, Latency: Latency{TailProb: 2}})
	if err == nil || !strings.Contains(err.Error(), "TokenDelay") || !strings.Contains(err.Error(), "HugeBytes") || !strings.Contains(err.Error(), "TailProb") {
		t.Fatalf("err = %v", err)
	}
}

func TestStatusFault(t *testing.T) {
	for model, want := range map[string]int{"sim-status-418": 418, "sim-status-599": 599, "sim-status-200": 0, "sim-status-x": 0, "sim-ok": 0} {
		got, ok := statusFault(model)
		if got != want || ok != (want != 0) {
			t.Errorf("%s: %d %v", model, got, ok)
		}
	}
}

func TestStreamClientGoneStopsWriting(t *testing.T) {
	_, hs := newTest(t, Config{TokenDelay: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hs.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a 40-token stream at 50ms a chunk finished within 120ms")
	}
}

func TestInFlight(t *testing.T) {
	s, hs := newTest(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hs.URL+"/v1/chat/completions", strings.NewReader(`{"model":"sim-hang","messages":[{"role":"user","content":"x"}]}`))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.InFlight() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.InFlight() != 1 {
		t.Fatalf("InFlight = %d during a hung call", s.InFlight())
	}
	cancel()
	<-done
	for s.InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.InFlight() != 0 {
		t.Fatalf("InFlight = %d after the client left", s.InFlight())
	}
}
