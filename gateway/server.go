package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Model is one entry of GET /v1/models.
type Model struct {
	ID      string
	OwnedBy string
}

// Config configures a Server.
type Config struct {
	// Requester publishes the requests and awaits their outcomes. Required.
	Requester *producers.Requester
	// Keys are the accepted bearer keys, hashed. At least one is required.
	Keys []Key
	// Models are listed by GET /v1/models (the routing table's models; "auto" is added first).
	Models []Model
	// DefaultDeadline is the deadline of a request that names none. Default 120s.
	DefaultDeadline time.Duration
	// DefaultPriority and DefaultTaskType fill requests that do not name them (headers
	// X-Switchyard-Priority and X-Switchyard-Task-Type). Defaults interactive and chat.
	DefaultPriority, DefaultTaskType string
	// MaxBodyBytes bounds a request body. Default 4 MiB.
	MaxBodyBytes int64
	// RetryAfter is the Retry-After of a 429 when the gateway is saturated. Default 1s.
	RetryAfter time.Duration
	// IdempotencyTTL is how long the answer to a request with an Idempotency-Key is kept and
	// replayed to a retry with the same key. Default 10m.
	IdempotencyTTL time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
}

// Server is the OpenAI-compatible front door: POST /v1/chat/completions (plain and SSE),
// GET /v1/models, GET /healthz. Each call becomes a request on llm.requests and waits for
// its terminal outcome on this instance's reply partition.
type Server struct {
	cfg     Config
	keys    keyring
	models  []byte
	replies *replayCache
	m       *metrics
}

// New checks the config and builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Requester == nil {
		return nil, errors.New("gateway: a requester is required")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("gateway: no keys configured (gateway.keys); the gateway serves no anonymous callers")
	}
	keys, err := newKeyring(cfg.Keys)
	if err != nil {
		return nil, errors.New("gateway." + err.Error())
	}
	if cfg.DefaultDeadline <= 0 {
		cfg.DefaultDeadline = 120 * time.Second
	}
	if cfg.DefaultPriority == "" {
		cfg.DefaultPriority = schemas.PriorityInteractive
	}
	if cfg.DefaultTaskType == "" {
		cfg.DefaultTaskType = "chat"
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, keys: keys, replies: newReplayCache(cfg.IdempotencyTTL, 10_000), m: newMetrics(cfg.Registerer, cfg.Requester)}
	s.models = modelList(cfg.Models)
	return s, nil
}

