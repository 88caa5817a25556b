package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
)

// Run-time control for end-to-end resilience tests: fault overrides (SetFault, PUT /_sim/fault),
// the per-call hook (Config.OnCall), Retry-After accounting (Stats.RetryAfterViolations) and
// per-model latency (Config.ModelLatency).

// Wire format names, as CallInfo.Format reports them.
const (
	FormatOpenAI    = "openai"
	FormatAnthropic = "anthropic"
	FormatGemini    = "gemini"
)

// CallInfo describes one provider call on arrival, for Config.OnCall. It never holds the API key.
type CallInfo struct {
	Format    string // FormatOpenAI, FormatAnthropic or FormatGemini
	Model     string // the requested model ("" when the body could not be read or has none)
	Fault     string // the effective fault model, after any SetFault override; "" for a normal answer
	RequestID string // the X-Switchyard-Request-Id header, "" without one
	Stream    bool
	At        time.Time // arrival, by Config.Clock
}

// faultTable is an immutable set of fault overrides; a new one replaces it on every change.
type faultTable struct {
	all    string            // override for every model, "" for none
	models map[string]string // per-model overrides, which win over all
}

// maxFaultOverrides bounds the per-model overrides.
const maxFaultOverrides = 1024

// faultNames are the catalogue's model names (sim-status-NNN aside).
var faultNames = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range Faults() {
		if _, ok := statusFault(f.Model); !ok && f.Model != ModelStatusPrefix+"NNN" {
			m[f.Model] = true
		}
	}
	return m
}()

// IsFault reports whether name is a fault model of the catalogue: one of Faults' names (sim-ok
// included) or sim-status-NNN with NNN in 400..599.
func IsFault(name string) bool {
	if faultNames[name] {
		return true
	}
	_, ok := statusFault(name)
	return ok
}

// SetFault makes calls whose requested model is model behave, from now on, as if the fault
// model fault had been requested (e.g. SetFault("gpt-4o-mini", "sim-503")); answers still name
// the requested model. model "" applies to every call; a per-model override wins over it (so
// SetFault("gpt-4o", "sim-ok") keeps one model healthy during a global outage). fault "" clears
// the override. fault must satisfy IsFault. It is safe for concurrent use.
func (s *Server) SetFault(model, fault string) error {
	if fault != "" && !IsFault(fault) {
		return fmt.Errorf("sim: unknown fault model %q: want a name of sim.Faults() or %sNNN (400..599)", fault, ModelStatusPrefix)
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	next := &faultTable{models: map[string]string{}}
	if old := s.overrides.Load(); old != nil {
		next.all = old.all
		for k, v := range old.models {
			next.models[k] = v
		}
	}
	switch {
	case model == "":
		next.all = fault
	case fault == "":
		delete(next.models, model)
	default:
		if _, ok := next.models[model]; !ok && len(next.models) >= maxFaultOverrides {
			return fmt.Errorf("sim: too many fault overrides (at most %d models)", maxFaultOverrides)
		}
		next.models[model] = fault
	}
	if next.all == "" && len(next.models) == 0 {
		next = nil
	}
	s.overrides.Store(next)
	return nil
}

// ClearFaults removes every fault override.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	s.overrides.Store(nil)
	s.faultMu.Unlock()
}

// Faults returns a copy of the active fault overrides, requested model to fault model; the key
// "" is the override for every model.
func (s *Server) Faults() map[string]string {
	out := map[string]string{}
	t := s.overrides.Load()
	if t == nil {
		return out
	}
	if t.all != "" {
		out[""] = t.all
	}
	for k, v := range t.models {
		out[k] = v
	}
	return out
}

// effectiveFault returns the model whose behaviour a call for model gets: its override, else the
// override for every model, else model itself.
func (s *Server) effectiveFault(model string) string {
	t := s.overrides.Load()
	if t == nil {
		return model
	}
	if f, ok := t.models[model]; ok {
		return f
	}
	if t.all != "" {
		return t.all
	}
	return model
}

// arrive records a call on arrival, before any latency or fault: it counts it, resolves its
// effective fault, checks it against the Retry-After windows and reports it to Config.OnCall. It
// returns the request id's call count (0 without an id) and the effective fault model (the
// requested model when no override applies).
func (s *Server) arrive(r *http.Request, format, rid, model string, stream bool) (int64, string) {
	n := s.count(rid, model)
	fault := s.effectiveFault(model)
	if s.waits.n.Load() > 0 {
		s.checkRetryAfter(r, format, model)
	}
	if s.cfg.OnCall != nil {
		reported := fault
		if reported == ModelOK || !IsFault(reported) {
			reported = ""
		}
		s.cfg.OnCall(CallInfo{Format: format, Model: model, Fault: reported, RequestID: rid, Stream: stream, At: s.cfg.Clock()})
	}
	return n, fault
}

// latencyFor returns the latency of a call for the requested model.
func (s *Server) latencyFor(model string) Latency {
	if len(s.cfg.ModelLatency) > 0 {
		if l, ok := s.cfg.ModelLatency[model]; ok {
			return l
		}
	}
	return s.cfg.Latency
}

