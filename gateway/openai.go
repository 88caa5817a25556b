package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Tool choice values with a fixed meaning, as adapters.ToolChoice* spell them; any other
// non-empty canonical ToolChoice names the one tool the model must call.
const (
	toolChoiceAuto     = "auto"
	toolChoiceNone     = "none"
	toolChoiceRequired = "required"
)

// Canonical finish reasons, as adapters.Finish* spell them. They are OpenAI's own.
const (
	finishStop          = "stop"
	finishLength        = "length"
	finishToolCalls     = "tool_calls"
	finishContentFilter = "content_filter"
)

// Limits OpenAI sets on request fields, kept so that a request it would refuse is refused here
// with the same clear 400 rather than by a provider after routing.
const (
	maxMetadataPairs = 16
	maxMetadataKey   = 64  // characters
	maxMetadataValue = 512 // characters
	maxNameLen       = 64  // a tool or json_schema name: [a-zA-Z0-9_-]{1,64}
)

// defaultParameters is the JSON Schema of a tool declared without parameters: it takes none.
const defaultParameters = `{"type":"object","properties":{}}`

// imageMediaTypes are the media types of data: URLs that schemas.ValidateRequest accepts.
var imageMediaTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// IsAutoModel reports whether model asks Switchyard to choose the model: "auto" or
// "switchyard/auto".
func IsAutoModel(model string) bool { return model == "auto" || model == "switchyard/auto" }

// ChatRequest is a decoded POST /v1/chat/completions body, already in canonical shapes.
type ChatRequest struct {
	// Model as the body names it; see IsAutoModel.
	Model          string
	Messages       []schemas.Message
	Tools          []schemas.Tool
	ToolChoice     string // "", auto, none, required or the name of one of Tools
	ResponseFormat schemas.ResponseFormat
	MaxTokens      int32 // max_completion_tokens, else max_tokens; 0 when neither
	Temperature    *float64
	Stream         bool
	IncludeUsage   bool // stream_options.include_usage
	User           string
	Metadata       map[string]string
}

// The body as it is first decoded: fields whose JSON type varies, or whose elements need their
// own error paths, stay raw until they are read one by one.
type wireChat struct {
	Model               *string            `json:"model"`
	Messages            []json.RawMessage  `json:"messages"`
	Tools               []json.RawMessage  `json:"tools"`
	ToolChoice          json.RawMessage    `json:"tool_choice"`
	ResponseFormat      *wireResponseFmt   `json:"response_format"`
	MaxTokens           *int64             `json:"max_tokens"`
	MaxCompletionTokens *int64             `json:"max_completion_tokens"`
	Temperature         *float64           `json:"temperature"`
	Stream              *bool              `json:"stream"`
	StreamOptions       *wireStreamOptions `json:"stream_options"`
	User                *string            `json:"user"`
	Metadata            map[string]string  `json:"metadata"`
	N                   *int64             `json:"n"`
	Logprobs            *bool              `json:"logprobs"`
	Stop                json.RawMessage    `json:"stop"`
	Functions           json.RawMessage    `json:"functions"`
	FunctionCall        json.RawMessage    `json:"function_call"`
	Audio               json.RawMessage    `json:"audio"`
	Modalities          []string           `json:"modalities"`
}

type wireStreamOptions struct {
	IncludeUsage *bool `json:"include_usage"`
}

type wireResponseFmt struct {
	Type       string          `json:"type"`
	JSONSchema *wireJSONSchema `json:"json_schema"`
}

type wireJSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

type wireMessage struct {
	Role         string            `json:"role"`
	Content      json.RawMessage   `json:"content"`
	Name         string            `json:"name"`
	ToolCalls    []json.RawMessage `json:"tool_calls"`
	ToolCallID   string            `json:"tool_call_id"`
	FunctionCall json.RawMessage   `json:"function_call"`
}

type wirePart struct {
	Type     string        `json:"type"`
	Text     *string       `json:"text"`
	ImageURL *wireImageURL `json:"image_url"`
}

type wireImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail"`
}

