package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/sse"
	"github.com/switchyard-llm/switchyard/schemas"
)

func TestNewEndpointProblems(t *testing.T) {
	var problems []string
	e, u := NewEndpoint(EndpointConfig{
		Name: "Bad Name", DefaultName: "p", BaseURL: "ftp://host/v1",
		Headers:  map[string]string{"Authorization": "x", "X-Own": "y", "bad header": "v", "X-Ok": "a\r\nb"},
		Reserved: []string{"X-Own"}, MaxResponseBytes: -1, MaxEventBytes: -1, Timeout: -1,
	}, &problems)
	if u != nil {
		t.Errorf("URL of a bad base: %v", u)
	}
	got := strings.Join(problems, "\n")
	for _, want := range []string{
		`Name "Bad Name"`, `BaseURL: scheme must be http or https, got "ftp"`, "Headers: Authorization is set by the adapter",
		"Headers: X-Own is set by the adapter", `invalid header name "bad header"`, "value of X-Ok contains CR, LF or NUL",
		"MaxResponseBytes: must not be negative", "MaxEventBytes: must not be negative", "Timeout: must not be negative",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem %q in\n%s", want, got)
		}
	}
	if len(problems) != 9 {
		t.Errorf("%d problems, want 9:\n%s", len(problems), got)
	}
	if e.Name() != "Bad Name" || e.BaseURL() != "ftp://host/v1" {
		t.Errorf("name %q base %q", e.Name(), e.BaseURL())
	}

	for _, base := range []string{"::bad", "http:///v1", "http://u@h", "http://h?x=1", "http://h?", "http://h#f"} {
		problems = nil
		if _, u := NewEndpoint(EndpointConfig{BaseURL: base}, &problems); u != nil || len(problems) != 1 || !strings.HasPrefix(problems[0], "BaseURL: ") {
			t.Errorf("%q: %v %q", base, u, problems)
		}
	}
}

func TestNewEndpointDefaults(t *testing.T) {
	problems := []string{"earlier"}
	e, u := NewEndpoint(EndpointConfig{DefaultName: "p", DefaultBaseURL: "https://api.example.com/v1/", Headers: map[string]string{"x-extra": "1"}}, &problems)
	if len(problems) != 1 {
		t.Fatalf("problems %q", problems)
	}
	if u == nil || u.Host != "api.example.com" {
		t.Errorf("URL %v", u)
	}
	if e.Name() != "p" || e.BaseURL() != "https://api.example.com/v1" || e.MaxBody() != DefaultMaxBody ||
		e.maxEvent != sse.DefaultMaxEventSize || e.Timeout() != DefaultTimeout || e.client != noRedirectClient ||
		e.headers.Get("X-Extra") != "1" {
		t.Errorf("defaults: %+v", e)
	}
	ctx, cancel := e.Bound(context.Background())
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > DefaultTimeout {
		t.Errorf("bound: %v %v", d, ok)
	}
	parent, cancelParent := context.WithTimeout(context.Background(), time.Second)
	defer cancelParent()
	if ctx, _ := e.Bound(parent); ctx != parent {
		t.Error("a context with a deadline was bounded again")
	}
}

func TestPost(t *testing.T) {
	var got http.Header
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	}))
	defer srv.Close()
	var problems []string
	e, _ := NewEndpoint(EndpointConfig{DefaultName: "p", BaseURL: srv.URL, Headers: map[string]string{"X-Static": "s"}}, &problems)
	own := http.Header{"X-Api-Key": {"k"}}
	resp, err := e.Post(context.Background(), srv.URL+"/x", "rid\r\n1", []byte(`{"a":1}`), true, own)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if body != `{"a":1}` || got.Get("Content-Type") != "application/json" || got.Get("Accept") != "text/event-stream" ||
		got.Get("User-Agent") != UserAgent || got.Get("X-Static") != "s" || got.Get("X-Api-Key") != "k" ||
		got.Get(RequestIDHeader) != "rid%0D%0A1" {
		t.Errorf("body %q headers %v", body, got)
	}
	resp, err = e.Post(context.Background(), srv.URL+"/redirect", "", nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || got.Get("Accept") != "application/json" || got.Get(RequestIDHeader) != "" {
		t.Errorf("redirect followed (%d) or headers %v", resp.StatusCode, got)
	}
	srv.Close()
	if _, err := e.Post(context.Background(), srv.URL+"/x", "", nil, false, nil); adapters.KindOf(err) != adapters.Unavailable {
		t.Errorf("closed server: %v", err)
	}
}

