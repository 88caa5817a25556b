package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/toolschema"
	"github.com/switchyard-llm/switchyard/schemas"
)

// encodeOptions are the adapter settings that shape the request body.
type encodeOptions struct {
	stream          bool
	maxTokens       int    // used when the call sets none
	dropTemperature bool   // the model (or API version) rejects temperature
	cacheTTL        string // "" (no prompt caching), "5m" or "1h"
}

// jsonInstruction is added to the system prompt for ResponseFormat "json": Anthropic has no
// "any JSON object" mode (structured outputs need a schema), so the request is made in words.
const jsonInstruction = "Respond with only a single JSON object: no text, no code fence and nothing else before or after it."

// encoded is a request body and the prefill it carries.
type encoded struct {
	body []byte
	// prefill is the text of a final assistant message (trailing whitespace removed, as the API
	// requires): the model continues it, and the adapter puts it in front of the answer.
	prefill string
}

// encodeRequest converts a canonical call to a Messages request body. Its errors describe what is
// wrong with the call without quoting message text (they end up in logs).
func encodeRequest(call *adapters.Call, o encodeOptions) (encoded, error) {
	req, prefill, err := buildRequest(call, o)
	if err != nil {
		return encoded{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return encoded{}, fmt.Errorf("cannot encode the request: %w", err)
	}
	return encoded{body: body, prefill: prefill}, nil
}

func buildRequest(call *adapters.Call, o encodeOptions) (*messagesRequest, string, error) {
	if call == nil {
		return nil, "", errors.New("nil call")
	}
	if call.Model == "" {
		return nil, "", errors.New("model is empty")
	}
	if len(call.Messages) == 0 {
		return nil, "", errors.New("no messages")
	}
	if call.MaxTokens < 0 {
		return nil, "", errors.New("max_tokens is negative")
	}
	if t := call.Temperature; t != nil && (*t < 0 || *t > 1) {
		return nil, "", fmt.Errorf("temperature %g is outside Anthropic's range 0..1", *t)
	}
	req := &messagesRequest{Model: call.Model, MaxTokens: call.MaxTokens, Temperature: call.Temperature, Stream: o.stream}
	if o.dropTemperature {
		req.Temperature = nil
	}
	switch o.cacheTTL {
	case "":
	case "5m":
		req.CacheControl = &cacheControl{Type: "ephemeral"}
	default:
		req.CacheControl = &cacheControl{Type: "ephemeral", TTL: o.cacheTTL}
	}
	if req.MaxTokens == 0 {
		req.MaxTokens = o.maxTokens
	}
	var system []string
	for i := range call.Messages {
		m := &call.Messages[i]
		switch m.Role {
		case "system", "developer":
			// Anthropic has one top-level system prompt; every system or developer message joins it,
			// wherever it stands in the conversation.
			if hasImage(m.Parts) {
				return nil, "", fmt.Errorf("message %d: images are only allowed in user and tool messages", i)
			}
			if t := m.Text(); t != "" {
				system = append(system, t)
			}
		case "user":
			blocks, err := contentBlocks(i, m)
			if err != nil {
				return nil, "", err
			}
			req.Messages = appendTurn(req.Messages, "user", blocks)
		case "assistant":
			if hasImage(m.Parts) {
				return nil, "", fmt.Errorf("message %d: images are only allowed in user and tool messages", i)
			}
			var blocks []block
			if t := m.Text(); t != "" {
				blocks = append(blocks, block{Type: "text", Text: t})
			}
			for j, tc := range m.ToolCalls {
				if tc.ID == "" || tc.Name == "" {
					return nil, "", fmt.Errorf("message %d: tool call %d needs an id and a name", i, j)
				}
				input, err := toolInput(tc.Arguments)
				if err != nil {
					return nil, "", fmt.Errorf("message %d: tool call %d (%s): %w", i, j, tc.Name, err)
				}
				blocks = append(blocks, block{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: input})
			}
			req.Messages = appendTurn(req.Messages, "assistant", blocks)
		case "tool":
			if m.ToolCallID == "" {
				return nil, "", fmt.Errorf("message %d: tool result without tool_call_id", i)
			}
			res := block{Type: "tool_result", ToolUseID: m.ToolCallID}
			if len(m.Parts) > 0 {
				parts, err := contentBlocks(i, m)
				if err != nil {
					return nil, "", err
				}
				if len(parts) > 0 {
					res.Content = parts
				}
			} else if m.Content != "" {
				res.Content = m.Content
			}
			// Tool results travel in a user turn; consecutive ones share it.
			req.Messages = appendTurn(req.Messages, "user", []block{res})
		default:
			return nil, "", fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	if len(req.Messages) == 0 {
		return nil, "", errors.New("no user or assistant message with content")
	}
	for i := range req.Messages {
		if req.Messages[i].Role == "user" {
			toolResultsFirst(req.Messages[i].Content)
		}
	}
	prefill := trimPrefill(req)
	if len(req.Messages) == 0 {
		return nil, "", errors.New("no user or assistant message with content")
	}

	if len(call.Tools) > 0 {
		req.Tools = make([]tool, len(call.Tools))
		for i, t := range call.Tools {
			if err := toolschema.CheckName(t.Name); err != nil {
				return nil, "", fmt.Errorf("tool %d: %w", i, err)
			}
			schema, err := toolschema.ForAnthropic(t.Parameters)
			if err != nil {
				return nil, "", fmt.Errorf("tool %q: %w", t.Name, err)
			}
			req.Tools[i] = tool{Name: t.Name, Description: t.Description, InputSchema: schema}
		}
	}
	switch tc := call.ToolChoice; tc {
	case "":
	case adapters.ToolChoiceAuto, adapters.ToolChoiceNone:
		if len(call.Tools) > 0 {
			req.ToolChoice = &toolChoice{Type: tc}
		}
	case adapters.ToolChoiceRequired:
		if len(call.Tools) == 0 {
			return nil, "", errors.New("tool_choice required without tools")
		}
		req.ToolChoice = &toolChoice{Type: "any"}
	default:
		found := false
		for _, t := range call.Tools {
			found = found || t.Name == tc
		}
		if !found {
			return nil, "", fmt.Errorf("tool_choice names tool %q, which is not among the tools", tc)
		}
		req.ToolChoice = &toolChoice{Type: "tool", Name: tc}
	}
	switch rf := call.ResponseFormat; rf.Type {
	case "", "text":
	case "json", "json_object":
		system = append(system, jsonInstruction)
	case "json_schema":
		schema, err := schemaObject(rf.Schema)
		if err != nil {
			return nil, "", err
		}
		req.OutputConfig = &outputConfig{Format: &outputFormat{Type: "json_schema", Schema: schema}}
	default:
		return nil, "", fmt.Errorf("unknown response_format type %q", rf.Type)
	}
	req.System = strings.Join(system, "\n\n")
	return req, prefill, nil
}

// appendTurn adds blocks as a turn of role, merged into the previous turn when it has the same
// role: the Messages API wants user and assistant turns to alternate. A turn without blocks (an
// empty message) is dropped, since the API rejects empty content.
func appendTurn(msgs []message, role string, blocks []block) []message {
	if len(blocks) == 0 {
		return msgs
	}
	if n := len(msgs); n > 0 && msgs[n-1].Role == role {
		msgs[n-1].Content = append(msgs[n-1].Content, blocks...)
		return msgs
	}
	return append(msgs, message{Role: role, Content: blocks})
}

// toolResultsFirst moves a user turn's tool_result blocks in front of its other blocks, keeping
// their order: the API wants the results right after the assistant's tool_use turn.
func toolResultsFirst(blocks []block) {
	sorted := true
	seenOther := false
	for i := range blocks {
		if blocks[i].Type != "tool_result" {
			seenOther = true
		} else if seenOther {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	out := make([]block, 0, len(blocks))
	for _, b := range blocks {
		if b.Type == "tool_result" {
			out = append(out, b)
		}
	}
	for _, b := range blocks {
		if b.Type != "tool_result" {
			out = append(out, b)
		}
	}
	copy(blocks, out)
}

// trimPrefill returns the text of a final assistant turn made of text only (the prefill), after
// removing its trailing whitespace, which the API rejects; a turn left empty is dropped.
func trimPrefill(req *messagesRequest) string {
	n := len(req.Messages)
	if n == 0 || req.Messages[n-1].Role != "assistant" {
		return ""
	}
	last := &req.Messages[n-1]
	for _, b := range last.Content {
		if b.Type != "text" {
			return ""
		}
	}
	for len(last.Content) > 0 {
		k := len(last.Content) - 1
		last.Content[k].Text = strings.TrimRightFunc(last.Content[k].Text, unicode.IsSpace)
		if last.Content[k].Text != "" {
			break
		}
		last.Content = last.Content[:k]
	}
	if len(last.Content) == 0 {
		req.Messages = req.Messages[:n-1]
		return ""
	}
	var sb strings.Builder
	for _, b := range last.Content {
		sb.WriteString(b.Text)
	}
	return sb.String()
}

func hasImage(parts []schemas.ContentPart) bool {
	for i := range parts {
		if parts[i].Type == schemas.PartImage {
			return true
		}
	}
	return false
}

// contentBlocks converts a message's content (Content, or Parts) to blocks; empty texts are left
// out, since the API rejects empty text blocks.
func contentBlocks(i int, m *schemas.Message) ([]block, error) {
	if len(m.Parts) == 0 {
		if m.Content == "" {
			return nil, nil
		}
		return []block{{Type: "text", Text: m.Content}}, nil
	}
	blocks := make([]block, 0, len(m.Parts))
	for j := range m.Parts {
		p := &m.Parts[j]
		switch p.Type {
		case schemas.PartText:
			if p.Text != "" {
				blocks = append(blocks, block{Type: "text", Text: p.Text})
			}
		case schemas.PartImage:
			src, err := imageSourceOf(p)
			if err != nil {
				return nil, fmt.Errorf("message %d part %d: %w", i, j, err)
			}
			blocks = append(blocks, block{Type: "image", Source: src})
		default:
			return nil, fmt.Errorf("message %d part %d: unknown part type %q", i, j, p.Type)
		}
	}
	return blocks, nil
}

// imageSourceOf maps an image part: base64 data with its media type, or a URL. A data: URL is sent
// as base64 data, since Anthropic's url source fetches http(s) URLs only.
func imageSourceOf(p *schemas.ContentPart) (*imageSource, error) {
	switch {
	case p.Data != "":
		if p.MediaType == "" {
			return nil, errors.New("image data needs a media type")
		}
		return &imageSource{Type: "base64", MediaType: p.MediaType, Data: p.Data}, nil
	case strings.HasPrefix(p.URL, "data:"):
		meta, data, ok := strings.Cut(p.URL[len("data:"):], ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || mt == "" || data == "" {
			return nil, errors.New("image data URL must be data:<media type>;base64,<data>")
		}
		return &imageSource{Type: "base64", MediaType: mt, Data: data}, nil
	case p.URL != "":
		return &imageSource{Type: "url", URL: p.URL}, nil
	}
	return nil, errors.New("image part has neither data nor URL")
}

// toolInput parses a tool call's arguments into the JSON object Anthropic wants as input.
func toolInput(args string) (json.RawMessage, error) {
	t := strings.TrimSpace(args)
	if t == "" {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid([]byte(t)) {
		return nil, errors.New("arguments are not valid JSON")
	}
	if t[0] != '{' {
		return nil, errors.New("arguments are not a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(t)); err != nil {
		return nil, errors.New("arguments are not valid JSON")
	}
	return buf.Bytes(), nil
}

// schemaObject checks a json_schema response format's schema: a JSON object.
func schemaObject(s string) (json.RawMessage, error) {
	t := strings.TrimSpace(s)
	if t == "" || t[0] != '{' || !json.Valid([]byte(t)) {
		return nil, errors.New("response_format json_schema needs a JSON schema object")
	}
	return json.RawMessage(t), nil
}
