package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// switchyard bench-gateways: the same chat completion through several OpenAI-compatible front
// doors (LiteLLM proxy, Portkey gateway, Switchyard's own ingress, ...) and directly to the
// provider simulator behind them, measured side by side in one run (the benchmark brief's item 7).
//
// Open-loop steps take latency from each request's intended send time, so a front door that
// stalls is charged for the requests queued behind it (no coordinated omission). Targets take
// turns within every step (rounds) or request by request (rotate), so what else runs on the
// machine hits them alike. A closed-loop saturation step, run first, finds each target's best
// rate with no error and p99 under a bound, and its peak rate with no error.

// gwbTarget is one front door: an OpenAI base URL (ending in /v1) and how to call it.
type gwbTarget struct {
	Name    string
	BaseURL string
	Key     string
	Model   string
	Headers [][2]string
	PID     int    // process whose tree's CPU and memory are reported; 0: none
	PIDFile string // read at start when PID is not given
	// With are more processes the target needs besides its own (Switchyard's Kafka broker):
	// their CPU counts toward the target's, and each gets a row in the process table.
	With []int
}

// cpu is the CPU time of the target's process tree and of those it runs with.
func (t *gwbTarget) cpu() (time.Duration, bool) {
	total, ok := gwbCPU(t.PID)
	for _, p := range t.With {
		c, ok1 := gwbCPU(p)
		total, ok = total+c, ok && ok1
	}
	return total, ok
}

// parseGWBTarget reads name=URL[,key=K][,model=M][,header=K:V]...[,pid=N][,pidfile=PATH][,with=N]....
func parseGWBTarget(s, defaultModel string) (gwbTarget, error) {
	parts := strings.Split(s, ",")
	name, base, ok := strings.Cut(parts[0], "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || base == "" {
		return gwbTarget{}, fmt.Errorf("target %q: want name=URL[,key=K][,model=M][,header=K:V][,pid=N]", s)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return gwbTarget{}, fmt.Errorf("target %q: name may hold letters, digits, - _ . only", s)
		}
	}
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return gwbTarget{}, fmt.Errorf("target %s: %q is not an http(s) base URL", name, base)
	}
	if !gwbLoopback(u.Hostname()) {
		return gwbTarget{}, fmt.Errorf("target %s: %s is not a loopback address; this benchmark only loads this machine", name, u.Host)
	}
	t := gwbTarget{Name: name, BaseURL: strings.TrimRight(u.String(), "/"), Model: defaultModel}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return gwbTarget{}, fmt.Errorf("target %s: option %q is not key=value", name, p)
		}
		switch k {
		case "key":
			t.Key = v
		case "model":
			if v == "" {
				return gwbTarget{}, fmt.Errorf("target %s: empty model", name)
			}
			t.Model = v
		case "header":
			hk, hv, ok := strings.Cut(v, ":")
			if !ok || strings.TrimSpace(hk) == "" {
				return gwbTarget{}, fmt.Errorf("target %s: header %q is not K:V", name, v)
			}
			t.Headers = append(t.Headers, [2]string{strings.TrimSpace(hk), strings.TrimSpace(hv)})
		case "pid":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return gwbTarget{}, fmt.Errorf("target %s: pid %q is not a process id", name, v)
			}
			t.PID = n
		case "pidfile":
			t.PIDFile = v
		case "with":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return gwbTarget{}, fmt.Errorf("target %s: with %q is not a process id", name, v)
			}
			t.With = append(t.With, n)
		default:
			return gwbTarget{}, fmt.Errorf("target %s: unknown option %q (key, model, header, pid, pidfile, with)", name, k)
		}
	}
	return t, nil
}

func gwbLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type gwbTargetFlags struct {
	raw []string
}

func (f *gwbTargetFlags) String() string     { return strings.Join(f.raw, " ") }
func (f *gwbTargetFlags) Set(s string) error { f.raw = append(f.raw, s); return nil }

type gwbConfig struct {
	targets    []gwbTarget
	rates      []float64
	duration   time.Duration
	rounds     int
	mode       string
	concMax    int
	stream     bool
	maxTokens  int
	timeout    time.Duration
	warmup     int
	saturation bool
	satLevel   time.Duration
	satP99     time.Duration
	provider   time.Duration
	baseline   string
	out        string
	note       string
}