type wireToolCall struct {
	ID       string        `json:"id"`
	Type     string        `json:"type"`
	Function *wireFuncCall `json:"function"`
}

type wireFuncCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type wireTool struct {
	Type     string        `json:"type"`
	Function *wireFunction `json:"function"`
}

type wireFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

type wireToolChoice struct {
	Type     string `json:"type"`
	Function *struct {
		Name string `json:"name"`
	} `json:"function"`
}

// ParseChatRequest decodes a chat completions body. Every problem is a 400 whose param names
// the field at fault the way OpenAI does ("messages[2].content[0].image_url.url"). Fields
// that would change the answer in a way the pipeline cannot honour (n > 1, stop, logprobs,
// functions, audio output) are refused; harmless ones (top_p, penalties, seed,
// parallel_tool_calls, store, service_tier and any unknown field) are ignored.
func ParseChatRequest(body []byte) (*ChatRequest, *APIError) {
	var w wireChat
	if err := json.Unmarshal(body, &w); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, BadRequest("", "the request body is not valid JSON (at byte %d)", syn.Offset)
		}
		return nil, typeError(err, "", "the request body must be a JSON object")
	}
	c := &ChatRequest{ResponseFormat: schemas.ResponseFormat{Type: schemas.ResponseFormatText}}

	switch {
	case w.Model == nil:
		return nil, BadRequest("model", "you must provide a model parameter")
	case *w.Model == "":
		return nil, BadRequest("model", "model must not be empty")
	}
	c.Model = *w.Model

	switch {
	case w.Messages == nil:
		return nil, BadRequest("messages", "you must provide a messages parameter")
	case len(w.Messages) == 0:
		return nil, BadRequest("messages", "messages must contain at least one message")
	}
	c.Messages = make([]schemas.Message, len(w.Messages))
	for i, raw := range w.Messages {
		if err := parseMessage(raw, "messages["+strconv.Itoa(i)+"]", &c.Messages[i]); err != nil {
			return nil, err
		}
	}
	if err := checkToolTurns(c.Messages); err != nil {
		return nil, err
	}

	if len(w.Tools) > 0 {
		c.Tools = make([]schemas.Tool, len(w.Tools))
		for i, raw := range w.Tools {
			if err := parseTool(raw, "tools["+strconv.Itoa(i)+"]", &c.Tools[i]); err != nil {
				return nil, err
			}
			for j := range i {
				if c.Tools[j].Name == c.Tools[i].Name {
					return nil, BadRequest("tools["+strconv.Itoa(i)+"].function.name", "tool names must be unique: tools[%d] has the same name", j)
				}
			}
		}
	}
	var err *APIError
	if c.ToolChoice, err = parseToolChoice(w.ToolChoice, c.Tools); err != nil {
		return nil, err
	}
	if w.ResponseFormat != nil {
		if c.ResponseFormat, err = parseResponseFormat(w.ResponseFormat); err != nil {
			return nil, err
		}
	}

	for _, t := range []struct {
		param string
		v     *int64
	}{{"max_tokens", w.MaxTokens}, {"max_completion_tokens", w.MaxCompletionTokens}} {
		if t.v == nil {
			continue
		}
		if *t.v < 1 || *t.v > math.MaxInt32 {
			return nil, BadRequest(t.param, "%s must be an integer from 1 to %d", t.param, math.MaxInt32)
		}
		c.MaxTokens = int32(*t.v) // max_completion_tokens comes second: it wins
	}
	if t := w.Temperature; t != nil {
		if *t < 0 || *t > 2 {
			return nil, BadRequest("temperature", "temperature must be from 0 to 2")
		}
		c.Temperature = t
	}
	if w.Stream != nil {
		c.Stream = *w.Stream
	}
	if o := w.StreamOptions; o != nil && o.IncludeUsage != nil {
		c.IncludeUsage = *o.IncludeUsage
	}
	if w.User != nil {
		c.User = *w.User
	}
	if err := checkMetadata(w.Metadata); err != nil {
		return nil, err
	}
	c.Metadata = w.Metadata

	if err := refuseUnsupported(&w); err != nil {
		return nil, err
	}
	return c, nil
}

