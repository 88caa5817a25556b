package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

const canary = "AIza-canary-XYZ"

func testCall() *adapters.Call {
	return &adapters.Call{RequestID: "req-42", Model: "gemini-2.5-flash", Messages: []schemas.Message{{Role: "user", Content: "A long enough prompt to be scrubbed from errors"}}}
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
		retryAfter time.Duration
	}{
		{name: "invalid key", status: 400, body: string(adaptertest.ReadTestdata(t, "error_400_api_key.json")), kind: adapters.Auth, code: "API_KEY_INVALID"},
		{name: "context length", status: 400, body: string(adaptertest.ReadTestdata(t, "error_400_context.json")), kind: adapters.ContextTooLong, code: "INVALID_ARGUMENT"},
		{name: "location", status: 400, body: string(adaptertest.ReadTestdata(t, "error_400_location.json")), kind: adapters.InvalidRequest, code: "FAILED_PRECONDITION"},
		{name: "plain 400", status: 400, body: `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified\n","status":"INVALID_ARGUMENT"}}`, kind: adapters.InvalidRequest, code: "INVALID_ARGUMENT"},
		{name: "no key", status: 403, body: string(adaptertest.ReadTestdata(t, "error_403.json")), kind: adapters.Auth, code: "PERMISSION_DENIED"},
		{name: "unauthenticated", status: 401, body: `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`, kind: adapters.Auth, code: "UNAUTHENTICATED"},
		{name: "model not found", status: 404, body: string(adaptertest.ReadTestdata(t, "error_404.json")), kind: adapters.InvalidRequest, code: "NOT_FOUND"},
		{name: "429 retry info", status: 429, body: string(adaptertest.ReadTestdata(t, "error_429.json")), kind: adapters.RateLimited, code: "RESOURCE_EXHAUSTED", retryAfter: 13 * time.Second},
		{name: "429 header wins", status: 429, body: string(adaptertest.ReadTestdata(t, "error_429.json")), headers: map[string]string{"Retry-After": "2"}, kind: adapters.RateLimited, code: "RESOURCE_EXHAUSTED", retryAfter: 2 * time.Second},
		{name: "429 bare", status: 429, kind: adapters.RateLimited},
		{name: "429 absurd retry delay capped", status: 429, body: `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"999999s"}]}}`, kind: adapters.RateLimited, code: "RESOURCE_EXHAUSTED", retryAfter: time.Hour},
		{name: "500", status: 500, body: string(adaptertest.ReadTestdata(t, "error_500.json")), kind: adapters.Internal, code: "INTERNAL"},
		{name: "503", status: 503, body: string(adaptertest.ReadTestdata(t, "error_503.json")), kind: adapters.Unavailable, code: "UNAVAILABLE"},
		{name: "504", status: 504, body: string(adaptertest.ReadTestdata(t, "error_504.json")), kind: adapters.Unavailable, code: "DEADLINE_EXCEEDED"},
		{name: "502 html", status: 502, body: `<html><body>Bad gateway A long enough prompt to be scrubbed from errors</body></html>`, kind: adapters.Unavailable},
		{name: "302 redirect not followed", status: 302, headers: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}, kind: adapters.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := serve(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
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
				if ae.Code != tt.code {
					t.Errorf("code = %q, want %q", ae.Code, tt.code)
				}
				if ae.RetryAfter != tt.retryAfter {
					t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, tt.retryAfter)
				}
				if s := err.Error(); strings.Contains(s, canary) || strings.Contains(s, "scrubbed from errors") || strings.Contains(s, "<html>") || strings.Contains(s, "127.0.0.1") {
					t.Errorf("error string leaks: %s", s)
				}
			}
		})
	}
}

