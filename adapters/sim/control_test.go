package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func oaBody(model string, stream bool) string {
	return `{"model":"` + model + `","stream":` + strconv.FormatBool(stream) + `,"messages":[{"role":"user","content":"x"}]}`
}

func anBody(model string, stream bool) string {
	return `{"model":"` + model + `","max_tokens":10,"stream":` + strconv.FormatBool(stream) + `,"messages":[{"role":"user","content":"x"}]}`
}

// TestSetFaultEachFormat: an override turns a healthy model into sim-503 in every wire format
// (Anthropic's own 529), and clearing it brings the model back; answers name the requested model.
func TestSetFaultEachFormat(t *testing.T) {
	s, hs := newTest(t, Config{})
	const oa, an, gm = "gpt-4o-mini-2024-07-18", "claude-sonnet-4-5", "gemini-2.5-flash"
	status := func() (int, int, int) {
		r1, _ := post(t, hs.URL, oaBody(oa, false))
		r2, _ := postAnthropic(t, hs.URL, anBody(an, false))
		r3, _ := gmPost(t, hs.URL, gm, "generateContent", gmHello)
		return r1.StatusCode, r2.StatusCode, r3.StatusCode
	}
	if a, b, c := status(); a != 200 || b != 200 || c != 200 {
		t.Fatalf("healthy: %d %d %d", a, b, c)
	}
	for _, m := range []string{oa, an, gm} {
		if err := s.SetFault(m, Model503); err != nil {
			t.Fatal(err)
		}
	}
	if a, b, c := status(); a != 503 || b != 529 || c != 503 {
		t.Fatalf("overridden to sim-503: %d %d %d, want 503 529 503", a, b, c)
	}
	// Other models are untouched.
	if resp, body := post(t, hs.URL, oaBody("gpt-4o", false)); resp.StatusCode != 200 {
		t.Fatalf("other model: %d %s", resp.StatusCode, body)
	}
	for _, m := range []string{oa, an, gm} {
		if err := s.SetFault(m, ""); err != nil {
			t.Fatal(err)
		}
	}
	if a, b, c := status(); a != 200 || b != 200 || c != 200 {
		t.Fatalf("cleared: %d %d %d", a, b, c)
	}
	if len(s.Faults()) != 0 {
		t.Fatalf("Faults() = %v after clearing", s.Faults())
	}

	// A body fault by override: the answer is the fault's, under the requested model's name.
	_ = s.SetFault("", ModelContentFilterFinal)
	resp, body := post(t, hs.URL, oaBody(oa, false))
	var v struct {
		Model   string `json:"model"`
		Choices []struct {
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &v); err != nil || resp.StatusCode != 200 || v.Model != oa || len(v.Choices) != 1 || v.Choices[0].FinishReason != "content_filter" {
		t.Fatalf("content-filter-finish override: %d %s", resp.StatusCode, body)
	}
	// A stream fault by override, in a stream.
	_ = s.SetFault("", ModelStreamError)
	_, body = post(t, hs.URL, oaBody(oa, true))
	if !strings.Contains(string(body), `"model":"`+oa+`"`) || !strings.Contains(string(body), `data: {"error":`) || strings.Contains(string(body), "[DONE]") {
		t.Fatalf("stream-error override: %s", body)
	}
	_, body = gmPost(t, hs.URL, gm, "streamGenerateContent", gmHello)
	if !strings.Contains(string(body), `"status":"UNAVAILABLE"`) || !strings.Contains(string(body), `"modelVersion":"`+gm+`"`) {
		t.Fatalf("gemini stream-error override: %s", body)
	}
	_, body = postAnthropic(t, hs.URL, anBody(an, true))
	if !strings.Contains(string(body), "event: error") || !strings.Contains(string(body), `"model":"`+an+`"`) {
		t.Fatalf("anthropic stream-error override: %s", body)
	}
}

func TestFaultOverridePrecedence(t *testing.T) {
	s, hs := newTest(t, Config{})
	if err := s.SetFault("", Model503); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFault("gpt-4o", ModelOK); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFault("gpt-4.1", "sim-status-502"); err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]int{"gpt-4o": 200, "gpt-4.1": 502, "o3": 503, Model429: 503} {
		if resp, body := post(t, hs.URL, oaBody(model, false)); resp.StatusCode != want {
			t.Errorf("%s: %d, want %d: %s", model, resp.StatusCode, want, body)
		}
	}
	got := s.Faults()
	if want := map[string]string{"": Model503, "gpt-4o": ModelOK, "gpt-4.1": "sim-status-502"}; !maps.Equal(got, want) {
		t.Fatalf("Faults() = %v, want %v", got, want)
	}
	got["o3"] = Model500 // a copy: changing it changes nothing
	if resp, _ := post(t, hs.URL, oaBody("o3", false)); resp.StatusCode != 503 {
		t.Fatalf("o3 after editing the copy: %d", resp.StatusCode)
	}
	_ = s.SetFault("", "")
	for model, want := range map[string]int{"gpt-4o": 200, "gpt-4.1": 502, "o3": 200, Model429: 429} {
		if resp, _ := post(t, hs.URL, oaBody(model, false)); resp.StatusCode != want {
			t.Errorf("global cleared, %s: %d, want %d", model, resp.StatusCode, want)
		}
	}
	s.ClearFaults()
	if resp, _ := post(t, hs.URL, oaBody("gpt-4.1", false)); resp.StatusCode != 200 || len(s.Faults()) != 0 {
		t.Fatalf("ClearFaults: %d %v", resp.StatusCode, s.Faults())
	}
}

