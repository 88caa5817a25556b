package sim

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
)

// OpenAI Chat Completions, as documented: request fields the simulator reads, and responses
// written by hand in exactly OpenAI's shapes.

type oaRequest struct {
	Model               string          `json:"model"`
	Messages            []oaMessage     `json:"messages"`
	Tools               []oaTool        `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	Stream              bool            `json:"stream"`
	StreamOptions       *oaStreamOpts   `json:"stream_options"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	ResponseFormat      *oaRespFormat   `json:"response_format"`
}

type oaStreamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaRespFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

type oaMessage struct {
	Role    string    `json:"role"`
	Content oaContent `json:"content"`
}

// oaContent is a message's text: a string, null, or an array of content parts.
type oaContent string

func (c *oaContent) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = oaContent(s)
	case bytes.Equal(b, []byte("null")):
		*c = ""
	case len(b) > 0 && b[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		var sb strings.Builder
		for _, p := range parts {
			if p.Type == "text" {
				sb.WriteString(p.Text)
			}
		}
		*c = oaContent(sb.String())
	default:
		return errors.New("content must be a string, null or an array of parts")
	}
	return nil
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// oaCall is the per-request scratch space, pooled.
type oaCall struct {
	body   []byte
	out    []byte
	pre    []byte // stream chunk prefix
	req    oaRequest
	p      prompt
	pieces []piece
	words  []string
}

var callPool = sync.Pool{New: func() any { return &oaCall{body: make([]byte, 0, 16<<10), out: make([]byte, 0, 8<<10)} }}

func (c *oaCall) reset() {
	msgs := c.req.Messages[:cap(c.req.Messages)]
	clear(msgs)
	tools := c.req.Tools[:cap(c.req.Tools)]
	clear(tools)
	c.req = oaRequest{Messages: msgs[:0], Tools: tools[:0]}
	c.p.reset()
	c.pieces, c.words = c.pieces[:0], c.words[:0]
}

// prompt reduces the request to what the simulated model reads.
func (c *oaCall) prompt() *prompt {
	req, p := &c.req, &c.p
	p.model, p.stream = req.Model, req.Stream
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			p.user = string(req.Messages[i].Content)
			break
		}
	}
	for i := range req.Messages {
		p.promptChars += len(req.Messages[i].Content) + 16
	}
	for i := range req.Tools {
		f := &req.Tools[i].Function
		p.promptChars += len(f.Name) + len(f.Parameters) + 16
		p.tools = append(p.tools, toolDef{name: f.Name, params: f.Parameters})
	}
	switch tc := req.ToolChoice; {
	case len(tc) > 0 && tc[0] == '{':
		var choice struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		_ = json.Unmarshal(tc, &choice)
		p.toolChoice, p.toolName = "tool", choice.Function.Name
	case len(tc) > 0 && tc[0] == '"':
		_ = json.Unmarshal(tc, &p.toolChoice)
	}
	if rf := req.ResponseFormat; rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema") {
		p.json = true
		if rf.Type == "json_schema" && rf.JSONSchema != nil {
			p.schema = rf.JSONSchema.Schema
		}
	}
	p.maxTokens = req.MaxTokens
	if req.MaxCompletionTokens > 0 {
		p.maxTokens = req.MaxCompletionTokens
	}
	return p
}

var (
	hdrJSON    = []string{"application/json"}
	hdrSSE     = []string{"text/event-stream; charset=utf-8"}
	hdrNoCache = []string{"no-cache"}
)

const requestIDHeader = "X-Switchyard-Request-Id"

var errBodyTooLarge = errors.New("request body too large")

