package httpx

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/sse"
)

// DefaultTimeout bounds a call whose context has no deadline, unless the adapter's config says
// otherwise.
const DefaultTimeout = 10 * time.Minute

// EndpointConfig holds the settings every adapter's Config has, and the adapter's defaults for
// them. Each field's meaning and default is documented on the adapters' Config.
type EndpointConfig struct {
	Name        string // "" means DefaultName
	DefaultName string
	BaseURL     string // "" means DefaultBaseURL
	// DefaultBaseURL is the provider's API root.
	DefaultBaseURL string
	HTTPClient     *http.Client // nil means the shared client, without redirects
	Headers        map[string]string
	// Reserved names (canonical form) the headers the adapter sets itself besides the ones
	// every adapter sets (its key and version headers): Headers may not override them.
	Reserved         []string
	MaxResponseBytes int64 // 0 means DefaultMaxBody
	MaxEventBytes    int   // 0 means sse.DefaultMaxEventSize
	Timeout          time.Duration
}

// Endpoint is the HTTP side of one adapter: its provider name, API root, client, static headers,
// body and event caps and default timeout, validated once by NewEndpoint. It holds no key: the
// adapter passes its auth header to Post with each call. It is safe for concurrent use.
type Endpoint struct {
	name     string
	baseURL  string // without a trailing '/'
	client   *http.Client
	headers  http.Header
	maxBody  int64
	maxEvent int
	timeout  time.Duration
}

var noRedirectClient = &http.Client{
	Transport:     DefaultClient().Transport,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// commonHeaders are set by Post or by net/http, or carry a credential (Authorization, which
// every adapter reserves whether or not it sends it); Config.Headers may not override them.
var commonHeaders = map[string]bool{
	"Authorization": true, "Content-Type": true, "Accept": true, "User-Agent": true, "Host": true,
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	http.CanonicalHeaderKey(RequestIDHeader): true,
}

// NewEndpoint validates cfg and applies its defaults. It appends one line to *problems for each
// fault it finds, in the words of the adapter's Config fields, so that the adapter can report
// them together with its own. It returns the parsed base URL for the adapter's own checks, or
// nil if the base URL has a problem.
func NewEndpoint(cfg EndpointConfig, problems *[]string) (*Endpoint, *url.URL) {
	bad := func(format string, args ...any) { *problems = append(*problems, fmt.Sprintf(format, args...)) }
	e := &Endpoint{
		name:     cfg.Name,
		client:   cfg.HTTPClient,
		headers:  http.Header{},
		maxBody:  cfg.MaxResponseBytes,
		maxEvent: cfg.MaxEventBytes,
		timeout:  cfg.Timeout,
	}
	if e.name == "" {
		e.name = cfg.DefaultName
	} else if !validName(e.name) {
		bad("Name %q: use lower-case letters, digits, '_', '-' or '.'", e.name)
	}
	base := cfg.BaseURL
	if base == "" {
		base = cfg.DefaultBaseURL
	}
	e.baseURL = strings.TrimRight(base, "/")
	u, err := url.Parse(base)
	if problem := baseURLProblem(u, err); problem != "" {
		bad("BaseURL: %s", problem)
		u = nil
	}
	if e.client == nil {
		e.client = noRedirectClient
	}
	for k, v := range cfg.Headers {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case !ValidToken(k):
			bad("Headers: invalid header name %q", k)
		case commonHeaders[ck] || slices.Contains(cfg.Reserved, ck):
			bad("Headers: %s is set by the adapter", ck)
		case strings.ContainsAny(v, "\r\n\x00"):
			bad("Headers: value of %s contains CR, LF or NUL", ck)
		default:
			e.headers[ck] = []string{v}
		}
	}
	switch {
	case e.maxBody < 0:
		bad("MaxResponseBytes: must not be negative")
	case e.maxBody == 0:
		e.maxBody = DefaultMaxBody
	}
	switch {
	case e.maxEvent < 0:
		bad("MaxEventBytes: must not be negative")
	case e.maxEvent == 0:
		e.maxEvent = sse.DefaultMaxEventSize
	}
	switch {
	case e.timeout < 0:
		bad("Timeout: must not be negative")
	case e.timeout == 0:
		e.timeout = DefaultTimeout
	}
	return e, u
}