func TestSetFaultRejectsUnknown(t *testing.T) {
	s, _ := newTest(t, Config{})
	for _, bad := range []string{"sim-nope", "gpt-4o", "sim-status-", "sim-status-399", "sim-status-600", "sim-status-NNN", "SIM-503"} {
		if err := s.SetFault("m", bad); err == nil {
			t.Errorf("SetFault(%q) accepted", bad)
		}
	}
	if len(s.Faults()) != 0 {
		t.Fatalf("rejected faults were stored: %v", s.Faults())
	}
	for _, f := range Faults() {
		if f.Model == ModelStatusPrefix+"NNN" {
			continue
		}
		if err := s.SetFault("m", f.Model); err != nil {
			t.Errorf("SetFault(%q): %v", f.Model, err)
		}
	}
	if err := s.SetFault("m", "sim-status-429"); err != nil {
		t.Error(err)
	}
}

func adminDo(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url+"/_sim/fault", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestFaultAdminEndpoint(t *testing.T) {
	s, hs := newTest(t, Config{})
	type list struct {
		Faults []FaultOverride `json:"faults"`
	}
	decode := func(b []byte) list {
		t.Helper()
		var l list
		if err := json.Unmarshal(b, &l); err != nil || l.Faults == nil {
			t.Fatalf("list %s: %v", b, err)
		}
		return l
	}
	code, b := adminDo(t, http.MethodGet, hs.URL, "")
	if code != 200 || len(decode(b).Faults) != 0 {
		t.Fatalf("empty GET: %d %s", code, b)
	}
	code, b = adminDo(t, http.MethodPut, hs.URL, `{"model":"","fault":"sim-503"}`)
	if code != 200 || fmt.Sprint(decode(b).Faults) != "[{ sim-503}]" {
		t.Fatalf("PUT: %d %s", code, b)
	}
	code, b = adminDo(t, http.MethodPut, hs.URL, `{"model":"gpt-4o","fault":"sim-ok"}`)
	if code != 200 || len(decode(b).Faults) != 2 {
		t.Fatalf("second PUT: %d %s", code, b)
	}
	code, b = adminDo(t, http.MethodGet, hs.URL, "")
	if code != 200 || fmt.Sprint(decode(b).Faults) != "[{ sim-503} {gpt-4o sim-ok}]" {
		t.Fatalf("GET: %d %s", code, b)
	}
	if resp, _ := post(t, hs.URL, oaBody("o3", false)); resp.StatusCode != 503 {
		t.Fatalf("o3 under PUT sim-503: %d", resp.StatusCode)
	}
	if resp, _ := post(t, hs.URL, oaBody("gpt-4o", false)); resp.StatusCode != 200 {
		t.Fatalf("gpt-4o under PUT sim-ok: %d", resp.StatusCode)
	}
	for _, body := range []string{
		`{"model":"","fault":"sim-bogus"}`,
		`{"model":"","fault":"sim-status-700"}`,
		`{"model":"",`,
		`not json`,
		`{"model":"x","fualt":"sim-503"}`,
		`{"model":"x"}`,
		`{"model":"x","fault":"sim-503"} {}`,
		``,
	} {
		code, b := adminDo(t, http.MethodPut, hs.URL, body)
		var e struct {
			Error string `json:"error"`
		}
		if code != 400 || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("PUT %s: %d %s, want 400 with a JSON error", body, code, b)
		}
	}
	if got := s.Faults(); len(got) != 2 {
		t.Fatalf("bad PUTs changed the overrides: %v", got)
	}
	// fault "" clears one override.
	if code, b := adminDo(t, http.MethodPut, hs.URL, `{"model":"gpt-4o","fault":""}`); code != 200 || fmt.Sprint(decode(b).Faults) != "[{ sim-503}]" {
		t.Fatalf("PUT clear one: %d %s", code, b)
	}
	if code, _ := adminDo(t, http.MethodPost, hs.URL, `{}`); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", code)
	}
	if code, b := adminDo(t, http.MethodDelete, hs.URL, ""); code != 204 || len(b) != 0 {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	if code, b := adminDo(t, http.MethodGet, hs.URL, ""); code != 200 || len(decode(b).Faults) != 0 {
		t.Fatalf("GET after DELETE: %d %s", code, b)
	}
	if resp, _ := post(t, hs.URL, oaBody("o3", false)); resp.StatusCode != 200 {
		t.Fatalf("o3 after DELETE: %d", resp.StatusCode)
	}
	if s.TotalCalls() != 3 {
		t.Fatalf("admin calls were counted as provider calls: %d", s.TotalCalls())
	}
}