// refuseUnsupported refuses the fields that would change the answer in a way the pipeline
// cannot honour: ignoring them would hand back something other than what was asked for.
func refuseUnsupported(w *wireChat) *APIError {
	if w.N != nil && *w.N != 1 {
		return BadRequest("n", "only one choice is supported: n must be 1")
	}
	if w.Logprobs != nil && *w.Logprobs {
		return BadRequest("logprobs", "logprobs are not supported")
	}
	if !isNull(w.Stop) {
		empty := false
		switch w.Stop[0] {
		case '"':
			empty = string(w.Stop) == `""`
		case '[':
			var list []json.RawMessage
			empty = json.Unmarshal(w.Stop, &list) == nil && len(list) == 0
		default:
			return BadRequest("stop", "stop must be a string or an array of strings")
		}
		if !empty {
			return BadRequest("stop", "stop sequences are not supported")
		}
	}
	if !isNull(w.Functions) {
		return BadRequest("functions", "functions is deprecated and not supported: declare tools instead")
	}
	if !isNull(w.FunctionCall) {
		return BadRequest("function_call", "function_call is deprecated and not supported: use tool_choice instead")
	}
	if !isNull(w.Audio) {
		return BadRequest("audio", "audio output is not supported")
	}
	for i, m := range w.Modalities {
		if m != "text" {
			return BadRequest("modalities["+strconv.Itoa(i)+"]", "only text output is supported")
		}
	}
	return nil
}

func parseMessage(raw json.RawMessage, at string, m *schemas.Message) *APIError {
	var w wireMessage
	if err := typeError(json.Unmarshal(raw, &w), at, at+" must be an object"); err != nil {
		return err
	}
	m.Name = w.Name
	switch w.Role {
	case schemas.RoleSystem, "developer":
		m.Role = schemas.RoleSystem
	case schemas.RoleUser, schemas.RoleAssistant, schemas.RoleTool:
		m.Role = w.Role
	case "function":
		return BadRequest(at+".role", "the function role is deprecated and not supported: send tool results with role tool")
	case "":
		return BadRequest(at+".role", "%s.role is required", at)
	default:
		return BadRequest(at+".role", "%s.role must be one of system, developer, user, assistant, tool", at)
	}
	if !isNull(w.FunctionCall) {
		return BadRequest(at+".function_call", "function_call is deprecated and not supported: use tool_calls")
	}
	if len(w.ToolCalls) > 0 {
		if m.Role != schemas.RoleAssistant {
			return BadRequest(at+".tool_calls", "only assistant messages carry tool_calls")
		}
		m.ToolCalls = make([]schemas.ToolCall, len(w.ToolCalls))
		for j, rawCall := range w.ToolCalls {
			if err := parseToolCall(rawCall, at+".tool_calls["+strconv.Itoa(j)+"]", &m.ToolCalls[j]); err != nil {
				return err
			}
		}
	}
	if m.Role == schemas.RoleTool {
		if w.ToolCallID == "" {
			return BadRequest(at+".tool_call_id", "a tool message needs the tool_call_id of the call it answers")
		}
		m.ToolCallID = w.ToolCallID
	}

	switch {
	case isNull(w.Content):
		if m.Role != schemas.RoleAssistant || len(m.ToolCalls) == 0 {
			return BadRequest(at+".content", "%s.content is required unless the assistant message has tool_calls", at)
		}
	case w.Content[0] == '"':
		if err := json.Unmarshal(w.Content, &m.Content); err != nil {
			return BadRequest(at+".content", "%s.content is not a valid string", at)
		}
	case w.Content[0] == '[':
		return parseParts(w.Content, at+".content", m)
	default:
		return BadRequest(at+".content", "%s.content must be a string or an array of content parts", at)
	}
	return nil
}