func readBody(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	c := callPool.Get().(*oaCall)
	defer func() {
		if cap(c.body) <= 1<<20 && cap(c.out) <= 1<<20 { // do not pin huge buffers
			callPool.Put(c)
		}
	}()
	rid, body, ok := s.readRequest(w, r, c.body[:0], FormatOpenAI, "", false, openAIBadBody)
	c.body = body
	if !ok {
		return
	}
	c.reset()
	err := json.Unmarshal(body, &c.req)
	req := &c.req
	n, fault := s.arrive(r, FormatOpenAI, rid, req.Model, req.Stream)
	if err != nil {
		writeOpenAIError(w, http.StatusBadRequest, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "invalid_request_error", "", "")
		return
	}
	if s.cfg.APIKey != "" && !s.authorized(r) {
		writeOpenAIError(w, http.StatusUnauthorized, "Incorrect API key provided: "+maskedKey(r)+". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key")
		return
	}
	switch {
	case req.Model == "":
		writeOpenAIError(w, http.StatusBadRequest, "you must provide a model parameter", "invalid_request_error", "", "")
		return
	case len(req.Messages) == 0:
		writeOpenAIError(w, http.StatusBadRequest, "Missing required parameter: 'messages'.", "invalid_request_error", "messages", "missing_required_parameter")
		return
	}

	ctx := r.Context()
	p := c.prompt()
	p.fault = fault
	if s.preFault(w, r, FormatOpenAI, p, n, rid != "", writeOpenAIFault) {
		return
	}
	if fault == ModelStreamError && !req.Stream {
		writeOpenAIFault(w, http.StatusServiceUnavailable, errOverloaded, p)
		return
	}
	if !s.wait(ctx, s.latencyFor(req.Model).sample()) {
		return
	}
	if fault == ModelSlowFirstToken && !req.Stream && !s.wait(ctx, s.cfg.FirstTokenDelay) {
		return
	}
	if fault == ModelHuge {
		s.writeHuge(w, c)
		return
	}
	a := s.answerFor(p, r, c.body, "call_")
	if req.Stream {
		s.writeStream(w, r, c, &a)
		return
	}
	out := s.appendCompletion(c.out[:0], c, &a)
	c.out = out
	s.writeAnswer(ctx, w, fault, hdrJSON, out)
}

// openAIBadBody answers a request whose body could not be read.
func openAIBadBody(w http.ResponseWriter, tooLarge bool) {
	if tooLarge {
		writeOpenAIError(w, http.StatusRequestEntityTooLarge, "Request body too large.", "invalid_request_error", "", "request_too_large")
	} else {
		writeOpenAIError(w, http.StatusBadRequest, "Could not read the request body.", "invalid_request_error", "", "")
	}
}

func (s *Server) authorized(r *http.Request) bool {
	v := r.Header["Authorization"]
	if len(v) != 1 {
		return false
	}
	want := "Bearer " + s.cfg.APIKey
	return subtle.ConstantTimeCompare([]byte(v[0]), []byte(want)) == 1
}

// maskedKey mimics OpenAI's "sk-abc*****wxyz": never the whole key.
func maskedKey(r *http.Request) string {
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if len(key) < 12 {
		return "*****"
	}
	return key[:3] + "*****" + key[len(key)-4:]
}