func runBenchGateways(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench-gateways", stderr)
	var tf gwbTargetFlags
	var c gwbConfig
	var rates, model string
	fs.Var(&tf, "target", "a front door: name=URL[,key=K][,model=M][,header=K:V]...[,pid=N|pidfile=PATH][,with=N]...; URL is the base URL ending in /v1; with names another process the target needs (its CPU counts toward the target's); repeat for each")
	fs.StringVar(&model, "model", "gpt-4o-mini", "model of targets that name none")
	fs.StringVar(&rates, "rates", "100,500", "open-loop rates, req/s offered to each target, comma-separated")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "time each target is loaded at each rate (split over --rounds)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds mode: each rate step is cut into this many turns per target, in rotating order")
	fs.StringVar(&c.mode, "mode", "rounds", "rounds: targets take turns, one at a time; rotate: request i goes to target i mod N, all at once (paired differences)")
	fs.IntVar(&c.concMax, "concurrency-max", 512, "most requests in flight (open loop) and the highest closed-loop concurrency")
	fs.BoolVar(&c.stream, "stream", false, "also measure streamed completions: first SSE chunk and whole stream")
	fs.IntVar(&c.maxTokens, "max-tokens", 16, "max_tokens of every request")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "deadline of one request (a request not even sent by then counts as an error)")
	fs.IntVar(&c.warmup, "warmup", 200, "unreported requests per target before measuring")
	fs.BoolVar(&c.saturation, "saturation", true, "run the closed-loop saturation step")
	fs.DurationVar(&c.satLevel, "sat-duration", 3*time.Second, "time per target at each closed-loop concurrency")
	fs.DurationVar(&c.satP99, "sat-p99", 25*time.Millisecond, "saturation: highest p99, less --provider-latency, that a sustained rate may have")
	fs.DurationVar(&c.provider, "provider-latency", 0, "the simulated provider's own latency (switchyard sim --latency), for the saturation bound and the report")
	fs.StringVar(&c.baseline, "baseline", "direct", "target that added latency is measured against")
	fs.StringVar(&c.out, "out", "", "write the Markdown report here (default: stdout)")
	fs.StringVar(&c.note, "note", "", "free text for the report (versions of the gateways, how they run)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: switchyard bench-gateways --target NAME=URL[,key=K][,model=M][,header=K:V][,pid=N] ... [flags]

Sends the same OpenAI chat completion through every target, side by side, and reports latency
(from the intended send time), errors, added latency over the baseline target, the best
sustained rate, and each target's process CPU and memory. Only loopback targets are accepted.

Example (see make bench-gateways):
  switchyard bench-gateways --target direct=http://127.0.0.1:8400/v1 \
    --target litellm=http://127.0.0.1:4000/v1,key=sk-bench,pidfile=.services/bench-gateways/litellm.pid \
    --target portkey=http://127.0.0.1:8787/v1,key=sk-sim,header=x-portkey-provider:openai,header=x-portkey-custom-host:http://127.0.0.1:8400/v1

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var problems []error
	seen := map[string]bool{}
	for _, raw := range tf.raw {
		t, err := parseGWBTarget(raw, model)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if seen[t.Name] {
			problems = append(problems, fmt.Errorf("target %s given twice", t.Name))
		}
		seen[t.Name] = true
		if t.PID == 0 && t.PIDFile != "" {
			b, err := os.ReadFile(t.PIDFile)
			if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || perr != nil || n <= 0 {
				problems = append(problems, fmt.Errorf("target %s: pidfile %s holds no pid", t.Name, t.PIDFile))
			} else {
				t.PID = n
			}
		}
		c.targets = append(c.targets, t)
	}
	if len(c.targets) == 0 {
		problems = append(problems, errors.New("no --target given"))
	}
	var err error
	if c.rates, err = gwbParseRates(rates); err != nil {
		problems = append(problems, err)
	}
	if c.mode != "rounds" && c.mode != "rotate" {
		problems = append(problems, fmt.Errorf("--mode %q: rounds or rotate", c.mode))
	}
	if c.rounds < 1 || c.concMax < 1 || c.maxTokens < 1 || c.duration <= 0 || c.timeout <= 0 || c.satLevel <= 0 {
		problems = append(problems, errors.New("--rounds, --concurrency-max, --max-tokens, --duration, --timeout, --sat-duration must be positive"))
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	rep, err := gwbRun(ctx, c, stderr)
	if err != nil {
		return err
	}
	rep.Cmdline = "switchyard bench-gateways " + gwbQuoteArgs(args)
	md := gwbRender(rep)
	if c.out == "" {
		_, err := io.WriteString(stdout, md)
		return err
	}
	if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "report written to", c.out)
	return nil
}

func gwbParseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 || math.IsInf(r, 0) {
			return nil, fmt.Errorf("--rates: %q is not a positive rate", f)
		}
		out = append(out, r)
	}
	return out, nil
}

// gwbQuoteArgs joins args so the command line can be pasted back into a shell.
func gwbQuoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+%", r))
		}) < 0 {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// ---------------------------------------------------------------------------------------------
// One request.

type gwbCaller struct {
	client    *http.Client
	timeout   time.Duration
	maxTokens int
	bodies    map[string][2][]byte // target name: non-streamed, streamed request body
}

func newGWBCaller(targets []gwbTarget, concMax int, timeout time.Duration, maxTokens int) *gwbCaller {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concMax * (len(targets) + 1),
		MaxIdleConnsPerHost: concMax + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      32 << 10,
	}
	c := &gwbCaller{client: &http.Client{Transport: tr}, timeout: timeout, maxTokens: maxTokens, bodies: map[string][2][]byte{}}
	for _, t := range targets {
		c.bodies[t.Name] = [2][]byte{gwbRequestBody(t.Model, maxTokens, false), gwbRequestBody(t.Model, maxTokens, true)}
	}
	return c
}

func gwbRequestBody(model string, maxTokens int, stream bool) []byte {
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	b, _ := json.Marshal(struct {
		Model     string `json:"model"`
		Messages  []msg  `json:"messages"`
		MaxTokens int    `json:"max_tokens"`
		Stream    bool   `json:"stream,omitempty"`
	}{model, []msg{
		{"system", "You are a concise assistant."},
		{"user", "In one sentence, why do load tests measure latency from the intended send time?"},
	}, maxTokens, stream})
	return b
}

// gwbOutcome is one call: its error kind ("" for success) and when its first SSE chunk and its
// end arrived.
type gwbOutcome struct {
	kind   string
	detail string
	first  time.Time
	end    time.Time
}

func (c *gwbCaller) call(ctx context.Context, t *gwbTarget, stream bool) gwbOutcome {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body := c.bodies[t.Name][0]
	if stream {
		body = c.bodies[t.Name][1]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.BaseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return gwbOutcome{kind: "request", detail: err.Error(), end: time.Now()}
	}
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if t.Key != "" {
		req.Header.Set("Authorization", "Bearer "+t.Key)
	}
	for _, h := range t.Headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return gwbOutcome{kind: gwbTransportKind(err), detail: err.Error(), end: time.Now()}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return gwbOutcome{kind: fmt.Sprintf("http_%d", resp.StatusCode), detail: strings.TrimSpace(string(b)), end: time.Now()}
	}
	var o gwbOutcome
	if stream {
		err = gwbReadStream(resp.Body, func() { o.first = time.Now() })
	} else {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if err == nil {
			err = gwbCheckCompletion(b)
		}
	}
	o.end = time.Now()
	if err != nil {
		var ce gwbCheckError
		if errors.As(err, &ce) {
			o.kind, o.detail = ce.kind, ce.detail
		} else {
			o.kind, o.detail = gwbTransportKind(err), err.Error()
		}
	}
	return o
}

func gwbTransportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "conn_refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return "conn_reset"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "transport"
}

// gwbCheckError is an answer that arrived but is not a usable completion.
type gwbCheckError struct{ kind, detail string }

func (e gwbCheckError) Error() string { return e.kind + ": " + e.detail }

func gwbSnippet(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.TrimSpace(string(b))
}

// gwbCheckCompletion accepts a chat.completion whose first choice has non-empty content.
func gwbCheckCompletion(b []byte) error {
	var r struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return gwbCheckError{"bad_json", gwbSnippet(b)}
	}
	if len(r.Choices) == 0 {
		return gwbCheckError{"no_choices", gwbSnippet(b)}
	}
	if c := r.Choices[0].Message.Content; c == nil || *c == "" {
		return gwbCheckError{"empty_content", gwbSnippet(b)}
	}
	return nil
}

// gwbReadStream reads an OpenAI chat.completion.chunk SSE stream to its `data: [DONE]`; first
// runs at the first data chunk. Every chunk must be JSON without an error object, and some chunk
// must carry content. The rest of the body is drained so the connection is reused.
func gwbReadStream(r io.Reader, first func()) error {
	br := bufio.NewReaderSize(r, 16<<10)
	seenFirst, content := false, false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A chunk longer than the buffer: collect it whole.
			whole := slices.Clone(line) // ReadSlice's bytes are only valid until the next read
			rest, err2 := br.ReadBytes('\n')
			line, err = append(whole, rest...), err2
		}
		if data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data:")); ok {
			data = bytes.TrimSpace(data)
			if bytes.Equal(data, []byte("[DONE]")) {
				if !content {
					return gwbCheckError{"empty_content", "no chunk carried content"}
				}
				_, _ = io.Copy(io.Discard, io.LimitReader(br, 1<<20))
				return nil
			}
			if !seenFirst {
				seenFirst = true
				first()
			}
			var ch struct {
				Error   json.RawMessage `json:"error"`
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if jerr := json.Unmarshal(data, &ch); jerr != nil {
				return gwbCheckError{"stream_bad_chunk", gwbSnippet(data)}
			}
			if len(ch.Error) > 0 && string(ch.Error) != "null" {
				return gwbCheckError{"stream_error", gwbSnippet(data)}
			}
			if len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
				content = true
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return gwbCheckError{"no_done", "stream ended without data: [DONE]"}
			}
			return err
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Samples and quantiles.

// gwbQuantile is the nearest-rank q-quantile of sorted (-1 when empty).
func gwbQuantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

var gwbQs = [4]float64{0.50, 0.90, 0.99, 0.999}

func gwbQuantiles(d []time.Duration) [4]time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	var out [4]time.Duration
	for i, q := range gwbQs {
		out[i] = gwbQuantile(s, q)
	}
	return out
}

// gwbRec collects one target's outcomes in one step.
type gwbRec struct {
	mu      sync.Mutex
	lat     []time.Duration // successes: intended send to end
	ttfb    []time.Duration // streamed successes: intended send to first chunk
	errs    map[string]int
	detail  map[string]string // first detail of each error kind
	sent    int               // requests accounted for, "backlog" (never sent) included
	backlog int
	elapsed time.Duration // closed loop: from the start to the last answer
	// Open loop: the span of each turn's successful answers, plus one sending interval, summed
	// over turns; successes over it is the rate the target answered at, whatever its latency.
	window              time.Duration
	turnFirst, turnLast time.Time
	cpu                 time.Duration
	cpuOK               bool
	byCycle             []time.Duration // rotate mode: latency of cycle k, -1 when it failed
}

func newGWBRec() *gwbRec { return &gwbRec{errs: map[string]int{}, detail: map[string]string{}} }

func (r *gwbRec) add(cycle int, start time.Time, o gwbOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	lat := time.Duration(-1)
	if o.kind == "" {
		if r.turnFirst.IsZero() || o.end.Before(r.turnFirst) {
			r.turnFirst = o.end
		}
		if o.end.After(r.turnLast) {
			r.turnLast = o.end
		}
		lat = o.end.Sub(start)
		r.lat = append(r.lat, lat)
		if !o.first.IsZero() {
			r.ttfb = append(r.ttfb, o.first.Sub(start))
		}
	} else {
		if o.kind == "backlog" {
			r.backlog++
		}
		r.errs[o.kind]++
		if _, ok := r.detail[o.kind]; !ok {
			r.detail[o.kind] = o.detail
		}
	}
	if cycle >= 0 {
		for len(r.byCycle) <= cycle {
			r.byCycle = append(r.byCycle, -1)
		}
		r.byCycle[cycle] = lat
	}
}

// endTurn closes an open-loop turn offered at rate (req/s).
func (r *gwbRec) endTurn(rate float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.turnFirst.IsZero() {
		r.window += r.turnLast.Sub(r.turnFirst) + time.Duration(float64(time.Second)/rate)
	}
	r.turnFirst, r.turnLast = time.Time{}, time.Time{}
}

func (r *gwbRec) errCount() int {
	n := 0
	for _, v := range r.errs {
		n += v
	}
	return n
}

// ---------------------------------------------------------------------------------------------
// Processes: CPU and memory of a target's process tree (node and python may fork workers).

// gwbClockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux architecture Go runs on.
const gwbClockTick = time.Second / 100

type gwbProcStat struct {
	cpu   time.Duration // utime+stime of the live processes, plus the reaped children they waited for
	rss   int64         // bytes, summed over the tree
	procs int
}

