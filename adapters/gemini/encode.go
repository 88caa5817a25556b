package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/toolschema"
	"github.com/switchyard-llm/switchyard/schemas"
)

// encodeRequest converts a canonical call to a generateContent request body. Its errors describe
// what is wrong with the call without quoting message text (they end up in logs).
func encodeRequest(call *adapters.Call) ([]byte, error) {
	req, err := buildRequest(call)
	if err != nil {
		return nil, err
	}
	return json.Marshal(req)
}

func buildRequest(call *adapters.Call) (*generateRequest, error) {
	if call == nil {
		return nil, errors.New("nil call")
	}
	if call.Model == "" {
		return nil, errors.New("model is empty")
	}
	if len(call.Messages) == 0 {
		return nil, errors.New("no messages")
	}
	req := &generateRequest{Contents: make([]content, 0, len(call.Messages))}
	for i := range call.Messages {
		m := &call.Messages[i]
		switch m.Role {
		case "system", "developer":
			if req.SystemInstruction == nil {
				req.SystemInstruction = &content{}
			}
			parts, err := textParts(req.SystemInstruction.Parts, m, i)
			if err != nil {
				return nil, err
			}
			req.SystemInstruction.Parts = parts
		case "user":
			parts, err := userParts(m, i)
			if err != nil {
				return nil, err
			}
			if len(parts) == 0 {
				return nil, fmt.Errorf("message %d: empty user message (Gemini rejects empty text)", i)
			}
			req.Contents = append(req.Contents, content{Role: "user", Parts: parts})
		case "assistant":
			parts, err := textParts(nil, m, i)
			if err != nil {
				return nil, err
			}
			for j, tc := range m.ToolCalls {
				if tc.Name == "" {
					return nil, fmt.Errorf("message %d: tool call %d has no name", i, j)
				}
				args, err := argsObject(tc.Arguments)
				if err != nil {
					return nil, fmt.Errorf("message %d: tool call %d: %w", i, j, err)
				}
				fc := part{FunctionCall: &functionCall{ID: sentID(tc.ID), Name: tc.Name, Args: args}}
				switch {
				case tc.Signature != "":
					fc.ThoughtSignature = tc.Signature // Gemini's own, returned with the call
				case j == 0 && needsSignature(call.Model):
					fc.ThoughtSignature = skipSignature
				}
				parts = append(parts, fc)
			}
			if len(parts) == 0 {
				continue // an empty turn says nothing, and Gemini rejects a content without parts
			}
			if i == len(call.Messages)-1 && len(m.ToolCalls) == 0 {
				return nil, fmt.Errorf("message %d: a final assistant message (prefill) is not supported by Gemini", i)
			}
			req.Contents = append(req.Contents, content{Role: "model", Parts: parts})
		case "tool":
			name, err := toolName(call.Messages[:i], m, i)
			if err != nil {
				return nil, err
			}
			fr := &functionResponse{ID: sentID(m.ToolCallID), Name: name, Response: responseObject(m.Text())}
			// Consecutive tool results go back in one content, as Gemini returned the calls.
			if n := len(req.Contents); n > 0 && i > 0 && call.Messages[i-1].Role == "tool" {
				req.Contents[n-1].Parts = append(req.Contents[n-1].Parts, part{FunctionResponse: fr})
			} else {
				req.Contents = append(req.Contents, content{Role: "user", Parts: []part{{FunctionResponse: fr}}})
			}
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	if len(req.Contents) == 0 {
		return nil, errors.New("no user or assistant messages (Gemini needs at least one content)")
	}
	if si := req.SystemInstruction; si != nil && len(si.Parts) == 0 {
		req.SystemInstruction = nil // only empty system messages: Gemini rejects empty parts
	}
	if err := encodeTools(req, call); err != nil {
		return nil, err
	}
	var gc generationConfig
	switch rf := call.ResponseFormat; rf.Type {
	case "", "text":
	case "json", "json_object":
		gc.ResponseMimeType = "application/json"
	case "json_schema":
		if strings.TrimSpace(rf.Schema) == "" {
			return nil, errors.New("response_format json_schema needs a schema")
		}
		schema, err := compileResponseSchema(rf.Schema)
		if err != nil {
			return nil, fmt.Errorf("response_format: %w", err)
		}
		gc.ResponseMimeType = "application/json"
		gc.ResponseSchema = schema
	default:
		return nil, fmt.Errorf("unknown response_format type %q", rf.Type)
	}
	if call.MaxTokens < 0 {
		return nil, errors.New("max_tokens is negative")
	}
	gc.MaxOutputTokens = call.MaxTokens
	gc.Temperature = call.Temperature
	if gc.MaxOutputTokens != 0 || gc.Temperature != nil || gc.ResponseMimeType != "" {
		req.GenerationConfig = &gc
	}
	return req, nil
}

func encodeTools(req *generateRequest, call *adapters.Call) error {
	if len(call.Tools) > 0 {
		decls := make([]functionDecl, len(call.Tools))
		for i, t := range call.Tools {
			if err := toolschema.CheckName(t.Name); err != nil {
				return fmt.Errorf("tool %d: %w", i, err)
			}
			params, err := compileSchema(t.Parameters)
			if err != nil {
				return fmt.Errorf("tool %q: %w", t.Name, err)
			}
			decls[i] = functionDecl{Name: t.Name, Description: t.Description, Parameters: params}
		}
		req.Tools = []tool{{FunctionDeclarations: decls}}
	}
	mode, allowed := "", []string(nil)
	switch tc := call.ToolChoice; tc {
	case "":
	case adapters.ToolChoiceAuto:
		mode = "AUTO"
	case adapters.ToolChoiceNone:
		mode = "NONE"
	case adapters.ToolChoiceRequired:
		if len(call.Tools) == 0 {
			return errors.New("tool_choice required without tools")
		}
		mode = "ANY"
	default:
		found := false
		for _, t := range call.Tools {
			found = found || t.Name == tc
		}
		if !found {
			return fmt.Errorf("tool_choice names tool %q, which is not among the tools", tc)
		}
		mode, allowed = "ANY", []string{tc}
	}
	if mode != "" && len(call.Tools) > 0 {
		req.ToolConfig = &toolConfig{FunctionCallingConfig: functionCallingConfig{Mode: mode, AllowedFunctionNames: allowed}}
	}
	return nil
}

// schemaCache keeps compiled schemas by their canonical text: the same tools come with call
// after call, and compiling one means decoding and re-encoding it. Bounded: past maxCached
// entries, schemas are compiled on every call.
var (
	schemaCache sync.Map // string -> json.RawMessage
	cached      atomic.Int64
)

const maxCached = 1024

// compileSchema is toolschema.ForGemini with a cache. The returned bytes are shared: never
// modify them.
func compileSchema(raw string) (json.RawMessage, error) {
	return cachedCompile(raw, raw, toolschema.ForGemini)
}

// compileResponseSchema is toolschema.ForGeminiResponse with the same cache (keys kept apart from
// parameter schemas: the top level of a response schema may be any type).
func compileResponseSchema(raw string) (json.RawMessage, error) {
	return cachedCompile("response:"+raw, raw, toolschema.ForGeminiResponse)
}

func cachedCompile(key, raw string, compile func(string) (json.RawMessage, error)) (json.RawMessage, error) {
	if v, ok := schemaCache.Load(key); ok {
		return v.(json.RawMessage), nil
	}
	out, err := compile(raw)
	if err != nil {
		return nil, err
	}
	if cached.Load() < maxCached {
		if _, loaded := schemaCache.LoadOrStore(key, out); !loaded {
			cached.Add(1)
		}
	}
	return out, nil
}

// skipSignature is the thoughtSignature Google documents for a function call whose real
// signature is not at hand (history from another model, or, here, any history: the canonical
// ToolCall has no field to keep Gemini's signature in). Gemini 3 answers 400 when the first
// function call of a step in the current turn comes back without a signature; with this value
// it accepts the call, at the cost of the model's earlier reasoning context.
const skipSignature = "skip_thought_signature_validator"

// needsSignature reports whether model may validate thought signatures: Gemini 3 and later, and
// names the adapter does not know. Gemini 1.x and 2.x, and Gemma, never validate them.
func needsSignature(model string) bool {
	model = strings.TrimPrefix(model, "models/")
	for _, old := range []string{"gemini-1.", "gemini-2.", "gemini-pro", "gemma-"} {
		if strings.HasPrefix(model, old) {
			return false
		}
	}
	return true
}

// syntheticID is the id the adapter makes up for a function call that Gemini returned without
// one: "call_" and the call's index in the answer. Such ids are never sent back to Gemini.
func syntheticID(i int) string { return "call_" + strconv.Itoa(i) }

func isSynthetic(id string) bool {
	digits, ok := strings.CutPrefix(id, "call_")
	if !ok || digits == "" {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// sentID is the id to send with a functionCall or functionResponse: a provider-given id is kept
// (Gemini matches results to calls by it when it issued one), a synthetic one is dropped.
func sentID(id string) string {
	if isSynthetic(id) {
		return ""
	}
	return id
}

// toolName finds the function name of a tool result: the message's Name, or the name of the
// assistant call with its ToolCallID, searching back from the result.
func toolName(before []schemas.Message, m *schemas.Message, i int) (string, error) {
	if m.Name != "" {
		return m.Name, nil
	}
	if m.ToolCallID == "" {
		return "", fmt.Errorf("message %d: tool result without a name or tool_call_id", i)
	}
	for j := len(before) - 1; j >= 0; j-- {
		if before[j].Role != "assistant" {
			continue
		}
		for _, tc := range before[j].ToolCalls {
			if tc.ID == m.ToolCallID {
				return tc.Name, nil
			}
		}
	}
	return "", fmt.Errorf("message %d: tool result refers to no earlier tool call", i)
}

var emptyObject = json.RawMessage(`{}`)

// argsObject checks that a call's arguments are a JSON object ("" means none).
func argsObject(args string) (json.RawMessage, error) {
	b := bytes.TrimSpace([]byte(args))
	if len(b) == 0 {
		return emptyObject, nil
	}
	if b[0] != '{' || !json.Valid(b) {
		return nil, errors.New("arguments are not a JSON object")
	}
	return b, nil
}

// responseObject is a tool's result as Gemini's functionResponse.response, which must be an
// object: the result itself when it is a JSON object, else {"content": "<text>"}.
func responseObject(text string) json.RawMessage {
	b := bytes.TrimSpace([]byte(text))
	if len(b) > 0 && b[0] == '{' && json.Valid(b) {
		return b
	}
	out, _ := json.Marshal(struct {
		Content string `json:"content"`
	}{text})
	return out
}

// textParts appends a message's text (Content, or its text parts) to dst. Image parts are only
// accepted from the user.
func textParts(dst []part, m *schemas.Message, i int) ([]part, error) {
	if len(m.Parts) == 0 {
		if m.Content != "" {
			dst = append(dst, part{Text: &m.Content})
		}
		return dst, nil
	}
	for j := range m.Parts {
		p := &m.Parts[j]
		switch p.Type {
		case schemas.PartText:
			if p.Text != "" {
				dst = append(dst, part{Text: &p.Text})
			}
		case schemas.PartImage:
			return nil, fmt.Errorf("message %d: image parts are only accepted in user messages", i)
		default:
			return nil, fmt.Errorf("message %d: part %d has unknown type %q", i, j, p.Type)
		}
	}
	return dst, nil
}

func userParts(m *schemas.Message, i int) ([]part, error) {
	if len(m.Parts) == 0 {
		if m.Content == "" {
			return nil, nil
		}
		return []part{{Text: &m.Content}}, nil
	}
	out := make([]part, 0, len(m.Parts))
	for j := range m.Parts {
		p := &m.Parts[j]
		switch p.Type {
		case schemas.PartText:
			if p.Text != "" {
				out = append(out, part{Text: &p.Text})
			}
		case schemas.PartImage:
			ip, err := imagePart(p)
			if err != nil {
				return nil, fmt.Errorf("message %d: part %d: %w", i, j, err)
			}
			out = append(out, ip)
		default:
			return nil, fmt.Errorf("message %d: part %d has unknown type %q", i, j, p.Type)
		}
	}
	return out, nil
}

// imagePart converts an image: base64 data (or a data: URL) inline, any other URL as fileData.
func imagePart(p *schemas.ContentPart) (part, error) {
	if p.Data != "" {
		if p.MediaType == "" {
			return part{}, errors.New("image data without a media type")
		}
		return part{InlineData: &blob{MimeType: p.MediaType, Data: p.Data}}, nil
	}
	if p.URL == "" {
		return part{}, errors.New("image without data or URL")
	}
	if rest, ok := strings.CutPrefix(p.URL, "data:"); ok {
		mt, data, ok := strings.Cut(rest, ";base64,")
		if !ok || mt == "" {
			return part{}, errors.New("image data URL is not base64 with a media type")
		}
		return part{InlineData: &blob{MimeType: mt, Data: data}}, nil
	}
	mt := p.MediaType
	if mt == "" {
		mt = mediaTypeOf(p.URL)
	}
	if mt == "" {
		return part{}, errors.New("image URL without a media type, and none can be told from its extension")
	}
	return part{FileData: &fileData{MimeType: mt, FileURI: p.URL}}, nil
}

// mediaTypeOf guesses an image's media type from its URL's extension (Gemini requires one).
func mediaTypeOf(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	switch strings.ToLower(path.Ext(u)) {
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".webp":
		return "image/webp"
	case ".heic":
		return "image/heic"
	case ".heif":
		return "image/heif"
	case ".gif":
		return "image/gif"
	}
	return ""
}