func parseParts(raw json.RawMessage, at string, m *schemas.Message) *APIError {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return BadRequest(at, "%s must be a string or an array of content parts", at)
	}
	if len(list) == 0 {
		return BadRequest(at, "%s must not be an empty array", at)
	}
	m.Parts = make([]schemas.ContentPart, len(list))
	for j, rawPart := range list {
		pat := at + "[" + strconv.Itoa(j) + "]"
		var w wirePart
		if err := typeError(json.Unmarshal(rawPart, &w), pat, pat+" must be an object"); err != nil {
			return err
		}
		p := &m.Parts[j]
		switch w.Type {
		case "text":
			if w.Text == nil {
				return BadRequest(pat+".text", "a text part needs text")
			}
			p.Type, p.Text = schemas.PartText, *w.Text
		case "image_url":
			if m.Role != schemas.RoleUser {
				return BadRequest(pat+".type", "image parts are only allowed in user messages")
			}
			if w.ImageURL == nil || w.ImageURL.URL == "" {
				return BadRequest(pat+".image_url.url", "an image_url part needs image_url.url")
			}
			p.Type = schemas.PartImage
			if err := parseImageURL(w.ImageURL.URL, pat+".image_url.url", p); err != nil {
				return err
			}
		case "":
			return BadRequest(pat+".type", "a content part needs a type")
		default:
			return BadRequest(pat+".type", "content parts of type %s are not supported: use text or image_url", short(w.Type))
		}
	}
	return nil
}

// parseImageURL reads an http(s) URL, or a data: URL with base64 image data.
func parseImageURL(url, at string, p *schemas.ContentPart) *APIError {
	if strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://") {
		p.URL = url
		return nil
	}
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		return BadRequest(at, "the image url must be an https:// URL or a data: URL")
	}
	meta, data, ok := strings.Cut(rest, ",")
	mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
	switch {
	case !ok || !isBase64:
		return BadRequest(at, "a data: URL must be data:<media type>;base64,<data>")
	case !slices.Contains(imageMediaTypes, strings.ToLower(mediaType)):
		return BadRequest(at, "the image media type must be one of image/png, image/jpeg, image/gif, image/webp")
	case !validBase64(data):
		return BadRequest(at, "the image data is not padded standard base64")
	}
	p.MediaType, p.Data = strings.ToLower(mediaType), data
	return nil
}

// validBase64 checks the alphabet and padding of standard base64 without decoding (an image
// can be megabytes), as schemas.ValidateRequest will.
func validBase64(s string) bool {
	if len(s) == 0 || len(s)%4 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == '=' && (i == len(s)-1 || i == len(s)-2 && s[i+1] == '='):
		default:
			return false
		}
	}
	return true
}

func parseToolCall(raw json.RawMessage, at string, tc *schemas.ToolCall) *APIError {
	var w wireToolCall
	if err := typeError(json.Unmarshal(raw, &w), at, at+" must be an object"); err != nil {
		return err
	}
	switch {
	case w.ID == "":
		return BadRequest(at+".id", "a tool call needs an id")
	case w.Type != "" && w.Type != "function":
		return BadRequest(at+".type", "only function tool calls are supported")
	case w.Function == nil || w.Function.Name == "":
		return BadRequest(at+".function.name", "a tool call needs function.name")
	}
	tc.ID, tc.Name, tc.Arguments = w.ID, w.Function.Name, w.Function.Arguments
	return nil
}

// checkToolTurns enforces OpenAI's rule for tool results: every tool message answers a call of
// the assistant message before it, and every such call is answered before the next turn.
// Providers refuse a conversation that breaks it, after routing and a dead-letter record;
// here it is a 400 that names the message.
func checkToolTurns(msgs []schemas.Message) *APIError {
	var pending []string // calls of the last assistant message not answered yet
	caller := -1
	for i := range msgs {
		m := &msgs[i]
		if m.Role == schemas.RoleTool {
			j := slices.Index(pending, m.ToolCallID)
			if j < 0 {
				return BadRequest("messages["+strconv.Itoa(i)+"].tool_call_id",
					"a tool message must answer a tool call of the assistant message before it")
			}
			pending = slices.Delete(pending, j, j+1)
			continue
		}
		if len(pending) > 0 {
			return unanswered(caller, pending)
		}
		if len(m.ToolCalls) > 0 {
			caller = i
			for _, tc := range m.ToolCalls {
				pending = append(pending, tc.ID)
			}
		}
	}
	if len(pending) > 0 {
		return unanswered(caller, pending)
	}
	return nil
}

