// Package gemini is the Switchyard adapter for the Google Gemini API (the Generative Language API
// at generativelanguage.googleapis.com, not Vertex AI): POST
// {BaseURL}/{APIVersion}/models/{model}:generateContent, and :streamGenerateContent?alt=sse for
// streaming.
//
// Wire types are private; encodeRequest and decodeResponse/streamState are the converter pair
// between adapters.Call/Result and Gemini's JSON. Only the project's adapters and schemas packages
// (and toolschema, which compiles the canonical tool schema into Gemini's OpenAPI subset) are
// imported.
//
// Headers sent: x-goog-api-key: <key> (when a key is set; the key is never put in the URL, which
// ends up in error strings and logs), Content-Type, Accept, User-Agent: switchyard, the static
// Config.Headers, and X-Switchyard-Request-Id carrying Call.RequestID. The request id never
// enters the body.
//
// How Gemini's shapes map onto the canonical ones:
//
//   - system and developer messages become systemInstruction; assistant turns are role "model";
//     tool results go back as functionResponse parts of a "user" content (consecutive results in
//     one content), named by Message.Name or by the earlier call with that ToolCallID.
//   - Gemini's function calls usually carry no id. The adapter gives such a call the id
//     "call_<n>" (n: its index in the answer), so that a tool result can refer to it; these
//     synthetic ids are never sent back to Gemini, while an id Gemini issued is.
//   - Gemini 3 signs function calls (thoughtSignature) and rejects a history whose current turn
//     holds an unsigned one. The signature travels as ToolCall.Signature (and
//     ResponseToolCall.Signature to the caller, who sends it back with the call in the next
//     turn's history); the adapter returns it unchanged. A history call without one (from
//     another provider, after a failover) gets Google's documented placeholder
//     ("skip_thought_signature_validator") on the first function call of each model step, for
//     every model but Gemini 1.x/2.x and Gemma.
//   - Usage: InputTokens is promptTokenCount (cached tokens included, CachedTokens says how
//     many) plus toolUsePromptTokenCount; OutputTokens is candidatesTokenCount plus
//     thoughtsTokenCount (thinking is billed as output), ReasoningTokens the thoughts alone.
//   - A prompt blocked by Gemini (promptFeedback.blockReason, no candidates, HTTP 200) is an
//     Error of Kind ContentFiltered with Status 200, never a result.
//   - finishReason MALFORMED_FUNCTION_CALL (and UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS) is an
//     Error of Kind Malformed: the answer holds no usable call, and the same call may succeed.
//   - Gemini streams have no end marker: a stream is complete only when a chunk carried a
//     finishReason and the body ended cleanly; anything else is Kind Malformed.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/internal/httpx"
)

// DefaultBaseURL is the Gemini API's root.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// DefaultAPIVersion is the API version the adapter uses unless told otherwise.
const DefaultAPIVersion = "v1beta"

const googleHost = "generativelanguage.googleapis.com"

// Config configures an Adapter. The zero value of each field means its documented default.
type Config struct {
	// Name is the provider name reported by Name() and in errors. Lower-case letters, digits,
	// '_', '-' and '.'. Default "gemini".
	Name string
	// BaseURL is the API root, without the version, e.g. https://generativelanguage.googleapis.com
	// or http://127.0.0.1:8400 (the simulator). http or https, no user info, query or fragment.
	// Default DefaultBaseURL.
	BaseURL string
	// APIVersion is the path segment after BaseURL: "v1beta" (needed for systemInstruction,
	// tools and JSON schemas on most models), "v1" or "v1alpha". Default DefaultAPIVersion.
	APIVersion string
	// APIKey is sent as the x-goog-api-key header, and only there. Required for
	// generativelanguage.googleapis.com; optional for other endpoints.
	APIKey adapters.Secret
	// HTTPClient sends the requests. Default: a shared client with a connection pool sized for
	// many concurrent calls, no overall timeout (calls are bounded by their context) and no
	// redirects.
	HTTPClient *http.Client
	// Headers are extra static headers (e.g. x-goog-user-project). They may not override
	// x-goog-api-key, Authorization, Content-Type, Accept, User-Agent, Host, Content-Length or
	// the request-id header. They are not redacted: put no secret here. Default none.
	Headers map[string]string
	// MaxResponseBytes caps a response body, streamed or not; past it the call fails with
	// Kind Malformed. Default 16 MiB.
	MaxResponseBytes int64
	// MaxEventBytes caps one SSE line or event. Default sse.DefaultMaxEventSize (4 MiB).
	MaxEventBytes int
	// Timeout bounds a call whose context has no deadline. Default 10 minutes.
	Timeout time.Duration
	// Capabilities overrides what the adapter declares, for every model. Default: the model
	// table (see ModelCapabilities), and for Capabilities() everything Gemini supports except
	// prefill, MaxContext 1048576, MaxOutput 8192.
	Capabilities *adapters.Capabilities
}

