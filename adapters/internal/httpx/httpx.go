// Package httpx holds the HTTP plumbing that every provider adapter shares: a tuned default client,
// capped body reads, Retry-After parsing, and the mapping of transport failures and HTTP statuses
// onto adapters.Kind; the Endpoint (an adapter's validated name, API root, client, static headers,
// caps and timeout, with the calls that use them: post, read, stream, replay); and the
// decode-failure helpers (MalformedError, JSONErrorSummary) that never quote a response.
//
// What stays in each adapter: its URL shapes, its auth and version headers, its wire types and
// converters, and the classification of its provider's error bodies and codes. httpx imports
// only adapters, adapters/sse and schemas from the project.
package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/adapters"
)

// DefaultMaxBody is the default cap on a response body, streamed or not.
const DefaultMaxBody = 16 << 20

// RequestIDHeader carries the Switchyard request id to the provider. Real providers ignore it;
// the simulator counts calls per request id with it (duplicate provider calls = cost).
const RequestIDHeader = "X-Switchyard-Request-Id"

// UserAgent is sent on every provider request.
const UserAgent = "switchyard"

// ErrTooLarge is returned by ReadCapped and LimitReader past their cap.
var ErrTooLarge = errors.New("response body too large")

var defaultClient = &http.Client{Transport: newTransport()}

// DefaultClient is shared by adapters whose config names no client. It has no overall timeout:
// every call carries a context deadline instead, so that a slow stream is bounded as a whole.
func DefaultClient() *http.Client { return defaultClient }

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256 // many concurrent calls to few hosts; the default of 2 churns connections
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// ReadCapped reads r whole, failing with ErrTooLarge past max bytes without reading (much) more.
// sizeHint is the Content-Length if known (-1 otherwise); a hint over max fails at once.
func ReadCapped(r io.Reader, max, sizeHint int64) ([]byte, error) {
	if sizeHint > max {
		return nil, ErrTooLarge
	}
	size := int64(4096)
	if sizeHint > 0 {
		size = sizeHint + 1 // +1 so that ReadFrom sees EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			// Double (append grows large slices by only 1.25x, which churns memory on a big
			// body), but never past the cap.
			nb := make([]byte, len(buf), min(2*int64(cap(buf)), max+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// LimitReader returns a reader that fails with ErrTooLarge once more than max bytes were read.
func LimitReader(r io.Reader, max int64) io.Reader { return &limitReader{r: r, left: max} }

type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, ErrTooLarge
	}
	return n, err
}

// RetryAfter reads how long the provider asked us to wait: "retry-after-ms" (OpenAI) first, then
// "Retry-After" as seconds or an HTTP date. It returns 0 when absent or unparseable, and caps the
// wait at one hour so that a bogus header cannot park a provider for days.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 {
			d = time.Duration(ms * float64(time.Millisecond))
		}
	}
	if d == 0 {
		if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
			if s, err := strconv.ParseFloat(v, 64); err == nil {
				if s > 0 {
					d = time.Duration(s * float64(time.Second))
				}
			} else if t, err := http.ParseTime(v); err == nil {
				d = t.Sub(now)
			}
		}
	}
	return min(max(d, 0), time.Hour)
}

// KindForStatus is the default mapping of an HTTP error status; adapters refine 400s with the
// provider's error code.
func KindForStatus(status int) adapters.Kind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return adapters.Auth
	case status == http.StatusRequestTimeout:
		return adapters.Timeout
	case status == http.StatusTooManyRequests:
		return adapters.RateLimited
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable ||
		status == http.StatusGatewayTimeout || status == 529: // 529: overloaded (Anthropic)
		return adapters.Unavailable
	case status >= 500:
		return adapters.Internal
	case status >= 400:
		return adapters.InvalidRequest
	}
	return adapters.Malformed // a 1xx/3xx where an answer was expected
}

// ContextError classifies a failure that happened while ctx was done: Timeout for a deadline,
// Canceled otherwise. It returns nil if ctx is not done.
func ContextError(ctx context.Context, provider string, cause error) *adapters.Error {
	ctxErr := ctx.Err()
	if ctxErr == nil {
		return nil
	}
	kind, msg := adapters.Canceled, "call canceled"
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		kind, msg = adapters.Timeout, "deadline exceeded"
	}
	return &adapters.Error{Provider: provider, Kind: kind, Message: msg, Err: stripURL(cause)}
}

