// Package openai is the Switchyard adapter for the OpenAI Chat Completions API
// (POST {BaseURL}/chat/completions), non-streaming and streaming (SSE), and for the many
// OpenAI-compatible endpoints (Groq, xAI, Mistral, DeepSeek, Together, Ollama, vLLM, the simulator).
//
// Config.Flavor picks the server family (openai, groq, xai, mistral, deepseek, together, ollama,
// vllm, generic): its default BaseURL, whether a key is required, and the request quirks that
// server needs; docs/providers-openai-compatible.md lists each quirk with its source. Decisions
// that hold for every flavor: a refusal (message.refusal) ends the answer with
// FinishContentFilter, its text as Content when there is no content; OpenAI's reasoning models
// (o1*, o3*, o4*, gpt-5*) get max_completion_tokens and no temperature; reasoning_content is
// never mixed into Content; tool-call arguments are kept as the raw text sent.
//
// Wire types are private; encodeRequest and decodeResponse/streamState are the converter pair
// between adapters.Call/Result and the provider's JSON. Only the project's adapters and schemas
// packages are imported.
//
// Headers sent: Authorization: Bearer <key> (when a key is set), Content-Type, Accept,
// User-Agent: switchyard, the static Config.Headers, and X-Switchyard-Request-Id carrying
// Call.RequestID (real providers ignore it; the simulator counts calls per request id with it).
// Nothing else from the call is put into headers, and the request id never enters the body.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/internal/httpx"
	"github.com/switchyard-llm/switchyard/adapters/sse"
)

// DefaultBaseURL is OpenAI's API root.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config configures an Adapter. The zero value of each field means its documented default.
type Config struct {
	// Name is the provider name reported by Name() and in errors, e.g. "openai", "groq", "sim".
	// Lower-case letters, digits, '_', '-' and '.'. Default: the Flavor's name ("openai").
	Name string
	// Flavor is the kind of server: FlavorOpenAI, FlavorGroq, FlavorXAI, FlavorMistral,
	// FlavorDeepSeek, FlavorTogether, FlavorOllama, FlavorVLLM or FlavorGeneric. It sets the
	// default BaseURL, whether APIKey is required, the request quirks that server needs and
	// the default capabilities (see docs/providers-openai-compatible.md). Default FlavorOpenAI.
	Flavor Flavor
	// BaseURL is the API root, without the /chat/completions suffix, e.g.
	// https://api.openai.com/v1 or http://127.0.0.1:8400/v1. http or https, no user info, query
	// or fragment. Default: the Flavor's API root (DefaultBaseURL for OpenAI).
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>". Required when BaseURL is the hosted API
	// of OpenAI, Groq, xAI, Mistral, DeepSeek or Together; optional otherwise (no header is sent
	// when empty).
	APIKey adapters.Secret
	// HTTPClient sends the requests. Default: a shared client with a connection pool sized for
	// many concurrent calls, no overall timeout (calls are bounded by their context) and no
	// redirects.
	HTTPClient *http.Client
	// Headers are extra static headers (e.g. OpenAI-Organization). They may not override
	// Authorization, Content-Type, Accept, User-Agent, Host, Content-Length or the request-id
	// header. They are not redacted: put no secret here. Default none.
	Headers map[string]string
	// UseMaxCompletionTokens sends Call.MaxTokens as max_completion_tokens instead of
	// max_tokens. With FlavorOpenAI, reasoning models (o1*, o3*, o4*, gpt-5* but gpt-5-chat*)
	// always get max_completion_tokens and never a temperature, whatever this says. Flavors
	// whose servers reject or ignore max_completion_tokens (Mistral, DeepSeek, Together,
	// Ollama, vLLM, generic) always get max_tokens. Default false.
	UseMaxCompletionTokens bool
	// DisableStreamUsage leaves out stream_options.include_usage, for compatible servers that
	// reject it (FlavorMistral never sends it: Mistral reports usage without it). Streams then
	// report usage only if the server sends it unasked. Default false.
	DisableStreamUsage bool
	// MaxResponseBytes caps a response body, streamed or not; past it the call fails with
	// Kind Malformed. Default 16 MiB.
	MaxResponseBytes int64
	// MaxEventBytes caps one SSE line or event. Default sse.DefaultMaxEventSize (4 MiB).
	MaxEventBytes int
	// Timeout bounds a call whose context has no deadline. Default 10 minutes.
	Timeout time.Duration
	// Capabilities overrides what the adapter declares, for every model (for compatible
	// servers that lack features). Default: the Flavor's capabilities, refined per model by
	// ModelCapabilities.
	Capabilities *adapters.Capabilities
}