// Adapter calls the Gemini API. It is safe for concurrent use.
type Adapter struct {
	http     *httpx.Endpoint
	prefix   string       // baseURL + "/" + version + "/models/"
	cred     *credentials // behind a pointer so that printing a copy of Adapter shows an address
	caps     adapters.Capabilities
	override bool          // caps came from Config.Capabilities
	maxBody  int64         // http.MaxBody(), read by the tests of the defaults
	timeout  time.Duration // http.Timeout(), read by the tests of the defaults
}

// credentials holds the key material; never printed (see Format).
type credentials struct {
	headers http.Header // {"X-Goog-Api-Key": {"<key>"}}, nil without a key
	secrets []string    // strings scrubbed from provider messages
}

var (
	_ adapters.Adapter       = (*Adapter)(nil)
	_ adapters.Streamer      = (*Adapter)(nil)
	_ adapters.ModelCapabler = (*Adapter)(nil)
)

const keyHeader = "X-Goog-Api-Key"

// New validates cfg and returns an Adapter; the error lists every problem (*adapters.ConfigError).
func New(cfg Config) (*Adapter, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	a := &Adapter{caps: defaultCaps, cred: &credentials{}}
	var u *url.URL
	a.http, u = httpx.NewEndpoint(httpx.EndpointConfig{
		Name: cfg.Name, DefaultName: "gemini", BaseURL: cfg.BaseURL, DefaultBaseURL: DefaultBaseURL,
		HTTPClient: cfg.HTTPClient, Headers: cfg.Headers, Reserved: []string{keyHeader},
		MaxResponseBytes: cfg.MaxResponseBytes, MaxEventBytes: cfg.MaxEventBytes, Timeout: cfg.Timeout,
	}, &problems)
	a.maxBody, a.timeout = a.http.MaxBody(), a.http.Timeout()
	version := cfg.APIVersion
	if version == "" {
		version = DefaultAPIVersion
	} else if !validVersion(version) {
		bad("APIVersion %q: use letters and digits, e.g. v1beta", version)
	}
	a.prefix = a.http.BaseURL() + "/" + version + "/models/"
	if key := cfg.APIKey.Reveal(); key != "" {
		if !httpx.PrintableASCII(key) {
			bad("APIKey: must be printable ASCII without spaces")
		} else {
			a.cred.headers = http.Header{keyHeader: {key}}
			a.cred.secrets = []string{key}
		}
	} else if u != nil && u.Hostname() == googleHost {
		bad("APIKey: required for %s", googleHost)
	}
	if c := cfg.Capabilities; c != nil {
		if c.MaxContext < 0 || c.MaxOutput < 0 {
			bad("Capabilities: MaxContext and MaxOutput must not be negative")
		}
		a.caps, a.override = *c, true
	}
	if len(problems) > 0 {
		return nil, &adapters.ConfigError{Provider: "gemini", Problems: problems}
	}
	return a, nil
}

// Name implements adapters.Adapter.
func (a *Adapter) Name() string { return a.http.Name() }

// Capabilities implements adapters.Adapter.
func (a *Adapter) Capabilities() adapters.Capabilities { return a.caps }

// BaseURL returns the configured API root.
func (a *Adapter) BaseURL() string { return a.http.BaseURL() }

// Format prints the adapter without its key for every verb (fmt would otherwise print unexported
// fields raw). It has a value receiver so that a copy of an Adapter is covered too.
func (a Adapter) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "gemini.Adapter{name=%s base_url=%s}", a.http.Name(), a.http.BaseURL())
}

