package sim

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault model names. Any other model name gets a normal answer.
const (
	ModelOK                 = "sim-ok"
	ModelEcho               = "sim-echo"
	Model429RetryAfter      = "sim-429-retry-after"
	Model429                = "sim-429"
	Model500Once            = "sim-500-once"
	Model500                = "sim-500"
	Model503                = "sim-503"
	Model400                = "sim-400"
	Model401                = "sim-401"
	Model404                = "sim-404"
	ModelReset              = "sim-reset"
	ModelHang               = "sim-hang"
	ModelSlowFirstToken     = "sim-slow-first-token"
	ModelStreamCut          = "sim-stream-cut"
	ModelStall              = "sim-stall"
	ModelMalformedChunk     = "sim-malformed-chunk"
	ModelNoDone             = "sim-no-done"
	ModelContextLength      = "sim-context-length"
	ModelContentFilter      = "sim-content-filter"
	ModelContentFilterFinal = "sim-content-filter-finish"
	ModelFlap               = "sim-flap"
	ModelHuge               = "sim-huge"
	// ModelStreamError streams half an answer, then the format's in-stream error (Anthropic
	// "event: error" overloaded_error; OpenAI and Gemini a data event holding an error object)
	// and ends; non-streaming it is an overloaded status.
	ModelStreamError = "sim-stream-error"
	// ModelStatusPrefix followed by a status code (e.g. "sim-status-502") answers that status
	// with the format's error body.
	ModelStatusPrefix = "sim-status-"
)

// Fault describes one entry of the catalogue.
type Fault struct {
	Model       string
	Description string
}

// Faults lists the behaviours the model name selects, for docs, /v1/models and tests.
func Faults() []Fault {
	return []Fault{
		{ModelOK, "normal answer (so does any model name not listed here)"},
		{ModelEcho, "answer content is the JSON of the received headers (auth headers redacted), query and body, to detect leaks"},
		{Model429RetryAfter, "429 rate limited with Retry-After (Config.RetryAfter, default 1 s)"},
		{Model429, "429 rate limited without Retry-After"},
		{Model500Once, "500 on the first call per X-Switchyard-Request-Id, then normal (without the header: every other call)"},
		{Model500, "500 internal server error"},
		{Model503, "503 overloaded (Anthropic: 529 overloaded_error)"},
		{Model400, "400 invalid request"},
		{Model401, "401 invalid API key"},
		{Model404, "404 model not found"},
		{ModelReset, "the TCP connection is reset without an answer"},
		{ModelHang, "never answers, until the client goes away"},
		{ModelSlowFirstToken, "headers at once, first token after Config.FirstTokenDelay (default 2 s)"},
		{ModelStreamCut, "the answer stops mid-way (mid-chunk for streams) and the connection closes"},
		{ModelStreamError, "a stream that sends half the answer, then the format's in-stream error object (Anthropic event: error overloaded_error) and ends; non-streaming: overloaded (503, Anthropic 529)"},
		{ModelStall, "some of the answer, then nothing until the client goes away"},
		{ModelMalformedChunk, "invalid JSON in a stream data line (non-streaming: an invalid JSON body)"},
		{ModelNoDone, "a complete stream without its end marker: OpenAI data: [DONE], Anthropic message_stop, Gemini the last chunk's finishReason (non-streaming: normal)"},
		{ModelContextLength, "400: the prompt is over the context window, in the format's words"},
		{ModelContentFilter, "the prompt is refused by the content filter (OpenAI, Anthropic: 400; Gemini: 200 with promptFeedback.blockReason)"},
		{ModelContentFilterFinal, "200 that stops part-way with the content-filter finish (OpenAI content_filter, Anthropic refusal, Gemini SAFETY)"},
		{ModelFlap, "503 during every other Config.FlapWindow (default 5 s) since the server started, normal otherwise"},
		{ModelHuge, "an answer of Config.HugeBytes (default 64 MiB), written without buffering"},
		{ModelStatusPrefix + "NNN", "status NNN (400-599) with the format's error body"},
	}
}