func errorType(code int) string {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return "invalid_request_error"
	case code == http.StatusTooManyRequests:
		return "requests"
	case code >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// writeOpenAIFault writes a simulated failure with OpenAI's messages and codes.
func writeOpenAIFault(w http.ResponseWriter, status int, kind errKind, p *prompt) {
	const serverError = "The server had an error while processing your request. Sorry about that!"
	switch kind {
	case errRateLimited:
		msg := "Rate limit reached for requests."
		if ra := w.Header().Get("Retry-After"); ra != "" {
			msg = "Rate limit reached for requests. Please try again in " + ra + "s."
		}
		writeOpenAIError(w, status, msg, "requests", "", "rate_limit_exceeded")
	case errServer:
		writeOpenAIError(w, status, serverError, "server_error", "", "")
	case errOverloaded:
		writeOpenAIError(w, status, "The engine is currently overloaded, please try again later.", "server_error", "", "")
	case errInvalid:
		writeOpenAIError(w, status, "Invalid value for 'temperature': simulated invalid request.", "invalid_request_error", "temperature", "invalid_value")
	case errAuth:
		writeOpenAIError(w, status, "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key")
	case errNotFound:
		writeOpenAIError(w, status, "The model `"+p.model+"` does not exist or you do not have access to it.", "invalid_request_error", "", "model_not_found")
	case errContextLength:
		writeOpenAIError(w, status, "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.", "invalid_request_error", "messages", "context_length_exceeded")
	case errContentFilter:
		writeOpenAIError(w, status, "The response was filtered due to the prompt triggering content management policy. Please modify your prompt and retry.", "invalid_request_error", "prompt", "content_filter")
	default:
		writeOpenAIError(w, status, "Simulated error "+strconv.Itoa(status)+".", errorType(status), "", "")
	}
}

// writeOpenAIError writes {"error":{"message","type","param","code"}}.
func writeOpenAIError(w http.ResponseWriter, status int, msg, typ, param, code string) {
	b := make([]byte, 0, 128+len(msg))
	b = append(b, `{"error":{"message":`...)
	b = jsonw.String(b, msg)
	b = append(b, `,"type":`...)
	b = jsonw.NullString(b, typ)
	b = append(b, `,"param":`...)
	b = jsonw.NullString(b, param)
	b = append(b, `,"code":`...)
	b = jsonw.NullString(b, code)
	b = append(b, "}}\n"...)
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// resetConn drops the connection with a TCP RST where it can, without answering.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// echo renders the received headers (the auth headers redacted: the key is expected there and
// only there), the query string (not redacted: a key must never travel in a URL, and the canary
// test looks for it here) and the body as JSON.
func echo(r *http.Request, body []byte) string {
	h := make(map[string][]string, len(r.Header))
	for k, v := range r.Header {
		switch k {
		case "Authorization", "X-Api-Key", "X-Goog-Api-Key": // where each format expects its key
			v = []string{"[redacted by sim]"}
		}
		h[k] = v
	}
	out, err := json.Marshal(struct {
		Method  string              `json:"method"`
		Path    string              `json:"path"`
		Query   string              `json:"query"`
		Headers map[string][]string `json:"headers"`
		Body    json.RawMessage     `json:"body"`
	}{r.Method, r.URL.Path, r.URL.RawQuery, h, body})
	if err != nil {
		return `{"error":"cannot encode echo"}`
	}
	return string(out)
}

type schemaNode struct {
	Type       json.RawMessage            `json:"type"`
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	Enum       []json.RawMessage          `json:"enum"`
	Const      json.RawMessage            `json:"const"`
}

// valueFromSchema appends a value that satisfies the common JSON Schema shapes: objects with their
// required properties, the first enum value, and a fixed value per primitive type.
func valueFromSchema(dst []byte, raw json.RawMessage, depth int, top bool) []byte {
	var n schemaNode
	if len(raw) == 0 || depth > 8 || json.Unmarshal(raw, &n) != nil {
		if top {
			return append(dst, "{}"...)
		}
		return append(dst, `"sim"`...)
	}
	if len(n.Const) > 0 {
		return append(dst, n.Const...)
	}
	if len(n.Enum) > 0 {
		return append(dst, n.Enum[0]...)
	}
	typ := ""
	if len(n.Type) > 0 {
		if n.Type[0] == '[' {
			var ts []string
			_ = json.Unmarshal(n.Type, &ts)
			for _, t := range ts {
				if t != "null" {
					typ = t
					break
				}
			}
		} else {
			_ = json.Unmarshal(n.Type, &typ)
		}
	}
	if typ == "" && (n.Properties != nil || top) {
		typ = "object"
	}
	switch typ {
	case "object":
		dst = append(dst, '{')
		for i, name := range n.Required {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonw.String(dst, name)
			dst = append(dst, ':')
			dst = valueFromSchema(dst, n.Properties[name], depth+1, false)
		}
		return append(dst, '}')
	case "array":
		return append(dst, "[]"...)
	case "integer", "number":
		return append(dst, '1')
	case "boolean":
		return append(dst, "true"...)
	case "null":
		return append(dst, "null"...)
	}
	return append(dst, `"sim"`...)
}

func (s *Server) appendID(dst []byte) []byte {
	dst = append(dst, "chatcmpl-"...)
	dst = append(dst, s.idPfx...)
	return strconv.AppendUint(dst, s.seq.Add(1), 36)
}

func appendUsage(dst []byte, a *answer) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, a.prompt)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, a.output)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, a.prompt+a.output)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, a.cached)
	dst = append(dst, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
	return dst
}