// gwbProcFields returns ppid and the CPU ticks (utime, stime, cutime, cstime summed) of one /proc/<pid>/stat.
func gwbProcFields(stat string) (ppid int, ticks int64, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || i+2 > len(stat) {
		return 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(stat[i+2:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, errors.New("short stat")
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, err
	}
	for _, k := range []int{11, 12, 13, 14} { // fields 14-17
		v, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		ticks += v
	}
	return ppid, ticks, nil
}

func gwbRSSBytes(status string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// gwbTreeStat sums the process root and its descendants, read from /proc.
func gwbTreeStat(root int) (gwbProcStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return gwbProcStat{}, err
	}
	children := map[int][]int{}
	ticks := map[int]int64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		ppid, t, err := gwbProcFields(string(b))
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], pid)
		ticks[pid] = t
	}
	if _, ok := ticks[root]; !ok {
		return gwbProcStat{}, fmt.Errorf("process %d is not running", root)
	}
	var st gwbProcStat
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		st.procs++
		st.cpu += time.Duration(ticks[pid]) * gwbClockTick
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
			st.rss += gwbRSSBytes(string(b))
		}
		queue = append(queue, children[pid]...)
	}
	return st, nil
}

// gwbProcWatch samples the trees of the targets that have a pid, for their peak memory.
type gwbProcWatch struct {
	mu    sync.Mutex
	peak  map[int]int64
	procs map[int]int
	start map[int]time.Duration
}

func (w *gwbProcWatch) sample(pids []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, pid := range pids {
		if st, err := gwbTreeStat(pid); err == nil {
			w.peak[pid] = max(w.peak[pid], st.rss)
			w.procs[pid] = max(w.procs[pid], st.procs)
		}
	}
}

func (w *gwbProcWatch) run(ctx context.Context, pids []int) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.sample(pids)
		}
	}
}

func gwbCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	st, err := gwbTreeStat(pid)
	return st.cpu, err == nil
}

// ---------------------------------------------------------------------------------------------
// Load.

// gwbOpenLoop sends n requests, request i at start + i/rate, at most concMax in flight, and
// waits for their answers. A request whose turn came more than timeout ago without a free slot
// is not sent: skip accounts for it.
func gwbOpenLoop(ctx context.Context, n int, rate float64, concMax int, timeout time.Duration,
	send func(i int, intended time.Time), skip func(i int)) {
	sem := make(chan struct{}, concMax)
	var wg sync.WaitGroup
	start := time.Now().Add(2 * time.Millisecond)
	for i := 0; i < n; i++ {
		intended := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
		if d := time.Until(intended); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			skip(i)
			continue
		}
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		default:
			select {
			case sem <- struct{}{}:
				acquired = true
			case <-time.After(time.Until(intended.Add(timeout))):
			case <-ctx.Done():
			}
		}
		if !acquired {
			skip(i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			send(i, intended)
		}()
	}
	wg.Wait()
}

type gwbStepResult struct {
	Target    string
	Offered   float64
	Achieved  float64
	OK        int
	Errs      map[string]int
	ErrDetail map[string]string
	Lat       [4]time.Duration
	TTFB      [4]time.Duration // streams only
	Paired    time.Duration    // rotate mode: median of (target - baseline) in the same cycle; -1 none
	PairedN   int
	CPUPerReq time.Duration // -1 unknown
}

type gwbStep struct {
	Rate    float64
	Stream  bool
	Results []gwbStepResult
}

type gwbSatLevel struct {
	Conc      int
	Rate      float64
	OK        int
	Errs      int
	P50, P99  time.Duration
	CPUPerReq time.Duration
	Pass      bool
}

type gwbSatResult struct {
	Target string
	Levels []gwbSatLevel
	Best   int // index into Levels of the fastest level within the bound; -1 none
	Peak   int // index into Levels of the fastest level without errors, whatever its p99; -1 none
}

type gwbProcResult struct {
	Target       string
	PID          int
	Procs        int
	CPU          time.Duration
	PeakRSS, RSS int64
	Err          string
}

type gwbReport struct {
	Cmdline, Date, GoVersion, Note, CPUModel string
	NProc                                    int
	Mode                                     string
	Rounds                                   int
	Duration, Timeout, SatLevel, SatP99      time.Duration
	ProviderLatency                          time.Duration
	ConcMax, MaxTokens, Warmup               int
	Baseline                                 string
	Targets                                  []gwbTarget
	Steps                                    []gwbStep
	Saturation                               []gwbSatResult
	Procs                                    []gwbProcResult
	Wall                                     time.Duration
}

