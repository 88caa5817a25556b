// Package anthropic is the Switchyard adapter for Anthropic's Messages API
// (POST {BaseURL}/v1/messages), non-streaming and streaming (SSE with typed events).
//
// Wire types are private; encodeRequest and decodeResponse/streamState are the converter pair
// between adapters.Call/Result and Anthropic's JSON. Only the project's adapters (and its sse,
// toolschema and internal/httpx helpers) and schemas packages are imported.
//
// Headers sent: x-api-key: <key> (when a key is set; the key is sent nowhere else),
// anthropic-version, anthropic-beta (when Config.Beta is set), Content-Type, Accept,
// User-Agent: switchyard, the static Config.Headers, and X-Switchyard-Request-Id carrying
// Call.RequestID (Anthropic ignores it; the simulator counts calls per request id with it).
//
// How the canonical call maps onto Anthropic's shapes:
//
//   - system and developer messages join the one top-level system prompt (blank-line separated),
//     wherever they stand in the conversation;
//   - consecutive messages of the same role are merged into one turn (Anthropic wants user and
//     assistant turns to alternate), and tool results (role tool) become tool_result blocks of a
//     user turn, consecutive results sharing one turn, placed before any text of that turn;
//   - assistant tool calls become tool_use blocks whose input is the parsed arguments (arguments
//     that are not a JSON object make the call an InvalidRequest, before anything is sent);
//   - a final assistant message of text only is a prefill: the model continues it. Its trailing
//     whitespace is removed (the API rejects it), and Result.Content starts with it, so that the
//     answer is whole; a stream delivers it as the first content delta. Claude 4.6 and later
//     models reject prefills (see ModelCapabilities);
//   - ResponseFormat json_schema uses Anthropic's structured outputs (output_config.format);
//     "json" has no Anthropic equivalent (structured outputs need a schema), so it adds an
//     instruction to the system prompt: a best effort, which is why Capabilities.JSONMode is
//     false while JSONSchema is true;
//   - max_tokens is required by Anthropic: a call without MaxTokens gets Config.DefaultMaxTokens,
//     or the model's output cap when that is lower;
//   - Message.Name has no Anthropic equivalent and is not sent;
//   - temperature above 1 is refused before sending (Anthropic's range is 0..1); it is left out
//     for the models that reject it with a 400 (Claude Opus 4.7 and later) and with API versions
//     from 2026-10-21 on, which removed it: a sampling hint is not worth a failed call.
//
// Errors: a 429 without retry-after takes its wait from the anthropic-ratelimit-*-reset header of
// the exhausted bucket; see classify for the mapping of statuses and error types.
//
// Prompt caching is off unless Config.PromptCache asks for it (Anthropic, unlike OpenAI, caches
// nothing by itself); it is then the top-level cache_control marker.
//
// Usage: Anthropic's input_tokens excludes the tokens read from and written to the prompt cache;
// the canonical InputTokens includes them (input + cache read + cache write), CachedTokens is
// the cache read and CacheWriteTokens the cache write.
package anthropic

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

// DefaultBaseURL is Anthropic's API root (the adapter adds /v1/messages).
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultVersion is the anthropic-version header sent unless Config.Version says otherwise.
const DefaultVersion = "2023-06-01"

// DefaultMaxTokens is the max_tokens sent for a call that sets none (Anthropic requires one).
const DefaultMaxTokens = 4096

