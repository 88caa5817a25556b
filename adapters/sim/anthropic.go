package sim

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
)

// Anthropic Messages (POST /v1/messages), as documented at
// https://docs.anthropic.com/en/api/messages and .../messages-streaming, and as the official Go
// SDK (anthropic-sdk-go/v2) sends and reads it: request fields the simulator reads, and responses
// written in Anthropic's shapes.
//
// Auth (when Config.APIKey is set) is the x-api-key header, or "Authorization: Bearer <key>", which
// the API also accepts for keys and the official Go SDK v2 sends; anthropic-version is required.
// Overload (sim-503, sim-flap) is answered with Anthropic's own 529 overloaded_error.
//
// Usage follows Anthropic's accounting, where input_tokens EXCLUDES cached tokens. Anthropic
// caches only when asked: a request with a cache_control marker (top level, or on a block or a
// tool) gets, for prompts of 1024 tokens or more, the neutral model's cached prefix as
// cache_read_input_tokens and the next quarter of the rest (in 128-token steps) as
// cache_creation_input_tokens (a cache write), as a warm cache would; input_tokens is what is
// left, so that the three add up to the prompt. Without a marker both cache counters are 0.
//
// Anthropic's structured outputs (output_config.format, type json_schema; also the older beta
// spelling output_format) make the neutral model answer with JSON matching the schema.

type anRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	System        json.RawMessage `json:"system"` // a string or an array of text blocks
	Messages      []anMessage     `json:"messages"`
	Tools         []anTool        `json:"tools"`
	ToolChoice    *anToolChoice   `json:"tool_choice"`
	Stream        bool            `json:"stream"`
	Temperature   *float64        `json:"temperature"`
	StopSequences []string        `json:"stop_sequences"`
	OutputConfig  *struct {
		Format *anFormat `json:"format"`
	} `json:"output_config"`
	OutputFormat *anFormat `json:"output_format"` // structured-outputs beta spelling
}

type anFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

type anMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"` // a string or an array of content blocks
}

type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"` // tool_result: a string or an array of blocks
	Source    *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
}

type anTool struct {
	Type        string          `json:"type"` // absent or "custom" for client tools
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

// anCall is the per-request scratch space, pooled.
type anCall struct {
	caching bool // the request has a cache_control marker
	body    []byte
	out     []byte
	req     anRequest
	p       prompt
	pieces  []piece
	words   []string
}

var anCallPool = sync.Pool{New: func() any { return &anCall{body: make([]byte, 0, 16<<10), out: make([]byte, 0, 8<<10)} }}

func (c *anCall) reset() {
	c.req = anRequest{}
	c.caching = false
	c.p.reset()
	c.pieces, c.words = c.pieces[:0], c.words[:0]
}

// anBadRequest is a request the real API rejects with 400 invalid_request_error.
type anBadRequest struct{ msg string }

func (e *anBadRequest) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &anBadRequest{msg: fmt.Sprintf(format, args...)}
}

// textOf returns the text of a system prompt or tool_result content: a string or text blocks.
func textOf(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "", nil
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case raw[0] == '[':
		var blocks []anBlock
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return "", err
		}
		var sb strings.Builder
		for i := range blocks {
			if blocks[i].Type == "text" {
				sb.WriteString(blocks[i].Text)
			}
		}
		return sb.String(), nil
	}
	return "", errors.New("expected a string or an array of content blocks")
}

// blocksOf reads a message's content: a string is one text block.
func blocksOf(raw json.RawMessage) ([]anBlock, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []anBlock{{Type: "text", Text: s}}, nil
	case len(raw) > 0 && raw[0] == '[':
		var blocks []anBlock
		err := json.Unmarshal(raw, &blocks)
		return blocks, err
	}
	return nil, errors.New("content: Input should be a valid string or list of content blocks")
}

var anImageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// prompt checks the request as the real API would and reduces it to what the simulated model
// reads. Its errors are 400 invalid_request_error messages.
func (c *anCall) prompt() (*prompt, error) {
	req, p := &c.req, &c.p
	switch {
	case req.Model == "":
		return nil, badRequest("model: Field required")
	case req.MaxTokens == nil:
		return nil, badRequest("max_tokens: Field required")
	case *req.MaxTokens < 1:
		return nil, badRequest("max_tokens: Input should be greater than or equal to 1")
	case len(req.Messages) == 0:
		return nil, badRequest("messages: at least one message is required")
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 1):
		return nil, badRequest("temperature: Input should be less than or equal to 1")
	}
	p.model, p.stream, p.maxTokens = req.Model, req.Stream, *req.MaxTokens
	sys, err := textOf(req.System)
	if err != nil {
		return nil, badRequest("system: Input should be a valid string or list of text blocks")
	}
	if sys != "" {
		p.promptChars += len(sys) + 16
	}
	lastUser := ""
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role != "user" && m.Role != "assistant" && m.Role != "system" {
			return nil, badRequest("messages.%d.role: Input should be 'user', 'assistant' or 'system'", i)
		}
		blocks, err := blocksOf(m.Content)
		if err != nil {
			return nil, badRequest("messages.%d.content: Input should be a valid string or list of content blocks", i)
		}
		if len(blocks) == 0 {
			return nil, badRequest("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
		}
		var text strings.Builder
		hasText := false
		for j := range blocks {
			b := &blocks[j]
			switch b.Type {
			case "text":
				text.WriteString(b.Text)
				hasText = true
			case "image":
				if m.Role == "assistant" {
					return nil, badRequest("messages.%d.content: image blocks are only allowed in user messages", i)
				}
				if b.Source == nil {
					return nil, badRequest("messages.%d.content.image.source: Field required", i)
				}
				switch b.Source.Type {
				case "base64":
					if !anImageTypes[b.Source.MediaType] || b.Source.Data == "" {
						return nil, badRequest("messages.%d.content.image.source.base64: media_type must be image/jpeg, image/png, image/gif or image/webp, with data", i)
					}
				case "url":
					if b.Source.URL == "" {
						return nil, badRequest("messages.%d.content.image.source.url.url: Field required", i)
					}
				default:
					return nil, badRequest("messages.%d.content.image.source: Input tag does not match any of the expected tags: 'base64', 'url', 'file'", i)
				}
				p.promptChars += 256 // a token count for an image; the real one depends on its size
			case "tool_use":
				if m.Role != "assistant" || b.ID == "" || b.Name == "" || len(b.Input) == 0 || b.Input[0] != '{' {
					return nil, badRequest("messages.%d.content: tool_use blocks need an id, a name and an object input, in assistant messages", i)
				}
				p.promptChars += len(b.Name) + len(b.Input)
			case "tool_result":
				if m.Role != "user" || b.ToolUseID == "" {
					return nil, badRequest("messages.%d.content: tool_result blocks need a tool_use_id, in user messages", i)
				}
				t, err := textOf(b.Content)
				if err != nil {
					return nil, badRequest("messages.%d.content.tool_result.content: Input should be a valid string or list of content blocks", i)
				}
				p.promptChars += len(t)
			case "thinking", "redacted_thinking", "document":
			default:
				return nil, badRequest("messages.%d.content: Input tag '%s' found using 'type' does not match any of the expected tags", i, b.Type)
			}
		}
		p.promptChars += text.Len() + 16
		// The user's text is the last user message that says something: a message of tool results
		// only answers the model, as a "tool" message does in the OpenAI format.
		if m.Role == "user" && hasText {
			lastUser = text.String()
		}
	}
	p.user = lastUser
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Type != "" && t.Type != "custom" {
			continue // server tools (web search, ...) are not simulated
		}
		if t.Name == "" || len(t.InputSchema) == 0 {
			return nil, badRequest("tools.%d: name and input_schema are required", i)
		}
		p.promptChars += len(t.Name) + len(t.Description) + len(t.InputSchema) + 16
		p.tools = append(p.tools, toolDef{name: t.Name, params: t.InputSchema})
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "none":
			p.toolChoice = tc.Type
		case "any":
			p.toolChoice = "required"
		case "tool":
			if tc.Name == "" {
				return nil, badRequest("tool_choice.tool.name: Field required")
			}
			p.toolChoice, p.toolName = "tool", tc.Name
		default:
			return nil, badRequest("tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", tc.Type)
		}
		if len(p.tools) == 0 && tc.Type != "none" && tc.Type != "auto" {
			return nil, badRequest("tool_choice: may only be specified while providing tools")
		}
	}
	f := req.OutputFormat
	if req.OutputConfig != nil && req.OutputConfig.Format != nil {
		f = req.OutputConfig.Format
	}
	if f != nil {
		if f.Type != "json_schema" || len(f.Schema) == 0 || f.Schema[0] != '{' {
			return nil, badRequest("output_config.format: type must be 'json_schema' with a schema object")
		}
		p.json, p.schema = true, f.Schema
	}
	return p, nil
}