// baseURLProblem says what is wrong with a parsed base URL, or "".
func baseURLProblem(u *url.URL, err error) string {
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("scheme must be http or https, got %q", u.Scheme)
	case u.Host == "":
		return "no host"
	case u.User != nil:
		return "must not contain user info (put the key in APIKey)"
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "must not contain a query or fragment (put the key in APIKey)"
	}
	return ""
}

// Name is the provider name reported in errors.
func (e *Endpoint) Name() string { return e.name }

// BaseURL is the API root, without a trailing '/'.
func (e *Endpoint) BaseURL() string { return e.baseURL }

// MaxBody is the cap on a response body.
func (e *Endpoint) MaxBody() int64 { return e.maxBody }

// Timeout bounds a call whose context has no deadline.
func (e *Endpoint) Timeout() time.Duration { return e.timeout }

// Bound gives ctx the endpoint's default deadline if it has none: every provider call must end.
func (e *Endpoint) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, e.timeout)
}

var (
	hdrJSON      = []string{"application/json"}
	hdrSSE       = []string{"text/event-stream"}
	hdrUserAgent = []string{UserAgent}
)

// Post sends body to url as JSON, asking for JSON or, when stream is set, server-sent events. The
// request carries the static headers, Content-Type, Accept, User-Agent, the request id (when
// set, made safe by HeaderValue) and last the adapter's own headers (its key, its version
// headers), which own holds ready-made. A failure to get a response is classified by
// TransportError.
func (e *Endpoint) Post(ctx context.Context, url string, requestID string, body []byte, stream bool, own http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, &adapters.Error{Provider: e.name, Kind: adapters.Internal, Message: "cannot build request", Err: err}
	}
	h := req.Header
	for k, v := range e.headers {
		h[k] = v
	}
	// The shared slices are never appended to: each has len == cap.
	h["Content-Type"] = hdrJSON
	h["Accept"] = hdrJSON
	if stream {
		h["Accept"] = hdrSSE
	}
	h["User-Agent"] = hdrUserAgent
	for k, v := range own {
		h[k] = v
	}
	if requestID != "" {
		h[RequestIDHeader] = []string{HeaderValue(requestID)}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, TransportError(ctx, e.name, err)
	}
	return resp, nil
}

// Answer is the whole body of a successful non-streaming call.
type Answer struct {
	Data   []byte
	Status int           // the 2xx status
	TTFT   time.Duration // from sending to the response's headers
}

// Complete makes a non-streaming call: it posts body to url (as Post does) under the endpoint's
// default deadline, and returns the whole 2xx body. A non-2xx response goes to statusError, the
// adapter's, which reads what it needs of the body and returns the classified error.
func (e *Endpoint) Complete(ctx context.Context, url, requestID string, body []byte, own http.Header, statusError func(*http.Response) error) (Answer, error) {
	ctx, cancel := e.Bound(ctx)
	defer cancel()
	start := time.Now()
	resp, err := e.Post(ctx, url, requestID, body, false, own)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	ttft := time.Since(start)
	if !OK(resp) {
		return Answer{}, statusError(resp)
	}
	data, err := e.ReadBody(ctx, resp)
	if err != nil {
		return Answer{}, err
	}
	return Answer{Data: data, Status: resp.StatusCode, TTFT: ttft}, nil
}

// OK reports whether resp has a success status.
func OK(resp *http.Response) bool { return resp.StatusCode >= 200 && resp.StatusCode <= 299 }

// IsJSON reports whether resp is a JSON body: where a stream was asked for, the server ignored
// "stream" (or a proxy did) and sent the whole answer.
func IsJSON(resp *http.Response) bool {
	return strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
}

// ReadBody reads a whole response body under the endpoint's cap; a failure is classified by
// BodyError.
func (e *Endpoint) ReadBody(ctx context.Context, resp *http.Response) ([]byte, error) {
	data, err := ReadCapped(resp.Body, e.maxBody, resp.ContentLength)
	if err != nil {
		return nil, BodyError(ctx, e.name, err)
	}
	return data, nil
}

// validName reports whether s is a usable provider name: lower-case letters, digits, '_', '-'
// and '.'.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return s != ""
}

// PrintableASCII reports whether s holds only printable ASCII without spaces, as a key or a
// provider code must.
func PrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// ValidToken reports whether s is an RFC 7230 token (a valid header name, a beta feature name).
func ValidToken(s string) bool {
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