// Complete implements adapters.Adapter.
func (a *Adapter) Complete(ctx context.Context, call *adapters.Call) (*adapters.Result, error) {
	body, err := encodeRequest(call)
	if err != nil {
		return nil, a.invalid(err)
	}
	ans, err := a.http.Complete(ctx, a.endpoint(call.Model, false), call.RequestID, body, a.cred.headers, func(resp *http.Response) error {
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
	body, err := encodeRequest(call)
	if err != nil {
		return nil, a.invalid(err)
	}
	ctx, cancel := a.http.Bound(ctx)
	defer cancel()
	start := time.Now()
	deltas := httpx.NewDeltas(start, onDelta)
	resp, err := a.http.Post(ctx, a.endpoint(call.Model, true), call.RequestID, body, true, a.cred.headers)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if !httpx.OK(resp) {
		return nil, a.statusError(resp, call)
	}
	if httpx.IsJSON(resp) {
		// alt=sse was ignored (by a proxy, say): take the whole answer, one response or the JSON
		// array of chunks Google sends without alt=sse, and replay it as deltas.
		return a.replayJSON(ctx, resp, call, &deltas)
	}
	var st streamState
	rd := a.http.Events(resp.Body)
	// Gemini has no end marker: the stream ends with the body, and is complete only if a chunk
	// carried a finishReason.
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, a.http.StreamError(ctx, err, "")
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
	return res, nil
}

func (a *Adapter) replayJSON(ctx context.Context, resp *http.Response, call *adapters.Call, deltas *httpx.Deltas) (*adapters.Result, error) {
	data, err := a.http.ReadBody(ctx, resp)
	if err != nil {
		return nil, err
	}
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		// streamGenerateContent's answer without alt=sse: a JSON array of the chunks.
		return a.replayArray(trimmed, resp.StatusCode, call, deltas)
	}
	return httpx.ReplayJSON(data, deltas, func(data []byte) (*adapters.Result, error) {
		res, err := decodeResponse(data)
		if err != nil {
			return nil, a.decodeError(err, resp.StatusCode, call)
		}
		return res, nil
	})
}

func (a *Adapter) replayArray(data []byte, status int, call *adapters.Call, deltas *httpx.Deltas) (*adapters.Result, error) {
	var chunks []json.RawMessage
	if err := json.Unmarshal(data, &chunks); err != nil {
		return nil, a.decodeError(malformed("invalid JSON array of chunks: %v", httpx.JSONErrorSummary(err)), status, call)
	}
	var st streamState
	ttft := deltas.TTFT() // the whole answer is there: its first token came with it
	for _, c := range chunks {
		err := st.add(c, deltas.Emit)
		if err := deltas.Refused(); err != nil {
			return nil, err
		}
		if err != nil {
			return nil, a.decodeError(err, status, call)
		}
	}
	res, err := st.result()
	if err != nil {
		return nil, a.decodeError(err, status, call)
	}
	res.TTFT = ttft
	return res, nil
}

// endpoint is the URL of a call. A "models/" prefix on the model name (the form Google's own
// listings use) is accepted; the name is path-escaped so that it cannot add a query or segments.
func (a *Adapter) endpoint(model string, stream bool) string {
	model = strings.TrimPrefix(model, "models/")
	if stream {
		return a.prefix + url.PathEscape(model) + ":streamGenerateContent?alt=sse"
	}
	return a.prefix + url.PathEscape(model) + ":generateContent"
}

func (a *Adapter) invalid(err error) *adapters.Error {
	return &adapters.Error{Provider: a.http.Name(), Kind: adapters.InvalidRequest, Message: "invalid call: " + err.Error()}
}

// decodeError turns a decode failure, a blocked prompt or an in-body provider error into an
// adapters.Error.
func (a *Adapter) decodeError(err error, status int, call *adapters.Call) *adapters.Error {
	if pe, ok := errors.AsType[*providerError](err); ok {
		e := a.classify(0, pe.err, call)
		e.Status = status
		if e.Kind == adapters.InvalidRequest {
			// An error object inside a 200 (or mid-stream) that does not say otherwise: the
			// provider failed after accepting the call.
			e.Kind = adapters.Internal
		}
		return e
	}
	if be, ok := errors.AsType[*blockedError](err); ok {
		msg := "prompt blocked (" + be.reason + ")"
		if be.message != "" {
			msg += ": " + a.clean(be.message, call)
		}
		return &adapters.Error{Provider: a.http.Name(), Kind: adapters.ContentFiltered, Status: status, Code: codeOf(be.reason), Message: msg}
	}
	if me, ok := errors.AsType[*malformedError](err); ok {
		return &adapters.Error{Provider: a.http.Name(), Kind: adapters.Malformed, Status: status, Code: me.code, Message: me.msg}
	}
	return a.http.MalformedAnswer(err, status)
}

// statusError maps a non-2xx response to an adapters.Error.
func (a *Adapter) statusError(resp *http.Response, call *adapters.Call) *adapters.Error {
	data := httpx.ReadErrorBody(resp)
	var eb errorBody
	if len(data) > 0 && json.Unmarshal(data, &eb) != nil {
		eb.Error = nil // not Google's envelope (an HTML page from a proxy, ...): never quote it
	}
	e := a.classify(resp.StatusCode, eb.Error, call)
	if ra := httpx.RetryAfter(resp.Header, time.Now()); ra > 0 {
		e.RetryAfter = ra
	}
	return e
}

// classify maps an HTTP status (0 for an error inside a body or stream) and Google's error
// object.
func (a *Adapter) classify(status int, ae *apiError, call *adapters.Call) *adapters.Error {
	e := httpx.StatusError(a.http.Name(), status)
	if ae == nil {
		return e
	}
	if status == 0 {
		switch {
		case ae.Code >= 400:
			e.Kind = httpx.KindForStatus(ae.Code)
		default:
			e.Kind = kindForGoogleStatus(ae.Status)
		}
	}
	e.Code = codeOf(ae.Status)
	reason := ""
	for _, d := range ae.Details {
		switch {
		case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") && d.Reason != "":
			reason = d.Reason
			e.Code = codeOf(d.Reason)
		case strings.HasSuffix(d.Type, "google.rpc.RetryInfo"):
			e.RetryAfter = retryDelay(d.RetryDelay)
		}
	}
	e.Message = a.clean(ae.Message, call)
	msg := strings.ToLower(ae.Message)
	switch {
	case reason == "API_KEY_INVALID" || reason == "API_KEY_EXPIRED" || reason == "API_KEY_SERVICE_BLOCKED" ||
		strings.Contains(msg, "api key not valid") || strings.Contains(msg, "api key expired"):
		e.Kind = adapters.Auth
	case strings.Contains(msg, "input token count") && strings.Contains(msg, "exceeds the maximum") ||
		strings.Contains(msg, "exceeds the maximum number of tokens"):
		e.Kind = adapters.ContextTooLong
	case ae.Status == "PERMISSION_DENIED" || ae.Status == "UNAUTHENTICATED":
		e.Kind = adapters.Auth
	}
	return e
}

// kindForGoogleStatus maps a google.rpc.Code name, for an error object that has no HTTP code.
func kindForGoogleStatus(s string) adapters.Kind {
	switch s {
	case "RESOURCE_EXHAUSTED":
		return adapters.RateLimited
	case "UNAVAILABLE", "DEADLINE_EXCEEDED":
		return adapters.Unavailable
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE":
		return adapters.InvalidRequest
	case "UNAUTHENTICATED", "PERMISSION_DENIED":
		return adapters.Auth
	case "CANCELLED":
		return adapters.Unavailable // cancelled on Google's side, not by us
	}
	return adapters.Internal
}

// retryDelay parses google.rpc.RetryInfo's retryDelay, a protobuf Duration in JSON ("13s",
// "0.5s"); 0 if absent or odd, capped at one hour like Retry-After.
func retryDelay(s string) time.Duration {
	if !strings.HasSuffix(s, "s") {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0
	}
	return min(d, time.Hour)
}

// clean keeps the key and the call's texts out of a provider's message.
func (a *Adapter) clean(msg string, call *adapters.Call) string {
	return httpx.CleanMessage(msg, a.cred.secrets, httpx.PromptTexts(call))
}

// codeOf keeps a provider code short and printable.
func codeOf(s string) string {
	if len(s) > 64 || !httpx.PrintableASCII(s) {
		return ""
	}
	return s
}

func validVersion(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != "" && len(s) <= 16
}