func gwbProgress(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "[bench-gateways %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func gwbRun(ctx context.Context, c gwbConfig, stderr io.Writer) (gwbReport, error) {
	t0 := time.Now()
	rep := gwbReport{
		Date: t0.UTC().Format("2006-01-02 15:04 UTC"), GoVersion: runtime.Version(), Note: c.note,
		NProc: runtime.NumCPU(), CPUModel: gwbCPUModel(), Mode: c.mode, Rounds: c.rounds,
		Duration: c.duration, Timeout: c.timeout, SatLevel: c.satLevel, SatP99: c.satP99, ProviderLatency: c.provider,
		ConcMax: c.concMax, MaxTokens: c.maxTokens, Warmup: c.warmup, Baseline: c.baseline, Targets: c.targets,
	}
	caller := newGWBCaller(c.targets, c.concMax, c.timeout, c.maxTokens)
	defer caller.client.CloseIdleConnections()
	targets := make([]*gwbTarget, len(c.targets))
	var pids []int
	for i := range c.targets {
		targets[i] = &c.targets[i]
		if targets[i].PID > 0 {
			if _, err := gwbTreeStat(targets[i].PID); err != nil {
				return rep, fmt.Errorf("target %s: %w", targets[i].Name, err)
			}
			pids = append(pids, targets[i].PID)
		}
		for _, p := range targets[i].With {
			if _, err := gwbTreeStat(p); err != nil {
				return rep, fmt.Errorf("target %s: with %d: %w", targets[i].Name, p, err)
			}
			pids = append(pids, p)
		}
	}
	if !slices.Contains(pids, os.Getpid()) {
		pids = append(pids, os.Getpid())
	}
	watch := &gwbProcWatch{peak: map[int]int64{}, procs: map[int]int{}, start: map[int]time.Duration{}}
	for _, p := range pids {
		watch.start[p], _ = gwbCPU(p)
	}
	watch.sample(pids)
	wctx, stopWatch := context.WithCancel(ctx)
	go watch.run(wctx, pids)
	defer stopWatch()

	// Every target must answer before any figure is taken; then warm them up.
	for _, t := range targets {
		for _, stream := range gwbStreams(c.stream) {
			if o := caller.call(ctx, t, stream); o.kind != "" {
				return rep, fmt.Errorf("target %s (%s/chat/completions, stream=%v) does not answer: %s %s", t.Name, t.BaseURL, stream, o.kind, o.detail)
			}
		}
		if c.warmup > 0 {
			r := gwbClosedLoop(ctx, caller, t, 4, c.warmup, 0, false)
			gwbProgress(stderr, "warm-up %s: %d requests, %d errors", t.Name, r.sent, r.errCount())
		}
	}

	// Saturation first: closed loop never offers more than a target can take, while the open-loop
	// steps may overload one (and a gateway that falls over then would leave no saturation figure).
	if c.saturation {
		rep.Saturation = gwbSaturate(ctx, c, caller, targets, stderr)
		gwbCheckAlive(targets, stderr)
	}
	for _, rate := range c.rates {
		for _, stream := range gwbStreams(c.stream) {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			rep.Steps = append(rep.Steps, gwbRunStep(ctx, c, caller, targets, rate, stream, stderr))
			gwbCheckAlive(targets, stderr)
		}
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	stopWatch()
	watch.sample(pids)
	for _, p := range pids {
		name := "load generator (this process)"
		for _, t := range targets {
			if t.PID == p {
				name = t.Name
			}
			if slices.Contains(t.With, p) {
				name = t.Name + " (runs with)"
			}
		}
		pr := gwbProcResult{Target: name, PID: p, PeakRSS: watch.peak[p], Procs: watch.procs[p]}
		if st, err := gwbTreeStat(p); err != nil {
			pr.Err = err.Error()
		} else {
			pr.CPU, pr.RSS = st.cpu-watch.start[p], st.rss
		}
		rep.Procs = append(rep.Procs, pr)
	}
	rep.Wall = time.Since(t0)
	return rep, nil
}

// gwbCheckAlive warns about targets whose process is gone (the run goes on: their requests now fail).
func gwbCheckAlive(targets []*gwbTarget, stderr io.Writer) {
	for _, t := range targets {
		if t.PID > 0 {
			if _, err := gwbTreeStat(t.PID); err != nil {
				gwbProgress(stderr, "WARNING: target %s: %v (exited or crashed; see its log)", t.Name, err)
			}
		}
	}
}

func gwbStreams(stream bool) []bool {
	if stream {
		return []bool{false, true}
	}
	return []bool{false}
}

func gwbRunStep(ctx context.Context, c gwbConfig, caller *gwbCaller, targets []*gwbTarget, rate float64, stream bool, stderr io.Writer) gwbStep {
	recs := make([]*gwbRec, len(targets))
	for i := range recs {
		recs[i] = newGWBRec()
	}
	kind := "non-streamed"
	if stream {
		kind = "streamed"
	}
	if c.mode == "rotate" {
		nt := len(targets)
		n := int(math.Round(rate * float64(nt) * c.duration.Seconds()))
		cpu0 := make([]time.Duration, nt)
		for i, t := range targets {
			cpu0[i], recs[i].cpuOK = t.cpu()
		}
		gwbProgress(stderr, "%s, %.0f req/s to each of %d targets at once (request i to target i mod %d), %s", kind, rate, nt, nt, c.duration)
		gwbOpenLoop(ctx, n, rate*float64(nt), c.concMax, c.timeout,
			func(i int, intended time.Time) {
				recs[i%nt].add(i/nt, intended, caller.call(ctx, targets[i%nt], stream))
			},
			func(i int) {
				recs[i%nt].add(i/nt, time.Now(), gwbOutcome{kind: "backlog", detail: "no free slot before the deadline"})
			})
		for i, t := range targets {
			recs[i].endTurn(rate)
			if cpu1, ok := t.cpu(); ok && recs[i].cpuOK {
				recs[i].cpu = cpu1 - cpu0[i]
			}
		}
	} else {
		slice := c.duration / time.Duration(c.rounds)
		n := max(1, int(math.Round(rate*slice.Seconds())))
		for r := 0; r < c.rounds; r++ {
			for k := range targets {
				i := (k + r) % len(targets)
				t, rec := targets[i], recs[i]
				cpu0, ok := t.cpu()
				gwbOpenLoop(ctx, n, rate, c.concMax, c.timeout,
					func(_ int, intended time.Time) { rec.add(-1, intended, caller.call(ctx, t, stream)) },
					func(int) {
						rec.add(-1, time.Now(), gwbOutcome{kind: "backlog", detail: "no free slot before the deadline"})
					})
				rec.endTurn(rate)
				if cpu1, ok1 := t.cpu(); ok && ok1 {
					rec.cpu += cpu1 - cpu0
					rec.cpuOK = true
				}
				q := gwbQuantiles(rec.lat)
				gwbProgress(stderr, "%s, %.0f req/s, round %d/%d, %-10s %d sent, %d errors, p50 %s p99 %s (so far)",
					kind, rate, r+1, c.rounds, t.Name, rec.sent, rec.errCount(), gwbMS(q[0]), gwbMS(q[2]))
			}
		}
	}
	step := gwbStep{Rate: rate, Stream: stream}
	base := -1
	for i, t := range targets {
		if t.Name == c.baseline {
			base = i
		}
	}
	for i, t := range targets {
		rec := recs[i]
		res := gwbStepResult{Target: t.Name, Offered: rate, OK: len(rec.lat), Errs: rec.errs, ErrDetail: rec.detail,
			Lat: gwbQuantiles(rec.lat), TTFB: gwbQuantiles(rec.ttfb), Paired: -1, CPUPerReq: -1}
		if rec.window > 0 {
			res.Achieved = float64(res.OK) / rec.window.Seconds()
		}
		if rec.cpuOK && rec.sent > rec.backlog {
			res.CPUPerReq = rec.cpu / time.Duration(rec.sent-rec.backlog)
		}
		if c.mode == "rotate" && base >= 0 && i != base {
			res.Paired, res.PairedN = gwbPairedMedian(rec.byCycle, recs[base].byCycle)
		}
		step.Results = append(step.Results, res)
		gwbProgress(stderr, "%s, %.0f req/s: %-10s achieved %.1f req/s, %d ok, %d errors, p50 %s p99 %s p99.9 %s",
			kind, rate, t.Name, res.Achieved, res.OK, rec.errCount(), gwbMS(res.Lat[0]), gwbMS(res.Lat[2]), gwbMS(res.Lat[3]))
	}
	return step
}

// gwbPairedMedian is the median over cycles where both succeeded of a[k] - b[k].
func gwbPairedMedian(a, b []time.Duration) (time.Duration, int) {
	var d []time.Duration
	for k := 0; k < min(len(a), len(b)); k++ {
		if a[k] >= 0 && b[k] >= 0 {
			d = append(d, a[k]-b[k])
		}
	}
	slices.Sort(d)
	return gwbQuantile(d, 0.5), len(d)
}

// gwbClosedLoop runs conc workers that each send one request after the other, until n requests
// (n > 0) or until d has passed. Latency is measured from each actual send.
func gwbClosedLoop(ctx context.Context, caller *gwbCaller, t *gwbTarget, conc, n int, d time.Duration, stream bool) *gwbRec {
	rec := newGWBRec()
	var next atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	var last atomic.Int64
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if n > 0 && next.Add(1) > int64(n) {
					return
				}
				if n <= 0 && time.Now().After(deadline) {
					return
				}
				s := time.Now()
				rec.add(-1, s, caller.call(ctx, t, stream))
				last.Store(time.Now().UnixNano())
			}
		}()
	}
	wg.Wait()
	if l := last.Load(); l > 0 {
		rec.elapsed = time.Unix(0, l).Sub(start)
	}
	return rec
}

