package openai

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

const canary = "sk-canary-XYZ"

func testCall() *adapters.Call {
	return &adapters.Call{RequestID: "req-42", Model: "gpt-4o", Messages: []schemas.Message{{Role: "user", Content: "A long enough prompt to be scrubbed from errors"}}}
}

// serve starts a server that answers every request with h, and an adapter pointed at it.
func serve(t *testing.T, h http.HandlerFunc) *Adapter {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a, err := New(Config{Name: "test", BaseURL: srv.URL + "/v1", APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStatusErrors(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		body       string
		headers    map[string]string
		kind       adapters.Kind
		code       string
		retryAfter time.Duration // exact, or >= this when approx
		approx     bool
	}{
		{name: "context length", status: 400, body: string(adaptertest.ReadTestdata(t, "error_context_length.json")), kind: adapters.ContextTooLong, code: "context_length_exceeded"},
		{name: "context length by message", status: 400, body: `{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":null,"code":null}}`, kind: adapters.ContextTooLong, code: "invalid_request_error"},
		{name: "content filter (Azure)", status: 400, body: string(adaptertest.ReadTestdata(t, "error_content_filter.json")), kind: adapters.ContentFiltered, code: "content_filter"},
		{name: "content policy", status: 400, body: `{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}`, kind: adapters.ContentFiltered, code: "content_policy_violation"},
		{name: "plain 400", status: 400, body: `{"error":{"message":"Invalid 'messages': empty array.","type":"invalid_request_error","param":"messages","code":"empty_array"}}`, kind: adapters.InvalidRequest, code: "empty_array"},
		{name: "invalid key", status: 401, body: string(adaptertest.ReadTestdata(t, "error_invalid_key.json")), kind: adapters.Auth, code: "invalid_api_key"},
		{name: "forbidden region", status: 403, body: `{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","param":null,"code":"unsupported_country_region_territory"}}`, kind: adapters.Auth},
		{name: "model not found", status: 404, body: string(adaptertest.ReadTestdata(t, "error_model_not_found.json")), kind: adapters.InvalidRequest, code: "model_not_found"},
		{name: "408", status: 408, kind: adapters.Timeout},
		{name: "429 seconds", status: 429, body: string(adaptertest.ReadTestdata(t, "error_rate_limit.json")), headers: map[string]string{"Retry-After": "2"}, kind: adapters.RateLimited, code: "rate_limit_exceeded", retryAfter: 2 * time.Second},
		{name: "429 ms wins", status: 429, headers: map[string]string{"Retry-After": "2", "retry-after-ms": "1250"}, kind: adapters.RateLimited, retryAfter: 1250 * time.Millisecond},
		{name: "429 date", status: 429, headers: map[string]string{"Retry-After": date}, kind: adapters.RateLimited, retryAfter: 85 * time.Second, approx: true},
		{name: "429 garbage header", status: 429, headers: map[string]string{"Retry-After": "soon"}, kind: adapters.RateLimited},
		{name: "429 absurd header capped", status: 429, headers: map[string]string{"Retry-After": "99999999"}, kind: adapters.RateLimited, retryAfter: time.Hour},
		{name: "500", status: 500, body: `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`, kind: adapters.Internal, code: "server_error"},
		{name: "502 html", status: 502, body: `<html><body>Bad gateway A long enough prompt to be scrubbed from errors</body></html>`, kind: adapters.Unavailable},
		{name: "503 with retry", status: 503, headers: map[string]string{"Retry-After": "7"}, kind: adapters.Unavailable, retryAfter: 7 * time.Second},
		{name: "504", status: 504, kind: adapters.Unavailable},
		{name: "numeric code", status: 400, body: `{"error":{"message":"bad","type":"BadRequestError","code":400}}`, kind: adapters.InvalidRequest, code: "400"},
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
				if tt.code != "" && ae.Code != tt.code {
					t.Errorf("code = %q, want %q", ae.Code, tt.code)
				}
				if tt.approx {
					if ae.RetryAfter < tt.retryAfter || ae.RetryAfter > 91*time.Second {
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

func TestProviderMessageScrubbed(t *testing.T) {
	// A provider that quotes the whole key and the prompt back.
	a := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"error":{"message":"key %s rejected for prompt '%s'","type":"invalid_request_error","code":"invalid_api_key"}}`,
			strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "A long enough prompt to be scrubbed from errors")
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
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(adaptertest.ReadTestdata(t, "response_basic.json"))
	}))
	defer srv.Close()
	a, err := New(Config{BaseURL: srv.URL + "/v1/", APIKey: canary, Headers: map[string]string{"openai-organization": "org-1"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Complete(t.Context(), testCall())
	if err != nil || res.Content == "" {
		t.Fatal(err)
	}
	want := map[string]string{
		"Authorization":           "Bearer " + canary,
		"User-Agent":              "switchyard",
		"Content-Type":            "application/json",
		"Accept":                  "application/json",
		"X-Switchyard-Request-Id": "req-42",
		"Openai-Organization":     "org-1",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	for k, vs := range got {
		if k != "Authorization" && strings.Contains(strings.Join(vs, ","), canary) {
			t.Errorf("key in header %s", k)
		}
	}
	if strings.Contains(body, canary) || strings.Contains(body, "req-42") {
		t.Errorf("body carries the key or the request id: %s", body)
	}
}

func TestNoKeyNoAuthHeader(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Values("Authorization")
		_, _ = w.Write(adaptertest.ReadTestdata(t, "response_basic.json"))
	}))
	defer srv.Close()
	a, err := New(Config{Name: "ollama", BaseURL: srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Complete(t.Context(), testCall()); err != nil {
		t.Fatal(err)
	}
	if len(auth) != 0 {
		t.Fatalf("Authorization sent without a key: %v", auth)
	}
}

func TestStreamEndings(t *testing.T) {
	chunk := func(content, finish string) string {
		f := "null"
		if finish != "" {
			f = `"` + finish + `"`
		}
		return `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":` + f + "}]}\n\n"
	}
	good := chunk("Hel", "") + chunk("lo", "") + chunk("", "stop")
	tests := []struct {
		name        string
		contentType string
		body        string
		kind        adapters.Kind
		content     string
	}{
		{name: "complete", body: good + "data: [DONE]\n\n", content: "Hello"},
		{name: "bytes after DONE ignored", body: good + "data: [DONE]\n\ndata: {garbage\n\n", content: "Hello"},
		{name: "no DONE", body: good, kind: adapters.Malformed},
		{name: "cut mid event", body: good + `data: {"id":"c","choi`, kind: adapters.Malformed},
		{name: "cut after data line", body: chunk("Hel", "") + "data: {}\n", kind: adapters.Malformed},
		{name: "malformed chunk", body: chunk("Hel", "") + "data: {not json}\n\n" + chunk("", "stop") + "data: [DONE]\n\n", kind: adapters.Malformed},
		{name: "DONE without finish", body: chunk("Hel", "") + "data: [DONE]\n\n", kind: adapters.Malformed},
		{name: "empty body", body: "", kind: adapters.Malformed},
		{name: "error object mid-stream", body: chunk("Hel", "") + `data: {"error":{"message":"overloaded","type":"server_error","code":null}}` + "\n\n", kind: adapters.Internal},
		{name: "error event", body: chunk("Hel", "") + "event: error\ndata: {\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_error\"}}\n\n", kind: adapters.RateLimited},
		{name: "event too large", body: "data: " + strings.Repeat("x", 5<<20) + "\n\n", kind: adapters.Malformed},
		{name: "bogus tool index", body: `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":100000,"id":"x","function":{"name":"f","arguments":""}}]}}]}` + "\n\n", kind: adapters.Malformed},
		{name: "JSON instead of SSE", contentType: "application/json", body: string(adaptertest.ReadTestdata(t, "response_basic.json")), content: "Hello! How can I assist you today?"},
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
			if res.Content != tt.content || deltas.String() != tt.content {
				t.Fatalf("content %q, deltas %q, want %q", res.Content, deltas.String(), tt.content)
			}
		})
	}
}