// Handler serves the gateway's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
	mux.HandleFunc("GET /v1/models", s.listModels)
	mux.HandleFunc("GET /v1/models/{id}", s.getModel)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &APIError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
			Message: "Unknown request URL: " + r.Method + " " + r.URL.Path + "."})
	})
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"ok","reply_partition":`+strconv.Itoa(int(s.cfg.Requester.Partition()))+
		`,"in_flight":`+strconv.Itoa(s.cfg.Requester.InFlight())+`}`)
}

// modelEntry is one model as OpenAI's models endpoints describe it.
type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func modelList(models []Model) []byte {
	list := struct {
		Object string       `json:"object"`
		Data   []modelEntry `json:"data"`
	}{Object: "list", Data: []modelEntry{{ID: "auto", Object: "model", OwnedBy: "switchyard"}}}
	for _, m := range models {
		list.Data = append(list.Data, modelEntry{ID: m.ID, Object: "model", OwnedBy: m.OwnedBy})
	}
	b, _ := json.Marshal(list)
	return b
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	if _, aerr := s.keys.authenticate(r); aerr != nil {
		writeError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.models)
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	if _, aerr := s.keys.authenticate(r); aerr != nil {
		writeError(w, aerr)
		return
	}
	id := r.PathValue("id")
	owner := ""
	if id == "auto" {
		owner = "switchyard"
	}
	for _, m := range s.cfg.Models {
		if m.ID == id {
			owner = m.OwnedBy
		}
	}
	if owner == "" {
		writeError(w, &APIError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model", Code: "model_not_found",
			Message: "The model '" + id + "' does not exist."})
		return
	}
	b, _ := json.Marshal(modelEntry{ID: id, Object: "model", OwnedBy: owner})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// chatCompletions publishes the call as a request and answers with its outcome.
func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := s.serveChat(w, r)
	s.m.observe(status, time.Since(start))
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) int {
	key, aerr := s.keys.authenticate(r)
	if aerr != nil {
		return writeError(w, aerr)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return writeError(w, &APIError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error",
				Message: "The request body is over " + strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + " bytes."})
		}
		return writeError(w, BadRequest("", "could not read the request body: %v", err))
	}
	chat, aerr := ParseChatRequest(body)
	if aerr != nil {
		return writeError(w, aerr)
	}
	base, aerr := s.base(r, key)
	if aerr != nil {
		return writeError(w, aerr)
	}
	req, aerr := chat.ToRequest(base)
	if aerr != nil {
		return writeError(w, aerr)
	}
	id := "chatcmpl-" + req.RequestID
	created := time.Now().Unix()
	if resp, ok := s.replies.get(req.RequestID); ok {
		// A retry of a call that was answered: the same answer again, not a second request.
		w.Header().Set("Idempotent-Replayed", "true")
		if chat.Stream {
			return s.replayStream(w, chat, resp, id, created)
		}
		return s.writeCompletion(w, resp, id, created)
	}

	deadline := time.Duration(req.DeadlineMS) * time.Millisecond
	// The call waits a little past the request's deadline: the pipeline answers a request
	// whose deadline passed with a deadline_exceeded response of its own.
	ctx, cancel := context.WithTimeout(r.Context(), deadline+2*time.Second)
	defer cancel()
	call, err := s.cfg.Requester.Start(ctx, req)
	switch {
	case errors.Is(err, producers.ErrSaturated):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.cfg.RetryAfter.Round(time.Second)/time.Second))))
		return writeError(w, &APIError{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "gateway_saturated",
			Message: "The gateway has too many requests in flight; retry after the Retry-After delay."})
	case errors.Is(err, producers.ErrInProgress):
		return writeError(w, &APIError{Status: http.StatusConflict, Type: "invalid_request_error", Code: "idempotency_key_in_use",
			Message: "A request with this Idempotency-Key is still in progress."})
	case err != nil:
		s.cfg.Logger.Error("gateway: publish failed", "request_id", req.RequestID, "err", err)
		return writeError(w, &APIError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "publish_failed",
			Message: "The request could not be published to the pipeline; retry later."})
	}
	defer call.Close()
	w.Header().Set("X-Switchyard-Request-Id", req.RequestID)
	if chat.Stream {
		return s.stream(ctx, w, r, chat, call, id, created)
	}
	resp, err := call.Response(ctx)
	if err != nil {
		return s.abandon(w, r, call, err)
	}
	s.remember(r, resp)
	return s.writeCompletion(w, resp, id, created)
}

// abandon handles a call that ended without its response: the client went away or the wait
// passed the deadline. Either way the pipeline is told to stop work on it.
func (s *Server) abandon(w http.ResponseWriter, r *http.Request, call *producers.Call, err error) int {
	reason, status := "deadline", http.StatusGatewayTimeout
	if r.Context().Err() != nil {
		reason, status = "client_disconnected", 499
	}
	s.m.cancels.WithLabelValues(reason).Inc()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if cerr := call.Cancel(cctx, reason); cerr != nil {
		s.cfg.Logger.Warn("gateway: cancel not published", "request_id", call.RequestID, "err", cerr)
	}
	if status == 499 {
		return status // nobody to answer
	}
	s.cfg.Logger.Warn("gateway: no response before the deadline", "request_id", call.RequestID, "err", err)
	return writeError(w, &APIError{Status: status, Type: "timeout_error", Code: "deadline_exceeded",
		Message: "The pipeline did not answer before the request's deadline."})
}

func (s *Server) remember(r *http.Request, resp *schemas.Response) {
	if r.Header.Get("Idempotency-Key") != "" {
		s.replies.put(resp.RequestID, resp)
	}
}

func (s *Server) writeCompletion(w http.ResponseWriter, resp *schemas.Response, id string, created int64) int {
	if resp.Status == schemas.StatusError {
		return writeError(w, ErrorFor(resp.Error))
	}
	setOutcomeHeaders(w.Header(), resp.Provider, resp.Model)
	w.Header().Set("X-Switchyard-Degraded", strconv.FormatBool(resp.Status == schemas.StatusDegraded))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(Completion(resp, id, created))
	return http.StatusOK
}

func setOutcomeHeaders(h http.Header, provider, model string) {
	h.Set("X-Switchyard-Provider", provider)
	h.Set("X-Switchyard-Model", model)
}

// setStreamHeaders are the headers of an SSE answer (no proxy buffering), with who answered.
func setStreamHeaders(h http.Header, provider, model string) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	setOutcomeHeaders(h, provider, model)
}

// stream relays the request's stream chunks as OpenAI SSE frames. The HTTP status and
// headers wait for the first chunk, so an error before any answer (a refused route, a
// budget) is a plain error response with its status, as OpenAI sends it.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, r *http.Request, chat *ChatRequest, call *producers.Call, id string, created int64) int {
	enc := &StreamEncoder{ID: id, Created: created, Model: chat.Model, IncludeUsage: chat.IncludeUsage}
	flusher, _ := w.(http.Flusher)
	var buf []byte
	begin := func(c *schemas.StreamChunk) {
		setStreamHeaders(w.Header(), c.Provider, c.Model)
		w.WriteHeader(http.StatusOK)
	}
	send := func() bool {
		if len(buf) == 0 {
			return true
		}
		_, err := w.Write(buf)
		buf = buf[:0]
		if flusher != nil {
			flusher.Flush()
		}
		return err == nil
	}
	started := false
	for {
		c, err := call.Next(ctx)
		if errors.Is(err, producers.ErrStreamEnded) {
			resp, _ := call.Response(ctx)
			s.remember(r, resp)
			if !started {
				if resp.Status == schemas.StatusError {
					return writeError(w, ErrorFor(resp.Error))
				}
				// Answered without chunks (a replayed or unstreamed answer): one frame of it.
				return s.replayStream(w, chat, resp, id, created)
			}
			if resp.Status == schemas.StatusError {
				buf = ErrorFrame(buf, ErrorFor(resp.Error))
			} else {
				buf = ErrorFrame(buf, &APIError{Status: http.StatusBadGateway, Type: "server_error", Code: "stream_incomplete",
					Message: "The stream ended before its last chunk arrived."})
			}
			send()
			return http.StatusOK
		}
		if err != nil {
			if !started {
				return s.abandon(w, r, call, err)
			}
			s.abandon(w, r, call, err)
			if r.Context().Err() == nil {
				buf = ErrorFrame(buf, &APIError{Status: http.StatusGatewayTimeout, Type: "timeout_error", Code: "deadline_exceeded",
					Message: "The pipeline did not finish the answer before the request's deadline."})
				send()
			}
			return http.StatusOK
		}
		var aerr *APIError
		buf, aerr = enc.Chunk(buf, c)
		if aerr != nil {
			if c.Kind == schemas.ChunkError {
				// The response says why; it follows the error chunk closely.
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if resp, err := call.Response(rctx); err == nil && resp.Error != nil {
					aerr = ErrorFor(resp.Error)
					s.remember(r, resp)
				}
				cancel()
				if !started {
					// Nothing was sent yet: a plain error response, with its status.
					return writeError(w, aerr)
				}
			} else {
				// The answer cannot go on in this stream (a restart that differs from what the
				// client already has): stop paying for it.
				s.m.cancels.WithLabelValues("stream_diverged").Inc()
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				_ = call.Cancel(cctx, "stream_diverged")
				cancel()
			}
			if !started {
				begin(c)
			}
			buf = ErrorFrame(buf, aerr)
			send()
			return http.StatusOK
		}
		if !started {
			begin(c)
			started = true
		}
		if c.Kind == schemas.ChunkDone {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, _ := call.Response(rctx)
			cancel()
			if resp != nil {
				s.remember(r, resp)
			}
			buf = enc.Finish(buf, resp)
			send()
			return http.StatusOK
		}
		if !send() {
			return s.abandon(w, r, call, r.Context().Err())
		}
	}
}

// replayStream sends a whole answer as a stream: the chunks it would have had, in one go.
func (s *Server) replayStream(w http.ResponseWriter, chat *ChatRequest, resp *schemas.Response, id string, created int64) int {
	if resp.Status == schemas.StatusError {
		return writeError(w, ErrorFor(resp.Error))
	}
	enc := &StreamEncoder{ID: id, Created: created, Model: resp.Model, IncludeUsage: chat.IncludeUsage}
	var buf []byte
	var seq int32
	chunk := func(c schemas.StreamChunk) {
		c.RequestID, c.Seq, c.Provider, c.Model = resp.RequestID, seq, resp.Provider, resp.Model
		seq++
		buf, _ = enc.Chunk(buf, &c)
	}
	if resp.Content != "" {
		chunk(schemas.StreamChunk{Kind: schemas.ChunkDelta, Delta: resp.Content})
	}
	for i, tc := range resp.ToolCalls {
		chunk(schemas.StreamChunk{Kind: schemas.ChunkToolCall, ToolCall: &schemas.ToolCallDelta{Index: int32(i), ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}})
	}
	chunk(schemas.StreamChunk{Kind: schemas.ChunkDone, FinishReason: resp.FinishReason})
	buf = enc.Finish(buf, resp)
	setStreamHeaders(w.Header(), resp.Provider, resp.Model)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
	return http.StatusOK
}

// base is the request as far as the HTTP call decides it: ids, tenant, deadline, and the
// Switchyard fields OpenAI's body has no place for, from X-Switchyard-* headers.
func (s *Server) base(r *http.Request, key Key) (schemas.Request, *APIError) {
	now := time.Now()
	req := schemas.Request{TenantID: key.Tenant, CreatedAt: now.UnixMilli(), Priority: s.cfg.DefaultPriority,
		TaskType: s.cfg.DefaultTaskType, DeadlineMS: s.cfg.DefaultDeadline.Milliseconds()}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if len(k) > 200 || strings.ContainsFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			return req, &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: "Idempotency-Key",
				Message: "Idempotency-Key must be 1 to 200 printable ASCII characters without spaces."}
		}
		// Scoped by tenant: two tenants' keys never name the same request.
		req.RequestID = key.Tenant + ":" + k
	} else {
		var b [12]byte
		_, _ = rand.Read(b[:])
		req.RequestID = "gw-" + hex.EncodeToString(b[:])
	}
	h := r.Header
	if v := h.Get("X-Switchyard-Task-Type"); v != "" {
		req.TaskType = v
	}
	if v := h.Get("X-Switchyard-Priority"); v != "" {
		req.Priority = v
	}
	if v := h.Get("X-Switchyard-Deadline-Ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 {
			return req, BadRequest("X-Switchyard-Deadline-Ms", "X-Switchyard-Deadline-Ms must be a positive number of milliseconds")
		}
		req.DeadlineMS = ms
	}
	if v := h.Get("X-Switchyard-Budget-Usd"); v != "" {
		usd, err := strconv.ParseFloat(v, 64)
		if err != nil || usd < 0 {
			return req, BadRequest("X-Switchyard-Budget-Usd", "X-Switchyard-Budget-Usd must be a number of dollars >= 0")
		}
		req.BudgetUSD = &usd
	}
	if v := h.Get("X-Switchyard-Allowed-Providers"); v != "" {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				req.AllowedProviders = append(req.AllowedProviders, p)
			}
		}
	}
	req.Metadata = map[string]string{"ingress": "gateway", "gateway_key": key.Name}
	return req, nil
}

func writeError(w http.ResponseWriter, e *APIError) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body())
	return e.Status
}