func gwbSaturate(ctx context.Context, c gwbConfig, caller *gwbCaller, targets []*gwbTarget, stderr io.Writer) []gwbSatResult {
	var levels []int
	for l := 1; l < c.concMax; l *= 2 {
		levels = append(levels, l)
	}
	levels = append(levels, c.concMax)
	out := make([]gwbSatResult, len(targets))
	done := make([]bool, len(targets))
	stalls := make([]int, len(targets))
	for i, t := range targets {
		out[i] = gwbSatResult{Target: t.Name, Best: -1, Peak: -1}
	}
	for li, conc := range levels {
		for k := range targets {
			i := (k + li) % len(targets)
			if done[i] || ctx.Err() != nil {
				continue
			}
			t := targets[i]
			cpu0, ok := t.cpu()
			rec := gwbClosedLoop(ctx, caller, t, conc, 0, c.satLevel, false)
			lv := gwbSatLevel{Conc: conc, OK: len(rec.lat), Errs: rec.errCount(), CPUPerReq: -1}
			if rec.elapsed > 0 {
				lv.Rate = float64(lv.OK) / rec.elapsed.Seconds()
			}
			q := gwbQuantiles(rec.lat)
			lv.P50, lv.P99 = q[0], q[2]
			lv.Pass = lv.Errs == 0 && lv.OK > 0 && lv.P99-c.provider <= c.satP99
			if cpu1, ok1 := t.cpu(); ok && ok1 && rec.sent > 0 {
				lv.CPUPerReq = (cpu1 - cpu0) / time.Duration(rec.sent)
			}
			r := &out[i]
			r.Levels = append(r.Levels, lv)
			last := len(r.Levels) - 1
			if lv.Pass && (r.Best < 0 || lv.Rate > r.Levels[r.Best].Rate) {
				r.Best = last
			}
			// A level gains when it has no error and beats the fastest errorless level by 5 %; after
			// two levels in a row without a gain the target is saturated.
			if lv.Errs == 0 && lv.OK > 0 && (r.Peak < 0 || lv.Rate > 1.05*r.Levels[r.Peak].Rate) {
				r.Peak, stalls[i] = last, 0
			} else if stalls[i]++; stalls[i] >= 2 {
				done[i] = true
			}
			if lv.Errs == 0 && r.Peak >= 0 && lv.Rate > r.Levels[r.Peak].Rate {
				r.Peak = last
			}
			bound := ""
			if !lv.Pass {
				bound = " (outside the bound)"
			}
			gwbProgress(stderr, "saturation %-10s concurrency %4d: %.0f req/s, %d errors, p50 %s p99 %s%s",
				t.Name, conc, lv.Rate, lv.Errs, gwbMS(lv.P50), gwbMS(lv.P99), bound)
		}
	}
	return out
}

func gwbCPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// ---------------------------------------------------------------------------------------------
// Report.

// gwbMS formats a duration in milliseconds; negative means "no data".
func gwbMS(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return gwbMSSigned(d)
}