func unanswered(caller int, ids []string) *APIError {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = short(id)
	}
	return BadRequest("messages["+strconv.Itoa(caller)+"].tool_calls",
		"an assistant message with tool_calls must be followed by tool messages answering each call; not answered: %s",
		strings.Join(quoted, ", "))
}

func parseTool(raw json.RawMessage, at string, t *schemas.Tool) *APIError {
	var w wireTool
	if err := typeError(json.Unmarshal(raw, &w), at, at+" must be an object"); err != nil {
		return err
	}
	if w.Type != "function" && w.Type != "" {
		return BadRequest(at+".type", "only function tools are supported")
	}
	if w.Function == nil {
		return BadRequest(at+".function", "a tool needs a function")
	}
	f := w.Function
	if !validName(f.Name) {
		return BadRequest(at+".function.name", "a function name must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -")
	}
	t.Name, t.Description = f.Name, f.Description
	if isNull(f.Parameters) {
		t.Parameters = defaultParameters
		return nil
	}
	params, err := compactObject(f.Parameters, at+".function.parameters", "function.parameters must be a JSON Schema object")
	if err != nil {
		return err
	}
	t.Parameters = params
	return nil
}

func parseToolChoice(raw json.RawMessage, tools []schemas.Tool) (string, *APIError) {
	if isNull(raw) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case toolChoiceAuto, toolChoiceNone:
			return s, nil
		case toolChoiceRequired:
			if len(tools) == 0 {
				return "", BadRequest("tool_choice", "tool_choice required needs tools")
			}
			return s, nil
		}
		return "", BadRequest("tool_choice", "tool_choice must be auto, none, required or {\"type\":\"function\",\"function\":{\"name\":...}}")
	case '{':
		var w wireToolChoice
		if err := typeError(json.Unmarshal(raw, &w), "tool_choice", "tool_choice must be an object"); err != nil {
			return "", err
		}
		if w.Type != "function" {
			return "", BadRequest("tool_choice.type", "only a function tool can be chosen")
		}
		if w.Function == nil || w.Function.Name == "" {
			return "", BadRequest("tool_choice.function.name", "tool_choice needs function.name")
		}
		name := w.Function.Name
		switch {
		case !slices.ContainsFunc(tools, func(t schemas.Tool) bool { return t.Name == name }):
			return "", BadRequest("tool_choice.function.name", "tool_choice names a function that is not in tools")
		case name == toolChoiceAuto || name == toolChoiceNone || name == toolChoiceRequired:
			// The canonical request names a chosen tool in the field that holds the modes.
			return "", BadRequest("tool_choice.function.name", "a tool named auto, none or required cannot be chosen by name")
		}
		return name, nil
	}
	return "", BadRequest("tool_choice", "tool_choice must be a string or an object")
}

func parseResponseFormat(w *wireResponseFmt) (schemas.ResponseFormat, *APIError) {
	switch w.Type {
	case "text":
		return schemas.ResponseFormat{Type: schemas.ResponseFormatText}, nil
	case "json_object":
		return schemas.ResponseFormat{Type: schemas.ResponseFormatJSON}, nil
	case "json_schema":
		s := w.JSONSchema
		switch {
		case s == nil:
			return schemas.ResponseFormat{}, BadRequest("response_format.json_schema", "response_format json_schema needs a json_schema object")
		case !validName(s.Name):
			return schemas.ResponseFormat{}, BadRequest("response_format.json_schema.name", "json_schema.name must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -")
		case isNull(s.Schema):
			return schemas.ResponseFormat{}, BadRequest("response_format.json_schema.schema", "json_schema.schema is required")
		}
		schema, err := compactObject(s.Schema, "response_format.json_schema.schema", "json_schema.schema must be a JSON Schema object")
		if err != nil {
			return schemas.ResponseFormat{}, err
		}
		return schemas.ResponseFormat{Type: schemas.ResponseFormatJSONSchema, Name: s.Name, Schema: schema}, nil
	case "":
		return schemas.ResponseFormat{}, BadRequest("response_format.type", "response_format needs a type")
	}
	return schemas.ResponseFormat{}, BadRequest("response_format.type", "response_format.type must be text, json_object or json_schema")
}