func TestStreamError(t *testing.T) {
	e := &Endpoint{name: "p"}
	bg := context.Background()
	for _, tc := range []struct {
		err    error
		marker string
		want   string
	}{
		{io.EOF, "[DONE]", "stream ended without [DONE]"},
		{io.EOF, "", "response cut"},
		{fmt.Errorf("read: %w", sse.ErrTruncated), "[DONE]", "stream cut in the middle of an event"},
		{sse.ErrTooLarge, "[DONE]", "stream event too large"},
		{ErrTooLarge, "[DONE]", "response too large"},
	} {
		got := e.StreamError(bg, tc.err, tc.marker)
		if got.Kind != adapters.Malformed || got.Message != tc.want || got.Provider != "p" {
			t.Errorf("%v %q: %v", tc.err, tc.marker, got)
		}
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if got := e.StreamError(ctx, io.EOF, "[DONE]"); got.Kind != adapters.Canceled {
		t.Errorf("canceled: %v", got)
	}
}

func TestReplayJSON(t *testing.T) {
	decode := func(data []byte) (*adapters.Result, error) {
		var r adapters.Result
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, &adapters.Error{Provider: "p", Kind: adapters.Malformed}
		}
		return &r, nil
	}
	var got []adapters.Delta
	deltas := NewDeltas(time.Now().Add(-time.Second), func(d adapters.Delta) error { got = append(got, d); return nil })
	res, err := ReplayJSON([]byte(`{"Content":"hi","ToolCalls":[{"ID":"c1","Name":"f","Arguments":"{}"}]}`), &deltas, decode)
	if err != nil {
		t.Fatal(err)
	}
	if res.TTFT < time.Second || len(got) != 2 || got[0].Content != "hi" || got[1].ToolCall == nil || got[1].ToolCall.ID != "c1" || got[1].ToolCall.Index != 0 {
		t.Errorf("res %+v deltas %+v", res, got)
	}
	if _, err := ReplayJSON([]byte(`nope`), &deltas, decode); adapters.KindOf(err) != adapters.Malformed {
		t.Errorf("bad body: %v", err)
	}
	stop := errors.New("stop")
	refusing := NewDeltas(time.Now(), func(adapters.Delta) error { return stop })
	if _, err := ReplayJSON([]byte(`{"Content":"hi"}`), &refusing, decode); err != stop || refusing.Refused() != stop {
		t.Errorf("refused: %v", err)
	}
}

func TestDeltas(t *testing.T) {
	start := time.Now().Add(-time.Second)
	d := NewDeltas(start, nil)
	if err := d.Emit(adapters.Delta{Content: "x"}); err != nil || d.Refused() != nil {
		t.Fatalf("nil onDelta: %v", err)
	}
	first := d.TTFT()
	if first < time.Second {
		t.Errorf("TTFT %v", first)
	}
	time.Sleep(time.Millisecond)
	if d.TTFT() != first {
		t.Error("TTFT moved after the first delta")
	}
}

func TestStatusErrorAndPromptTexts(t *testing.T) {
	if e := StatusError("p", 429); e.Kind != adapters.RateLimited || e.Message != "429 Too Many Requests" || e.Status != 429 {
		t.Errorf("429: %+v", e)
	}
	if e := StatusError("p", 0); e.Kind != adapters.Internal || e.Message != "" {
		t.Errorf("0: %+v", e)
	}
	call := &adapters.Call{Messages: []schemas.Message{{Content: "a"}, {Parts: []schemas.ContentPart{{Text: "b"}, {}}}}}
	if got := PromptTexts(call); strings.Join(got, ",") != "a,b" {
		t.Errorf("prompt texts %q", got)
	}
	if PromptTexts(nil) != nil {
		t.Error("nil call")
	}
}

func TestMalformed(t *testing.T) {
	e := &Endpoint{name: "p"}
	err := fmt.Errorf("wrapped: %w", Malformed("bad %s", "thing"))
	if got := e.MalformedAnswer(err, 200); got.Kind != adapters.Malformed || got.Message != "bad thing" || got.Status != 200 {
		t.Errorf("malformed: %+v", got)
	}
	if got := e.MalformedAnswer(errors.New("other"), 0); got.Message != "cannot decode response" {
		t.Errorf("other: %+v", got)
	}
	var v struct{ N int }
	synErr := json.Unmarshal([]byte(`{"N": "secret text`), &v)
	typeErr := json.Unmarshal([]byte(`{"N": "secret text"}`), &v)
	for _, err := range []error{synErr, typeErr} {
		if s := JSONErrorSummary(err); strings.Contains(s, "secret") || !strings.Contains(s, "offset") {
			t.Errorf("summary %q", s)
		}
	}
}

func TestComplete(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	var problems []string
	e, _ := NewEndpoint(EndpointConfig{DefaultName: "p", BaseURL: srv.URL, MaxResponseBytes: 5}, &problems)
	statusErr := func(resp *http.Response) error {
		return &adapters.Error{Provider: "p", Kind: KindForStatus(resp.StatusCode), Message: string(ReadErrorBody(resp))}
	}
	if _, err := e.Complete(context.Background(), srv.URL+"/fail", "", nil, nil, statusErr); adapters.KindOf(err) != adapters.RateLimited || !strings.Contains(err.Error(), `{"ok":true}`) {
		t.Errorf("429: %v", err)
	}
	if _, err := e.Complete(context.Background(), srv.URL, "", nil, nil, statusErr); adapters.KindOf(err) != adapters.Malformed || !strings.Contains(err.Error(), "too large") {
		t.Errorf("over the cap: %v", err)
	}
	e.maxBody = 1 << 10
	ans, err := e.Complete(context.Background(), srv.URL, "", nil, nil, statusErr)
	if err != nil || string(ans.Data) != `{"ok":true}` || ans.Status != 200 || ans.TTFT <= 0 {
		t.Errorf("%+v %v", ans, err)
	}
}