func gwbMSSigned(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch a := math.Abs(ms); {
	case a < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case a < 1000:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func gwbAdded(t, base time.Duration) string {
	if t < 0 || base < 0 {
		return "—"
	}
	s := gwbMSSigned(t - base)
	if t >= base {
		s = "+" + s
	}
	return s
}

func gwbErrs(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	n := 0
	for k, v := range m {
		keys = append(keys, k)
		n += v
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

func gwbCPUCell(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func gwbRender(r gwbReport) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Gateway benchmark: the same chat completion through each front door\n\n")
	p("Generated by `switchyard bench-gateways` (`make bench-gateways`; `make bench-gateways-all` adds Switchyard's gateway and its Kafka broker); every figure below comes from one run.\n\n")
	p("- Command: `%s`\n", r.Cmdline)
	p("- Date: %s; wall time %s\n", r.Date, r.Wall.Round(time.Second))
	p("- Go: %s; machine: %d cores, %s\n", r.GoVersion, r.NProc, r.CPUModel)
	if r.Note != "" {
		p("- Note: %s\n", r.Note)
	}
	switch r.Mode {
	case "rotate":
		p("- Load: open loop, every target at once, request i to target i mod %d; %s per rate step; ", len(r.Targets), r.Duration)
	default:
		p("- Load: open loop, one target at a time, %d rounds per rate step in rotating order (%s per target and rate in all); ", r.Rounds, r.Duration)
	}
	p("latency from the intended send time; at most %d requests in flight; %s deadline per request; %d warm-up requests per target; max_tokens %d.", r.ConcMax, r.Timeout, r.Warmup, r.MaxTokens)
	if len(r.Saturation) > 0 {
		p(" The saturation step ran first, then the rates in increasing order.")
	}
	p("\n")
	p("- Provider: the simulator answers after %s (its own latency, included in every figure below).\n\n", r.ProviderLatency)

	p("| target | base URL | model | extra headers | pid |\n|---|---|---|---|---|\n")
	for _, t := range r.Targets {
		var hs []string
		for _, h := range t.Headers {
			hs = append(hs, "`"+h[0]+": "+h[1]+"`")
		}
		pid := "—"
		if t.PID > 0 {
			pid = strconv.Itoa(t.PID)
		}
		p("| %s | %s | %s | %s | %s |\n", t.Name, t.BaseURL, t.Model, strings.Join(hs, " "), pid)
	}
	p("\n")

	for _, s := range r.Steps {
		base := -1
		for i, res := range s.Results {
			if res.Target == r.Baseline {
				base = i
			}
		}
		kind := "non-streamed"
		if s.Stream {
			kind = "streamed (`stream: true`)"
		}
		p("## %.0f req/s per target, %s\n\n", s.Rate, kind)
		if s.Stream {
			p("| target | offered req/s | achieved req/s | ok | errors | first chunk p50 | first chunk p99 | p50 | p90 | p99 | p99.9 | CPU per request |\n")
			p("|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|\n")
		} else {
			p("| target | offered req/s | achieved req/s | ok | errors | p50 | p90 | p99 | p99.9 | CPU per request |\n")
			p("|---|--:|--:|--:|---|--:|--:|--:|--:|--:|\n")
		}
		for _, res := range s.Results {
			p("| %s | %.0f | %.1f | %d | %s |", res.Target, res.Offered, res.Achieved, res.OK, gwbErrs(res.Errs))
			if s.Stream {
				p(" %s | %s |", gwbMS(res.TTFB[0]), gwbMS(res.TTFB[2]))
			}
			p(" %s | %s | %s | %s | %s |\n", gwbMS(res.Lat[0]), gwbMS(res.Lat[1]), gwbMS(res.Lat[2]), gwbMS(res.Lat[3]), gwbCPUCell(res.CPUPerReq))
		}
		if base >= 0 && len(s.Results) > 1 {
			bl := s.Results[base]
			p("\nAdded latency over `%s` (target quantile minus %s's quantile at the same rate", r.Baseline, r.Baseline)
			if r.Mode == "rotate" {
				p("; paired: median of the differences between a target's request and the %s request of the same rotation", r.Baseline)
			}
			p("):\n\n")
			if s.Stream {
				p("| target | first chunk p50 | first chunk p99 | p50 | p90 | p99 | p99.9 |")
			} else {
				p("| target | p50 | p90 | p99 | p99.9 |")
			}
			if r.Mode == "rotate" {
				p(" paired median (pairs) |")
			}
			p("\n|---|")
			cols := 4
			if s.Stream {
				cols = 6
			}
			if r.Mode == "rotate" {
				cols++
			}
			p("%s\n", strings.Repeat("--:|", cols))
			for i, res := range s.Results {
				if i == base {
					continue
				}
				p("| %s |", res.Target)
				if s.Stream {
					p(" %s | %s |", gwbAdded(res.TTFB[0], bl.TTFB[0]), gwbAdded(res.TTFB[2], bl.TTFB[2]))
				}
				for k := range 4 {
					p(" %s |", gwbAdded(res.Lat[k], bl.Lat[k]))
				}
				if r.Mode == "rotate" {
					if res.Paired == -1 && res.PairedN == 0 {
						p(" — |")
					} else {
						s := gwbMSSigned(res.Paired)
						if res.Paired >= 0 {
							s = "+" + s
						}
						p(" %s (%d) |", s, res.PairedN)
					}
				}
				p("\n")
			}
		}
		var details []string
		for _, res := range s.Results {
			keys := make([]string, 0, len(res.ErrDetail))
			for k := range res.ErrDetail {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				d := res.ErrDetail[k]
				if len(d) > 160 {
					d = d[:160] + "…"
				}
				details = append(details, fmt.Sprintf("- %s, %s (first of %d): `%s`", res.Target, k, res.Errs[k], strings.ReplaceAll(d, "`", "'")))
			}
		}
		if len(details) > 0 {
			p("\nErrors:\n\n%s\n", strings.Join(details, "\n"))
		}
		p("\n")
	}

	if len(r.Saturation) > 0 {
		p("## Saturation: closed loop, concurrency doubling up to %d, %s per level\n\n", r.ConcMax, r.SatLevel)
		p("Within bound: the fastest level with no error and p99 ≤ %s + %s of provider latency (whole round trip, measured from the actual send). Peak: the fastest level with no error, whatever its latency. A target stops after two levels in a row that fail to beat its fastest errorless level by 5 %%.\n\n", gwbMS(r.SatP99), gwbMS(r.ProviderLatency))
		p("| target | within bound req/s | at concurrency | p50 there | p99 there | CPU per request there | peak req/s | at concurrency | p99 there | levels run |\n")
		p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		best, peak := map[string]float64{}, map[string]float64{}
		for _, s := range r.Saturation {
			p("| %s |", s.Target)
			if s.Best < 0 {
				p(" none | — | — | — | — |")
			} else {
				l := s.Levels[s.Best]
				best[s.Target] = l.Rate
				p(" %.0f | %d | %s | %s | %s |", l.Rate, l.Conc, gwbMS(l.P50), gwbMS(l.P99), gwbCPUCell(l.CPUPerReq))
			}
			if s.Peak < 0 {
				p(" none | — | — |")
			} else {
				l := s.Levels[s.Peak]
				peak[s.Target] = l.Rate
				p(" %.0f | %d | %s |", l.Rate, l.Conc, gwbMS(l.P99))
			}
			p(" %d |\n", len(s.Levels))
		}
		p("\nEvery level:\n\n")
		for _, s := range r.Saturation {
			var ls []string
			for _, l := range s.Levels {
				mark := ""
				if !l.Pass {
					mark = " ✗"
				}
				e := ""
				if l.Errs > 0 {
					e = fmt.Sprintf(", %d errors", l.Errs)
				}
				ls = append(ls, fmt.Sprintf("c=%d %.0f/s p99 %s%s%s", l.Conc, l.Rate, gwbMS(l.P99), e, mark))
			}
			p("- %s: %s\n", s.Target, strings.Join(ls, "; "))
		}
		p("\n")
		if !slices.ContainsFunc(r.Targets, func(t gwbTarget) bool { return t.Name == "switchyard" }) {
			p("Ratios: no `switchyard` target in this run, so no Switchyard ratio yet.\n\n")
		} else {
			p("Ratios (the bar: Switchyard ≥ 5× Portkey and ≥ 10× LiteLLM):\n\n")
			for _, other := range []string{"portkey", "litellm"} {
				if !slices.ContainsFunc(r.Targets, func(t gwbTarget) bool { return t.Name == other }) {
					continue
				}
				for _, m := range []struct {
					what string
					rate map[string]float64
				}{{"within bound", best}, {"peak", peak}} {
					sy, ok1 := m.rate["switchyard"]
					ob, ok2 := m.rate[other]
					switch {
					case ok1 && ok2 && ob > 0:
						p("- switchyard throughput / %s, %s: **%.2f×** (%.0f / %.0f req/s)\n", other, m.what, sy/ob, sy, ob)
					case ok1:
						p("- switchyard throughput / %s, %s: %s has no such level; switchyard %.0f req/s\n", other, m.what, other, sy)
					default:
						p("- switchyard throughput / %s, %s: switchyard has no such level\n", other, m.what)
					}
				}
			}
			p("\n")
		}
	}

	if len(r.Procs) > 0 {
		p("## Processes over the whole run\n\n")
		p("CPU time and memory of each target's process and all its descendants (from /proc), sampled every 250 ms; the load generator is this benchmark itself.\n\n")
		p("| process | pid | processes | CPU s | peak RSS (sampled) | RSS at end |\n|---|--:|--:|--:|--:|--:|\n")
		for _, pr := range r.Procs {
			if pr.Err != "" {
				p("| %s | %d | — | — | %.0f MB | gone: %s |\n", pr.Target, pr.PID, float64(pr.PeakRSS)/(1<<20), pr.Err)
				continue
			}
			p("| %s | %d | %d | %.1f | %.0f MB | %.0f MB |\n", pr.Target, pr.PID, pr.Procs, pr.CPU.Seconds(), float64(pr.PeakRSS)/(1<<20), float64(pr.RSS)/(1<<20))
		}
		p("\n")
	}

	p(`## How to read this

All targets sit in front of the same simulated provider on the same machine, and the load
generator runs there too, so every absolute figure includes the machine's noise and the load
generator's own cost; compare targets within this report, not with figures from elsewhere.
Latency is measured from the moment each request was due to be sent, so when a target falls
behind, the waiting counts against it. The achieved rate is successful answers per second over
the span from the first to the last successful answer of each turn (plus one sending interval),
so a constant latency does not lower it; an achieved rate below the offered rate, or "backlog"
errors (requests that found no free slot before their deadline), mean the target could not keep up.
"Added latency" subtracts the baseline's quantile from the target's quantile at the same rate;
quantiles do not subtract exactly, so the paired median (rotate mode) is the better estimate of
the typical cost of one hop. "CPU per request" is the target's process-tree CPU time during its
turns divided by the requests that reached it; a pid given for the baseline is the provider
simulator's, so its row is the simulator's cost (in rotate mode the simulator serves every
target's requests in the same interval, so that row is about N times its own cost), and its
whole-run CPU in the process table includes serving every target. A response counts only if it parses as a chat completion with non-empty
content, or, streamed, ends with "data: [DONE]" after content. The direct target's saturation
figure is the ceiling of the load generator and simulator together, not of a gateway.
`)
	return b.String()
}