func (s *Server) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	c := anCallPool.Get().(*anCall)
	defer func() {
		if cap(c.body) <= 1<<20 && cap(c.out) <= 1<<20 { // do not pin huge buffers
			anCallPool.Put(c)
		}
	}()
	rid, body, ok := s.readRequest(w, r, c.body[:0], FormatAnthropic, "", false, anthropicBadBody)
	c.body = body
	if !ok {
		return
	}
	c.reset()
	err := json.Unmarshal(body, &c.req)
	req := &c.req
	n, fault := s.arrive(r, FormatAnthropic, rid, req.Model, req.Stream)
	if err != nil {
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "There was an issue with the format of your request: the body is not valid JSON or has fields of the wrong type.")
		return
	}
	if s.cfg.APIKey != "" && !s.anthropicAuthorized(r) {
		writeAnthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	if len(r.Header["Anthropic-Version"]) == 0 {
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	p, err := c.prompt()
	if err != nil {
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	// A "cache_control" key anywhere (top level, a block, a tool): inside a JSON string the quotes
	// would be escaped, so the quoted name only matches a key (or a bare string value of that name).
	c.caching = bytes.Contains(body, []byte(`"cache_control"`))
	ctx := r.Context()
	p.fault = fault
	if s.preFault(w, r, FormatAnthropic, p, n, rid != "", writeAnthropicFault) {
		return
	}
	if fault == ModelStreamError && !req.Stream {
		writeAnthropicFault(w, http.StatusServiceUnavailable, errOverloaded, p)
		return
	}
	if !s.wait(ctx, s.latencyFor(req.Model).sample()) {
		return
	}
	if fault == ModelSlowFirstToken && !req.Stream && !s.wait(ctx, s.cfg.FirstTokenDelay) {
		return
	}
	if fault == ModelHuge {
		s.writeAnthropicHuge(w, c)
		return
	}
	ar := r
	if fault == ModelEcho {
		// echo redacts Authorization only; Anthropic's key travels in x-api-key.
		ar = r.Clone(ctx)
		if len(ar.Header["X-Api-Key"]) > 0 {
			ar.Header["X-Api-Key"] = []string{"[redacted by sim]"}
		}
	}
	a := s.answerFor(p, ar, c.body, "toolu_")
	if !c.caching {
		a.cached = 0
	}
	if tc := req.ToolChoice; tc != nil && tc.DisableParallelToolUse && len(a.tools) > 1 {
		a.tools = a.tools[:1]
		a.output = max(1, int64((len(a.tools[0].name)+len(a.tools[0].args))/4))
	}
	if req.Stream {
		s.writeAnthropicStream(w, r, c, &a)
		return
	}
	out := s.appendMessage(c.out[:0], c, &a)
	c.out = out
	s.writeAnswer(ctx, w, fault, hdrJSON, out)
}

// anthropicBadBody answers a request whose body could not be read.
func anthropicBadBody(w http.ResponseWriter, tooLarge bool) {
	if tooLarge {
		writeAnthropicError(w, http.StatusRequestEntityTooLarge, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
	} else {
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "Could not read the request body.")
	}
}

// anthropicAuthorized checks the key as the API does: the x-api-key header, or (as the official
// SDKs send it since v2) "Authorization: Bearer <key>". When x-api-key is present it decides.
func (s *Server) anthropicAuthorized(r *http.Request) bool {
	var key string
	if v := r.Header["X-Api-Key"]; len(v) > 0 {
		if len(v) != 1 {
			return false
		}
		key = v[0]
	} else if v := r.Header["Authorization"]; len(v) == 1 {
		var ok bool
		if key, ok = strings.CutPrefix(v[0], "Bearer "); !ok {
			return false
		}
	} else {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) == 1
}

// anthropicErrorType is Anthropic's error type for a status without a more specific one.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// writeAnthropicFault writes a simulated failure with Anthropic's types and messages.
func writeAnthropicFault(w http.ResponseWriter, status int, kind errKind, p *prompt) {
	switch kind {
	case errRateLimited:
		writeAnthropicError(w, status, "rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.")
	case errServer:
		writeAnthropicError(w, status, "api_error", "Internal server error")
	case errOverloaded:
		writeAnthropicError(w, 529, "overloaded_error", "Overloaded")
	case errInvalid:
		writeAnthropicError(w, status, "invalid_request_error", "temperature: simulated invalid request")
	case errAuth:
		writeAnthropicError(w, status, "authentication_error", "invalid x-api-key")
	case errNotFound:
		writeAnthropicError(w, status, "not_found_error", "model: "+p.model)
	case errContextLength:
		writeAnthropicError(w, status, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
	case errContentFilter:
		writeAnthropicError(w, status, "invalid_request_error", "Output blocked by content filtering policy")
	case errTooLarge:
		writeAnthropicError(w, http.StatusRequestEntityTooLarge, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
	case errBadJSON:
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "There was an issue with the format of your request: the body is not valid JSON.")
	default:
		writeAnthropicError(w, status, anthropicErrorType(status), "Simulated error "+strconv.Itoa(status)+".")
	}
}

// writeAnthropicError writes {"type":"error","error":{"type","message"},"request_id"}.
func writeAnthropicError(w http.ResponseWriter, status int, typ, msg string) {
	b := make([]byte, 0, 128+len(msg))
	b = append(b, `{"type":"error","error":{"type":`...)
	b = jsonw.String(b, typ)
	b = append(b, `,"message":`...)
	b = jsonw.String(b, msg)
	b = append(b, `},"request_id":"req_sim`...)
	b = strconv.AppendInt(b, int64(len(msg))*7919+int64(status), 36)
	b = append(b, "\"}\n"...)
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// anStopReason names a neutral finish reason as Anthropic does.
func anStopReason(finish string) string {
	switch finish {
	case finishLength:
		return "max_tokens"
	case finishToolCalls:
		return "tool_use"
	case finishContentFilter:
		return "refusal"
	}
	return "end_turn"
}

func (s *Server) appendMessageID(dst []byte) []byte {
	dst = append(dst, "msg_"...)
	dst = append(dst, s.idPfx...)
	return strconv.AppendUint(dst, s.seq.Add(1), 36)
}

// anUsage splits the neutral model's input into Anthropic's three counters (see the file
// comment): input_tokens excludes both the cache read and the cache write.
func anUsage(a *answer) (input, cacheWrite, cacheRead int64) {
	cacheRead = a.cached
	if a.cached > 0 {
		cacheWrite = (a.prompt - a.cached) / 4 / 128 * 128
	}
	return a.prompt - cacheRead - cacheWrite, cacheWrite, cacheRead
}

func appendAnthropicUsage(dst []byte, a *answer, output int64) []byte {
	in, cw, cr := anUsage(a)
	dst = append(dst, `{"input_tokens":`...)
	dst = appendInt(dst, in)
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = appendInt(dst, cw)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = appendInt(dst, cr)
	dst = append(dst, `,"cache_creation":{"ephemeral_5m_input_tokens":`...)
	dst = appendInt(dst, cw)
	dst = append(dst, `,"ephemeral_1h_input_tokens":0},"output_tokens":`...)
	dst = appendInt(dst, output)
	return append(dst, `,"service_tier":"standard"}`...)
}

// appendMessage writes a complete (non-streaming) message object.
func (s *Server) appendMessage(dst []byte, c *anCall, a *answer) []byte {
	dst = append(dst, `{"id":"`...)
	dst = s.appendMessageID(dst)
	dst = append(dst, `","type":"message","role":"assistant","model":`...)
	dst = jsonw.String(dst, c.req.Model)
	dst = append(dst, `,"content":[`...)
	if len(a.tools) > 0 {
		for i := range a.tools {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"type":"tool_use","id":`...)
			dst = jsonw.String(dst, a.tools[i].id)
			dst = append(dst, `,"name":`...)
			dst = jsonw.String(dst, a.tools[i].name)
			dst = append(dst, `,"input":`...)
			dst = append(dst, a.tools[i].args...) // a JSON object built from the schema
			dst = append(dst, '}')
		}
	} else {
		dst = append(dst, `{"type":"text","text":`...)
		dst = jsonw.String(dst, a.content)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"stop_reason":"`...)
	dst = append(dst, anStopReason(a.finish)...)
	dst = append(dst, `","stop_sequence":null,"usage":`...)
	dst = appendAnthropicUsage(dst, a, a.output)
	return append(dst, "}\n"...)
}

func appendEventStart(dst []byte, name string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	return append(dst, "\ndata: "...)
}

func appendBlockStop(dst []byte, index int) []byte {
	dst = appendEventStart(dst, "content_block_stop")
	dst = append(dst, `{"type":"content_block_stop","index":`...)
	dst = appendInt(dst, int64(index))
	return append(dst, "}\n\n"...)
}

func appendTextDelta(dst []byte, index int, text string) []byte {
	dst = appendEventStart(dst, "content_block_delta")
	dst = append(dst, `{"type":"content_block_delta","index":`...)
	dst = appendInt(dst, int64(index))
	dst = append(dst, `,"delta":{"type":"text_delta","text":`...)
	dst = jsonw.String(dst, text)
	return append(dst, "}}\n\n"...)
}

func (s *Server) appendMessageStart(dst []byte, c *anCall, a *answer) []byte {
	dst = appendEventStart(dst, "message_start")
	dst = append(dst, `{"type":"message_start","message":{"id":"`...)
	dst = s.appendMessageID(dst)
	dst = append(dst, `","type":"message","role":"assistant","model":`...)
	dst = jsonw.String(dst, c.req.Model)
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	dst = appendAnthropicUsage(dst, a, 1)
	dst = append(dst, "}}\n\n"...)
	dst = appendEventStart(dst, "ping")
	return append(dst, `{"type": "ping"}`+"\n\n"...)
}

// writeAnthropicStream writes the answer as Anthropic's event sequence: message_start, ping, one
// content block per text or tool call (start, deltas, stop), message_delta and message_stop.
func (s *Server) writeAnthropicStream(w http.ResponseWriter, r *http.Request, c *anCall, a *answer) {
	ctx := r.Context()
	fault := c.p.fault
	h := w.Header()
	h["Content-Type"] = hdrSSE
	h["Cache-Control"] = hdrNoCache
	w.WriteHeader(http.StatusOK)

	sw := &streamWriter{w: w, buf: c.out[:0]}
	defer func() { c.out = sw.buf }()
	sw.buf = s.appendMessageStart(sw.buf, c, a)
	if fault == ModelSlowFirstToken {
		if !sw.send(true) || !s.wait(ctx, s.cfg.FirstTokenDelay) {
			return
		}
	}
	pieces, scratch := streamPieces(c.pieces[:0], a, s.cfg.StreamWords, c.words)
	c.pieces, c.words = pieces, scratch
	block := -1 // index of the open content block
	if len(a.tools) == 0 {
		block = 0
		sw.buf = appendEventStart(sw.buf, "content_block_start")
		sw.buf = append(sw.buf, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n"...)
	}
	for i, p := range pieces {
		switch {
		case fault == ModelStall && i == stallAt(len(pieces)):
			sw.send(true)
			s.block(ctx)
			return
		case fault == ModelStreamCut && i == cutAt(len(pieces)):
			sw.buf = appendEventStart(sw.buf, "content_block_delta")
			sw.buf = append(sw.buf, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"cut here`...)
			sw.send(true)
			panic(http.ErrAbortHandler) // close without the chunked terminator: the client sees a cut
		case fault == ModelMalformedChunk && i == malformedAt(len(pieces)):
			sw.buf = appendEventStart(sw.buf, "content_block_delta")
			sw.buf = append(sw.buf, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"broken"}]]}`+"\n\n"...)
		case fault == ModelStreamError && i == cutAt(len(pieces)):
			sw.buf = appendEventStart(sw.buf, "error")
			sw.buf = append(sw.buf, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`+"\n\n"...)
			sw.send(false)
			return
		}
		if p.tool >= 0 && p.first {
			if block >= 0 {
				sw.buf = appendBlockStop(sw.buf, block)
			}
			block = p.tool
			t := &a.tools[p.tool]
			sw.buf = appendEventStart(sw.buf, "content_block_start")
			sw.buf = append(sw.buf, `{"type":"content_block_start","index":`...)
			sw.buf = appendInt(sw.buf, int64(block))
			sw.buf = append(sw.buf, `,"content_block":{"type":"tool_use","id":`...)
			sw.buf = jsonw.String(sw.buf, t.id)
			sw.buf = append(sw.buf, `,"name":`...)
			sw.buf = jsonw.String(sw.buf, t.name)
			sw.buf = append(sw.buf, `,"input":{}}}`+"\n\n"...)
			// The API opens every tool input with an empty fragment.
			sw.buf = appendEventStart(sw.buf, "content_block_delta")
			sw.buf = append(sw.buf, `{"type":"content_block_delta","index":`...)
			sw.buf = appendInt(sw.buf, int64(block))
			sw.buf = append(sw.buf, `,"delta":{"type":"input_json_delta","partial_json":""}}`+"\n\n"...)
		}
		if p.tool >= 0 {
			sw.buf = appendEventStart(sw.buf, "content_block_delta")
			sw.buf = append(sw.buf, `{"type":"content_block_delta","index":`...)
			sw.buf = appendInt(sw.buf, int64(block))
			sw.buf = append(sw.buf, `,"delta":{"type":"input_json_delta","partial_json":`...)
			sw.buf = jsonw.String(sw.buf, p.text)
			sw.buf = append(sw.buf, "}}\n\n"...)
		} else {
			sw.buf = appendTextDelta(sw.buf, block, p.text)
		}
		if s.cfg.TokenDelay > 0 {
			if !sw.send(true) || !s.wait(ctx, s.cfg.TokenDelay) {
				return
			}
		} else if len(sw.buf) >= 16<<10 && !sw.send(false) {
			return
		}
	}
	if block >= 0 {
		sw.buf = appendBlockStop(sw.buf, block)
	}
	sw.buf = appendEventStart(sw.buf, "message_delta")
	sw.buf = append(sw.buf, `{"type":"message_delta","delta":{"stop_reason":"`...)
	sw.buf = append(sw.buf, anStopReason(a.finish)...)
	sw.buf = append(sw.buf, `","stop_sequence":null},"usage":`...)
	sw.buf = appendAnthropicUsage(sw.buf, a, a.output)
	sw.buf = append(sw.buf, "}\n\n"...)
	if fault != ModelNoDone {
		sw.buf = appendEventStart(sw.buf, "message_stop")
		sw.buf = append(sw.buf, `{"type":"message_stop"}`+"\n\n"...)
	}
	sw.send(false)
}

// writeAnthropicHuge streams an answer of HugeBytes of content, never holding more than one block.
func (s *Server) writeAnthropicHuge(w http.ResponseWriter, c *anCall) {
	content := hugeText
	a := answer{finish: finishStop, prompt: 1, output: s.cfg.HugeBytes / 4}
	h := w.Header()
	if !c.req.Stream {
		h["Content-Type"] = hdrJSON
		b := append(c.out[:0], `{"id":"`...)
		b = s.appendMessageID(b)
		b = append(b, `","type":"message","role":"assistant","model":`...)
		b = jsonw.String(b, c.req.Model)
		b = append(b, `,"content":[{"type":"text","text":"`...)
		c.out = b
		if _, err := w.Write(b); err != nil {
			return
		}
		if !s.repeatHuge(w, content) {
			return
		}
		b = append(b[:0], `"}],"stop_reason":"end_turn","stop_sequence":null,"usage":`...)
		b = appendAnthropicUsage(b, &a, a.output)
		b = append(b, "}\n"...)
		_, _ = w.Write(b)
		return
	}
	h["Content-Type"] = hdrSSE
	w.WriteHeader(http.StatusOK)
	b := s.appendMessageStart(c.out[:0], c, &a)
	b = appendEventStart(b, "content_block_start")
	b = append(b, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n"...)
	c.out = b
	if _, err := w.Write(b); err != nil {
		return
	}
	event := appendTextDelta(make([]byte, 0, len(content)+128), 0, string(content))
	if !s.repeatHuge(w, event) {
		return
	}
	b = appendBlockStop(b[:0], 0)
	b = appendEventStart(b, "message_delta")
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`...)
	b = appendInt(b, a.output)
	b = append(b, "}}\n\n"...)
	b = appendEventStart(b, "message_stop")
	b = append(b, `{"type":"message_stop"}`+"\n\n"...)
	_, _ = w.Write(b)
}