// Adapter calls one Chat Completions endpoint. It is safe for concurrent use.
type Adapter struct {
	name        string
	baseURL     string
	endpoint    string
	client      *http.Client
	cred        *credentials // behind a pointer so that printing a copy of Adapter shows an address
	headers     http.Header
	caps        adapters.Capabilities
	capsFixed   bool // Config.Capabilities was given: no per-model table
	flavor      Flavor
	quirks      *quirks
	maxBody     int64
	maxEvent    int
	timeout     time.Duration
	maxComplTok bool
	streamUsage bool
}

// credentials holds the key material; never printed (see Format).
type credentials struct {
	auth    []string // {"Bearer <key>"}, nil without a key
	secrets []string // strings scrubbed from provider messages
}

var (
	_ adapters.Adapter       = (*Adapter)(nil)
	_ adapters.Streamer      = (*Adapter)(nil)
	_ adapters.ModelCapabler = (*Adapter)(nil)
)

var defaultCaps = adapters.Capabilities{
	Streaming: true, Tools: true, ParallelTools: true, JSONMode: true, JSONSchema: true, Images: true, MaxContext: 128000,
}

var noRedirectClient = &http.Client{
	Transport:     httpx.DefaultClient().Transport,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

var reservedHeaders = map[string]bool{
	"Authorization": true, "Content-Type": true, "Accept": true, "User-Agent": true, "Host": true,
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	http.CanonicalHeaderKey(httpx.RequestIDHeader): true,
}

// New validates cfg and returns an Adapter; the error lists every problem (*adapters.ConfigError).
func New(cfg Config) (*Adapter, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	a := &Adapter{
		name:        cfg.Name,
		client:      cfg.HTTPClient,
		caps:        defaultCaps,
		maxBody:     cfg.MaxResponseBytes,
		maxEvent:    cfg.MaxEventBytes,
		timeout:     cfg.Timeout,
		maxComplTok: cfg.UseMaxCompletionTokens,
		streamUsage: !cfg.DisableStreamUsage,
		headers:     http.Header{},
		cred:        &credentials{},
	}
	a.flavor = cfg.Flavor
	if a.flavor == "" {
		a.flavor = FlavorOpenAI
	}
	q, known := flavors[a.flavor]
	if !known {
		bad("Flavor %q: use one of %v", cfg.Flavor, Flavors())
		q = flavors[FlavorGeneric]
	}
	a.quirks = &q
	a.caps = q.caps
	if a.name == "" {
		a.name = string(a.flavor)
		if !known {
			a.name = "openai"
		}
	} else if !validName(a.name) {
		bad("Name %q: use lower-case letters, digits, '_', '-' or '.'", a.name)
	}
	base := cfg.BaseURL
	if base == "" {
		base = q.baseURL
	}
	u, err := url.Parse(base)
	switch {
	case err != nil:
		bad("BaseURL: not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		bad("BaseURL: scheme must be http or https, got %q", u.Scheme)
	case u.Host == "":
		bad("BaseURL: no host")
	case u.User != nil:
		bad("BaseURL: must not contain user info (put the key in APIKey)")
	case u.RawQuery != "" || u.Fragment != "":
		bad("BaseURL: must not contain a query or fragment")
	}
	a.baseURL = strings.TrimRight(base, "/")
	a.endpoint = a.baseURL + "/chat/completions"
	if key := cfg.APIKey.Reveal(); key != "" {
		if !printableASCII(key) {
			bad("APIKey: must be printable ASCII without spaces")
		} else {
			a.cred.auth = []string{"Bearer " + key}
			a.cred.secrets = []string{key}
		}
	} else if err == nil && q.keyRequired && u.Host == hostOf(q.baseURL) {
		bad("APIKey: required for %s", u.Host)
	}
	if a.client == nil {
		a.client = noRedirectClient
	}
	for k, v := range cfg.Headers {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case !validToken(k):
			bad("Headers: invalid header name %q", k)
		case reservedHeaders[ck]:
			bad("Headers: %s is set by the adapter", ck)
		case strings.ContainsAny(v, "\r\n\x00"):
			bad("Headers: value of %s contains CR, LF or NUL", ck)
		default:
			a.headers[ck] = []string{v}
		}
	}
	switch {
	case a.maxBody < 0:
		bad("MaxResponseBytes: must not be negative")
	case a.maxBody == 0:
		a.maxBody = httpx.DefaultMaxBody
	}
	switch {
	case a.maxEvent < 0:
		bad("MaxEventBytes: must not be negative")
	case a.maxEvent == 0:
		a.maxEvent = sse.DefaultMaxEventSize
	}
	switch {
	case a.timeout < 0:
		bad("Timeout: must not be negative")
	case a.timeout == 0:
		a.timeout = 10 * time.Minute
	}
	if cfg.Capabilities != nil {
		if cfg.Capabilities.MaxContext < 0 {
			bad("Capabilities.MaxContext: must not be negative")
		}
		a.caps = *cfg.Capabilities
		a.capsFixed = true
	}
	if len(problems) > 0 {
		return nil, &adapters.ConfigError{Provider: "openai", Problems: problems}
	}
	return a, nil
}

// Name implements adapters.Adapter.
func (a *Adapter) Name() string { return a.name }

// Capabilities implements adapters.Adapter.
func (a *Adapter) Capabilities() adapters.Capabilities { return a.caps }

// BaseURL returns the configured API root.
func (a *Adapter) BaseURL() string { return a.baseURL }

// Flavor returns the configured flavor.
func (a *Adapter) Flavor() Flavor { return a.flavor }

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// Format prints the adapter without its key for every verb (fmt would otherwise print unexported
// fields raw). It has a value receiver so that a copy of an Adapter is covered too.
func (a Adapter) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "openai.Adapter{name=%s flavor=%s base_url=%s}", a.name, a.flavor, a.baseURL)
}

