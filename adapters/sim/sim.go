// Package sim is the provider simulator: an http.Handler that speaks the providers' real wire
// formats on loopback, with configurable latency and a catalogue of faults chosen by model name.
// It is the embedded provider of the demo (`switchyard sim`) and the test double of every test.
//
// It serves OpenAI Chat Completions (POST /v1/chat/completions), Anthropic Messages
// (POST /v1/messages) and Gemini (POST /v1beta/models/{model}:generateContent and
// :streamGenerateContent), each non-streaming and streaming (SSE), with one format-neutral model
// behind them (model.go): every format reduces its request to a prompt, asks the model for an
// answer, and writes it, or a fault, in its own shapes. Answers are deterministic functions of
// the request. The model name picks the behaviour; see
// Faults for the catalogue. Calls are counted per X-Switchyard-Request-Id header and per model,
// readable with Calls, TotalCalls and Stats, and as JSON at GET /_sim/stats
// (?request_id=ID adds that id's count); POST /_sim/reset clears the counters.
//
// For end-to-end resilience tests the faults can also be scripted at run time: SetFault (or
// PUT /_sim/fault with {"model":"gpt-4o","fault":"sim-503"}, model "" for every call, fault ""
// to clear) makes calls for a model behave as a fault model would, while answers still name the
// requested model; GET /_sim/fault lists the overrides ({"faults":[{"model","fault"}]}) and
// DELETE /_sim/fault clears them. Config.OnCall sees every call on arrival (format, model,
// effective fault, request id, time; never the key), Stats.RetryAfterViolations counts calls
// that came back inside the Retry-After window a sim-429-retry-after answer gave the same
// (format, credential, model), and Config.ModelLatency gives one model its own latency.
//
// The simulator is built for load tests (thousands of requests a second on two cores): responses
// are written by hand into pooled buffers and nothing is logged per request.
//
// It imports nothing from the project, so that it checks the adapters against an independent
// reading of each wire format.
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Latency describes how long the simulated provider thinks before it answers (time to the
// response headers; for streams, to the first chunk).
type Latency struct {
	Base   time.Duration // always waited
	Jitter time.Duration // plus a uniform draw from [0, Jitter)
	// TailProb is the probability (0..1) that a call takes Tail instead of Base+Jitter, to model
	// a p95/p99 tail; e.g. 0.05 and 30s.
	TailProb float64
	Tail     time.Duration
}

func (l Latency) sample() time.Duration {
	if l.TailProb > 0 && rand.Float64() < l.TailProb {
		return l.Tail
	}
	d := l.Base
	if l.Jitter > 0 {
		d += rand.N(l.Jitter)
	}
	return d
}

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// APIKey, when set, is required where each format sends it (OpenAI "Authorization: Bearer
	// <key>", Anthropic "x-api-key", Gemini "x-goog-api-key" or ?key=); other calls get the
	// format's auth error. Default: no check.
	APIKey string
	// Latency applies to every call before its answer. Default 0.
	Latency Latency
	// ModelLatency replaces Latency for the calls whose requested model has an entry (e.g. one
	// heavy-tailed provider). Default none.
	ModelLatency map[string]Latency
	// OnCall, when set, is called once per provider call on arrival, after the model is known and
	// before any latency or fault, on the call's goroutine: it must be safe for concurrent use
	// and quick. It never receives the API key.
	OnCall func(CallInfo)
	// TokenDelay is the pause between stream chunks. Default 0.
	TokenDelay time.Duration
	// FirstTokenDelay is how long sim-slow-first-token waits before its first token. Default 2s.
	FirstTokenDelay time.Duration
	// RetryAfter is what sim-429-retry-after asks for (sent in whole seconds, rounded up).
	// Default 1s.
	RetryAfter time.Duration
	// FlapWindow is the length of sim-flap's alternating healthy and failing windows. Default 5s.
	FlapWindow time.Duration
	// HugeBytes is the content size of sim-huge answers. Default 64 MiB.
	HugeBytes int64
	// OutputTokens is the length of a normal answer in tokens (about 4 bytes each); a smaller
	// max_tokens cuts the answer and finishes it with "length". Default 40.
	OutputTokens int
	// StreamWords is the number of words per content chunk. Default 3.
	StreamWords int
	// MaxRequestBytes caps a request body; larger ones get 413. Default 32 MiB.
	MaxRequestBytes int64
	// MaxTrackedRequests bounds the per-request-id call table; calls for ids beyond it are
	// counted in Stats.UntrackedCalls only. Default 1,048,576.
	MaxTrackedRequests int
	// Clock returns the time (for sim-flap, "created", Retry-After windows and CallInfo.At).
	// Default time.Now.
	Clock func() time.Time
}