func TestOnCall(t *testing.T) {
	const canary = "sk-canary-7f3a9c1e5b2d4086"
	var mu sync.Mutex
	var calls []CallInfo
	s, hs := newTest(t, Config{APIKey: canary, OnCall: func(c CallInfo) {
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
	}})
	if err := s.SetFault("gemini-2.5-flash", Model500); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	post(t, hs.URL, oaBody("gpt-4o", false), "Authorization", "Bearer "+canary, requestIDHeader, "req-1")
	post(t, hs.URL, oaBody("gpt-4o", true), "Authorization", "Bearer wrong-"+canary) // still a call: auth fails after arrival
	postAnthropic(t, hs.URL, anBody(Model503, true), "X-Api-Key", canary, requestIDHeader, "req-2")
	gmPost(t, hs.URL, "gemini-2.5-flash", "streamGenerateContent", gmHello, "X-Goog-Api-Key", canary)
	gmPost(t, hs.URL, "gemini-2.5-flash", "generateContent?key="+canary, gmHello)
	post(t, hs.URL, `{"model":`, "Authorization", "Bearer "+canary) // unparsable: model unknown
	if code, _ := adminDo(t, http.MethodGet, hs.URL, ""); code != 200 {
		t.Fatal("admin GET")
	}

	mu.Lock()
	defer mu.Unlock()
	want := []CallInfo{
		{Format: FormatOpenAI, Model: "gpt-4o", RequestID: "req-1"},
		{Format: FormatOpenAI, Model: "gpt-4o", Stream: true},
		{Format: FormatAnthropic, Model: Model503, Fault: Model503, RequestID: "req-2", Stream: true},
		{Format: FormatGemini, Model: "gemini-2.5-flash", Fault: Model500, Stream: true},
		{Format: FormatGemini, Model: "gemini-2.5-flash", Fault: Model500},
		{Format: FormatOpenAI},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d calls seen, want %d: %+v", len(calls), len(want), calls)
	}
	prev := start
	for i, c := range calls {
		if c.At.Before(prev) || c.At.After(time.Now()) {
			t.Errorf("call %d at %v, not in order after %v", i, c.At, prev)
		}
		prev = c.At
		c.At = time.Time{}
		if c != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, c, want[i])
		}
		if strings.Contains(fmt.Sprintf("%#v", calls[i]), "canary") {
			t.Errorf("call %d leaks the key: %#v", i, calls[i])
		}
	}
}

