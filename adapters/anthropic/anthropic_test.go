package anthropic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/schemas"
)

const canary = "sk-ant-canary-XYZ"

func testCall() *adapters.Call {
	return &adapters.Call{RequestID: "req-42", Model: "claude-sonnet-4-5", Messages: []schemas.Message{{Role: "user", Content: "A long enough prompt to be scrubbed from errors"}}}
}

// serve starts a server that answers every request with h, and an adapter pointed at it.
func serve(t *testing.T, h http.HandlerFunc) *Adapter {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a, err := New(Config{Name: "test", BaseURL: srv.URL, APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		headers    map[string]string
		kind       adapters.Kind
		code       string
		retryAfter time.Duration // exact, or within 2s below it when approx
		approx     bool
	}{
		{name: "prompt too long", status: 400, body: string(adaptertest.ReadTestdata(t, "error_prompt_too_long.json")), kind: adapters.ContextTooLong, code: "invalid_request_error"},
		{name: "input and max_tokens over the context", status: 400, body: `{"type":"error","error":{"type":"invalid_request_error","message":"input length and ` + "`max_tokens`" + ` exceed context limit: 188240 + 21333 > 200000, decrease input length or ` + "`max_tokens`" + ` and try again"}}`, kind: adapters.ContextTooLong},
		{name: "content filter", status: 400, body: `{"type":"error","error":{"type":"invalid_request_error","message":"Output blocked by content filtering policy"}}`, kind: adapters.ContentFiltered},
		{name: "plain 400", status: 400, body: string(adaptertest.ReadTestdata(t, "error_invalid_request.json")), kind: adapters.InvalidRequest, code: "invalid_request_error"},
		{name: "prefill refused by a 4.6 model", status: 400, body: `{"type":"error","error":{"type":"invalid_request_error","message":"This model does not support assistant message prefill. The conversation must end with a user message."}}`, kind: adapters.InvalidRequest},
		{name: "invalid key", status: 401, body: string(adaptertest.ReadTestdata(t, "error_authentication.json")), kind: adapters.Auth, code: "authentication_error"},
		{name: "billing", status: 402, body: `{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low."}}`, kind: adapters.Auth, code: "billing_error"},
		{name: "permission", status: 403, body: `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`, kind: adapters.Auth, code: "permission_error"},
		{name: "model not found", status: 404, body: string(adaptertest.ReadTestdata(t, "error_not_found.json")), kind: adapters.InvalidRequest, code: "not_found_error"},
		{name: "413 request too large", status: 413, body: string(adaptertest.ReadTestdata(t, "error_request_too_large.json")), kind: adapters.InvalidRequest, code: "request_too_large"},
		{name: "429 with retry-after", status: 429, body: string(adaptertest.ReadTestdata(t, "error_rate_limit.json")), headers: map[string]string{"retry-after": "12"}, kind: adapters.RateLimited, code: "rate_limit_error", retryAfter: 12 * time.Second},
		{name: "429 wait from the exhausted bucket's reset", status: 429, body: string(adaptertest.ReadTestdata(t, "error_rate_limit.json")), headers: map[string]string{
			"anthropic-ratelimit-requests-remaining": "12", "anthropic-ratelimit-requests-reset": resetIn(40 * time.Second),
			"anthropic-ratelimit-input-tokens-remaining": "0", "anthropic-ratelimit-input-tokens-reset": resetIn(20 * time.Second),
		}, kind: adapters.RateLimited, code: "rate_limit_error", retryAfter: 20 * time.Second, approx: true},
		{name: "429 retry-after wins over the reset headers", status: 429, headers: map[string]string{
			"retry-after": "3", "anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": resetIn(50 * time.Second),
		}, kind: adapters.RateLimited, retryAfter: 3 * time.Second},
		{name: "429 spend limit is not retryable", status: 429, body: string(adaptertest.ReadTestdata(t, "error_spend_limit.json")), kind: adapters.Auth, code: "enforced_spend_limit_reached"},
		{name: "500", status: 500, body: `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, kind: adapters.Internal, code: "api_error"},
		{name: "529 overloaded", status: 529, body: string(adaptertest.ReadTestdata(t, "error_overloaded.json")), kind: adapters.Unavailable, code: "overloaded_error"},
		{name: "503", status: 503, headers: map[string]string{"Retry-After": "7"}, kind: adapters.Unavailable, retryAfter: 7 * time.Second},
		{name: "504 timeout_error", status: 504, body: `{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}`, kind: adapters.Unavailable, code: "timeout_error"},
		{name: "502 html", status: 502, body: `<html><body>Bad gateway A long enough prompt to be scrubbed from errors</body></html>`, kind: adapters.Unavailable},
		{name: "408", status: 408, kind: adapters.Timeout},
		{name: "302 redirect not followed", status: 302, headers: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}, kind: adapters.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := serve(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					_, err = a.Stream(t.Context(), testCall(), nil)
				} else {
					_, err = a.Complete(t.Context(), testCall())
				}
				ae, ok := errors.AsType[*adapters.Error](err)
				if !ok {
					t.Fatalf("err = %T %v", err, err)
				}
				if ae.Kind != tt.kind || ae.Status != tt.status || ae.Provider != "test" {
					t.Errorf("stream=%v: kind %v status %d provider %q, want %v %d (%v)", stream, ae.Kind, ae.Status, ae.Provider, tt.kind, tt.status, err)
				}
				if tt.code != "" && ae.Code != tt.code {
					t.Errorf("code = %q, want %q", ae.Code, tt.code)
				}
				if tt.approx {
					if ae.RetryAfter > tt.retryAfter || ae.RetryAfter < tt.retryAfter-2*time.Second {
						t.Errorf("RetryAfter = %v, want about %v", ae.RetryAfter, tt.retryAfter)
					}
				} else if ae.RetryAfter != tt.retryAfter {
					t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, tt.retryAfter)
				}
				if s := err.Error(); strings.Contains(s, canary) || strings.Contains(s, "scrubbed from errors") || strings.Contains(s, "<html>") {
					t.Errorf("error string leaks: %s", s)
				}
			}
		})
	}
}

// resetIn renders a rate-limit reset time d from now as Anthropic does (RFC 3339).
func resetIn(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }

func TestProviderMessageScrubbed(t *testing.T) {
	// A provider that quotes the whole key and the prompt back.
	a := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"type":"error","error":{"type":"authentication_error","message":"key %s rejected for prompt '%s'"}}`,
			r.Header.Get("X-Api-Key"), "A long enough prompt to be scrubbed from errors")
	})
	_, err := a.Complete(t.Context(), testCall())
	if adapters.KindOf(err) != adapters.Auth {
		t.Fatalf("err = %v", err)
	}
	s := err.Error()
	if strings.Contains(s, canary) || strings.Contains(s, "scrubbed from errors") {
		t.Fatalf("leak: %s", s)
	}
	if !strings.Contains(s, adapters.Redacted) || !strings.Contains(s, "[PROMPT]") {
		t.Errorf("message lost its shape: %s", s)
	}
}