func TestProviderMessageScrubbed(t *testing.T) {
	// A server that quotes the whole key and the prompt back.
	a := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"code":400,"message":"API key not valid: %s for '%s'","status":"INVALID_ARGUMENT"}}`,
			r.Header.Get("x-goog-api-key"), "A long enough prompt to be scrubbed from errors")
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

func TestBlockedPrompt(t *testing.T) {
	for _, stream := range []bool{false, true} {
		a := serve(t, func(w http.ResponseWriter, r *http.Request) {
			body := adaptertest.ReadTestdata(t, "response_blocked_prompt.json")
			if stream {
				w.Header().Set("Content-Type", "text/event-stream")
				body = append(append([]byte("data: "), strings.ReplaceAll(string(body), "\n", "")...), "\r\n\r\n"...)
			}
			_, _ = w.Write(body)
		})
		var res *adapters.Result
		var err error
		if stream {
			res, err = a.Stream(t.Context(), testCall(), nil)
		} else {
			res, err = a.Complete(t.Context(), testCall())
		}
		ae, ok := errors.AsType[*adapters.Error](err)
		if !ok || res != nil || ae.Kind != adapters.ContentFiltered || ae.Status != 200 || ae.Code != "SAFETY" || ae.Retryable() {
			t.Errorf("stream=%v: res %+v err %v", stream, res, err)
		}
	}
}

func TestRequestHeadersAndURL(t *testing.T) {
	var got http.Header
	var path, rawQuery, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		path, rawQuery = r.URL.EscapedPath(), r.URL.RawQuery
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		if r.Method != http.MethodPost {
			t.Errorf("method %s", r.Method)
		}
		if r.URL.Query().Get("alt") == "sse" {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(adaptertest.ReadTestdata(t, "stream_text.sse"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(adaptertest.ReadTestdata(t, "response_text.json"))
	}))
	defer srv.Close()
	a, err := New(Config{BaseURL: srv.URL + "/", APIKey: canary, Headers: map[string]string{"x-goog-user-project": "proj-1"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Complete(t.Context(), testCall())
	if err != nil || res.Content == "" {
		t.Fatal(err)
	}
	if path != "/v1beta/models/gemini-2.5-flash:generateContent" || rawQuery != "" {
		t.Errorf("URL %s?%s", path, rawQuery)
	}
	want := map[string]string{
		"X-Goog-Api-Key":          canary,
		"User-Agent":              "switchyard",
		"Content-Type":            "application/json",
		"Accept":                  "application/json",
		"X-Switchyard-Request-Id": "req-42",
		"X-Goog-User-Project":     "proj-1",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	for k, vs := range got {
		if k != "X-Goog-Api-Key" && strings.Contains(strings.Join(vs, ","), canary) {
			t.Errorf("key in header %s", k)
		}
	}
	if strings.Contains(body, canary) || strings.Contains(body, "req-42") {
		t.Errorf("body carries the key or the request id: %s", body)
	}

	// Streaming: alt=sse, the key still only in the header; a "models/" prefix is accepted; a
	// model name cannot add path segments or a query.
	c := testCall()
	c.Model = "models/gemini-2.0-flash"
	if _, err := a.Stream(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	if path != "/v1beta/models/gemini-2.0-flash:streamGenerateContent" || rawQuery != "alt=sse" || got.Get("Accept") != "text/event-stream" {
		t.Errorf("stream URL %s?%s, Accept %q", path, rawQuery, got.Get("Accept"))
	}
	c.Model = "evil/../x?key=1"
	_, _ = a.Complete(t.Context(), c)
	if path != "/v1beta/models/evil%2F..%2Fx%3Fkey=1:generateContent" || rawQuery != "" {
		t.Errorf("escaped model URL %s?%s", path, rawQuery)
	}

	// APIVersion.
	a, _ = New(Config{BaseURL: srv.URL, APIVersion: "v1"})
	if _, err := a.Complete(t.Context(), testCall()); err != nil {
		t.Fatal(err)
	}
	if path != "/v1/models/gemini-2.5-flash:generateContent" || len(got.Values("X-Goog-Api-Key")) != 0 {
		t.Errorf("v1 without a key: %s, key header %v", path, got.Values("X-Goog-Api-Key"))
	}
}

func TestStreamEndings(t *testing.T) {
	chunk := func(text, finish string) string {
		f := ""
		if finish != "" {
			f = `,"finishReason":"` + finish + `"`
		}
		return `data: {"candidates":[{"content":{"parts":[{"text":"` + text + `"}],"role":"model"}` + f + `,"index":0}],"modelVersion":"m","responseId":"r"}` + "\r\n\r\n"
	}
	good := chunk("Hel", "") + chunk("lo", "STOP")
	tests := []struct {
		name        string
		contentType string
		body        string
		kind        adapters.Kind
		content     string
	}{
		{name: "complete", body: good, content: "Hello"},
		{name: "LF framing and comments", body: ": keep-alive\n\n" + strings.ReplaceAll(good, "\r\n", "\n"), content: "Hello"},
		{name: "no finishReason", body: chunk("Hel", "") + chunk("lo", ""), kind: adapters.Malformed},
		{name: "cut mid event", body: good[:len(good)-20], kind: adapters.Malformed},
		{name: "cut after data line", body: chunk("Hel", "") + "data: {}\r\n", kind: adapters.Malformed},
		{name: "malformed chunk", body: chunk("Hel", "") + "data: {not json}\r\n\r\n" + chunk("lo", "STOP"), kind: adapters.Malformed},
		{name: "empty body", body: "", kind: adapters.Malformed},
		{name: "error object mid-stream", body: chunk("Hel", "") + `data: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}` + "\r\n\r\n", kind: adapters.Unavailable},
		{name: "error object without code", body: chunk("Hel", "") + `data: {"error":{"message":"quota","status":"RESOURCE_EXHAUSTED"}}` + "\r\n\r\n", kind: adapters.RateLimited},
		{name: "invalid-argument error in a 200", body: `data: {"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}` + "\r\n\r\n", kind: adapters.Internal},
		{name: "malformed function call", body: `data: {"candidates":[{"content":{},"finishReason":"MALFORMED_FUNCTION_CALL","index":0}]}` + "\r\n\r\n", kind: adapters.Malformed},
		{name: "event too large", body: "data: " + strings.Repeat("x", 5<<20) + "\n\n", kind: adapters.Malformed},
		{name: "JSON array instead of SSE", contentType: "application/json; charset=UTF-8", body: "[" + strings.ReplaceAll(strings.TrimSuffix(strings.ReplaceAll(good, "data: ", ""), "\r\n\r\n"), "\r\n\r\n", ",\r\n") + "]", content: "Hello"},
		{name: "JSON array without finishReason", contentType: "application/json", body: `[{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}]}]`, kind: adapters.Malformed},
		{name: "JSON array cut", contentType: "application/json", body: `[{"candidates":[{"content":{"parts":[{"text":"Hel"}]},"finishReason":"STOP"}]}`, kind: adapters.Malformed},
		{name: "JSON instead of SSE", contentType: "application/json", body: string(adaptertest.ReadTestdata(t, "response_text.json")), content: "AI learns patterns from data and uses them to make predictions."},
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
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Content != tt.content || deltas.String() != tt.content || res.FinishReason != adapters.FinishStop {
				t.Fatalf("content %q, deltas %q, finish %q, want %q", res.Content, deltas.String(), res.FinishReason, tt.content)
			}
		})
	}
}