// Complete implements adapters.Adapter.
func (a *Adapter) Complete(ctx context.Context, call *adapters.Call) (*adapters.Result, error) {
	body, err := encodeRequest(call, encodeOptions{useMaxCompletionTokens: a.maxComplTok, quirks: a.quirks})
	if err != nil {
		return nil, a.invalid(err)
	}
	ctx, cancel := a.bound(ctx)
	defer cancel()
	start := time.Now()
	resp, err := a.send(ctx, call, body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ttft := time.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, a.statusError(resp, call)
	}
	data, err := httpx.ReadCapped(resp.Body, a.maxBody, resp.ContentLength)
	if err != nil {
		return nil, httpx.BodyError(ctx, a.name, err)
	}
	res, err := decodeResponse(data)
	if err != nil {
		return nil, a.decodeError(err, resp.StatusCode, call)
	}
	res.TTFT = ttft
	return res, nil
}

// Stream implements adapters.Streamer.
func (a *Adapter) Stream(ctx context.Context, call *adapters.Call, onDelta func(adapters.Delta) error) (*adapters.Result, error) {
	body, err := encodeRequest(call, encodeOptions{stream: true, streamUsage: a.streamUsage, useMaxCompletionTokens: a.maxComplTok, quirks: a.quirks})
	if err != nil {
		return nil, a.invalid(err)
	}
	if onDelta == nil {
		onDelta = func(adapters.Delta) error { return nil }
	}
	ctx, cancel := a.bound(ctx)
	defer cancel()
	// reqCtx lets us abandon the post-[DONE] drain without touching the caller's context.
	reqCtx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	start := time.Now()
	resp, err := a.send(reqCtx, call, body, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, a.statusError(resp, call)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		// The server ignored "stream": take the whole answer and replay it as deltas.
		return a.replayJSON(ctx, resp, call, start, onDelta)
	}

	var (
		st        streamState
		firstTok  time.Duration
		userErr   error
		body2     = httpx.LimitReader(resp.Body, a.maxBody)
		rd        = sse.NewReaderSize(body2, a.maxEvent)
		emitDelta = func(d adapters.Delta) error {
			if firstTok == 0 {
				firstTok = time.Since(start)
			}
			if err := onDelta(d); err != nil {
				userErr = err
				return err
			}
			return nil
		}
	)
	for {
		ev, err := rd.Next()
		if err != nil {
			return nil, a.streamReadError(ctx, err)
		}
		if ev.Type == "error" {
			return nil, a.decodeError(streamErrorEvent(ev.Data), resp.StatusCode, call)
		}
		if string(ev.Data) == "[DONE]" {
			break
		}
		if err := st.add(ev.Data, emitDelta); err != nil {
			if userErr != nil {
				return nil, userErr
			}
			return nil, a.decodeError(err, resp.StatusCode, call)
		}
	}
	res, err := st.result()
	if err != nil {
		return nil, a.decodeError(err, resp.StatusCode, call)
	}
	if firstTok == 0 {
		firstTok = time.Since(start)
	}
	res.TTFT = firstTok
	a.drain(resp.Body, cancelReq)
	return res, nil
}

