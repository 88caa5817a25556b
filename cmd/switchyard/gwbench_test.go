package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGWBenchQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, -1},
		{"one", ms(7), 0.999, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median of even is the lower", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p99.9 of 1..100 is the max", ms(hundred...), 0.999, 100 * time.Millisecond},
		{"q=0 is the min", ms(5, 6), 0, 5 * time.Millisecond},
	} {
		if got := gwbQuantile(tc.in, tc.q); got != tc.want {
			t.Errorf("%s: gwbQuantile(q=%v) = %v, want %v", tc.name, tc.q, got, tc.want)
		}
	}
	// gwbQuantiles sorts a copy and leaves its input alone.
	in := ms(30, 10, 20)
	q := gwbQuantiles(in)
	if q[0] != 20*time.Millisecond || q[3] != 30*time.Millisecond || in[0] != 30*time.Millisecond {
		t.Errorf("gwbQuantiles = %v (input now %v)", q, in)
	}
}

func TestGWBenchPairedMedian(t *testing.T) {
	a := []time.Duration{5, 7, -1, 9, 4}
	b := []time.Duration{1, 2, 3, -1, 1} // pairs: 4, 5, 3 (cycles 2 and 3 have a failure)
	if got, n := gwbPairedMedian(a, b); got != 4 || n != 3 {
		t.Errorf("gwbPairedMedian = %v over %d pairs, want 4 over 3", got, n)
	}
	if got, n := gwbPairedMedian(nil, b); got != -1 || n != 0 {
		t.Errorf("no pairs: %v, %d", got, n)
	}
}