func TestRequestHeaders(t *testing.T) {
	var got http.Header
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		if r.URL.Path != "/v1/messages" || r.Method != http.MethodPost {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(adaptertest.ReadTestdata(t, "response_basic.json"))
	}))
	defer srv.Close()
	a, err := New(Config{BaseURL: srv.URL + "/", APIKey: canary, PromptCache: "5m", Beta: []string{"context-1m-2025-08-07", "fine-grained-tool-streaming-2025-05-14"}, Headers: map[string]string{"anthropic-workspace-id": "wrkspc_1"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Complete(t.Context(), testCall())
	if err != nil || res.Content == "" {
		t.Fatal(err)
	}
	want := map[string]string{
		"X-Api-Key":               canary,
		"Anthropic-Version":       "2023-06-01",
		"Anthropic-Beta":          "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14",
		"Anthropic-Workspace-Id":  "wrkspc_1",
		"User-Agent":              "switchyard",
		"Content-Type":            "application/json",
		"Accept":                  "application/json",
		"X-Switchyard-Request-Id": "req-42",
		"Authorization":           "",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	for k, vs := range got {
		if k != "X-Api-Key" && strings.Contains(strings.Join(vs, ","), canary) {
			t.Errorf("key in header %s", k)
		}
	}
	if strings.Contains(body, canary) || strings.Contains(body, "req-42") {
		t.Errorf("body carries the key or the request id: %s", body)
	}
	if !strings.Contains(body, `"max_tokens":4096`) || !strings.Contains(body, `"cache_control":{"type":"ephemeral"}`) {
		t.Errorf("default max_tokens or cache_control not sent: %s", body)
	}
}

func TestNoKeyNoKeyHeader(t *testing.T) {
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = append(r.Header.Values("X-Api-Key"), r.Header.Values("Authorization")...)
		_, _ = w.Write(adaptertest.ReadTestdata(t, "response_basic.json"))
	}))
	defer srv.Close()
	a, err := New(Config{Name: "gateway", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Complete(t.Context(), testCall()); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("a key header was sent without a key: %v", keys)
	}
}

func TestStreamEndings(t *testing.T) {
	start := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	delta := func(s string) string {
		return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + s + "\"}}\n\n"
	}
	end := "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n"
	stop := "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	good := start + delta("Hel") + delta("lo") + end
	tests := []struct {
		name        string
		contentType string
		body        string
		kind        adapters.Kind
		content     string
	}{
		{name: "complete", body: good + stop, content: "Hello"},
		{name: "bytes after message_stop ignored", body: good + stop + "data: {garbage\n\n", content: "Hello"},
		{name: "no message_stop", body: good, kind: adapters.Malformed},
		{name: "cut mid event", body: start + delta("Hel") + "event: content_block_delta\ndata: {\"type\":\"content_bl", kind: adapters.Malformed},
		{name: "malformed data line", body: start + delta("Hel") + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"text\":\"broken\"}]]}\n\n" + delta("lo") + end + stop, kind: adapters.Malformed},
		{name: "empty body", body: "", kind: adapters.Malformed},
		{name: "overloaded mid-stream", body: string(adaptertest.ReadTestdata(t, "stream_error.sse")), kind: adapters.Unavailable},
		{name: "rate limited mid-stream", body: start + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n", kind: adapters.RateLimited},
		{name: "api_error mid-stream", body: start + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}\n\n", kind: adapters.Internal},
		{name: "event too large", body: "data: " + strings.Repeat("x", 5<<20) + "\n\n", kind: adapters.Malformed},
		{name: "JSON instead of SSE", contentType: "application/json", body: string(adaptertest.ReadTestdata(t, "response_basic.json")), content: "Hi! My name is Claude."},
		{name: "JSON error envelope in a 200", contentType: "application/json", body: string(adaptertest.ReadTestdata(t, "error_overloaded.json")), kind: adapters.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := serve(t, func(w http.ResponseWriter, r *http.Request) {
				ct := tt.contentType
				if ct == "" {
					ct = "text/event-stream"
				}
				w.Header().Set("Content-Type", ct)
				_, _ = io.WriteString(w, tt.body)
			})
			var deltas strings.Builder
			res, err := a.Stream(t.Context(), testCall(), func(d adapters.Delta) error {
				deltas.WriteString(d.Content)
				return nil
			})
			if tt.kind != adapters.OK {
				if adapters.KindOf(err) != tt.kind || res != nil {
					t.Fatalf("res %+v, err %v; want kind %v", res, err, tt.kind)
				}
				if ae, _ := errors.AsType[*adapters.Error](err); ae == nil || ae.Provider != "test" {
					t.Errorf("error %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Content != tt.content || deltas.String() != tt.content {
				t.Fatalf("content %q, deltas %q, want %q", res.Content, deltas.String(), tt.content)
			}
		})
	}
}

func TestOnDeltaErrorReturnedUnchanged(t *testing.T) {
	a := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(adaptertest.ReadTestdata(t, "stream_tool_use.sse"))
	})
	stop := errors.New("consumer gone")
	n := 0
	_, err := a.Stream(t.Context(), testCall(), func(adapters.Delta) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("err = %v after %d deltas", err, n)
	}
}

func TestDefaultDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a gone client only after the body
		<-r.Context().Done()
	}))
	defer srv.Close()
	a, err := New(Config{BaseURL: srv.URL, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// context.Background has no deadline: the adapter's Timeout must still end the call.
	_, err = a.Complete(context.Background(), testCall())
	if adapters.KindOf(err) != adapters.Timeout {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := New(Config{
		Name:             "Bad Name",
		BaseURL:          "ftp://user:pw@host/v1?x=1",
		APIKey:           "sk has spaces",
		Version:          "latest",
		Beta:             []string{"ok-beta", "bad beta"},
		Headers:          map[string]string{"x-api-key": "k", "Anthropic-Version": "2024-01-01", "bad header": "v", "X-Ok": "a\r\nb"},
		DefaultMaxTokens: -1,
		PromptCache:      "forever",
		MaxResponseBytes: -1,
		MaxEventBytes:    -1,
		Timeout:          -1,
		Capabilities:     &adapters.Capabilities{MaxContext: -1},
	})
	ce, ok := errors.AsType[*adapters.ConfigError](err)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"Name", "BaseURL", "APIKey", "Version", "bad beta", "X-Api-Key", "Anthropic-Version", "bad header", "X-Ok", "DefaultMaxTokens", "PromptCache", "MaxResponseBytes", "MaxEventBytes", "Timeout", "Capabilities"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no problem reported for %s in %v", want, ce.Problems)
		}
	}
	if strings.Contains(err.Error(), "sk has spaces") {
		t.Error("the key is quoted in the config error")
	}
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "APIKey: required") {
		t.Errorf("api.anthropic.com without a key: %v", err)
	}
	for _, u := range []string{"http://user@h", "http:///x", "http://h#frag", "https://api.anthropic.com/v1", "http://h/proxy/v1/"} {
		if _, err := New(Config{BaseURL: u}); err == nil {
			t.Errorf("BaseURL %q accepted", u)
		}
	}
	a, err := New(Config{APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "anthropic" || a.BaseURL() != DefaultBaseURL || a.endpoint != DefaultBaseURL+"/v1/messages" || a.Capabilities() != defaultCaps ||
		a.maxBody != 16<<20 || a.maxTokens != 4096 || a.versionHdr[0] != "2023-06-01" || a.betaHdr != nil {
		t.Errorf("defaults: %v %v %+v %d", a.Name(), a.BaseURL(), a.Capabilities(), a.maxBody)
	}
	a, err = New(Config{BaseURL: "http://h/proxy", Version: "2024-10-22"})
	if err != nil || a.endpoint != "http://h/proxy/v1/messages" || a.versionHdr[0] != "2024-10-22" {
		t.Fatalf("%v %v", a, err)
	}
	caps := adapters.Capabilities{Streaming: true, MaxContext: 8192}
	a, _ = New(Config{BaseURL: "http://h", Capabilities: &caps})
	if a.Capabilities() != caps || a.ModelCapabilities("claude-opus-4-6") != caps {
		t.Errorf("caps override: %+v", a.Capabilities())
	}
}

func TestModelCapabilities(t *testing.T) {
	a, err := New(Config{BaseURL: "http://h", DefaultMaxTokens: 16000})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		model            string
		context, output  int
		schema, prefill  bool
		defaultMaxTokens int
	}{
		{"claude-opus-4-6", 1_000_000, 128_000, true, false, 16000},
		{"claude-sonnet-4-6", 1_000_000, 128_000, true, false, 16000},
		{"claude-sonnet-4-5-20250929", 200_000, 64_000, true, true, 16000},
		{"claude-haiku-4-5@20251001", 200_000, 64_000, true, true, 16000},
		{"claude-opus-4-1-20250805", 200_000, 32_000, false, true, 16000},
		{"claude-sonnet-4-20250514", 200_000, 64_000, false, true, 16000},
		{"claude-3-5-haiku-latest", 200_000, 8_192, false, true, 8192},
		{"claude-opus-5-5", 1_000_000, 128_000, true, false, 16000},
		{"claude-opus-4-7", 1_000_000, 128_000, true, false, 16000},
		{"claude-opus-4-60", 200_000, 0, true, true, 16000}, // not 4.6: unknown, the defaults
		{"sim-ok", 200_000, 0, true, true, 16000},
	}
	for _, tt := range tests {
		c := a.ModelCapabilities(tt.model)
		if c.MaxContext != tt.context || c.MaxOutput != tt.output || c.JSONSchema != tt.schema || c.Prefill != tt.prefill || !c.Streaming || !c.Tools || c.JSONMode {
			t.Errorf("%s: %+v", tt.model, c)
		}
		if got := a.maxTokensFor(tt.model); got != tt.defaultMaxTokens {
			t.Errorf("%s: default max_tokens %d, want %d", tt.model, got, tt.defaultMaxTokens)
		}
	}
	if got := adapters.CapabilitiesFor(a, "claude-opus-4-6"); got.MaxOutput != 128_000 {
		t.Errorf("CapabilitiesFor: %+v", got)
	}
}