func TestOnDeltaErrorReturnedUnchanged(t *testing.T) {
	a := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(adaptertest.ReadTestdata(t, "stream_text.sse"))
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
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	a, err := New(Config{BaseURL: srv.URL, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Complete(context.Background(), testCall())
	if adapters.KindOf(err) != adapters.Timeout {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := New(Config{
		Name:             "Bad Name",
		BaseURL:          "ftp://user:pw@host/x?key=1",
		APIVersion:       "v1/../x",
		APIKey:           "AIza has spaces",
		Headers:          map[string]string{"x-goog-api-key": "k", "Authorization": "Bearer x", "bad header": "v", "X-Ok": "a\r\nb"},
		MaxResponseBytes: -1,
		MaxEventBytes:    -1,
		Timeout:          -1,
		Capabilities:     &adapters.Capabilities{MaxContext: -1},
	})
	ce, ok := errors.AsType[*adapters.ConfigError](err)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"Name", "BaseURL", "APIVersion", "APIKey", "X-Goog-Api-Key", "Authorization", "bad header", "X-Ok", "MaxResponseBytes", "MaxEventBytes", "Timeout", "Capabilities"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no problem reported for %s in %v", want, ce.Problems)
		}
	}
	if strings.Contains(err.Error(), "has spaces") {
		t.Error("the key is quoted in the config error")
	}
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "APIKey: required") {
		t.Errorf("Google's host without a key: %v", err)
	}
	for _, u := range []string{"http://user@h", "http:///v1", "http://h#frag", "http://h?key=x"} {
		if _, err := New(Config{BaseURL: u}); err == nil {
			t.Errorf("BaseURL %q accepted", u)
		}
	}
	a, err := New(Config{APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "gemini" || a.BaseURL() != DefaultBaseURL || a.maxBody != 16<<20 || a.timeout != 10*time.Minute ||
		a.prefix != DefaultBaseURL+"/v1beta/models/" || a.Capabilities() != defaultCaps {
		t.Errorf("defaults: %v %v %+v %d", a.Name(), a.BaseURL(), a.Capabilities(), a.maxBody)
	}
	if c := a.Capabilities(); c.Prefill || !c.Images || !c.JSONSchema || !c.ParallelTools || !c.Streaming {
		t.Errorf("capabilities: %+v", c)
	}
	caps := adapters.Capabilities{Streaming: true, MaxContext: 8192}
	a, _ = New(Config{BaseURL: "http://h", Capabilities: &caps})
	if a.Capabilities() != caps || a.ModelCapabilities("gemini-2.5-pro") != caps {
		t.Errorf("caps override: %+v", a.Capabilities())
	}
}

func TestModelCapabilities(t *testing.T) {
	a, err := New(Config{APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string][2]int{
		"gemini-2.5-pro":                   {1048576, 65536},
		"models/gemini-2.5-flash":          {1048576, 65536},
		"gemini-2.5-flash-preview-09-2025": {1048576, 65536},
		"gemini-2.0-flash-001":             {1048576, 8192},
		"gemini-1.5-pro-002":               {2097152, 8192},
		"something-else":                   {1048576, 8192},
	} {
		c := a.ModelCapabilities(model)
		if c.MaxContext != want[0] || c.MaxOutput != want[1] || !c.Tools || c.Prefill {
			t.Errorf("%s: %+v", model, c)
		}
	}
	if c := a.ModelCapabilities("gemma-3-27b-it"); c.Tools || c.JSONSchema || !c.JSONMode {
		t.Errorf("gemma: %+v", c)
	}
	if c := adapters.CapabilitiesFor(a, "gemini-2.5-flash-image"); c.MaxOutput != 32768 || c.Tools {
		t.Errorf("image model: %+v", c)
	}
}

// TestCanary: the key appears nowhere but the auth header: not in the URL, errors, the URLs
// inside transport errors, fmt renderings or slog output of the adapter and its config.
func TestCanary(t *testing.T) {
	var urls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		urls = append(urls, r.URL.String())
		w.WriteHeader(500)
	}))
	cfg := Config{BaseURL: srv.URL, APIKey: canary}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	_, err = a.Complete(t.Context(), testCall())
	errs = append(errs, err)
	_, err = a.Stream(t.Context(), testCall(), nil)
	errs = append(errs, err)
	srv.Close() // now a transport error, whose *url.Error would carry the URL
	_, err = a.Complete(t.Context(), testCall())
	errs = append(errs, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = a.Stream(ctx, testCall(), nil)
	errs = append(errs, err)
	_, err = New(Config{BaseURL: "::bad", APIKey: canary})
	errs = append(errs, err)
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	things := []any{a, *a, cfg, &cfg}
	for _, e := range errs {
		if e == nil {
			t.Fatal("an error case succeeded")
		}
		things = append(things, e)
	}
	var outs []string
	for _, x := range things {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			outs = append(outs, fmt.Sprintf(verb, x))
		}
		log.Info("x", "v", x)
	}
	outs = append(outs, logs.String())
	outs = append(outs, urls...)
	if len(urls) != 2 {
		t.Errorf("server saw %d requests", len(urls))
	}
	for _, o := range outs {
		if strings.Contains(o, canary) || strings.Contains(o, "canary") || strings.Contains(o, fmt.Sprintf("%x", canary)) {
			t.Fatalf("the key leaked: %s", o)
		}
	}
	var nilA *Adapter
	if s := fmt.Sprintf("%v", nilA); strings.Contains(s, "canary") {
		t.Fatal(s)
	}
}

