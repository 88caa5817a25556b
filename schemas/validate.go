package schemas

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Limits and allowed values checked by ValidateRequest.
const (
	// MaxIDBytes is the longest request_id or tenant_id accepted.
	MaxIDBytes = 256
)

// The closed sets of Request values. TaskType is open (a new task type may reach the router
// before any schema change) and is not checked.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"

	PriorityInteractive = "interactive"
	PriorityBatch       = "batch"
	PriorityBackground  = "background"

	ResponseFormatText       = "text"
	ResponseFormatJSON       = "json"
	ResponseFormatJSONSchema = "json_schema"
)

var (
	roles           = []string{RoleSystem, RoleUser, RoleAssistant, RoleTool}
	priorities      = []string{PriorityInteractive, PriorityBatch, PriorityBackground}
	responseFormats = []string{ResponseFormatText, ResponseFormatJSON, ResponseFormatJSONSchema}
)

// ValidateRequest checks what the schema cannot: required values present, closed sets, ranges.
// It returns the first problem, in field order, as a [*DecodeError] with reason
// "validation:<top-level field>" and a detail that names the nested field, e.g.
// reason "validation:messages", detail "messages[2].role: not one of system, user, assistant,
// tool". Details never quote the value.
func ValidateRequest(r *Request) error {
	if r == nil {
		return invalid("request", "request", "missing")
	}
	if err := checkID("request_id", r.RequestID); err != nil {
		return err
	}
	if err := checkID("tenant_id", r.TenantID); err != nil {
		return err
	}
	if r.CreatedAt <= 0 {
		return invalid("created_at", "created_at", "must be a positive Unix time in ms")
	}
	if !oneOf(r.Priority, priorities) {
		return invalid("priority", "priority", "not one of interactive, batch, background")
	}
	if len(r.Messages) == 0 {
		return invalid("messages", "messages", "at least one message is required")
	}
	for i, m := range r.Messages {
		at := "messages[" + strconv.Itoa(i) + "]"
		if !oneOf(m.Role, roles) {
			return invalid("messages", at+".role", "not one of system, user, assistant, tool")
		}
		if len(m.Parts) > 0 && m.Content != "" {
			return invalid("messages", at, "has both content and parts; use one")
		}
		for j, p := range m.Parts {
			if err := checkPart(at+".parts["+strconv.Itoa(j)+"]", &p); err != nil {
				return err
			}
		}
	}
	for i, t := range r.Tools {
		at := "tools[" + strconv.Itoa(i) + "]"
		if t.Name == "" {
			return invalid("tools", at+".name", "empty")
		}
		if !json.Valid([]byte(t.Parameters)) {
			return invalid("tools", at+".parameters", "not valid JSON")
		}
	}
	rf := r.ResponseFormat
	if !oneOf(rf.Type, responseFormats) {
		return invalid("response_format", "response_format.type", "not one of text, json, json_schema")
	}
	if rf.Type == ResponseFormatJSONSchema && !json.Valid([]byte(rf.Schema)) {
		return invalid("response_format", "response_format.schema", "not valid JSON")
	}
	if r.MaxTokens < 0 {
		return invalid("max_tokens", "max_tokens", "negative")
	}
	if t := r.Temperature; t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0) || *t < 0) {
		return invalid("temperature", "temperature", "must be a finite number >= 0")
	}
	if b := r.BudgetUSD; b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0) || *b < 0) {
		return invalid("budget_usd", "budget_usd", "must be a finite number >= 0")
	}
	if r.DeadlineMS < 0 {
		return invalid("deadline_ms", "deadline_ms", "negative")
	}
	return nil
}

func checkID(field, v string) error {
	switch {
	case v == "":
		return invalid(field, field, "empty")
	case len(v) > MaxIDBytes:
		return invalid(field, field, strconv.Itoa(len(v))+" bytes, over the limit of "+strconv.Itoa(MaxIDBytes))
	}
	return nil
}

func invalid(top, field, msg string) error {
	return decodeErr(ValidationReason(top), field+": "+msg, nil)
}

func oneOf(v string, set []string) bool { return slices.Contains(set, v) }

// imageMediaTypes are the inline image types every provider with image input accepts.
var imageMediaTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

func checkPart(at string, p *ContentPart) error {
	switch p.Type {
	case PartText:
		if p.URL != "" || p.Data != "" {
			return invalid("messages", at, "a text part carries no url or data")
		}
	case PartImage:
		switch {
		case (p.URL == "") == (p.Data == ""):
			return invalid("messages", at, "an image part needs exactly one of url and data")
		case p.Data != "" && !oneOf(p.MediaType, imageMediaTypes):
			return invalid("messages", at+".media_type", "not one of image/png, image/jpeg, image/gif, image/webp")
		case p.Data != "" && !isBase64(p.Data):
			return invalid("messages", at+".data", "not standard base64")
		case p.URL != "" && !strings.HasPrefix(p.URL, "https://") && !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "data:"):
			return invalid("messages", at+".url", "must be an http(s) or data: URL")
		}
	default:
		return invalid("messages", at+".type", "not one of text, image")
	}
	return nil
}

// isBase64 checks the alphabet and padding without allocating the decoded bytes.
func isBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == '=' && i >= len(s)-2:
			if i == len(s)-2 && s[i+1] != '=' {
				return false
			}
		default:
			return false
		}
	}
	return true
}