func TestAdapterNeverPrintsKey(t *testing.T) {
	a, err := New(Config{APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	var nilA *Adapter
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for _, x := range []any{a, *a, nilA, Config{APIKey: canary}} {
			if s := fmt.Sprintf(verb, x); strings.Contains(s, "canary") || strings.Contains(s, fmt.Sprintf("%x", "canary")) {
				t.Fatalf("%s printed %s", verb, s)
			}
		}
	}
}

func newSim(t *testing.T, cfg sim.Config) string {
	t.Helper()
	srv, err := sim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return root
}

func TestSimulatorRoundTrip(t *testing.T) {
	root := newSim(t, sim.Config{})
	a, err := New(Config{Name: "sim", BaseURL: root, APIKey: "sk-any"})
	if err != nil {
		t.Fatal(err)
	}
	// A conversation with a tool round trip, an image and a prefill: the simulator checks the
	// shapes as the API does and answers the last user text after the prefill.
	c := fullCall()
	c.Model = sim.ModelOK
	c.ToolChoice = ""
	for _, stream := range []bool{false, true} {
		var deltas strings.Builder
		var res *adapters.Result
		var err error
		if stream {
			res, err = a.Stream(t.Context(), c, func(d adapters.Delta) error { deltas.WriteString(d.Content); return nil })
		} else {
			res, err = a.Complete(t.Context(), c)
		}
		if err != nil {
			t.Fatalf("stream=%v: %v", stream, err)
		}
		if !strings.HasPrefix(res.Content, "Demain, il feraSimulated answer to: And tomorrow?Be brief.") || res.FinishReason != adapters.FinishStop {
			t.Errorf("stream=%v: %+v", stream, res)
		}
		if stream && deltas.String() != res.Content {
			t.Errorf("deltas %q", deltas.String())
		}
		if res.Usage.InputTokens <= 0 || res.Usage.OutputTokens != 40 {
			t.Errorf("usage %+v", res.Usage)
		}
	}
	// Parallel tool calls, and cache usage on a long prompt (with PromptCache; without it the
	// simulator, like Anthropic, caches nothing).
	a, err = New(Config{Name: "sim", BaseURL: root, APIKey: "sk-any", PromptCache: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	c = &adapters.Call{Model: sim.ModelOK, Messages: []schemas.Message{{Role: "system", Content: strings.Repeat("context ", 1000)}, {Role: "user", Content: "call all tools"}},
		Tools: []schemas.Tool{{Name: "a", Parameters: `{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}`}, {Name: "b"}}}
	for _, stream := range []bool{false, true} {
		var res *adapters.Result
		var err error
		if stream {
			res, err = a.Stream(t.Context(), c, nil)
		} else {
			res, err = a.Complete(t.Context(), c)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(res.ToolCalls) != 2 || res.ToolCalls[0].Arguments != `{"x":"sim"}` || res.ToolCalls[1].Arguments != "{}" || res.ToolCalls[1].Name != "b" {
			t.Errorf("stream=%v: tool calls %+v", stream, res.ToolCalls)
		}
		u := res.Usage
		if u.CachedTokens == 0 || u.CacheWriteTokens == 0 || u.InputTokens <= u.CachedTokens+u.CacheWriteTokens {
			t.Errorf("stream=%v: usage %+v", stream, u)
		}
	}
}

func TestStreamReusesConnection(t *testing.T) {
	root := newSim(t, sim.Config{})
	a, err := New(Config{Name: "sim", BaseURL: root, HTTPClient: &http.Client{Transport: &http.Transport{}}})
	if err != nil {
		t.Fatal(err)
	}
	var reused []bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) }})
	c := testCall()
	c.Model = sim.ModelOK
	for range 3 {
		if _, err := a.Stream(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(reused) != 3 || !reused[1] || !reused[2] {
		t.Fatalf("connection reuse per call: %v", reused)
	}
}

func TestTemperatureLeftOutWhereRejected(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		_, _ = w.Write(adaptertest.ReadTestdata(t, "response_basic.json"))
	}))
	defer srv.Close()
	old, _ := New(Config{BaseURL: srv.URL})
	latest, _ := New(Config{BaseURL: srv.URL, Version: "2026-10-21"})
	for _, tc := range []struct {
		a     *Adapter
		model string
		sent  bool
	}{
		{old, "claude-sonnet-4-5", true}, {old, "claude-opus-4-6", true}, {old, "some-proxy-model", true},
		{old, "claude-opus-4-7", false}, {old, "claude-opus-4-8-20260528", false}, {old, "claude-sonnet-5-5", false},
		{latest, "claude-sonnet-4-5", false},
	} {
		c := testCall()
		c.Model, c.Temperature = tc.model, ptr(0.3)
		if _, err := tc.a.Complete(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(body, `"temperature":0.3`); got != tc.sent {
			t.Errorf("%s (version %s): temperature sent %v, want %v", tc.model, tc.a.versionHdr[0], got, tc.sent)
		}
	}
}