// Config configures an Adapter. The zero value of each field means its documented default.
type Config struct {
	// Name is the provider name reported by Name() and in errors. Lower-case letters, digits,
	// '_', '-' and '.'. Default "anthropic".
	Name string
	// BaseURL is the API root, without /v1: the adapter posts to BaseURL+"/v1/messages", e.g.
	// https://api.anthropic.com or http://127.0.0.1:8400. http or https, no user info, query or
	// fragment. Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as the x-api-key header, and only there. Required for api.anthropic.com;
	// optional for other endpoints (no header is sent when empty).
	APIKey adapters.Secret
	// Version is the anthropic-version header, a date such as 2023-06-01. From 2026-10-21 on the
	// API has no temperature parameter, and the adapter stops sending it. Default DefaultVersion.
	Version string
	// Beta lists beta features, sent comma-separated as the anthropic-beta header (e.g.
	// "context-1m-2025-08-07"). Default none.
	Beta []string
	// Headers are extra static headers. They may not override x-api-key, anthropic-version,
	// anthropic-beta, Authorization, Content-Type, Accept, User-Agent, Host, Content-Length or
	// the request-id header. They are not redacted: put no secret here. Default none.
	Headers map[string]string
	// HTTPClient sends the requests. Default: a shared client with a connection pool sized for
	// many concurrent calls, no overall timeout (calls are bounded by their context) and no
	// redirects.
	HTTPClient *http.Client
	// PromptCache turns on Anthropic's prompt caching for every call: "5m" or "1h" is the cache
	// lifetime, sent as the top-level cache_control marker, which the API puts on the request's
	// last cacheable block (so the system prompt, tools and conversation so far are cached).
	// Cache writes cost more than plain input (1.25x for 5m, 2x for 1h) and reads far less, so it
	// pays off when prompts repeat within the lifetime. Usage reports the writes and reads.
	// Default "" (no caching: Anthropic caches nothing unless asked).
	PromptCache string
	// DefaultMaxTokens is the max_tokens of a call that sets none; a known model's lower output
	// cap wins. Default DefaultMaxTokens (4096).
	DefaultMaxTokens int
	// MaxResponseBytes caps a response body, streamed or not; past it the call fails with
	// Kind Malformed. Default 16 MiB.
	MaxResponseBytes int64
	// MaxEventBytes caps one SSE line or event. Default sse.DefaultMaxEventSize (4 MiB).
	MaxEventBytes int
	// Timeout bounds a call whose context has no deadline. Default 10 minutes.
	Timeout time.Duration
	// Capabilities overrides what the adapter declares, for every model (for compatible servers
	// that lack features). Default: streaming, tools (parallel), JSON schema, prefill, images,
	// MaxContext 200000, refined per model by ModelCapabilities.
	Capabilities *adapters.Capabilities
}

// Adapter calls one Messages endpoint. It is safe for concurrent use.
type Adapter struct {
	http       *httpx.Endpoint
	endpoint   string
	cred       *credentials // behind a pointer so that printing a copy of Adapter shows an address
	caps       adapters.Capabilities
	capsFixed  bool // Config.Capabilities was given: no per-model refinement
	maxTokens  int
	maxBody    int64    // http.MaxBody(), read by the tests of the defaults
	versionHdr []string // also in cred.headers, read by the tests
	betaHdr    []string // also in cred.headers (when set), read by the tests
	cacheTTL   string
}

// credentials holds the key material; never printed (see Format).
type credentials struct {
	headers http.Header // x-api-key (when a key is set), anthropic-version, anthropic-beta
	secrets []string    // strings scrubbed from provider messages
}

var (
	_ adapters.Adapter       = (*Adapter)(nil)
	_ adapters.Streamer      = (*Adapter)(nil)
	_ adapters.ModelCapabler = (*Adapter)(nil)
)

var defaultCaps = adapters.Capabilities{
	Streaming: true, Tools: true, ParallelTools: true, JSONMode: false, JSONSchema: true,
	Prefill: true, Images: true, MaxContext: 200000,
}

// ownHeaders are the headers the adapter sets itself, besides the ones every adapter sets.
var ownHeaders = []string{"X-Api-Key", "Anthropic-Version", "Anthropic-Beta"}

