// Package dashboard is the analytics role's built-in web dashboard: one embedded page (HTML, CSS
// and plain JavaScript that draws its own SVG charts; nothing is fetched from elsewhere) and JSON
// endpoints that run the analyst query pack (analytics/queries) on ClickHouse, with since and
// tenant filters, per-query timeouts, bounded concurrency and a short result cache.
//
// It depends on analytics (and through it schemas) only: no Kafka, no router, no consumers.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/analytics"
)

//go:embed static
var staticFS embed.FS

// Premium is the most expensive configured model's price, the "always premium" counterfactual of
// savings_vs_premium (USD per million tokens).
type Premium struct {
	Model              string  `json:"model"`
	InputPerMTok       float64 `json:"input_per_mtok"`
	CachedInputPerMTok float64 `json:"cached_input_per_mtok"`
	OutputPerMTok      float64 `json:"output_per_mtok"`
}

// Options configure the dashboard handler.
type Options struct {
	// Querier runs the queries (NewClickHouseQuerier). Required.
	Querier Querier
	// Premium enables the savings table; nil leaves it out (no priced model configured).
	Premium *Premium
	// QueryTimeout bounds each query. Default 10s.
	QueryTimeout time.Duration
	// CacheTTL is how long a response is reused for the same endpoint and parameters, so that
	// many open pages (or a fast refresh) cost ClickHouse one run per TTL. Default 2s.
	CacheTTL time.Duration
	// MaxConcurrentQueries bounds the queries in flight on ClickHouse across all requests.
	// Default 4.
	MaxConcurrentQueries int
	// RefreshInterval is how often the page reloads its data. Default 5s.
	RefreshInterval time.Duration
	// Logger receives query failures. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Handler serves the dashboard page and its JSON endpoints.
type Handler struct {
	o     Options
	mux   *http.ServeMux
	index []byte
	sem   chan struct{}

	mu    sync.Mutex
	cache map[string]*cacheEntry
}

// cacheEntry is one computed response; done closes when it is ready, so concurrent requests for
// the same key wait for one computation instead of each running the queries.
type cacheEntry struct {
	done   chan struct{}
	at     time.Time
	status int
	body   []byte
}

// maxCacheEntries bounds the cache: past it, expired entries are dropped, and if that is not
// enough a response is computed without being kept.
const maxCacheEntries = 256

// New validates o and returns the handler.
func New(o Options) (*Handler, error) {
	var errs []string
	if o.Querier == nil {
		errs = append(errs, "Querier is required")
	}
	if o.QueryTimeout < 0 || o.CacheTTL < 0 || o.RefreshInterval < 0 || o.MaxConcurrentQueries < 0 {
		errs = append(errs, "QueryTimeout, CacheTTL, RefreshInterval and MaxConcurrentQueries must not be negative")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("dashboard: %s", strings.Join(errs, "; "))
	}
	if o.QueryTimeout == 0 {
		o.QueryTimeout = 10 * time.Second
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 2 * time.Second
	}
	if o.MaxConcurrentQueries == 0 {
		o.MaxConcurrentQueries = 4
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	page, err := staticFS.ReadFile("static/index.html")
	if err != nil {
		return nil, err
	}
	h := &Handler{
		o:     o,
		mux:   http.NewServeMux(),
		index: []byte(strings.ReplaceAll(string(page), "{{REFRESH_MS}}", strconv.FormatInt(o.RefreshInterval.Milliseconds(), 10))),
		sem:   make(chan struct{}, o.MaxConcurrentQueries),
		cache: map[string]*cacheEntry{},
	}
	static, _ := fs.Sub(staticFS, "static") // embedded: cannot fail
	h.mux.HandleFunc("GET /{$}", h.serveIndex)
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /api/summary", h.cached(h.summary))
	h.mux.HandleFunc("GET /api/timeseries", h.cached(h.timeseries))
	h.mux.HandleFunc("GET /api/queries", h.queryList)
	h.mux.HandleFunc("GET /api/queries/{name}", h.cached(h.query))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{"not found: " + r.Method + " " + r.URL.Path})
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page loads only its own scripts and styles and talks only to this origin.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
	_, _ = w.Write(h.index)
}

type errorBody struct {
	Error string `json:"error"`
}

// badRequest is a parameter error: the client gets 400 with its message.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badRequestf(format string, args ...any) error {
	return &badRequest{fmt.Sprintf(format, args...)}
}

// endpoint computes one response from the request's validated filters.
type endpoint func(ctx context.Context, f filters, r *http.Request) (any, error)

// cached validates the filters, then serves the response for (path, filters, extra parameters)
// from the cache when it is younger than CacheTTL, computing it once otherwise.
func (h *Handler) cached(ep endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := parseFilters(r.URL.Query(), h.o.Now())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
			return
		}
		key := r.URL.Path + "\x00" + f.key()
		now := h.o.Now()
		h.mu.Lock()
		e, ok := h.cache[key]
		if ok && e.isDone() && now.Sub(e.at) >= h.o.CacheTTL {
			ok = false
		}
		keep := true
		if !ok {
			e = &cacheEntry{done: make(chan struct{})}
			if len(h.cache) >= maxCacheEntries {
				h.pruneLocked(now)
			}
			if keep = len(h.cache) < maxCacheEntries; keep {
				h.cache[key] = e
			}
		}
		h.mu.Unlock()
		if !ok {
			e.status, e.body = h.compute(r.Context(), ep, f, r)
			e.at = h.o.Now()
			close(e.done)
			if !keep || e.status != http.StatusOK {
				h.forget(key, e) // errors are not cached: the next refresh tries again
			}
		} else {
			select {
			case <-e.done:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(e.status)
		_, _ = w.Write(e.body)
	}
}

func (e *cacheEntry) isDone() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

func (h *Handler) pruneLocked(now time.Time) {
	for k, e := range h.cache {
		if e.isDone() && now.Sub(e.at) >= h.o.CacheTTL {
			delete(h.cache, k)
		}
	}
}

func (h *Handler) forget(key string, e *cacheEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cache[key] == e {
		delete(h.cache, key)
	}
}

// compute runs ep and renders its JSON. The computation is detached from the first caller's
// cancellation (others may be waiting for the same entry) but bounded by the query timeouts.
func (h *Handler) compute(ctx context.Context, ep endpoint, f filters, r *http.Request) (int, []byte) {
	v, err := ep(context.WithoutCancel(ctx), f, r)
	status := http.StatusOK
	if err != nil {
		var br *badRequest
		switch {
		case errors.As(err, &br):
			status = http.StatusBadRequest
		case errors.Is(err, errNotFound):
			status = http.StatusNotFound
		case errors.Is(err, context.DeadlineExceeded):
			status = http.StatusGatewayTimeout
			h.o.Logger.Warn("dashboard query timed out", "path", r.URL.Path, "err", err)
		default:
			status = http.StatusBadGateway
			h.o.Logger.Warn("dashboard query failed", "path", r.URL.Path, "err", err)
		}
		v = errorBody{err.Error()}
	}
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(errorBody{"encode: " + err.Error()})
	}
	return status, body
}

var errNotFound = errors.New("not found")

// run runs one query under the concurrency bound and the query timeout.
func (h *Handler) run(ctx context.Context, name string, p analytics.Params) (*analytics.Result, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.sem }()
	ctx, cancel := context.WithTimeout(ctx, h.o.QueryTimeout)
	defer cancel()
	res, err := h.o.Querier.Query(ctx, name, p)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("query %s: %w (after %s)", name, context.DeadlineExceeded, h.o.QueryTimeout)
	}
	return res, err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"encode"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