// drain reads what little follows [DONE] (the chunked-encoding terminator) so that the
// connection can be reused, but gives up quickly on a server that keeps the stream open.
func (a *Adapter) drain(body io.Reader, abort context.CancelFunc) {
	t := time.AfterFunc(50*time.Millisecond, abort)
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	t.Stop()
}

func (a *Adapter) replayJSON(ctx context.Context, resp *http.Response, call *adapters.Call, start time.Time, onDelta func(adapters.Delta) error) (*adapters.Result, error) {
	data, err := httpx.ReadCapped(resp.Body, a.maxBody, resp.ContentLength)
	if err != nil {
		return nil, httpx.BodyError(ctx, a.name, err)
	}
	res, err := decodeResponse(data)
	if err != nil {
		return nil, a.decodeError(err, resp.StatusCode, call)
	}
	res.TTFT = time.Since(start)
	if res.Content != "" {
		if err := onDelta(adapters.Delta{Content: res.Content}); err != nil {
			return nil, err
		}
	}
	for i, tc := range res.ToolCalls {
		if err := onDelta(adapters.Delta{ToolCall: &adapters.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}}); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// bound gives ctx the adapter's default deadline if it has none: every provider call must end.
func (a *Adapter) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, a.timeout)
}

var (
	hdrJSON      = []string{"application/json"}
	hdrSSE       = []string{"text/event-stream"}
	hdrUserAgent = []string{httpx.UserAgent}
)

func (a *Adapter) send(ctx context.Context, call *adapters.Call, body []byte, stream bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &adapters.Error{Provider: a.name, Kind: adapters.Internal, Message: "cannot build request", Err: err}
	}
	h := req.Header
	for k, v := range a.headers {
		h[k] = v
	}
	// The shared slices are never appended to: each has len == cap.
	h["Content-Type"] = hdrJSON
	h["Accept"] = hdrJSON
	if stream {
		h["Accept"] = hdrSSE
	}
	h["User-Agent"] = hdrUserAgent
	if a.cred.auth != nil {
		h["Authorization"] = a.cred.auth
	}
	if call.RequestID != "" {
		h[httpx.RequestIDHeader] = []string{httpx.HeaderValue(call.RequestID)}
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, httpx.TransportError(ctx, a.name, err)
	}
	return resp, nil
}

func (a *Adapter) invalid(err error) *adapters.Error {
	return &adapters.Error{Provider: a.name, Kind: adapters.InvalidRequest, Message: "invalid call: " + err.Error()}
}

func (a *Adapter) streamReadError(ctx context.Context, err error) *adapters.Error {
	if e := httpx.ContextError(ctx, a.name, err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, io.EOF):
		return &adapters.Error{Provider: a.name, Kind: adapters.Malformed, Message: "stream ended without [DONE]"}
	case errors.Is(err, sse.ErrTruncated):
		return &adapters.Error{Provider: a.name, Kind: adapters.Malformed, Message: "stream cut in the middle of an event", Err: err}
	case errors.Is(err, sse.ErrTooLarge):
		return &adapters.Error{Provider: a.name, Kind: adapters.Malformed, Message: "stream event too large", Err: err}
	}
	return httpx.BodyError(ctx, a.name, err)
}

// decodeError turns a decode failure or an in-body provider error into an adapters.Error.
func (a *Adapter) decodeError(err error, status int, call *adapters.Call) *adapters.Error {
	var pe *providerError
	if errors.As(err, &pe) {
		e := a.classify(0, pe.err, call)
		if e.Kind == adapters.InvalidRequest && status/100 == 2 {
			// An error object inside a 200 (or mid-stream) without a telling code: the provider
			// failed after accepting the call.
			e.Kind = adapters.Internal
		}
		return e
	}
	var me *malformedError
	if errors.As(err, &me) {
		return &adapters.Error{Provider: a.name, Kind: adapters.Malformed, Status: status, Message: me.msg}
	}
	return &adapters.Error{Provider: a.name, Kind: adapters.Malformed, Status: status, Message: "cannot decode response"}
}