// fakeClock is a Config.Clock that moves only when told.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestRetryAfterViolations(t *testing.T) {
	clk := newFakeClock()
	s, hs := newTest(t, Config{RetryAfter: time.Second, Clock: clk.Now})
	const keyA, keyB = "Bearer sk-a", "Bearer sk-b"
	call := func(key, model string) int {
		resp, _ := post(t, hs.URL, oaBody(model, false), "Authorization", key)
		return resp.StatusCode
	}
	if code := call(keyA, Model429RetryAfter); code != 429 {
		t.Fatalf("first call %d", code)
	}
	clk.Advance(500 * time.Millisecond)
	if call(keyB, Model429RetryAfter) != 429 || call(keyA, "gpt-4o") != 200 {
		t.Fatal("other calls")
	}
	if n := s.Stats().RetryAfterViolations; n != 0 {
		t.Fatalf("another credential and another model counted as violations: %d", n)
	}
	call(keyA, Model429RetryAfter) // inside A's window: a violation, and a new window until +1.5 s
	if n := s.Stats().RetryAfterViolations; n != 1 {
		t.Fatalf("violations %d after a call inside the window, want 1", n)
	}
	clk.Advance(1100 * time.Millisecond) // +1.6 s: every window is over
	call(keyA, Model429RetryAfter)
	call(keyB, Model429RetryAfter)
	if n := s.Stats().RetryAfterViolations; n != 1 {
		t.Fatalf("violations %d after the windows ended, want 1", n)
	}

	// By override, in another format: the key is the requested model and Anthropic's x-api-key.
	_ = s.SetFault("claude-haiku-4-5", Model429RetryAfter)
	resp, _ := postAnthropic(t, hs.URL, anBody("claude-haiku-4-5", false), "X-Api-Key", "sk-c")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("override: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	_ = s.SetFault("claude-haiku-4-5", "")
	clk.Advance(999 * time.Millisecond)
	postAnthropic(t, hs.URL, anBody("claude-haiku-4-5", false), "X-Api-Key", "sk-d") // another key
	postAnthropic(t, hs.URL, anBody("claude-haiku-4-5", false), "X-Api-Key", "sk-c") // healthy now, but too early
	// The same credential in the OpenAI format is another client.
	post(t, hs.URL, oaBody("claude-haiku-4-5", false), "Authorization", "sk-c")
	resp, err := http.Get(hs.URL + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		RetryAfterViolations *int64 `json:"retry_after_violations"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.RetryAfterViolations == nil || *st.RetryAfterViolations != 2 {
		t.Fatalf("/_sim/stats retry_after_violations = %v, want 2", st.RetryAfterViolations)
	}
	s.Reset()
	call(keyA, "gpt-4o")
	if n := s.Stats().RetryAfterViolations; n != 0 || s.waits.n.Load() != 0 {
		t.Fatalf("after Reset: %d violations, %d windows", n, s.waits.n.Load())
	}
}

// TestRetryAfterTableBounded: the table never outgrows maxRetryWaits, and ended windows are
// pruned.
func TestRetryAfterTableBounded(t *testing.T) {
	clk := newFakeClock()
	s, err := NewServer(Config{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	for i := range maxRetryWaits + 100 {
		r.Header["Authorization"] = []string{"Bearer k" + strconv.Itoa(i)}
		s.recordRetryAfter(r, FormatOpenAI, "m", time.Second)
	}
	if n := len(s.waits.until); n > maxRetryWaits || int64(n) != s.waits.n.Load() {
		t.Fatalf("%d windows (counted %d), cap %d", n, s.waits.n.Load(), maxRetryWaits)
	}
	clk.Advance(2 * time.Second)
	s.recordRetryAfter(r, FormatOpenAI, "other", time.Second)
	if n := len(s.waits.until); n != 1 {
		t.Fatalf("%d windows after all but one ended", n)
	}
}

func TestModelLatency(t *testing.T) {
	s, hs := newTest(t, Config{ModelLatency: map[string]Latency{"slow-model": {Base: 150 * time.Millisecond}}})
	start := time.Now()
	post(t, hs.URL, oaBody("slow-model", false))
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("slow-model answered in %v, want at least 150ms", d)
	}
	start = time.Now()
	gmPost(t, hs.URL, "slow-model", "generateContent", gmHello)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("slow-model (Gemini) answered in %v, want at least 150ms", d)
	}
	if l := s.latencyFor("fast-model"); l != (Latency{}) {
		t.Errorf("fast-model latency %+v, want Config.Latency", l)
	}
	if l := s.latencyFor("slow-model"); l.Base != 150*time.Millisecond {
		t.Errorf("slow-model latency %+v", l)
	}

	for _, tc := range []struct {
		l    Latency
		want string
	}{
		{Latency{Base: -1}, `ModelLatency["m"].Base must not be negative`},
		{Latency{Jitter: -1}, `ModelLatency["m"].Jitter must not be negative`},
		{Latency{Tail: -1}, `ModelLatency["m"].Tail must not be negative`},
		{Latency{TailProb: 1.5}, `ModelLatency["m"].TailProb must be within 0..1`},
	} {
		_, err := NewServer(Config{ModelLatency: map[string]Latency{"m": tc.l}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.l, err, tc.want)
		}
	}
}