func TestOnDeltaErrorReturnedUnchanged(t *testing.T) {
	a := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, string(adaptertest.ReadTestdata(t, "stream_basic.sse")))
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
	a, err := New(Config{BaseURL: srv.URL + "/v1", Timeout: 100 * time.Millisecond})
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
		Headers:          map[string]string{"Authorization": "Bearer x", "bad header": "v", "X-Ok": "a\r\nb"},
		MaxResponseBytes: -1,
		MaxEventBytes:    -1,
		Timeout:          -1,
	})
	ce, ok := errors.AsType[*adapters.ConfigError](err)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"Name", "BaseURL", "APIKey", "Authorization", "bad header", "X-Ok", "MaxResponseBytes", "MaxEventBytes", "Timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no problem reported for %s in %v", want, ce.Problems)
		}
	}
	if strings.Contains(err.Error(), "sk has spaces") {
		t.Error("the key is quoted in the config error")
	}
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "APIKey: required") {
		t.Errorf("api.openai.com without a key: %v", err)
	}
	for _, u := range []string{"http://user@h/v1", "http:///v1", "http://h/v1#frag"} {
		if _, err := New(Config{BaseURL: u}); err == nil {
			t.Errorf("BaseURL %q accepted", u)
		}
	}
	a, err := New(Config{APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "openai" || a.BaseURL() != DefaultBaseURL || !a.Capabilities().Streaming || a.maxBody != 16<<20 {
		t.Errorf("defaults: %v %v %+v %d", a.Name(), a.BaseURL(), a.Capabilities(), a.maxBody)
	}
	caps := adapters.Capabilities{Streaming: true, MaxContext: 8192}
	a, _ = New(Config{BaseURL: "http://h/v1", Capabilities: &caps})
	if a.Capabilities() != caps {
		t.Errorf("caps override: %+v", a.Capabilities())
	}
}

func TestAdapterNeverPrintsKey(t *testing.T) {
	a, err := New(Config{APIKey: canary})
	if err != nil {
		t.Fatal(err)
	}
	var nilA *Adapter
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for _, x := range []any{a, *a, nilA} {
			if s := fmt.Sprintf(verb, x); strings.Contains(s, "canary") || strings.Contains(s, fmt.Sprintf("%x", "canary")) {
				t.Fatalf("%s printed %s", verb, s)
			}
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
	a, err := New(Config{Name: "sim", BaseURL: root + "/v1", HTTPClient: &http.Client{Transport: &http.Transport{}}})
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