func (c *Config) withDefaults() error {
	var problems []string
	neg := func(name string, v int64) {
		if v < 0 {
			problems = append(problems, name+" must not be negative")
		}
	}
	latency := func(name string, l Latency) {
		neg(name+".Base", int64(l.Base))
		neg(name+".Jitter", int64(l.Jitter))
		neg(name+".Tail", int64(l.Tail))
		if !(l.TailProb >= 0 && l.TailProb <= 1) { // NaN too
			problems = append(problems, name+".TailProb must be within 0..1")
		}
	}
	latency("Latency", c.Latency)
	models := make([]string, 0, len(c.ModelLatency))
	for m := range c.ModelLatency {
		models = append(models, m)
	}
	sort.Strings(models)
	for _, m := range models {
		latency("ModelLatency["+strconv.Quote(m)+"]", c.ModelLatency[m])
	}
	neg("TokenDelay", int64(c.TokenDelay))
	neg("FirstTokenDelay", int64(c.FirstTokenDelay))
	neg("RetryAfter", int64(c.RetryAfter))
	neg("FlapWindow", int64(c.FlapWindow))
	neg("HugeBytes", c.HugeBytes)
	neg("OutputTokens", int64(c.OutputTokens))
	neg("StreamWords", int64(c.StreamWords))
	neg("MaxRequestBytes", c.MaxRequestBytes)
	neg("MaxTrackedRequests", int64(c.MaxTrackedRequests))
	if len(problems) > 0 {
		return errors.New("sim: invalid config: " + strings.Join(problems, "; "))
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	def(&c.FirstTokenDelay, 2*time.Second)
	def(&c.RetryAfter, time.Second)
	def(&c.FlapWindow, 5*time.Second)
	if c.HugeBytes == 0 {
		c.HugeBytes = 64 << 20
	}
	if c.OutputTokens == 0 {
		c.OutputTokens = 40
	}
	if c.StreamWords == 0 {
		c.StreamWords = 3
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 32 << 20
	}
	if c.MaxTrackedRequests == 0 {
		c.MaxTrackedRequests = 1 << 20
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.ModelLatency != nil {
		c.ModelLatency = maps.Clone(c.ModelLatency) // the caller may change its map later
	}
	return nil
}

// Server is a simulated provider. Use Handler with httptest, or Start to listen on an address.
type Server struct {
	cfg     Config
	started time.Time
	done    chan struct{} // closed by Close: releases hung and stalled handlers
	once    sync.Once
	seq     atomic.Uint64 // ids
	idPfx   string

	total     atomic.Int64
	inFlight  atomic.Int64 // chat calls being answered right now
	untracked atomic.Int64
	noIDOnce  atomic.Int64 // sim-500-once calls without a request id
	reqs      [64]reqShard
	seed      maphash.Seed
	tracked   atomic.Int64
	dups      atomic.Int64
	maxCalls  atomic.Int64
	models    sync.Map // string -> *atomic.Int64
	numModels atomic.Int64

	overrides atomic.Pointer[faultTable] // nil without overrides
	faultMu   sync.Mutex                 // serializes SetFault's copy-on-write
	waits     retryWaits

	mu  sync.Mutex // guards srv, url
	srv *http.Server
	url string
}

type reqShard struct {
	mu sync.Mutex
	m  map[string]int64
	_  [40]byte // keep shards on separate cache lines
}

// maxModels bounds the per-model table; other names are counted under "other".
const maxModels = 1024

// NewServer validates cfg and returns a Server that is not listening yet.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, done: make(chan struct{}), seed: maphash.MakeSeed()}
	s.started = cfg.Clock()
	s.idPfx = fmt.Sprintf("%08x", rand.Uint32())
	for i := range s.reqs {
		s.reqs[i].m = make(map[string]int64)
	}
	return s, nil
}

// Handler serves the simulated APIs and the /_sim endpoints.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens on addr (e.g. "127.0.0.1:0" or "127.0.0.1:8400") and serves in the background.
// It returns the server's root URL, e.g. "http://127.0.0.1:8400"; OpenAI clients use URL()+"/v1".
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	return s.Serve(ln), nil
}

