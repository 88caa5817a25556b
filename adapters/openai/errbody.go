package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Error bodies differ between OpenAI-compatible servers. parseErrorBody reads all the shapes
// seen in the wild into one apiError:
//
//	{"error":{"message":"...","type":"...","param":...,"code":...}}   OpenAI, Groq, Together, DeepSeek, Ollama's /v1, new vLLM
//	{"object":"error","message":"...","type":"...","code":400}         Mistral, older vLLM
//	{"object":"error","message":{"detail":[...]},...}                  Mistral's validation errors (422)
//	{"detail":[{"loc":[...],"msg":"...","input":...}]} or {"detail":"..."}  FastAPI-based servers
//	{"code":"...","error":"..."} and {"error":"..."}                    xAI, Ollama's native API
//	"..."                                                             xAI (a bare JSON string)
//
// Validation details are reduced to their location and message: their "input" would quote the
// request (the prompt) back, and is never kept.
func parseErrorBody(data []byte) *apiError {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case '"':
		var s string
		if json.Unmarshal(data, &s) != nil || s == "" {
			return nil
		}
		return &apiError{Message: s}
	case '{':
	default:
		return nil // an HTML page from a proxy, plain text, ...: never quoted
	}
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Type    json.RawMessage `json:"type"`
		Param   json.RawMessage `json:"param"`
		Code    json.RawMessage `json:"code"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &env) != nil {
		return nil
	}
	switch {
	case len(env.Error) > 0 && env.Error[0] == '{':
		var ae apiError
		if json.Unmarshal(env.Error, &ae) != nil {
			return nil
		}
		return &ae
	case len(env.Error) > 0 && env.Error[0] == '"':
		return &apiError{Message: rawString(env.Error), Code: env.Code}
	case len(env.Message) > 0 && string(env.Message) != "null":
		return &apiError{Message: messageText(env.Message), Type: rawString(env.Type), Param: env.Param, Code: env.Code}
	case len(env.Detail) > 0:
		return &apiError{Message: detailText(env.Detail, 0)}
	}
	return nil
}

// UnmarshalJSON reads an error object whose fields may have unusual types: a message that is an
// object (Mistral), a code that is a number (vLLM).
func (e *apiError) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.Message)
	}
	var raw struct {
		Message json.RawMessage `json:"message"`
		Type    json.RawMessage `json:"type"`
		Param   json.RawMessage `json:"param"`
		Code    json.RawMessage `json:"code"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = apiError{Message: messageText(raw.Message), Type: rawString(raw.Type), Param: raw.Param, Code: raw.Code}
	return nil
}

// rawString returns raw as a string when it is a JSON string, else "".
func rawString(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// messageText renders a "message" that is a string (possibly holding encoded JSON, as some
// Mistral errors do) or a validation object.
func messageText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		s := rawString(raw)
		if t := strings.TrimSpace(s); strings.HasPrefix(t, `{"detail"`) {
			return detailText(json.RawMessage(t), 0)
		}
		return s
	}
	return detailText(raw, 0)
}

// detailText renders FastAPI/pydantic validation errors as "loc: msg; loc: msg", without their
// "input" values.
func detailText(raw json.RawMessage, depth int) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || depth > 4 {
		return ""
	}
	switch raw[0] {
	case '"':
		return rawString(raw)
	case '{':
		var obj struct {
			Detail  json.RawMessage `json:"detail"`
			Message json.RawMessage `json:"message"`
			Loc     []any           `json:"loc"`
			Msg     string          `json:"msg"`
		}
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		switch {
		case obj.Msg != "":
			return locText(obj.Loc) + obj.Msg
		case len(obj.Detail) > 0:
			return detailText(obj.Detail, depth+1)
		case len(obj.Message) > 0:
			return detailText(obj.Message, depth+1)
		}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return ""
		}
		var parts []string
		for _, it := range items {
			if s := detailText(it, depth+1); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

func locText(loc []any) string {
	if len(loc) == 0 {
		return ""
	}
	var b strings.Builder
	for i, p := range loc {
		if i > 0 {
			b.WriteByte('.')
		}
		switch p := p.(type) {
		case string:
			b.WriteString(p)
		case float64:
			b.WriteString(strconv.Itoa(int(p)))
		}
	}
	return b.String() + ": "
}