func streamErrorEvent(data []byte) error {
	if ae := parseErrorBody(data); ae != nil {
		return &providerError{err: ae}
	}
	var ae apiError
	if json.Unmarshal(data, &ae) == nil && (ae.Message != "" || len(ae.Code) > 0) {
		return &providerError{err: &ae}
	}
	return malformed("error event without an error object")
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// statusError maps a non-2xx response to an adapters.Error.
func (a *Adapter) statusError(resp *http.Response, call *adapters.Call) *adapters.Error {
	data, _ := httpx.ReadCapped(resp.Body, maxErrorBody, -1)
	// nil for a body in no known error shape (an HTML page from a proxy, ...): never quoted.
	e := a.classify(resp.StatusCode, parseErrorBody(data), call)
	e.RetryAfter = httpx.RetryAfter(resp.Header, time.Now())
	return e
}

// classify maps an HTTP status (0 for an error inside a stream) and OpenAI's error object.
func (a *Adapter) classify(status int, ae *apiError, call *adapters.Call) *adapters.Error {
	e := &adapters.Error{Provider: a.name, Status: status, Kind: adapters.Internal}
	switch {
	case status == http.StatusPaymentRequired:
		// DeepSeek's "Insufficient Balance", Mistral's and OpenRouter's billing errors: the
		// account cannot pay, so the same call fails here until someone acts, but another
		// provider can serve it.
		e.Kind = adapters.Auth
	case status == 498:
		// Groq's flex tier at capacity: documented as retryable after a backoff.
		e.Kind = adapters.Unavailable
	case status != 0:
		e.Kind = httpx.KindForStatus(status)
	}
	if ae == nil {
		if status != 0 {
			e.Message = strconv.Itoa(status) + " " + http.StatusText(status)
		}
		return e
	}
	e.Code = codeString(ae.Code)
	var prompts []string
	if call != nil {
		for i := range call.Messages {
			m := &call.Messages[i]
			prompts = append(prompts, m.Content)
			for j := range m.Parts {
				prompts = append(prompts, m.Parts[j].Text)
			}
		}
	}
	e.Message = httpx.CleanMessage(ae.Message, a.cred.secrets, prompts)
	if e.Code == "" && ae.Type != "" && len(ae.Type) <= 64 {
		e.Code = ae.Type
	}
	msg := strings.ToLower(ae.Message)
	switch {
	case e.Code == "context_length_exceeded" || e.Code == "string_above_max_length" ||
		strings.Contains(msg, "maximum context length") || strings.Contains(msg, "context_length_exceeded") ||
		strings.Contains(msg, "context window") && strings.Contains(msg, "exceed"):
		e.Kind = adapters.ContextTooLong
	case status == 400 && (strings.Contains(msg, "incorrect api key") || strings.Contains(msg, "invalid api key")):
		// xAI answers a bad key with 400 and a bare message.
		e.Kind = adapters.Auth
	case e.Code == finishNoResource:
		e.Kind = adapters.Unavailable
	case e.Code == "insufficient_quota" || e.Code == "billing_hard_limit_reached":
		// OpenAI sends these as 429, but no wait helps: the account is out of credit.
		e.Kind = adapters.Auth
	case e.Code == "content_filter" || e.Code == "content_policy_violation" || ae.Type == "content_policy_violation" ||
		strings.Contains(msg, "content management policy") || strings.Contains(msg, "content policy"):
		e.Kind = adapters.ContentFiltered
	case status == 0:
		switch {
		case e.Code == "rate_limit_exceeded" || ae.Type == "rate_limit_error":
			e.Kind = adapters.RateLimited
		case e.Code == "invalid_api_key" || ae.Type == "authentication_error":
			e.Kind = adapters.Auth
		case ae.Type == "invalid_request_error":
			e.Kind = adapters.InvalidRequest
		}
	}
	return e
}

// codeString reads OpenAI's "code": a string, null, or a number on some compatible servers.
func codeString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if len(s) > 64 {
			s = s[:64]
		}
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return s != ""
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validToken reports whether s is an RFC 7230 token (a valid header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
