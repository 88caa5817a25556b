package openai

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchyard-llm/switchyard/adapters"
)

// encodeOptions are the adapter settings that shape the request body.
type encodeOptions struct {
	stream                 bool
	streamUsage            bool
	useMaxCompletionTokens bool
}

// emptyObjectSchema stands in for a tool without parameters: OpenAI requires an object schema.
var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

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
	req := &chatRequest{
		Model:       call.Model,
		Messages:    make([]chatMessage, len(call.Messages)),
		Temperature: call.Temperature,
		Stream:      o.stream,
	}
	for i := range call.Messages {
		m := &call.Messages[i]
		out := &req.Messages[i]
		out.Role = m.Role
		switch m.Role {
		case "system", "developer", "user":
			out.Content = &m.Content
			out.Name = m.Name
		case "assistant":
			out.Name = m.Name
			if m.Content != "" || len(m.ToolCalls) == 0 {
				out.Content = &m.Content
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
					out.ToolCalls[j] = chatToolCall{ID: tc.ID, Type: "function", Function: chatFunction{Name: tc.Name, Arguments: args}}
				}
			}
		case "tool":
			if m.ToolCallID == "" {
				return nil, fmt.Errorf("message %d: tool result without tool_call_id", i)
			}
			out.Content = &m.Content
			out.ToolCallID = m.ToolCallID
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
			params := emptyObjectSchema
			if t.Parameters != "" {
				params = json.RawMessage(t.Parameters)
				if !json.Valid(params) {
					return nil, fmt.Errorf("tool %q: parameters are not valid JSON", t.Name)
				}
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
	if o.useMaxCompletionTokens {
		req.MaxCompletionTokens = call.MaxTokens
	} else {
		req.MaxTokens = call.MaxTokens
	}
	if o.stream && o.streamUsage {
		req.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	return req, nil
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