// appendCompletion writes a chat.completion object.
func (s *Server) appendCompletion(dst []byte, c *oaCall, a *answer) []byte {
	dst = append(dst, `{"id":"`...)
	dst = s.appendID(dst)
	dst = append(dst, `","object":"chat.completion","created":`...)
	dst = appendInt(dst, s.cfg.Clock().Unix())
	dst = append(dst, `,"model":`...)
	dst = jsonw.String(dst, c.req.Model)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if len(a.tools) > 0 {
		dst = append(dst, `null,"tool_calls":[`...)
		for i := range a.tools {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = jsonw.String(dst, a.tools[i].id)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = jsonw.String(dst, a.tools[i].name)
			dst = append(dst, `,"arguments":`...)
			dst = jsonw.String(dst, a.tools[i].args)
			dst = append(dst, `}}`...)
		}
		dst = append(dst, ']')
	} else {
		dst = jsonw.String(dst, a.content)
	}
	dst = append(dst, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
	dst = append(dst, a.finish...)
	dst = append(dst, `"}],"usage":`...)
	dst = appendUsage(dst, a)
	return append(dst, `,"service_tier":"default","system_fingerprint":"fp_switchyard_sim"}`...)
}

// appendToolHeader writes the first delta of a streamed tool call: index, id, type and name.
func appendToolHeader(dst []byte, index int, t *toolAnswer) []byte {
	dst = append(dst, `{"index":`...)
	dst = appendInt(dst, int64(index))
	dst = append(dst, `,"id":`...)
	dst = jsonw.String(dst, t.id)
	dst = append(dst, `,"type":"function","function":{"name":`...)
	dst = jsonw.String(dst, t.name)
	return append(dst, `,"arguments":""}}`...)
}

// streamWriter batches SSE chunks and writes them out when the buffer fills or a pause follows.
type streamWriter struct {
	w   http.ResponseWriter
	buf []byte
	err error
}

func (sw *streamWriter) send(doFlush bool) bool {
	if sw.err != nil {
		return false
	}
	if len(sw.buf) > 0 {
		_, sw.err = sw.w.Write(sw.buf)
		sw.buf = sw.buf[:0]
	}
	if doFlush && sw.err == nil {
		flush(sw.w)
	}
	return sw.err == nil
}

func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, c *oaCall, a *answer) {
	ctx := r.Context()
	req := &c.req
	model, fault := req.Model, c.p.fault
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	h := w.Header()
	h["Content-Type"] = hdrSSE
	h["Cache-Control"] = hdrNoCache
	w.WriteHeader(http.StatusOK)

	pre := append(c.pre[:0], `data: {"id":"`...)
	pre = s.appendID(pre)
	pre = append(pre, `","object":"chat.completion.chunk","created":`...)
	pre = appendInt(pre, s.cfg.Clock().Unix())
	pre = append(pre, `,"model":`...)
	pre = jsonw.String(pre, model)
	pre = append(pre, `,"service_tier":"default","system_fingerprint":"fp_switchyard_sim","choices":[`...)
	c.pre = pre
	tail := "]}\n\n"
	if usage {
		tail = `],"usage":null}` + "\n\n"
	}
	sw := &streamWriter{w: w, buf: c.out[:0]}
	defer func() { c.out = sw.buf }()

	// Role chunk (with the first tool call's header for tool answers).
	sw.buf = append(sw.buf, pre...)
	if len(a.tools) > 0 {
		sw.buf = append(sw.buf, `{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[`...)
		sw.buf = appendToolHeader(sw.buf, 0, &a.tools[0])
		sw.buf = append(sw.buf, `],"refusal":null},"logprobs":null,"finish_reason":null}`...)
	} else {
		sw.buf = append(sw.buf, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`...)
	}
	sw.buf = append(sw.buf, tail...)

	if fault == ModelSlowFirstToken {
		if !sw.send(true) || !s.wait(ctx, s.cfg.FirstTokenDelay) {
			return
		}
	}
	pieces, scratch := streamPieces(c.pieces[:0], a, s.cfg.StreamWords, c.words)
	c.pieces, c.words = pieces, scratch
	for i, p := range pieces {
		switch {
		case fault == ModelStall && i == stallAt(len(pieces)):
			sw.send(true)
			s.block(ctx)
			return
		case fault == ModelStreamCut && i == cutAt(len(pieces)):
			sw.buf = append(sw.buf, pre...)
			sw.buf = append(sw.buf, `{"index":0,"delta":{"content":"cut here`...)
			sw.send(true)
			panic(http.ErrAbortHandler) // close without the chunked terminator: the client sees a cut
		case fault == ModelStreamError && i == cutAt(len(pieces)):
			// OpenAI reports a failure after the stream started as a data event holding an
			// error object, then ends the stream without [DONE].
			sw.buf = append(sw.buf, `data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`+"\n\n"...)
			sw.send(false)
			return
		case fault == ModelMalformedChunk && i == malformedAt(len(pieces)):
			sw.buf = append(sw.buf, pre...)
			sw.buf = append(sw.buf, `{"index":0,"delta":{"content":"broken"}]]}`+"\n\n"...)
		}
		if p.first && p.tool > 0 {
			sw.buf = append(sw.buf, pre...)
			sw.buf = append(sw.buf, `{"index":0,"delta":{"tool_calls":[`...)
			sw.buf = appendToolHeader(sw.buf, p.tool, &a.tools[p.tool])
			sw.buf = append(sw.buf, `]},"logprobs":null,"finish_reason":null}`...)
			sw.buf = append(sw.buf, tail...)
		}
		sw.buf = append(sw.buf, pre...)
		if p.tool >= 0 {
			sw.buf = append(sw.buf, `{"index":0,"delta":{"tool_calls":[{"index":`...)
			sw.buf = appendInt(sw.buf, int64(p.tool))
			sw.buf = append(sw.buf, `,"function":{"arguments":`...)
			sw.buf = jsonw.String(sw.buf, p.text)
			sw.buf = append(sw.buf, `}}]},"logprobs":null,"finish_reason":null}`...)
		} else {
			sw.buf = append(sw.buf, `{"index":0,"delta":{"content":`...)
			sw.buf = jsonw.String(sw.buf, p.text)
			sw.buf = append(sw.buf, `},"logprobs":null,"finish_reason":null}`...)
		}
		sw.buf = append(sw.buf, tail...)
		if s.cfg.TokenDelay > 0 {
			if !sw.send(true) || !s.wait(ctx, s.cfg.TokenDelay) {
				return
			}
		} else if len(sw.buf) >= 16<<10 && !sw.send(false) {
			return
		}
	}
	sw.buf = append(sw.buf, pre...)
	sw.buf = append(sw.buf, `{"index":0,"delta":{},"logprobs":null,"finish_reason":"`...)
	sw.buf = append(sw.buf, a.finish...)
	sw.buf = append(sw.buf, `"}`...)
	sw.buf = append(sw.buf, tail...)
	if usage {
		sw.buf = append(sw.buf, pre...)
		sw.buf = append(sw.buf, `],"usage":`...)
		sw.buf = appendUsage(sw.buf, a)
		sw.buf = append(sw.buf, "}\n\n"...)
	}
	if fault != ModelNoDone {
		sw.buf = append(sw.buf, "data: [DONE]\n\n"...)
	}
	sw.send(false)
}

// writeHuge streams an answer of HugeBytes of content, never holding more than one block.
func (s *Server) writeHuge(w http.ResponseWriter, c *oaCall) {
	req := &c.req
	content := hugeText
	a := answer{finish: "stop", prompt: 1, output: s.cfg.HugeBytes / 4}
	h := w.Header()
	if !req.Stream {
		h["Content-Type"] = hdrJSON
		b := append(c.out[:0], `{"id":"`...)
		b = s.appendID(b)
		b = append(b, `","object":"chat.completion","created":`...)
		b = appendInt(b, s.cfg.Clock().Unix())
		b = append(b, `,"model":`...)
		b = jsonw.String(b, req.Model)
		b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":"`...)
		c.out = b
		if _, err := w.Write(b); err != nil {
			return
		}
		if !s.repeatHuge(w, content) {
			return
		}
		b = append(b[:0], `"},"logprobs":null,"finish_reason":"stop"}],"usage":`...)
		b = appendUsage(b, &a)
		b = append(b, '}')
		_, _ = w.Write(b)
		return
	}
	h["Content-Type"] = hdrSSE
	chunk := append(c.pre[:0], `data: {"id":"`...)
	chunk = s.appendID(chunk)
	chunk = append(chunk, `","object":"chat.completion.chunk","created":`...)
	chunk = appendInt(chunk, s.cfg.Clock().Unix())
	chunk = append(chunk, `,"model":`...)
	chunk = jsonw.String(chunk, req.Model)
	chunk = append(chunk, `,"choices":[`...)
	pre := len(chunk)
	chunk = append(chunk, `{"index":0,"delta":{"content":"`...)
	chunk = append(chunk, content...)
	chunk = append(chunk, `"},"finish_reason":null}]}`+"\n\n"...)
	c.pre = chunk
	if !s.repeatHuge(w, chunk) {
		return
	}
	end := append(c.out[:0], chunk[:pre]...)
	end = append(end, `{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n"...)
	end = append(end, "data: [DONE]\n\n"...)
	c.out = end
	_, _ = w.Write(end)
}