// Serve serves on ln in the background and returns the root URL.
func (s *Server) Serve(ln net.Listener) string {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0), // no logging per request or connection
	}
	s.mu.Lock()
	s.srv = srv
	s.url = "http://" + ln.Addr().String()
	u := s.url
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return u
}

// URL returns the root URL after Start, "" before.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// OpenAIBaseURL is the base URL an OpenAI client needs: URL()+"/v1".
func (s *Server) OpenAIBaseURL() string { return s.URL() + "/v1" }

// Close releases hung and stalled handlers and, if Start was called, closes the listener and all
// connections. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		srv := s.srv
		s.mu.Unlock()
		if srv != nil {
			err = srv.Close()
		}
	})
	return err
}

// count records one call and returns how many calls this request id has had (0 without an id).
func (s *Server) count(requestID, model string) int64 {
	s.total.Add(1)
	s.countModel(model)
	if requestID == "" {
		return 0
	}
	sh := &s.reqs[maphash.String(s.seed, requestID)%uint64(len(s.reqs))]
	sh.mu.Lock()
	n, ok := sh.m[requestID]
	if !ok && s.tracked.Load() >= int64(s.cfg.MaxTrackedRequests) {
		sh.mu.Unlock()
		s.untracked.Add(1)
		return 1
	}
	n++
	sh.m[requestID] = n
	sh.mu.Unlock()
	if !ok {
		s.tracked.Add(1)
	}
	if n == 2 {
		s.dups.Add(1)
	}
	for {
		m := s.maxCalls.Load()
		if n <= m || s.maxCalls.CompareAndSwap(m, n) {
			break
		}
	}
	return n
}

func (s *Server) countModel(model string) {
	if c, ok := s.models.Load(model); ok {
		c.(*atomic.Int64).Add(1)
		return
	}
	if s.numModels.Load() >= maxModels {
		model = "other"
	}
	c, loaded := s.models.LoadOrStore(model, new(atomic.Int64))
	if !loaded {
		s.numModels.Add(1)
	}
	c.(*atomic.Int64).Add(1)
}