// Retry-After accounting.

// maxRetryWaits bounds the Retry-After table; beyond it, arbitrary live entries are dropped (and
// a call that ignores their Retry-After goes uncounted).
const maxRetryWaits = 1 << 16

// retryWaits remembers, per (format, credential, requested model) hash, until when the simulator
// asked that client to wait.
type retryWaits struct {
	mu         sync.Mutex
	until      map[uint64]int64 // key hash -> Unix nanoseconds
	nextPrune  int64
	n          atomic.Int64 // len(until), read without the lock
	violations atomic.Int64
}

// credential returns the auth value a call carries in its format's place ("" without one).
func credential(r *http.Request, format string) string {
	h := r.Header
	switch format {
	case FormatAnthropic:
		if v := h["X-Api-Key"]; len(v) > 0 {
			return v[0]
		}
	case FormatGemini:
		k, _ := geminiKey(r)
		return k
	}
	if v := h["Authorization"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// waitKey hashes a call's format, credential and requested model: only the hash is kept.
func (s *Server) waitKey(r *http.Request, format, model string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	_, _ = h.WriteString(format)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(credential(r, format))
	_ = h.WriteByte(0)
	_, _ = h.WriteString(model)
	return h.Sum64()
}

// checkRetryAfter counts a violation when the call arrives inside a Retry-After window it was
// given, and forgets a window that is over.
func (s *Server) checkRetryAfter(r *http.Request, format, model string) {
	key := s.waitKey(r, format, model)
	now := s.cfg.Clock().UnixNano()
	w := &s.waits
	w.mu.Lock()
	until, ok := w.until[key]
	if ok && now >= until {
		delete(w.until, key)
		w.n.Store(int64(len(w.until)))
	}
	w.mu.Unlock()
	if ok && now < until {
		w.violations.Add(1)
	}
}

// recordRetryAfter remembers that the call was asked to wait for d.
func (s *Server) recordRetryAfter(r *http.Request, format, model string, d time.Duration) {
	key := s.waitKey(r, format, model)
	now := s.cfg.Clock().UnixNano()
	w := &s.waits
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.until == nil {
		w.until = map[uint64]int64{}
	}
	if now >= w.nextPrune || len(w.until) >= maxRetryWaits {
		for k, t := range w.until {
			if now >= t {
				delete(w.until, k)
			}
		}
		w.nextPrune = now + int64(max(d, time.Second))
	}
	if len(w.until) >= maxRetryWaits {
		// All live: drop arbitrary ones (map order is random), an eighth at once.
		for k := range w.until {
			if len(w.until) < maxRetryWaits-maxRetryWaits/8 {
				break
			}
			delete(w.until, k)
		}
	}
	w.until[key] = now + int64(d)
	w.n.Store(int64(len(w.until)))
}

func (w *retryWaits) reset() {
	w.mu.Lock()
	clear(w.until)
	w.n.Store(0)
	w.violations.Store(0)
	w.mu.Unlock()
}

// The admin endpoint /_sim/fault.

// FaultOverride is one override, as PUT /_sim/fault takes it and GET /_sim/fault lists it.
type FaultOverride struct {
	Model string `json:"model"` // "" for every model
	Fault string `json:"fault"`
}

// serveFault serves /_sim/fault: GET lists the overrides ({"faults":[{"model","fault"}...]},
// sorted by model), PUT {"model","fault"} sets one (fault "" clears it) and answers the new list,
// DELETE clears them all (204).
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var req struct {
			Model *string `json:"model"`
			Fault *string `json:"fault"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		err := dec.Decode(&req)
		if err == nil {
			if _, tail := dec.Token(); tail != io.EOF {
				err = errors.New("trailing data after the JSON object")
			}
		}
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error()+`; want {"model":"...","fault":"..."}`)
			return
		}
		if req.Fault == nil {
			writeAdminError(w, http.StatusBadRequest, `"fault" is required ("" clears the override)`)
			return
		}
		model := ""
		if req.Model != nil {
			model = *req.Model
		}
		if err := s.SetFault(model, *req.Fault); err != nil {
			writeAdminError(w, http.StatusBadRequest, err.Error())
			return
		}
	case http.MethodDelete:
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeAdminError(w, http.StatusMethodNotAllowed, "use GET, PUT or DELETE")
		return
	}
	out := struct {
		Faults []FaultOverride `json:"faults"`
	}{Faults: []FaultOverride{}}
	for m, f := range s.Faults() {
		out.Faults = append(out.Faults, FaultOverride{Model: m, Fault: f})
	}
	sort.Slice(out.Faults, func(i, j int) bool { return out.Faults[i].Model < out.Faults[j].Model })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// writeAdminError writes {"error":"msg"}.
func writeAdminError(w http.ResponseWriter, status int, msg string) {
	b := jsonw.String([]byte(`{"error":`), msg)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