// stripAlt plays a proxy that drops the query: Google then answers streamGenerateContent with
// one JSON array of chunks instead of SSE.
type stripAlt struct{}

func (stripAlt) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = ""
	return http.DefaultTransport.RoundTrip(r2)
}

func TestStreamArrayFormFromSimulator(t *testing.T) {
	srv, err := sim.NewServer(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, err := New(Config{BaseURL: root, HTTPClient: &http.Client{Transport: stripAlt{}}})
	if err != nil {
		t.Fatal(err)
	}
	c := testCall()
	c.Model = sim.ModelOK
	var deltas strings.Builder
	res, err := a.Stream(t.Context(), c, func(d adapters.Delta) error { deltas.WriteString(d.Content); return nil })
	if err != nil || !strings.HasPrefix(res.Content, "Simulated answer to: A long enough prompt") || deltas.String() != res.Content || res.FinishReason != adapters.FinishStop || res.Usage.OutputTokens != 40 {
		t.Fatalf("res %+v err %v", res, err)
	}
	c.Messages[0].Content = "Please call all tools"
	c.Tools = []schemas.Tool{{Name: "a"}, {Name: "b"}}
	res, err = a.Stream(t.Context(), c, nil)
	if err != nil || len(res.ToolCalls) != 2 || res.ToolCalls[1].ID != "call_1" || res.FinishReason != adapters.FinishToolCalls {
		t.Fatalf("tools: res %+v err %v", res, err)
	}
	for _, model := range []string{sim.ModelNoDone, sim.ModelMalformedChunk, sim.ModelStreamCut} {
		c.Model = model
		if _, err := a.Stream(t.Context(), c, nil); adapters.KindOf(err) != adapters.Malformed {
			t.Errorf("%s: %v", model, err)
		}
	}
}

// TestGemini3ToolRoundTrip: Gemini 3's thought signature comes back in ToolCall.Signature and is
// sent back with the call; the simulator's Gemini 3 models sign calls and enforce the signature
// rule as the real ones do.
func TestGemini3ToolRoundTrip(t *testing.T) {
	srv, err := sim.NewServer(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, err := New(Config{BaseURL: root})
	if err != nil {
		t.Fatal(err)
	}
	tools := []schemas.Tool{{Name: "get_weather", Parameters: `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`}}
	for _, model := range []string{"gemini-3-pro-preview", "gemini-2.5-flash"} {
		c := &adapters.Call{Model: model, Tools: tools, ToolChoice: adapters.ToolChoiceRequired,
			Messages: []schemas.Message{{Role: "user", Content: "Weather in Paris?"}}}
		res, err := a.Complete(t.Context(), c)
		if err != nil || len(res.ToolCalls) != 1 || res.ToolCalls[0].ID != "call_0" {
			t.Fatalf("%s: res %+v err %v", model, res, err)
		}
		if signed := res.ToolCalls[0].Signature != ""; signed != strings.HasPrefix(model, "gemini-3") {
			t.Errorf("%s: signature %q", model, res.ToolCalls[0].Signature)
		}
		c.ToolChoice = ""
		c.Messages = append(c.Messages,
			schemas.Message{Role: "assistant", ToolCalls: res.ToolCalls},
			schemas.Message{Role: "tool", ToolCallID: res.ToolCalls[0].ID, Content: `{"temp_c":18}`})
		res, err = a.Complete(t.Context(), c)
		if err != nil || !strings.HasPrefix(res.Content, "Simulated answer to: Weather in Paris?") {
			t.Errorf("%s: after the tool result: res %+v err %v", model, res, err)
		}
	}
}

func TestStreamReusesConnection(t *testing.T) {
	srv, err := sim.NewServer(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, err := New(Config{BaseURL: root, HTTPClient: &http.Client{Transport: &http.Transport{}}})
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
