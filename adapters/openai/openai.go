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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/internal/httpx"
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
	http        *httpx.Endpoint
	endpoint    string
	cred        *credentials // behind a pointer so that printing a copy of Adapter shows an address
	caps        adapters.Capabilities
	capsFixed   bool // Config.Capabilities was given: no per-model table
	flavor      Flavor
	quirks      *quirks
	maxBody     int64 // http.MaxBody(), read by the tests of the defaults
	maxComplTok bool
	streamUsage bool
}

// credentials holds the key material; never printed (see Format).
type credentials struct {
	headers http.Header // {"Authorization": {"Bearer <key>"}}, nil without a key
	secrets []string    // strings scrubbed from provider messages
}

var (
	_ adapters.Adapter       = (*Adapter)(nil)
	_ adapters.Streamer      = (*Adapter)(nil)
	_ adapters.ModelCapabler = (*Adapter)(nil)
)

var defaultCaps = adapters.Capabilities{
	Streaming: true, Tools: true, ParallelTools: true, JSONMode: true, JSONSchema: true, Images: true, MaxContext: 128000,
}

// New validates cfg and returns an Adapter; the error lists every problem (*adapters.ConfigError).
func New(cfg Config) (*Adapter, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	a := &Adapter{
		maxComplTok: cfg.UseMaxCompletionTokens,
		streamUsage: !cfg.DisableStreamUsage,
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
	defaultName := string(a.flavor)
	if !known {
		defaultName = "openai"
	}
	var u *url.URL
	a.http, u = httpx.NewEndpoint(httpx.EndpointConfig{
		Name: cfg.Name, DefaultName: defaultName, BaseURL: cfg.BaseURL, DefaultBaseURL: q.baseURL,
		HTTPClient: cfg.HTTPClient, Headers: cfg.Headers,
		MaxResponseBytes: cfg.MaxResponseBytes, MaxEventBytes: cfg.MaxEventBytes, Timeout: cfg.Timeout,
	}, &problems)
	a.endpoint = a.http.BaseURL() + "/chat/completions"
	a.maxBody = a.http.MaxBody()
	if key := cfg.APIKey.Reveal(); key != "" {
		if !httpx.PrintableASCII(key) {
			bad("APIKey: must be printable ASCII without spaces")
		} else {
			a.cred.headers = http.Header{"Authorization": {"Bearer " + key}}
			a.cred.secrets = []string{key}
		}
	} else if u != nil && q.keyRequired && u.Host == hostOf(q.baseURL) {
		bad("APIKey: required for %s", u.Host)
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
func (a *Adapter) Name() string { return a.http.Name() }

// Capabilities implements adapters.Adapter.
func (a *Adapter) Capabilities() adapters.Capabilities { return a.caps }

// BaseURL returns the configured API root.
func (a *Adapter) BaseURL() string { return a.http.BaseURL() }

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
	_, _ = fmt.Fprintf(f, "openai.Adapter{name=%s flavor=%s base_url=%s}", a.http.Name(), a.flavor, a.http.BaseURL())
}

// Complete implements adapters.Adapter.
func (a *Adapter) Complete(ctx context.Context, call *adapters.Call) (*adapters.Result, error) {
	body, err := encodeRequest(call, encodeOptions{useMaxCompletionTokens: a.maxComplTok, quirks: a.quirks})
	if err != nil {
		return nil, a.invalid(err)
	}
	ans, err := a.http.Complete(ctx, a.endpoint, call.RequestID, body, a.cred.headers, func(resp *http.Response) error {
		return a.statusError(resp, call)
	})
	if err != nil {
		return nil, err
	}
	res, err := decodeResponse(ans.Data)
	if err != nil {
		return nil, a.decodeError(err, ans.Status, call)
	}
	res.TTFT = ans.TTFT
	return res, nil
}

// Stream implements adapters.Streamer.
func (a *Adapter) Stream(ctx context.Context, call *adapters.Call, onDelta func(adapters.Delta) error) (*adapters.Result, error) {
	body, err := encodeRequest(call, encodeOptions{stream: true, streamUsage: a.streamUsage, useMaxCompletionTokens: a.maxComplTok, quirks: a.quirks})
	if err != nil {
		return nil, a.invalid(err)
	}
	ctx, cancel := a.http.Bound(ctx)
	defer cancel()
	// reqCtx lets us abandon the post-[DONE] drain without touching the caller's context.
	reqCtx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	start := time.Now()
	deltas := httpx.NewDeltas(start, onDelta)
	resp, err := a.http.Post(reqCtx, a.endpoint, call.RequestID, body, true, a.cred.headers)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if !httpx.OK(resp) {
		return nil, a.statusError(resp, call)
	}
	if httpx.IsJSON(resp) {
		// The server ignored "stream": take the whole answer and replay it as deltas.
		data, err := a.http.ReadBody(ctx, resp)
		if err != nil {
			return nil, err
		}
		return httpx.ReplayJSON(data, &deltas, func(data []byte) (*adapters.Result, error) {
			res, err := decodeResponse(data)
			if err != nil {
				return nil, a.decodeError(err, resp.StatusCode, call)
			}
			return res, nil
		})
	}

	var st streamState
	rd := a.http.Events(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			return nil, a.http.StreamError(ctx, err, "[DONE]")
		}
		if ev.Type == "error" {
			return nil, a.decodeError(streamErrorEvent(ev.Data), resp.StatusCode, call)
		}
		if string(ev.Data) == "[DONE]" {
			break
		}
		if err := st.add(ev.Data, deltas.Emit); err != nil {
			if err := deltas.Refused(); err != nil {
				return nil, err
			}
			return nil, a.decodeError(err, resp.StatusCode, call)
		}
	}
	res, err := st.result()
	if err != nil {
		return nil, a.decodeError(err, resp.StatusCode, call)
	}
	res.TTFT = deltas.TTFT()
	httpx.Drain(resp.Body, cancelReq)
	return res, nil
}

func (a *Adapter) invalid(err error) *adapters.Error {
	return &adapters.Error{Provider: a.http.Name(), Kind: adapters.InvalidRequest, Message: "invalid call: " + err.Error()}
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
	return a.http.MalformedAnswer(err, status)
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

// statusError maps a non-2xx response to an adapters.Error.
func (a *Adapter) statusError(resp *http.Response, call *adapters.Call) *adapters.Error {
	data := httpx.ReadErrorBody(resp)
	// nil for a body in no known error shape (an HTML page from a proxy, ...): never quoted.
	e := a.classify(resp.StatusCode, parseErrorBody(data), call)
	e.RetryAfter = httpx.RetryAfter(resp.Header, time.Now())
	return e
}

// classify maps an HTTP status (0 for an error inside a stream) and OpenAI's error object.
func (a *Adapter) classify(status int, ae *apiError, call *adapters.Call) *adapters.Error {
	e := httpx.StatusError(a.http.Name(), status)
	switch status {
	case http.StatusPaymentRequired:
		// DeepSeek's "Insufficient Balance", Mistral's and OpenRouter's billing errors: the
		// account cannot pay, so the same call fails here until someone acts, but another
		// provider can serve it.
		e.Kind = adapters.Auth
	case 498:
		// Groq's flex tier at capacity: documented as retryable after a backoff.
		e.Kind = adapters.Unavailable
	}
	if ae == nil {
		return e
	}
	e.Code = codeString(ae.Code)
	e.Message = httpx.CleanMessage(ae.Message, a.cred.secrets, httpx.PromptTexts(call))
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