// TransportError classifies an error from http.Client.Do: no response was received.
func TransportError(ctx context.Context, provider string, err error) *adapters.Error {
	if e := ContextError(ctx, provider, err); e != nil {
		return e
	}
	err = stripURL(err)
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return &adapters.Error{Provider: provider, Kind: adapters.Timeout, Message: "no response in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &adapters.Error{Provider: provider, Kind: adapters.Canceled, Message: "call canceled", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &adapters.Error{Provider: provider, Kind: adapters.Unavailable, Message: "connection refused", Err: err}
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &adapters.Error{Provider: provider, Kind: adapters.Unavailable, Message: "connection closed before a response", Err: err}
	}
	// DNS failures, TLS failures and anything else that kept us from getting an answer.
	return &adapters.Error{Provider: provider, Kind: adapters.Unavailable, Message: "request failed", Err: err}
}

// BodyError classifies a failure while reading a response body after a success status: the
// answer was cut (Malformed), too large (Malformed), or the context ended.
func BodyError(ctx context.Context, provider string, err error) *adapters.Error {
	if e := ContextError(ctx, provider, err); e != nil {
		return e
	}
	if errors.Is(err, ErrTooLarge) {
		return &adapters.Error{Provider: provider, Kind: adapters.Malformed, Message: "response too large", Err: err}
	}
	return &adapters.Error{Provider: provider, Kind: adapters.Malformed, Message: "response cut", Err: stripURL(err)}
}

// stripURL drops the request URL from a *url.Error: the error keeps its cause, and a URL (which
// for some providers could carry credentials) never reaches an error string.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// HeaderValue makes s safe to send as a header value: printable ASCII passes unchanged (up to
// 256 bytes), anything else is percent-encoded, so that a CR/LF-laden request id can neither
// break the request nor inject a header.
func HeaderValue(s string) string {
	const maxLen = 256
	ok := len(s) <= maxLen
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] > ' ' && s[i] < 0x7f
	}
	if ok {
		return s
	}
	s = url.QueryEscape(s)
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return s
}

// MaxErrorBody bounds how much of an error response is read.
const MaxErrorBody = 64 << 10

// ReadErrorBody reads the body of an error response, up to MaxErrorBody; nil if it is larger or
// cannot be read (the status alone then describes the failure).
func ReadErrorBody(resp *http.Response) []byte {
	data, _ := ReadCapped(resp.Body, MaxErrorBody, -1)
	return data
}

// StatusError is the Error for an HTTP error status before the provider's error object refines
// it: Kind by KindForStatus, the status line as Message. Status 0 (an error object inside a 200
// or a stream) is Kind Internal with no message until the object says more.
func StatusError(provider string, status int) *adapters.Error {
	e := &adapters.Error{Provider: provider, Status: status, Kind: adapters.Internal}
	if status != 0 {
		e.Kind = KindForStatus(status)
		e.Message = strconv.Itoa(status) + " " + http.StatusText(status)
	}
	return e
}

// PromptTexts lists the call's texts (message contents and text parts), for CleanMessage to keep
// out of a provider's error message.
func PromptTexts(call *adapters.Call) []string {
	if call == nil {
		return nil
	}
	var out []string
	for i := range call.Messages {
		m := &call.Messages[i]
		if m.Content != "" {
			out = append(out, m.Content)
		}
		for j := range m.Parts {
			if m.Parts[j].Text != "" {
				out = append(out, m.Parts[j].Text)
			}
		}
	}
	return out
}

// CleanMessage prepares a provider's error message for an Error: every occurrence of a secret or
// of a prompt text is replaced, and the result is cut to maxLen bytes on a rune boundary.
func CleanMessage(msg string, secrets []string, prompts []string) string {
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, adapters.Redacted)
		}
	}
	for _, p := range prompts {
		// Short texts ("hi", "yes") would blank out ordinary words; a prompt quoted back is long.
		if len(p) >= 16 && strings.Contains(msg, p) {
			msg = strings.ReplaceAll(msg, p, "[PROMPT]")
		}
	}
	const maxLen = 512
	if len(msg) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return strings.ToValidUTF8(msg, "\uFFFD")
}