// Calls returns how many calls carried this X-Switchyard-Request-Id.
func (s *Server) Calls(requestID string) int {
	sh := &s.reqs[maphash.String(s.seed, requestID)%uint64(len(s.reqs))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return int(sh.m[requestID])
}

// InFlight returns the number of chat calls being answered right now (tests use it to prove a
// crash happened with provider calls in flight).
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// TotalCalls returns the number of API calls served (the /_sim endpoints excluded).
func (s *Server) TotalCalls() int64 { return s.total.Load() }

// ModelCalls returns the number of calls for a model name.
func (s *Server) ModelCalls(model string) int64 {
	if c, ok := s.models.Load(model); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// Stats is the counters' snapshot, also served at GET /_sim/stats.
type Stats struct {
	TotalCalls         int64            `json:"total_calls"`
	ByModel            map[string]int64 `json:"by_model"`
	RequestsSeen       int64            `json:"requests_seen"`      // distinct request ids tracked
	DuplicateRequests  int64            `json:"duplicate_requests"` // request ids called more than once
	MaxCallsPerRequest int64            `json:"max_calls_per_request"`
	UntrackedCalls     int64            `json:"untracked_calls"` // calls beyond MaxTrackedRequests ids
	// RetryAfterViolations counts calls that arrived before the end of the Retry-After a
	// sim-429-retry-after answer (requested or by override) gave the same format, credential and
	// requested model.
	RetryAfterViolations int64  `json:"retry_after_violations"`
	RequestID            string `json:"request_id,omitempty"`
	Calls                *int   `json:"calls,omitempty"` // calls for RequestID
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		TotalCalls:         s.total.Load(),
		ByModel:            map[string]int64{},
		RequestsSeen:       s.tracked.Load(),
		DuplicateRequests:  s.dups.Load(),
		MaxCallsPerRequest: s.maxCalls.Load(),
		UntrackedCalls:     s.untracked.Load(),

		RetryAfterViolations: s.waits.violations.Load(),
	}
	s.models.Range(func(k, v any) bool {
		st.ByModel[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return st
}

// Reset clears every counter (sim-500-once state, Retry-After windows and violations included;
// fault overrides stay).
func (s *Server) Reset() {
	for i := range s.reqs {
		sh := &s.reqs[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
	s.total.Store(0)
	s.untracked.Store(0)
	s.tracked.Store(0)
	s.dups.Store(0)
	s.maxCalls.Store(0)
	s.noIDOnce.Store(0)
	s.models.Clear()
	s.numModels.Store(0)
	s.waits.reset()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/chat/completions":
		if r.Method != http.MethodPost {
			writeOpenAIError(w, http.StatusMethodNotAllowed, "Only POST is supported on this endpoint.", "invalid_request_error", "", "")
			return
		}
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		s.chatCompletions(w, r)
	case "/v1/messages":
		if r.Method != http.MethodPost {
			writeAnthropicError(w, http.StatusMethodNotAllowed, "not_found_error", "Only POST is supported on this endpoint.")
			return
		}
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		s.anthropicMessages(w, r)
	case "/v1/models":
		s.listModels(w)
	case "/_sim/stats":
		st := s.Stats()
		if id := r.URL.Query().Get("request_id"); id != "" {
			n := s.Calls(id)
			st.RequestID, st.Calls = id, &n
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	case "/_sim/fault":
		s.serveFault(w, r)
	case "/_sim/reset":
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		if model, method, ok := geminiPath(r.URL.Path); ok {
			if r.Method != http.MethodPost {
				writeGeminiError(w, http.StatusMethodNotAllowed, "Only POST is supported on this endpoint.")
				return
			}
			s.inFlight.Add(1)
			defer s.inFlight.Add(-1)
			s.geminiGenerate(w, r, model, method)
			return
		}
		writeOpenAIError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", "", "")
	}
}

func (s *Server) listModels(w http.ResponseWriter) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	for _, f := range Faults() {
		out.Data = append(out.Data, model{ID: f.Model, Object: "model", Created: s.started.Unix(), OwnedBy: "switchyard-sim"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// wait sleeps for d, returning false early if the client went away or the server closed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		panic(http.ErrAbortHandler) // see block
	}
}

// block waits until the client goes away or the server closes. On Close it aborts the
// connection: returning would let net/http send an empty 200, which a client could mistake for an
// answer.
func (s *Server) block(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.done:
		panic(http.ErrAbortHandler)
	}
}

// readRequest reads a call's request id and its body, into buf. When the body cannot be read
// (too large, or cut) it records the call's arrival under model ("" when the model comes in the
// body), lets badBody answer in the format's shapes, and reports false.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request, buf []byte, format, model string, stream bool, badBody func(w http.ResponseWriter, tooLarge bool)) (rid string, body []byte, ok bool) {
	if v := r.Header[requestIDHeader]; len(v) > 0 {
		rid = v[0]
	}
	body, err := readBody(r.Body, buf, s.cfg.MaxRequestBytes)
	if err != nil {
		s.arrive(r, format, rid, model, stream)
		badBody(w, errors.Is(err, errBodyTooLarge))
		return rid, body, false
	}
	return rid, body, true
}