// New validates cfg and returns an Adapter; the error lists every problem (*adapters.ConfigError).
func New(cfg Config) (*Adapter, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	a := &Adapter{
		caps:      defaultCaps,
		maxTokens: cfg.DefaultMaxTokens,
		cred:      &credentials{headers: http.Header{}},
	}
	var u *url.URL
	a.http, u = httpx.NewEndpoint(httpx.EndpointConfig{
		Name: cfg.Name, DefaultName: "anthropic", BaseURL: cfg.BaseURL, DefaultBaseURL: DefaultBaseURL,
		HTTPClient: cfg.HTTPClient, Headers: cfg.Headers, Reserved: ownHeaders,
		MaxResponseBytes: cfg.MaxResponseBytes, MaxEventBytes: cfg.MaxEventBytes, Timeout: cfg.Timeout,
	}, &problems)
	if u != nil && strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1") {
		bad("BaseURL: give the API root without /v1 (the adapter posts to BaseURL/v1/messages)")
	}
	a.endpoint = a.http.BaseURL() + "/v1/messages"
	a.maxBody = a.http.MaxBody()
	if key := cfg.APIKey.Reveal(); key != "" {
		if !httpx.PrintableASCII(key) {
			bad("APIKey: must be printable ASCII without spaces")
		} else {
			a.cred.headers["X-Api-Key"] = []string{key}
			a.cred.secrets = []string{key}
		}
	} else if u != nil && u.Host == "api.anthropic.com" {
		bad("APIKey: required for api.anthropic.com")
	}
	version := cfg.Version
	if version == "" {
		version = DefaultVersion
	}
	if !validVersion(version) {
		bad("Version %q: want a date such as %s", version, DefaultVersion)
	}
	a.versionHdr = []string{version}
	a.cred.headers["Anthropic-Version"] = a.versionHdr
	if len(cfg.Beta) > 0 {
		for _, b := range cfg.Beta {
			if !httpx.ValidToken(b) {
				bad("Beta: %q is not a feature name", b)
			}
		}
		a.betaHdr = []string{strings.Join(cfg.Beta, ",")}
		a.cred.headers["Anthropic-Beta"] = a.betaHdr
	}
	switch cfg.PromptCache {
	case "", "5m", "1h":
		a.cacheTTL = cfg.PromptCache
	default:
		bad("PromptCache %q: use \"5m\" or \"1h\" (or leave it empty for no caching)", cfg.PromptCache)
	}
	switch {
	case a.maxTokens < 0:
		bad("DefaultMaxTokens: must not be negative")
	case a.maxTokens == 0:
		a.maxTokens = DefaultMaxTokens
	}
	if c := cfg.Capabilities; c != nil {
		if c.MaxContext < 0 || c.MaxOutput < 0 {
			bad("Capabilities: MaxContext and MaxOutput must not be negative")
		}
		a.caps, a.capsFixed = *c, true
	}
	if len(problems) > 0 {
		return nil, &adapters.ConfigError{Provider: "anthropic", Problems: problems}
	}
	return a, nil
}

// Name implements adapters.Adapter.
func (a *Adapter) Name() string { return a.http.Name() }

// Capabilities implements adapters.Adapter: what the adapter supports for a model it does not
// know.
func (a *Adapter) Capabilities() adapters.Capabilities { return a.caps }

// BaseURL returns the configured API root.
func (a *Adapter) BaseURL() string { return a.http.BaseURL() }

// Format prints the adapter without its key for every verb (fmt would otherwise print unexported
// fields raw). It has a value receiver so that a copy of an Adapter is covered too.
func (a Adapter) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "anthropic.Adapter{name=%s base_url=%s}", a.http.Name(), a.http.BaseURL())
}

// maxTokensFor is the max_tokens sent when the call sets none.
func (a *Adapter) maxTokensFor(model string) int {
	if c := a.ModelCapabilities(model); c.MaxOutput > 0 && c.MaxOutput < a.maxTokens {
		return c.MaxOutput
	}
	return a.maxTokens
}

func (a *Adapter) encode(call *adapters.Call, stream bool) (encoded, error) {
	o := encodeOptions{stream: stream, cacheTTL: a.cacheTTL}
	if call != nil {
		o.maxTokens = a.maxTokensFor(call.Model)
		o.dropTemperature = !a.sendsTemperature(call.Model)
	}
	enc, err := encodeRequest(call, o)
	if err != nil {
		return enc, &adapters.Error{Provider: a.http.Name(), Kind: adapters.InvalidRequest, Message: "invalid call: " + err.Error()}
	}
	return enc, nil
}