func checkMetadata(md map[string]string) *APIError {
	if len(md) > maxMetadataPairs {
		return BadRequest("metadata", "metadata holds at most %d pairs", maxMetadataPairs)
	}
	for k, v := range md {
		if utf8.RuneCountInString(k) > maxMetadataKey {
			return BadRequest("metadata", "metadata keys are at most %d characters", maxMetadataKey)
		}
		if utf8.RuneCountInString(v) > maxMetadataValue {
			return BadRequest("metadata", "metadata values are at most %d characters", maxMetadataValue)
		}
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// compactObject returns raw, a JSON object, without insignificant space.
func compactObject(raw json.RawMessage, at, msg string) (string, *APIError) {
	if raw[0] != '{' {
		return "", BadRequest(at, "%s", msg)
	}
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return "", BadRequest(at, "%s", msg)
	}
	return b.String(), nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// typeError turns a json.Unmarshal error into a 400: a value of the wrong JSON type names its
// path below at (encoding/json reports struct paths, e.g. "function.name"); anything else is
// msg about at.
func typeError(err error, at, msg string) *APIError {
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		param := te.Field
		if at != "" {
			param = at + "." + te.Field
		}
		// The value's kind, never its text: "number 1.5" → "number".
		got, _, _ := strings.Cut(te.Value, " ")
		return BadRequest(param, "%s: expected %s, got %s", param, kindOf(te.Type), got)
	}
	return BadRequest(at, "%s", msg)
}

func kindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "a JSON value"
		}
		return "an array"
	}
	return "an object"
}

// short quotes a client's identifier for an error message, cut to 40 bytes.
func short(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}

// ToRequest returns base filled with the request: messages, tools, tool choice, response
// format, model ("" for an auto model, so the router chooses), max_tokens, temperature and
// stream; the body's user when base has no UserID; the body's metadata under base's (base
// wins on a shared key). It then applies schemas.ValidateRequest, whose refusal is a 400 that
// names the field. base is not modified.
func (c *ChatRequest) ToRequest(base schemas.Request) (*schemas.Request, *APIError) {
	r := base
	r.Messages = c.Messages
	r.Tools = c.Tools
	r.ToolChoice = c.ToolChoice
	r.ResponseFormat = c.ResponseFormat
	if r.ResponseFormat.Type == "" {
		r.ResponseFormat.Type = schemas.ResponseFormatText
	}
	r.Model = c.Model
	if IsAutoModel(c.Model) {
		r.Model = ""
	}
	r.MaxTokens = c.MaxTokens
	r.Temperature = c.Temperature
	r.Stream = c.Stream
	if r.UserID == "" {
		r.UserID = c.User
	}
	r.Metadata = mergeMetadata(base.Metadata, c.Metadata)
	if err := schemas.ValidateRequest(&r); err != nil {
		return nil, validationError(err)
	}
	return &r, nil
}

// mergeMetadata returns a new map with body's pairs and then base's: the gateway's own keys
// cannot be overwritten by a client.
func mergeMetadata(base, body map[string]string) map[string]string {
	if len(base)+len(body) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(body))
	for k, v := range body {
		out[k] = v
	}
	for k, v := range base {
		out[k] = v
	}
	return out
}

// validationError turns a schemas.ValidateRequest refusal into a 400 naming the field the
// OpenAI way (a canonical message's parts are its content).
func validationError(err error) *APIError {
	var de *schemas.DecodeError
	if !errors.As(err, &de) {
		return BadRequest("", "%s", err.Error())
	}
	field, msg, ok := strings.Cut(de.Detail, ": ")
	if !ok {
		return BadRequest(strings.TrimPrefix(de.Reason, schemas.ReasonValidationPrefix), "%s", de.Detail)
	}
	field = strings.ReplaceAll(field, ".parts[", ".content[")
	return BadRequest(field, "%s: %s", field, msg)
}