// statusFault parses "sim-status-NNN".
func statusFault(model string) (int, bool) {
	rest, ok := strings.CutPrefix(model, ModelStatusPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 400 || n > 599 {
		return 0, false
	}
	return n, true
}

// errKind is a simulated failure, which each wire format writes with its own status and body.
type errKind int

const (
	errRateLimited   errKind = iota // 429
	errServer                       // 500
	errOverloaded                   // 503 (Anthropic: 529)
	errInvalid                      // 400
	errAuth                         // 401
	errNotFound                     // 404
	errContextLength                // 400, the prompt is over the context window
	errContentFilter                // 400, the prompt was filtered
	errTooLarge                     // 413
	errBadJSON                      // 400, the body is not JSON
	errStatus                       // the status of sim-status-NNN
)

// errorWriter writes one failure in a format's shapes. status is the HTTP status the fault asks
// for; a format may use its own (Anthropic answers overload with 529).
type errorWriter func(w http.ResponseWriter, status int, kind errKind, p *prompt)

// errorFaults are the models that always fail the same way, with the status and failure each
// wire format writes in its own shapes.
var errorFaults = map[string]struct {
	status int
	kind   errKind
}{
	Model429:           {http.StatusTooManyRequests, errRateLimited},
	Model500:           {http.StatusInternalServerError, errServer},
	Model503:           {http.StatusServiceUnavailable, errOverloaded},
	Model400:           {http.StatusBadRequest, errInvalid},
	Model401:           {http.StatusUnauthorized, errAuth},
	Model404:           {http.StatusNotFound, errNotFound},
	ModelContextLength: {http.StatusBadRequest, errContextLength},
	ModelContentFilter: {http.StatusBadRequest, errContentFilter},
}

// preFault answers the faults that end a call before any answer is computed: errors, reset and
// hang, as p.fault asks. n is the call's count for its request id (0 without one). It reports
// whether the call was answered.
func (s *Server) preFault(w http.ResponseWriter, r *http.Request, format string, p *prompt, n int64, hasID bool, write errorWriter) bool {
	if code, ok := statusFault(p.fault); ok {
		write(w, code, errStatus, p)
		return true
	}
	if f, ok := errorFaults[p.fault]; ok {
		write(w, f.status, f.kind, p)
		return true
	}
	switch p.fault {
	case Model429RetryAfter:
		secs := s.retryAfterSecs()
		w.Header()["Retry-After"] = []string{strconv.FormatInt(secs, 10)}
		s.recordRetryAfter(r, format, p.model, time.Duration(secs)*time.Second)
		write(w, http.StatusTooManyRequests, errRateLimited, p)
	case Model500Once:
		first := n == 1
		if !hasID {
			first = s.noIDOnce.Add(1)%2 == 1
		}
		if !first {
			return false
		}
		write(w, http.StatusInternalServerError, errServer, p)
	case ModelFlap:
		if (s.cfg.Clock().Sub(s.started)/s.cfg.FlapWindow)%2 != 1 {
			return false
		}
		write(w, http.StatusServiceUnavailable, errOverloaded, p)
	case ModelReset:
		resetConn(w)
	case ModelHang:
		s.block(r.Context())
	default:
		return false
	}
	return true
}

// retryAfterSecs is Config.RetryAfter in whole seconds, rounded up.
func (s *Server) retryAfterSecs() int64 {
	return int64((s.cfg.RetryAfter + time.Second - 1) / time.Second)
}

// writeAnswer writes a whole (non-streamed) answer, out, as a 200 of the given content type, or
// the body fault the (effective fault) model asks for, the same in every wire format: ModelMalformedChunk sends
// half the object closed wrongly (a 200 that is not JSON), ModelStreamCut sends half and closes
// the connection, ModelStall sends half and then nothing until the client gives up.
func (s *Server) writeAnswer(ctx context.Context, w http.ResponseWriter, model string, contentType []string, out []byte) {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	switch model {
	case ModelMalformedChunk:
		bad := append(out[:len(out)/2:len(out)/2], "}}"...)
		h["Content-Length"] = []string{strconv.Itoa(len(bad))}
		_, _ = w.Write(bad)
	case ModelStreamCut:
		_, _ = w.Write(out[:len(out)/2])
		flush(w)
		panic(http.ErrAbortHandler) // closes the connection without finishing the body
	case ModelStall:
		delete(h, "Content-Length")
		_, _ = w.Write(out[:len(out)/2])
		flush(w)
		s.block(ctx)
	default:
		_, _ = w.Write(out)
	}
}

// hugeText is the text a sim-huge answer repeats: filler words, just under 16 KiB. It is never
// written to (every use copies it).
var hugeText = func() []byte {
	const size = 16 << 10
	b := make([]byte, 0, size)
	for i := 0; len(b) < size-16; i++ {
		b = append(b, filler[i%len(filler)]...)
		b = append(b, ' ')
	}
	return b[:len(b):len(b)] // full: an append copies
}()

// repeatHuge writes piece, which carries hugeText once (a chunk or event in the format's framing,
// or the bare text inside one JSON string), until Config.HugeBytes of text went out. It reports
// whether every write succeeded.
func (s *Server) repeatHuge(w http.ResponseWriter, piece []byte) bool {
	for total := int64(0); total < s.cfg.HugeBytes; total += int64(len(hugeText)) {
		if _, err := w.Write(piece); err != nil {
			return false
		}
	}
	return true
}