// Complete implements adapters.Adapter.
func (a *Adapter) Complete(ctx context.Context, call *adapters.Call) (*adapters.Result, error) {
	enc, err := a.encode(call, false)
	if err != nil {
		return nil, err
	}
	ans, err := a.http.Complete(ctx, a.endpoint, call.RequestID, enc.body, a.cred.headers, func(resp *http.Response) error {
		return a.statusError(resp, call)
	})
	if err != nil {
		return nil, err
	}
	res, err := decodeResponse(ans.Data, enc.prefill)
	if err != nil {
		return nil, a.decodeError(err, ans.Status, call)
	}
	res.TTFT = ans.TTFT
	return res, nil
}

// Stream implements adapters.Streamer.
func (a *Adapter) Stream(ctx context.Context, call *adapters.Call, onDelta func(adapters.Delta) error) (*adapters.Result, error) {
	enc, err := a.encode(call, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.http.Bound(ctx)
	defer cancel()
	// reqCtx lets us abandon the post-message_stop drain without touching the caller's context.
	reqCtx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	start := time.Now()
	deltas := httpx.NewDeltas(start, onDelta)
	resp, err := a.http.Post(reqCtx, a.endpoint, call.RequestID, enc.body, true, a.cred.headers)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if !httpx.OK(resp) {
		return nil, a.statusError(resp, call)
	}
	if httpx.IsJSON(resp) {
		// The server ignored "stream" (or answered an error in JSON): take the whole body and
		// replay it as deltas.
		data, err := a.http.ReadBody(ctx, resp)
		if err != nil {
			return nil, err
		}
		return httpx.ReplayJSON(data, &deltas, func(data []byte) (*adapters.Result, error) {
			res, err := decodeResponse(data, enc.prefill)
			if err != nil {
				return nil, a.decodeError(err, resp.StatusCode, call)
			}
			return res, nil
		})
	}

	st := streamState{prefill: enc.prefill}
	rd := a.http.Events(resp.Body)
	for !st.done {
		ev, err := rd.Next()
		if err != nil {
			return nil, a.http.StreamError(ctx, err, "message_stop")
		}
		if err := st.add(ev.Type, ev.Data, deltas.Emit); err != nil {
			if err := deltas.Refused(); err != nil {
				return nil, err
			}
			return nil, a.decodeError(err, resp.StatusCode, call)
		}
	}
	res, err := st.result(deltas.Emit)
	if err != nil {
		if err := deltas.Refused(); err != nil {
			return nil, err
		}
		return nil, a.decodeError(err, resp.StatusCode, call)
	}
	res.TTFT = deltas.TTFT()
	httpx.Drain(resp.Body, cancelReq)
	return res, nil
}

// decodeError turns a decode failure or an in-body provider error into an adapters.Error. status
// is the HTTP status of the response (0 inside a stream).
func (a *Adapter) decodeError(err error, status int, call *adapters.Call) *adapters.Error {
	var pe *providerError
	if errors.As(err, &pe) {
		return a.classify(0, pe.err, call)
	}
	return a.http.MalformedAnswer(err, status)
}

// statusError maps a non-2xx response to an adapters.Error.
func (a *Adapter) statusError(resp *http.Response, call *adapters.Call) *adapters.Error {
	data := httpx.ReadErrorBody(resp)
	var eb errorBody
	if len(data) > 0 && json.Unmarshal(data, &eb) != nil {
		eb.Error = nil // not Anthropic's envelope (an HTML page from a proxy, ...): never quote it
	}
	e := a.classify(resp.StatusCode, eb.Error, call)
	now := time.Now()
	e.RetryAfter = httpx.RetryAfter(resp.Header, now)
	if e.RetryAfter == 0 && e.Kind == adapters.RateLimited {
		e.RetryAfter = rateLimitReset(resp.Header, now)
	}
	return e
}

// rateLimitBuckets are the anthropic-ratelimit-<bucket>-{remaining,reset} header families.
var rateLimitBuckets = []string{"requests", "tokens", "input-tokens", "output-tokens"}

// rateLimitReset reads, for a 429 without retry-after, when the exhausted rate-limit buckets
// refill: the latest anthropic-ratelimit-<bucket>-reset (an RFC 3339 time) among the buckets whose
// remaining count is 0, capped at one hour like httpx.RetryAfter. 0 if none says.
func rateLimitReset(h http.Header, now time.Time) time.Duration {
	var wait time.Duration
	for _, b := range rateLimitBuckets {
		if strings.TrimSpace(h.Get("Anthropic-Ratelimit-"+b+"-Remaining")) != "0" {
			continue
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(h.Get("Anthropic-Ratelimit-"+b+"-Reset")))
		if err == nil {
			wait = max(wait, t.Sub(now))
		}
	}
	return min(wait, time.Hour)
}

// Error codes (error.details.error_code) that no retry will fix before someone acts: spend limits
// reached. Anthropic sends them with 429 rate_limit_error or 400.
var blockedCodes = map[string]bool{
	"enforced_spend_limit_reached": true, "contract_spend_limit_reached": true,
	"linked_organization_spend_limit_reached": true, "linked_organization_billing_unavailable": true,
	"organization_on_hold": true, "user_profile_not_billable": true, "user_profile_billing_not_authorized": true,
}

// classify maps an HTTP status (0 for an error inside a 200 body or a stream) and Anthropic's
// error object. The status decides, as httpx.KindForStatus maps it; the message refines 400s
// (context length, content filter), and spend-limit codes make a 429 an Auth failure (retrying
// cannot help). Inside a stream the error type decides: overloaded_error is Unavailable,
// rate_limit_error RateLimited, api_error Internal, and so on.
//
// 413 request_too_large stays InvalidRequest: it is about the request's bytes (32 MB, images and
// documents included), not about tokens, so a model with a larger context would not help.
func (a *Adapter) classify(status int, ae *apiError, call *adapters.Call) *adapters.Error {
	e := httpx.StatusError(a.http.Name(), status)
	if ae == nil {
		return e
	}
	if len(ae.Type) <= 64 {
		e.Code = ae.Type
	}
	code := ""
	if ae.Details != nil && len(ae.Details.ErrorCode) <= 64 {
		code = ae.Details.ErrorCode
		if code != "" {
			e.Code = code
		}
	}
	e.Message = httpx.CleanMessage(ae.Message, a.cred.secrets, httpx.PromptTexts(call))
	msg := strings.ToLower(ae.Message)
	switch {
	case strings.Contains(msg, "prompt is too long") || strings.Contains(msg, "exceed context limit") ||
		strings.Contains(msg, "context window"):
		e.Kind = adapters.ContextTooLong
	case strings.Contains(msg, "content filtering") || strings.Contains(msg, "content policy"):
		e.Kind = adapters.ContentFiltered
	case blockedCodes[code] || ae.Type == "billing_error":
		e.Kind = adapters.Auth
	case status == 0:
		e.Kind = kindForType(ae.Type)
	}
	return e
}

// kindForType maps Anthropic's error type when no HTTP status says more (a mid-stream error).
func kindForType(t string) adapters.Kind {
	switch t {
	case "invalid_request_error", "not_found_error", "request_too_large", "conflict_error":
		return adapters.InvalidRequest
	case "authentication_error", "permission_error", "billing_error":
		return adapters.Auth
	case "rate_limit_error":
		return adapters.RateLimited
	case "overloaded_error":
		return adapters.Unavailable
	case "timeout_error":
		return adapters.Timeout
	}
	return adapters.Internal // api_error and types added later
}

// validVersion accepts a YYYY-MM-DD date.
func validVersion(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != 4 && i != 7 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}
