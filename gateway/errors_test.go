package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-llm/switchyard/schemas"
)

func TestErrorFor(t *testing.T) {
	for _, tt := range []struct {
		code        string
		status      int
		typ         string
		openAICode  string // "" means the pipeline code itself
		param       string
		defaultText bool
	}{
		{code: "invalid_request", status: 400, typ: "invalid_request_error"},
		{code: "invalid_tool_call", status: 400, typ: "invalid_request_error"},
		{code: "context_too_long", status: 400, typ: "invalid_request_error", openAICode: "context_length_exceeded", param: "messages"},
		{code: "content_filtered", status: 400, typ: "invalid_request_error", openAICode: "content_filter"},
		{code: "validation:messages", status: 400, typ: "invalid_request_error", param: "messages"},
		{code: "model_not_allowed", status: 404, typ: "not_found_error", openAICode: "model_not_found", param: "model"},
		{code: "provider_not_allowed", status: 403, typ: "permission_error"},
		{code: "region_not_allowed", status: 403, typ: "permission_error"},
		{code: "no_allowed_provider", status: 403, typ: "permission_error"},
		{code: "budget_exceeded", status: 429, typ: "insufficient_quota", openAICode: "insufficient_quota"},
		{code: "deadline_exceeded", status: 504, typ: "timeout_error"},
		{code: "no_healthy_model", status: 503, typ: "server_error"},
		{code: "primary_unavailable", status: 503, typ: "server_error"},
		{code: "attempt_budget_exhausted", status: 502, typ: "server_error"},
		{code: "unavailable", status: 502, typ: "server_error"},
		{code: "rate_limited", status: 502, typ: "server_error"},
		{code: "breaker_open", status: 502, typ: "server_error"},
		{code: "cancelled", status: 499, typ: "request_cancelled"},
		{code: "canceled", status: 499, typ: "request_cancelled", openAICode: "cancelled"},
		{code: "something_new", status: 502, typ: "server_error", defaultText: true},
	} {
		t.Run(tt.code, func(t *testing.T) {
			msg := "pipeline says " + tt.code
			if tt.defaultText {
				msg = ""
			}
			e := ErrorFor(&schemas.ErrorInfo{Code: tt.code, Message: msg})
			wantCode := tt.openAICode
			if wantCode == "" {
				wantCode = tt.code
			}
			if strings.HasPrefix(tt.code, "validation:") {
				wantCode = tt.code
			}
			if e.Status != tt.status || e.Type != tt.typ || e.Code != wantCode || e.Param != tt.param {
				t.Errorf("ErrorFor(%s) = %d %s code %q param %q, want %d %s code %q param %q",
					tt.code, e.Status, e.Type, e.Code, e.Param, tt.status, tt.typ, wantCode, tt.param)
			}
			switch {
			case tt.defaultText && e.Message != "the request failed: "+tt.code:
				t.Errorf("default message %q", e.Message)
			case !tt.defaultText && e.Message != msg:
				t.Errorf("message %q, want the pipeline's %q", e.Message, msg)
			}
		})
	}
	if e := ErrorFor(nil); e.Status != 502 || e.Type != TypeServer || e.Code != "" || e.Message == "" {
		t.Errorf("ErrorFor(nil) = %+v", e)
	}
}

type errorBody struct {
	Error map[string]any `json:"error"`
}

func decodeErrorBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("body is not valid JSON: %s", b)
	}
	if len(b) > 0 && b[len(b)-1] == '\n' {
		t.Errorf("body ends with a newline")
	}
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatal(err)
	}
	if len(eb.Error) != 4 {
		t.Errorf("error object has keys %v, want message, type, param, code", eb.Error)
	}
	return eb.Error
}

func TestAPIErrorBody(t *testing.T) {
	e := &APIError{Status: 400, Type: TypeInvalidRequest, Message: "bad \"quote\"\n\ttab \x01 </script> \u2028 \xff end"}
	got := decodeErrorBody(t, e.Body())
	for _, k := range []string{"param", "code"} {
		if v, ok := got[k]; !ok || v != nil {
			t.Errorf("%s = %#v, want JSON null", k, v)
		}
	}
	if got["type"] != "invalid_request_error" || got["message"] != strings.ToValidUTF8(e.Message, "\uFFFD") {
		t.Errorf("body %v", got)
	}

	e = BadRequest("messages[2].content", "%s must be %s", "messages[2].content", "a string")
	e.Code = "invalid_type"
	got = decodeErrorBody(t, e.Body())
	if e.Status != 400 || got["param"] != "messages[2].content" || got["code"] != "invalid_type" ||
		got["message"] != "messages[2].content must be a string" {
		t.Errorf("status %d, body %v", e.Status, got)
	}
	if s := e.Error(); !strings.Contains(s, "400") || !strings.Contains(s, "invalid_type") || !strings.Contains(s, "messages[2].content must be a string") {
		t.Errorf("Error() = %q", s)
	}
}

// The official SDK reads an error body as OpenAI's: status, type, param and code.
func TestAPIErrorReadBySDK(t *testing.T) {
	e := ErrorFor(&schemas.ErrorInfo{Code: "context_too_long", Message: "the prompt is over every window"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_, _ = w.Write(e.Body())
	}))
	defer srv.Close()
	c := openai.NewClient(option.WithBaseURL(srv.URL+"/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	_, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *openai.Error", err)
	}
	if apiErr.StatusCode != 400 || apiErr.Type != "invalid_request_error" || apiErr.Code != "context_length_exceeded" ||
		apiErr.Param != "messages" || apiErr.Message != "the prompt is over every window" {
		t.Errorf("SDK error: status %d type %q code %q param %q message %q", apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Param, apiErr.Message)
	}
}
