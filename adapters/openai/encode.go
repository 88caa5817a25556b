package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/toolschema"
	"github.com/switchyard-llm/switchyard/schemas"
)

// encodeOptions are the adapter settings that shape the request body.
type encodeOptions struct {
	stream                 bool
	streamUsage            bool
	useMaxCompletionTokens bool
	quirks                 *quirks // nil: OpenAI's own behaviour with no model rules
}

// noQuirks is OpenAI's own request, without the model rules of FlavorOpenAI.
var noQuirks quirks

// encodeRequest converts a canonical call to a Chat Completions request body. Its errors describe
// what is wrong with the call without quoting message text (they end up in logs).
func encodeRequest(call *adapters.Call, o encodeOptions) ([]byte, error) {
	req, err := buildRequest(call, o)
	if err != nil {
		return nil, err
	}
	return json.Marshal(req)
}

func buildRequest(call *adapters.Call, o encodeOptions) (*chatRequest, error) {
	if call == nil {
		return nil, errors.New("nil call")
	}
	if call.Model == "" {
		return nil, errors.New("model is empty")
	}
	if len(call.Messages) == 0 {
		return nil, errors.New("no messages")
	}
	q := o.quirks
	if q == nil {
		q = &noQuirks
	}
	req := &chatRequest{
		Model:       call.Model,
		Messages:    make([]chatMessage, len(call.Messages)),
		Temperature: call.Temperature,
		Stream:      o.stream,
	}
	if q.noTemperature != nil && q.noTemperature(call.Model) {
		req.Temperature = nil // rejected (OpenAI reasoning models) or ignored (deepseek-reasoner)
	}
	for i := range call.Messages {
		m := &call.Messages[i]
		out := &req.Messages[i]
		out.Role = m.Role
		if !q.dropNames {
			out.Name = m.Name
		}
		switch m.Role {
		case "system", "developer", "user":
			if m.Role == "developer" && q.developerAsSystem {
				out.Role = "system"
			}
			c, err := content(m, q)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			out.Content = c
		case "assistant":
			if m.Content != "" || len(m.Parts) > 0 || len(m.ToolCalls) == 0 {
				c, err := content(m, q)
				if err != nil {
					return nil, fmt.Errorf("message %d: %w", i, err)
				}
				out.Content = c
			}
			if len(m.ToolCalls) > 0 {
				out.ToolCalls = make([]chatToolCall, len(m.ToolCalls))
				for j, tc := range m.ToolCalls {
					if tc.ID == "" || tc.Name == "" {
						return nil, fmt.Errorf("message %d: tool call %d needs an id and a name", i, j)
					}
					args := tc.Arguments
					if args == "" {
						args = "{}"
					}
					id := tc.ID
					if q.toolCallID9 {
						id = mistralToolCallID(id)
					}
					out.ToolCalls[j] = chatToolCall{ID: id, Type: "function", Function: chatFunction{Name: tc.Name, Arguments: args}}
				}
			}
		case "tool":
			if m.ToolCallID == "" {
				return nil, fmt.Errorf("message %d: tool result without tool_call_id", i)
			}
			c, err := content(m, q)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			out.Content = c
			out.Name = "" // the tool message has no name field in the API
			out.ToolCallID = m.ToolCallID
			if q.toolCallID9 {
				out.ToolCallID = mistralToolCallID(m.ToolCallID)
			}
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	if len(call.Tools) > 0 {
		req.Tools = make([]chatTool, len(call.Tools))
		for i, t := range call.Tools {
			if !validToolName(t.Name) {
				return nil, fmt.Errorf("tool %d: name %q must be 1-64 letters, digits, '_' or '-'", i, t.Name)
			}
			params, err := openAIParams(t.Parameters)
			if err != nil {
				if _, isJSON := errors.AsType[*json.SyntaxError](err); isJSON || !json.Valid([]byte(t.Parameters)) {
					// The validator's message may quote the text around the error.
					return nil, fmt.Errorf("tool %q: parameters are not valid JSON", t.Name)
				}
				return nil, fmt.Errorf("tool %q: %w", t.Name, err)
			}
			req.Tools[i] = chatTool{Type: "function", Function: functionDecl{Name: t.Name, Description: t.Description, Parameters: params}}
		}
	}
	switch tc := call.ToolChoice; tc {
	case "":
	case adapters.ToolChoiceAuto, adapters.ToolChoiceNone, adapters.ToolChoiceRequired:
		if len(call.Tools) > 0 {
			req.ToolChoice = tc
		} else if tc == adapters.ToolChoiceRequired {
			return nil, errors.New("tool_choice required without tools")
		}
	default:
		found := false
		for _, t := range call.Tools {
			found = found || t.Name == tc
		}
		if !found {
			return nil, fmt.Errorf("tool_choice names tool %q, which is not among the tools", tc)
		}
		choice := toolChoiceFunc{Type: "function"}
		choice.Function.Name = tc
		req.ToolChoice = choice
	}
	switch rf := call.ResponseFormat; rf.Type {
	case "", "text":
	case "json", "json_object":
		req.ResponseFormat = &responseFormat{Type: "json_object"}
	case "json_schema":
		if rf.Schema == "" || !json.Valid([]byte(rf.Schema)) {
			return nil, errors.New("response_format json_schema needs a valid JSON schema")
		}
		name := rf.Name
		if name == "" {
			name = "response"
		}
		if !validToolName(name) {
			return nil, fmt.Errorf("response_format name %q must be 1-64 letters, digits, '_' or '-'", name)
		}
		req.ResponseFormat = &responseFormat{Type: "json_schema", JSONSchema: &jsonSchemaSpec{Name: name, Schema: json.RawMessage(rf.Schema)}}
	default:
		return nil, fmt.Errorf("unknown response_format type %q", rf.Type)
	}
	if call.MaxTokens < 0 {
		return nil, errors.New("max_tokens is negative")
	}
	useMCT := o.useMaxCompletionTokens && !q.maxTokensOnly ||
		q.openAIReasoning && isOpenAIReasoning(call.Model)
	if useMCT {
		req.MaxCompletionTokens = call.MaxTokens
	} else {
		req.MaxTokens = call.MaxTokens
	}
	if o.stream && o.streamUsage && !q.noStreamOptions {
		req.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	return req, nil
}

// content returns a message's "content": its text as a string, or for multi-part messages an
// array of text and image_url parts (images in user messages only, as OpenAI requires).
func content(m *schemas.Message, q *quirks) (any, error) {
	if len(m.Parts) == 0 {
		return &m.Content, nil
	}
	images := 0
	for i := range m.Parts {
		p := &m.Parts[i]
		switch p.Type {
		case schemas.PartText:
		case schemas.PartImage:
			if m.Role != "user" {
				return nil, fmt.Errorf("image part in a %s message (images go in user messages)", m.Role)
			}
			if p.URL == "" && (p.MediaType == "" || p.Data == "") {
				return nil, fmt.Errorf("image part %d needs a URL, or a media type and base64 data", i)
			}
			images++
		default:
			return nil, fmt.Errorf("part %d: unknown type %q", i, p.Type)
		}
	}
	if images == 0 && q.textAsString {
		s := m.Text()
		return &s, nil
	}
	parts := make([]chatPart, 0, len(m.Parts))
	for i := range m.Parts {
		p := &m.Parts[i]
		if p.Type == schemas.PartText {
			if n := len(parts); q.mergeTextParts && n > 0 && parts[n-1].Type == "text" {
				parts[n-1].Text += "\n" + p.Text
				continue
			}
			parts = append(parts, chatPart{Type: "text", Text: p.Text})
			continue
		}
		u := p.URL
		if u == "" {
			u = "data:" + p.MediaType + ";base64," + p.Data
		}
		parts = append(parts, chatPart{Type: "image_url", ImageURL: &imageURL{URL: u}})
	}
	return parts, nil
}

// Compiled tool parameters by schema text. Callers send the same few tools again and again;
// compiling a schema parses it into maps, which costs more than encoding the whole request. The
// cache is bounded in entries and entry size; the values are never modified after they are
// stored, so sharing them between calls is safe.
var (
	toolParams       sync.Map // string -> json.RawMessage
	toolParamsStored atomic.Int64
)

const (
	maxToolParamsEntries = 1024
	maxToolParamsKey     = 64 << 10
)

func openAIParams(raw string) (json.RawMessage, error) {
	if v, ok := toolParams.Load(raw); ok {
		return v.(json.RawMessage), nil
	}
	p, err := toolschema.ForOpenAI(raw)
	if err != nil {
		return nil, err
	}
	if len(raw) <= maxToolParamsKey && toolParamsStored.Load() < maxToolParamsEntries {
		if _, loaded := toolParams.LoadOrStore(raw, p); !loaded {
			toolParamsStored.Add(1)
		}
	}
	return p, nil
}

// validToolName is OpenAI's rule for function and schema names: ^[a-zA-Z0-9_-]{1,64}$.
func validToolName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