func TestGWBenchParseTarget(t *testing.T) {
	good := []struct {
		in   string
		want gwbTarget
	}{
		{"direct=http://127.0.0.1:8400/v1", gwbTarget{Name: "direct", BaseURL: "http://127.0.0.1:8400/v1", Model: "m0"}},
		{"gw=http://localhost:8080/v1/,key=sk-1,model=gpt-4o", gwbTarget{Name: "gw", BaseURL: "http://localhost:8080/v1", Key: "sk-1", Model: "gpt-4o"}},
		{"portkey=http://127.0.0.1:8787/v1,header=x-portkey-provider:openai,header=x-portkey-custom-host:http://127.0.0.1:8400/v1,pid=42",
			gwbTarget{Name: "portkey", BaseURL: "http://127.0.0.1:8787/v1", Model: "m0", PID: 42,
				Headers: [][2]string{{"x-portkey-provider", "openai"}, {"x-portkey-custom-host", "http://127.0.0.1:8400/v1"}}}},
		{"v6=http://[::1]:9/v1,pidfile=/tmp/x.pid", gwbTarget{Name: "v6", BaseURL: "http://[::1]:9/v1", Model: "m0", PIDFile: "/tmp/x.pid"}},
		{"switchyard=http://127.0.0.1:8080/v1,pid=7,with=8,with=9", gwbTarget{Name: "switchyard", BaseURL: "http://127.0.0.1:8080/v1", Model: "m0", PID: 7, With: []int{8, 9}}},
	}
	for _, tc := range good {
		got, err := parseGWBTarget(tc.in, "m0")
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
	bad := map[string]string{
		"nourl":                                  "want name=URL",
		"=http://127.0.0.1/v1":                   "want name=URL",
		"a b=http://127.0.0.1/v1":                "name may hold",
		"x=ftp://127.0.0.1/v1":                   "not an http(s) base URL",
		"x=http://10.0.0.1:8080/v1":              "not a loopback address",
		"x=https://api.example.com/v1":           "not a loopback address",
		"x=http://127.0.0.1/v1,key":              "not key=value",
		"x=http://127.0.0.1/v1,header=novalue":   "not K:V",
		"x=http://127.0.0.1/v1,pid=-3":           "not a process id",
		"x=http://127.0.0.1/v1,model=":           "empty model",
		"x=http://127.0.0.1/v1,colour=blue":      "unknown option",
		"x=http://127.0.0.1/v1,header=:nothing":  "not K:V",
		"x=http://127.0.0.1/v1,pid=twelve":       "not a process id",
		"x=http://127.0.0.1/v1,with=0":           "not a process id",
		"x=http://127.0.0.1:notaport/v1,key=sk1": "not an http(s) base URL",
	}
	for in, want := range bad {
		if _, err := parseGWBTarget(in, "m0"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

func TestGWBenchParseRatesAndQuote(t *testing.T) {
	r, err := gwbParseRates("100, 500,2.5")
	if err != nil || fmt.Sprint(r) != "[100 500 2.5]" {
		t.Errorf("gwbParseRates = %v, %v", r, err)
	}
	for _, bad := range []string{"", "0", "-1", "x", "100,,200"} {
		if _, err := gwbParseRates(bad); err == nil {
			t.Errorf("gwbParseRates(%q) accepted", bad)
		}
	}
	got := gwbQuoteArgs([]string{"--target", "a=http://127.0.0.1:1/v1,key=k", "--note", "LiteLLM 1.0 (pip); it's"})
	want := `--target a=http://127.0.0.1:1/v1,key=k --note 'LiteLLM 1.0 (pip); it'\''s'`
	if got != want {
		t.Errorf("gwbQuoteArgs = %s, want %s", got, want)
	}
}

func TestGWBenchCheckCompletion(t *testing.T) {
	for _, tc := range []struct {
		body, kind string
	}{
		{`{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}`, ""},
		{`{"choices":[{"message":{"content":""}}]}`, "empty_content"},
		{`{"choices":[{"message":{"content":null,"tool_calls":[]}}]}`, "empty_content"},
		{`{"choices":[]}`, "no_choices"},
		{`{"error":{"message":"rate limited"}}`, "no_choices"},
		{`<html>bad gateway</html>`, "bad_json"},
		{``, "bad_json"},
	} {
		err := gwbCheckCompletion([]byte(tc.body))
		kind := ""
		if ce, ok := err.(gwbCheckError); ok {
			kind = ce.kind
		} else if err != nil {
			kind = "other: " + err.Error()
		}
		if kind != tc.kind {
			t.Errorf("%s: kind %q, want %q", tc.body, kind, tc.kind)
		}
	}
}

const gwbTestChunk = `{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"%s"}}]}`

func TestGWBenchReadStream(t *testing.T) {
	chunk := func(s string) string { return "data: " + fmt.Sprintf(gwbTestChunk, s) + "\n\n" }
	long := strings.Repeat("x", 40<<10) // longer than the reader's buffer
	for _, tc := range []struct {
		name, body, kind string
		firsts           int
	}{
		{"ok", chunk("") + chunk("Hel") + chunk("lo") + "data: [DONE]\n\n", "", 1},
		{"ok with CRLF and event lines", "event: x\r\n" + strings.ReplaceAll(chunk("a"), "\n", "\r\n") + "data:[DONE]\r\n\r\n", "", 1},
		{"a chunk longer than the buffer", chunk(long) + "data: [DONE]\n\n", "", 1},
		{"no terminator", chunk("a") + chunk("b"), "no_done", 1},
		{"empty stream", "", "no_done", 0},
		{"no content", chunk("") + "data: [DONE]\n\n", "empty_content", 1},
		{"bad chunk", chunk("a") + "data: {not json\n\n", "stream_bad_chunk", 1},
		{"in-stream error", chunk("a") + `data: {"error":{"message":"overloaded"}}` + "\n\n", "stream_error", 1},
	} {
		firsts := 0
		err := gwbReadStream(strings.NewReader(tc.body), func() { firsts++ })
		kind := ""
		if ce, ok := err.(gwbCheckError); ok {
			kind = ce.kind
		} else if err != nil {
			kind = "other: " + err.Error()
		}
		if kind != tc.kind || firsts != tc.firsts {
			t.Errorf("%s: kind %q, first called %d times; want %q, %d", tc.name, kind, firsts, tc.kind, tc.firsts)
		}
	}
}

func TestGWBenchProcFields(t *testing.T) {
	// A command name with spaces and a parenthesis, as /proc allows.
	stat := "4242 (node (v20) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0 123 456 789"
	ppid, ticks, err := gwbProcFields(stat)
	if err != nil || ppid != 17 || ticks != 250+50+7+3 {
		t.Errorf("gwbProcFields = %d, %d, %v; want 17, 310", ppid, ticks, err)
	}
	if _, _, err := gwbProcFields("1 (x) S 0"); err == nil {
		t.Error("short stat accepted")
	}
	if got := gwbRSSBytes("Name:\tnode\nVmHWM:\t  9000 kB\nVmRSS:\t  2048 kB\n"); got != 2048<<10 {
		t.Errorf("gwbRSSBytes = %d", got)
	}
	// This test process: alive, at least itself, some memory.
	st, err := gwbTreeStat(os.Getpid())
	if err != nil || st.procs < 1 || st.rss <= 0 {
		t.Errorf("gwbTreeStat(self) = %+v, %v", st, err)
	}
}

func TestGWBenchRenderReport(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	rep := gwbReport{
		Cmdline: "switchyard bench-gateways --rates 100", Date: "2026-01-02 03:04 UTC", GoVersion: "go1.99",
		Note: "LiteLLM 1.2.3; Portkey 4.5.6", CPUModel: "Test CPU", NProc: 2, Mode: "rotate", Rounds: 3,
		Duration: 10 * time.Second, Timeout: 10 * time.Second, SatLevel: 3 * time.Second, SatP99: 25 * time.Millisecond,
		ConcMax: 512, MaxTokens: 16, Warmup: 200, Baseline: "direct", Wall: 95 * time.Second,
		Targets: []gwbTarget{{Name: "direct", BaseURL: "http://127.0.0.1:8400/v1", Model: "gpt-4o-mini"},
			{Name: "portkey", BaseURL: "http://127.0.0.1:8787/v1", Model: "gpt-4o-mini", PID: 7, Headers: [][2]string{{"x-portkey-provider", "openai"}}},
			{Name: "litellm", BaseURL: "http://127.0.0.1:4000/v1", Model: "gpt-4o-mini"},
			{Name: "switchyard", BaseURL: "http://127.0.0.1:8080/v1", Model: "gpt-4o-mini"}},
		Steps: []gwbStep{{Rate: 100, Results: []gwbStepResult{
			{Target: "direct", Offered: 100, Achieved: 99.8, OK: 1000, Lat: [4]time.Duration{ms(0.4), ms(0.6), ms(1.2), ms(2)}, Paired: -1, CPUPerReq: -1},
			{Target: "portkey", Offered: 100, Achieved: 98.1, OK: 998, Errs: map[string]int{"timeout": 1, "http_502": 1},
				ErrDetail: map[string]string{"http_502": "bad `gateway`", "timeout": "deadline"},
				Lat:       [4]time.Duration{ms(1.5), ms(2.5), ms(7.2), ms(12)}, Paired: ms(1.05), PairedN: 997, CPUPerReq: ms(2.25)},
			{Target: "switchyard", Offered: 100, Achieved: 99.9, OK: 1000, Lat: [4]time.Duration{ms(0.5), ms(0.7), ms(1.1), ms(2.5)}, Paired: ms(-0.05), PairedN: 1000, CPUPerReq: -1},
		}}},
		Saturation: []gwbSatResult{
			{Target: "direct", Best: 0, Peak: 0, Levels: []gwbSatLevel{{Conc: 64, Rate: 20000, P50: ms(2), P99: ms(9), CPUPerReq: -1, Pass: true}}},
			{Target: "portkey", Best: 1, Peak: 2, Levels: []gwbSatLevel{{Conc: 1, Rate: 400, P99: ms(3), Pass: true, CPUPerReq: -1}, {Conc: 2, Rate: 900, P50: ms(2), P99: ms(12), Pass: true, CPUPerReq: ms(1)},
				{Conc: 4, Rate: 1000, P99: ms(30)}, {Conc: 8, Rate: 950, P99: ms(40), Errs: 3}}},
			{Target: "litellm", Best: -1, Peak: 0, Levels: []gwbSatLevel{{Conc: 1, Rate: 50, P99: ms(30)}, {Conc: 2, Rate: 52, P99: ms(60)}}},
			{Target: "switchyard", Best: 0, Peak: 0, Levels: []gwbSatLevel{{Conc: 32, Rate: 4500, P50: ms(3), P99: ms(8), Pass: true, CPUPerReq: -1}}},
		},
		Procs: []gwbProcResult{{Target: "portkey", PID: 7, Procs: 1, CPU: 12300 * time.Millisecond, PeakRSS: 200 << 20, RSS: 180 << 20}},
	}
	md := gwbRender(rep)
	for _, want := range []string{
		"- Command: `switchyard bench-gateways --rates 100`",
		"- Go: go1.99; machine: 2 cores, Test CPU",
		"- Note: LiteLLM 1.2.3; Portkey 4.5.6",
		"request i to target i mod 4",
		"The saturation step ran first",
		"| portkey | http://127.0.0.1:8787/v1 | gpt-4o-mini | `x-portkey-provider: openai` | 7 |",
		"## 100 req/s per target, non-streamed",
		"| portkey | 100 | 98.1 | 998 | 2 (http_502 1, timeout 1) | 1.50 ms | 2.50 ms | 7.20 ms | 12.0 ms | 2.25 ms |",
		"| direct | 100 | 99.8 | 1000 | 0 | 0.40 ms | 0.60 ms | 1.20 ms | 2.00 ms | — |",
		"| portkey | +1.10 ms | +1.90 ms | +6.00 ms | +10.0 ms | +1.05 ms (997) |",
		"| switchyard | +0.10 ms | +0.10 ms | -0.10 ms | +0.50 ms | -0.05 ms (1000) |",
		"- portkey, http_502 (first of 1): `bad 'gateway'`",
		"| portkey | 900 | 2 | 2.00 ms | 12.0 ms | 1.00 ms | 1000 | 4 | 30.0 ms | 4 |",
		"| litellm | none | — | — | — | — | 50 | 1 | 30.0 ms | 2 |",
		"- portkey: c=1 400/s p99 3.00 ms; c=2 900/s p99 12.0 ms; c=4 1000/s p99 30.0 ms ✗; c=8 950/s p99 40.0 ms, 3 errors ✗",
		"- switchyard throughput / portkey, within bound: **5.00×** (4500 / 900 req/s)",
		"- switchyard throughput / portkey, peak: **4.50×** (4500 / 1000 req/s)",
		"- switchyard throughput / litellm, within bound: litellm has no such level; switchyard 4500 req/s",
		"- switchyard throughput / litellm, peak: **90.00×** (4500 / 50 req/s)",
		"| portkey | 7 | 1 | 12.3 | 200 MB | 180 MB |",
		"## How to read this",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Without a switchyard target the report says so instead of a ratio.
	rep.Saturation = rep.Saturation[:3]
	rep.Targets = rep.Targets[:3]
	if md := gwbRender(rep); !strings.Contains(md, "no `switchyard` target in this run") || strings.Contains(md, "switchyard throughput /") {
		t.Error("report without switchyard does not say so")
	}
}

// gwbFakeOpenAI answers chat completions like an OpenAI endpoint; every failEvery-th call (when
// failEvery > 0) answers 502. It counts calls and checks what the driver sends.
func gwbFakeOpenAI(t *testing.T, failEvery int64) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	var calls, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		var req struct {
			Model     string            `json:"model"`
			Messages  []json.RawMessage `json:"messages"`
			MaxTokens int               `json:"max_tokens"`
			Stream    bool              `json:"stream"`
		}
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" || json.Unmarshal(body, &req) != nil ||
			req.Model != "m1" || len(req.Messages) != 2 || req.MaxTokens != 16 ||
			r.Header.Get("Authorization") != "Bearer k1" || r.Header.Get("X-Extra") != "yes" {
			bad.Add(1)
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		if failEvery > 0 && n%failEvery == 0 {
			http.Error(w, `{"error":{"message":"upstream down"}}`, http.StatusBadGateway)
			return
		}
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, s := range []string{"", "Hello", " there"} {
				fmt.Fprintf(w, "data: "+gwbTestChunk+"\n\n", s)
				w.(http.Flusher).Flush()
			}
			io.WriteString(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c1","object":"chat.completion","model":"m1","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, &bad
}

// TestGWBenchEndToEnd drives two fake endpoints through the whole command (flags, load, checks,
// report file) and checks the counts, never the timings.
func TestGWBenchEndToEnd(t *testing.T) {
	for _, mode := range []string{"rounds", "rotate"} {
		t.Run(mode, func(t *testing.T) {
			direct, directCalls, directBad := gwbFakeOpenAI(t, 0)
			flaky, flakyCalls, flakyBad := gwbFakeOpenAI(t, 5)
			out := filepath.Join(t.TempDir(), "report.md")
			args := []string{
				"--target", "direct=" + direct.URL + "/v1,key=k1,model=m1,header=X-Extra:yes",
				"--target", "flaky=" + flaky.URL + "/v1/,key=k1,model=m1,header=X-Extra:yes,pid=" + strconv.Itoa(os.Getpid()),
				"--mode", mode, "--rates", "200", "--duration", "400ms", "--rounds", "2", "--stream",
				"--warmup", "3", "--saturation=false", "--concurrency-max", "8", "--timeout", "5s",
				"--note", "fake endpoints", "--out", out,
			}
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := runBenchGateways(ctx, args, &stdout, &stderr); err != nil {
				t.Fatalf("bench-gateways: %v\n%s", err, stderr.String())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			md := string(b)
			if directBad.Load() != 0 || flakyBad.Load() != 0 {
				t.Errorf("the fakes saw %d and %d malformed requests", directBad.Load(), flakyBad.Load())
			}
			// Per step and target: 200 req/s for 400 ms = 80 requests (2 rounds of 40 in rounds mode).
			const perStep = 80
			// Probes: one non-streamed and one streamed call each, then the warm-up.
			wantCalls := int64(2 + 3 + 2*perStep)
			if got := directCalls.Load(); got != wantCalls {
				t.Errorf("direct got %d calls, want %d", got, wantCalls)
			}
			if got := flakyCalls.Load(); got != wantCalls {
				t.Errorf("flaky got %d calls, want %d", got, wantCalls)
			}
			rows := regexp.MustCompile(`(?m)^\| (direct|flaky) \| 200 \| [0-9.]+ \| (\d+) \| (\d+)[^|]*\|`).FindAllStringSubmatch(md, -1)
			if len(rows) != 4 {
				t.Fatalf("want 4 result rows (2 targets x non-streamed, streamed), got %d:\n%s", len(rows), md)
			}
			var flakyErrs int
			for _, r := range rows {
				ok, _ := strconv.Atoi(r[2])
				errs, _ := strconv.Atoi(r[3])
				if ok+errs != perStep {
					t.Errorf("%s: %d ok + %d errors, want %d sent", r[1], ok, errs, perStep)
				}
				if r[1] == "direct" && errs != 0 {
					t.Errorf("direct: %d errors", errs)
				}
				if r[1] == "flaky" {
					flakyErrs += errs
				}
			}
			// Every fifth call of the flaky endpoint failed, probes and warm-up included.
			if want := int(wantCalls/5) - 1; flakyErrs != want { // call 5 was in the warm-up
				t.Errorf("flaky: %d errors in the steps, want %d", flakyErrs, want)
			}
			for _, want := range []string{"- Note: fake endpoints", "http_502", "upstream down", "## 200 req/s per target, streamed", fmt.Sprintf("| flaky | %d | ", os.Getpid())} {
				if !strings.Contains(md, want) {
					t.Errorf("report lacks %q", want)
				}
			}
			if mode == "rotate" && !strings.Contains(md, "paired median") {
				t.Error("rotate report lacks the paired median")
			}
			if !strings.Contains(stderr.String(), "achieved") {
				t.Errorf("no progress on stderr: %s", stderr.String())
			}
		})
	}
}

func TestGWBenchSaturation(t *testing.T) {
	srv, calls, bad := gwbFakeOpenAI(t, 0)
	tg, err := parseGWBTarget("fake="+srv.URL+"/v1,key=k1,model=m1,header=X-Extra:yes", "m1")
	if err != nil {
		t.Fatal(err)
	}
	c := gwbConfig{concMax: 4, satLevel: 100 * time.Millisecond, satP99: time.Hour, timeout: 5 * time.Second, maxTokens: 16}
	caller := newGWBCaller([]gwbTarget{tg}, c.concMax, c.timeout, c.maxTokens)
	res := gwbSaturate(context.Background(), c, caller, []*gwbTarget{&tg}, io.Discard)
	if len(res) != 1 || len(res[0].Levels) == 0 || len(res[0].Levels) > 3 {
		t.Fatalf("saturation levels: %+v", res)
	}
	var ok int
	for i, l := range res[0].Levels {
		if want := []int{1, 2, 4}[i]; l.Conc != want || l.Errs != 0 || l.OK == 0 {
			t.Errorf("level %d: %+v, want concurrency %d, no errors, some answers", i, l, want)
		}
		ok += l.OK
	}
	if res[0].Best < 0 || res[0].Peak < 0 || int64(ok) != calls.Load() || bad.Load() != 0 {
		t.Errorf("best %d, %d answers counted, %d calls served, %d malformed", res[0].Best, ok, calls.Load(), bad.Load())
	}
}

func TestGWBenchRejectsBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	err := runBenchGateways(context.Background(), []string{
		"--target", "x=http://10.1.2.3/v1", "--target", "y=http://127.0.0.1:1/v1", "--target", "y=http://127.0.0.1:2/v1",
		"--rates", "fast", "--mode", "zigzag",
	}, &out, &errb)
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"not a loopback address", "given twice", "--rates", "--mode"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := runBenchGateways(context.Background(), nil, &out, &errb); err == nil || !strings.Contains(err.Error(), "no --target") {
		t.Errorf("no targets: %v", err)
	}
}

// The saturation bound applies to p99 less the provider's own latency.
func TestGWBenchSaturationBound(t *testing.T) {
	srv, _, _ := gwbFakeOpenAI(t, 0)
	tg, err := parseGWBTarget("fake="+srv.URL+"/v1,key=k1,model=m1,header=X-Extra:yes", "m1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		provider time.Duration
		pass     bool
	}{{0, false}, {time.Hour, true}} {
		c := gwbConfig{concMax: 1, satLevel: 50 * time.Millisecond, satP99: 0, provider: tc.provider, timeout: 5 * time.Second, maxTokens: 16}
		caller := newGWBCaller([]gwbTarget{tg}, c.concMax, c.timeout, c.maxTokens)
		res := gwbSaturate(context.Background(), c, caller, []*gwbTarget{&tg}, io.Discard)
		if got := res[0].Levels[0].Pass; got != tc.pass || (res[0].Best >= 0) != tc.pass {
			t.Errorf("provider latency %v: pass %v, best %d; want pass %v", tc.provider, got, res[0].Best, tc.pass)
		}
	}
}

// The achieved rate ignores a constant latency: answers spaced like the offered rate give the
// offered rate, however late they all are.
func TestGWBenchAchievedWindow(t *testing.T) {
	rec := newGWBRec()
	t0 := time.Unix(1000, 0)
	for turn := 0; turn < 2; turn++ {
		base := t0.Add(time.Duration(turn) * time.Minute)
		for i := 0; i < 10; i++ {
			sent := base.Add(time.Duration(i) * 100 * time.Millisecond)
			rec.add(-1, sent, gwbOutcome{end: sent.Add(3 * time.Second)}) // 3 s late, every one
		}
		rec.add(-1, base, gwbOutcome{kind: "timeout", end: base.Add(30 * time.Second)}) // errors do not stretch it
		rec.endTurn(10)
	}
	if rec.window != 2*time.Second || len(rec.lat) != 20 || rec.errs["timeout"] != 2 {
		t.Errorf("window %v over %d answers (%v errors); want 2s over 20", rec.window, len(rec.lat), rec.errs)
	}
	rec.endTurn(10) // a turn without answers adds nothing
	if rec.window != 2*time.Second {
		t.Errorf("an empty turn changed the window to %v", rec.window)
	}
}