// Completion returns the chat.completion body of a successful (ok or degraded) response,
// with the switchyard extension object.
func Completion(resp *schemas.Response, id string, created int64) []byte {
	n := 640 + len(resp.Content)
	for i := range resp.ToolCalls {
		n += 96 + len(resp.ToolCalls[i].ID) + len(resp.ToolCalls[i].Name) + len(resp.ToolCalls[i].Arguments)
	}
	dst := make([]byte, 0, n)
	dst = append(dst, `{"id":`...)
	dst = jsonw.String(dst, id)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = strconv.AppendInt(dst, created, 10)
	dst = append(dst, `,"model":`...)
	dst = jsonw.String(dst, resp.Model)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if resp.Content == "" && len(resp.ToolCalls) > 0 {
		dst = append(dst, "null"...)
	} else {
		dst = jsonw.String(dst, resp.Content)
	}
	dst = append(dst, `,"refusal":null`...)
	if len(resp.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i := range resp.ToolCalls {
			tc := &resp.ToolCalls[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = jsonw.String(dst, tc.ID)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = jsonw.String(dst, tc.Name)
			dst = append(dst, `,"arguments":`...)
			dst = jsonw.String(dst, tc.Arguments)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":"`...)
	dst = append(dst, finishReason(resp.FinishReason, len(resp.ToolCalls) > 0)...)
	dst = append(dst, `"}],"usage":`...)
	dst = appendUsage(dst, &resp.Usage)
	dst = append(dst, `,"system_fingerprint":null,"switchyard":`...)
	dst = appendExtension(dst, resp)
	return append(dst, '}')
}

// finishReason maps a canonical finish reason to OpenAI's: the four they share pass, and
// anything else (empty, "error", a reason from a newer adapter) is tool_calls when the answer
// has tool calls and stop otherwise. A "stop" with tool calls stays stop, as OpenAI sends it
// when tool_choice forces a function.
func finishReason(reason string, toolCalls bool) string {
	switch reason {
	case finishStop, finishLength, finishToolCalls, finishContentFilter:
		return reason
	}
	if toolCalls {
		return finishToolCalls
	}
	return finishStop
}

func appendUsage(dst []byte, u *schemas.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, u.InputTokens, 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, u.OutputTokens, 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, u.InputTokens+u.OutputTokens, 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, u.CachedTokens, 10)
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, u.ReasoningTokens, 10)
	return append(dst, "}}"...)
}

// appendExtension appends the "switchyard" object: how the pipeline answered.
func appendExtension(dst []byte, resp *schemas.Response) []byte {
	dst = append(dst, `{"request_id":`...)
	dst = jsonw.String(dst, resp.RequestID)
	dst = append(dst, `,"provider":`...)
	dst = jsonw.String(dst, resp.Provider)
	dst = append(dst, `,"model":`...)
	dst = jsonw.String(dst, resp.Model)
	dst = append(dst, `,"status":`...)
	dst = jsonw.String(dst, resp.Status)
	dst = append(dst, `,"degraded":`...)
	dst = strconv.AppendBool(dst, resp.Status == schemas.StatusDegraded)
	dst = append(dst, `,"degraded_reason":`...)
	dst = jsonw.NullString(dst, resp.DegradedReason)
	dst = append(dst, `,"fallback_depth":`...)
	dst = strconv.AppendInt(dst, int64(resp.FallbackDepth), 10)
	dst = append(dst, `,"hedged":`...)
	dst = strconv.AppendBool(dst, resp.Hedged)
	dst = append(dst, `,"cost_usd":`...)
	dst = jsonw.Float(dst, resp.CostUSD)
	dst = append(dst, `,"attempts":`...)
	dst = strconv.AppendInt(dst, int64(len(resp.Attempts)), 10)
	return append(dst, '}')
}
