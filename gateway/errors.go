package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
	"github.com/switchyard-llm/switchyard/schemas"
)

// OpenAI error types, the "type" of an error body.
const (
	TypeInvalidRequest    = "invalid_request_error"
	TypeAuthentication    = "authentication_error"
	TypePermission        = "permission_error"
	TypeNotFound          = "not_found_error"
	TypeRateLimit         = "rate_limit_error"
	TypeInsufficientQuota = "insufficient_quota"
	TypeServer            = "server_error"
	TypeTimeout           = "timeout_error"
	// TypeCancelled is the type of a request its own client cancelled; no OpenAI type fits,
	// and the client that went away will not read it anyway.
	TypeCancelled = "request_cancelled"
)

// StatusClientClosed is nginx's 499, the status of a request whose client went away.
const StatusClientClosed = 499

// APIError is an error in OpenAI's shape, {"error":{"message","type","param","code"}}, with the
// HTTP status it is sent with.
type APIError struct {
	Status  int
	Message string
	Type    string // TypeInvalidRequest, TypeServer, ...
	Param   string // the request field at fault; "" is JSON null
	Code    string // a machine-readable code; "" is JSON null
}

// Error returns "gateway: <status> <type> [<code>] (param <param>): <message>", leaving out
// the parts that are empty.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("gateway: ")
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteByte(' ')
	b.WriteString(e.Type)
	if e.Code != "" {
		b.WriteString(" [" + e.Code + "]")
	}
	if e.Param != "" {
		b.WriteString(" (param " + e.Param + ")")
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// Body returns the JSON body of the error, without a trailing newline.
func (e *APIError) Body() []byte { return e.appendBody(make([]byte, 0, 64+len(e.Message))) }

func (e *APIError) appendBody(dst []byte) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonw.String(dst, e.Message)
	dst = append(dst, `,"type":`...)
	dst = jsonw.String(dst, e.Type)
	dst = append(dst, `,"param":`...)
	dst = jsonw.NullString(dst, e.Param)
	dst = append(dst, `,"code":`...)
	dst = jsonw.NullString(dst, e.Code)
	return append(dst, "}}"...)
}

// BadRequest returns a 400 invalid_request_error about param.
func BadRequest(param, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// Pipeline error codes (schemas.ErrorInfo.Code) that ErrorFor maps to something other than a
// bad gateway. They are copied from the router, worker and adapters, which this package may not
// import.
const (
	codeInvalidRequest     = "invalid_request"
	codeInvalidToolCall    = "invalid_tool_call"
	codeContextTooLong     = "context_too_long"
	codeContentFiltered    = "content_filtered"
	codeModelNotAllowed    = "model_not_allowed"
	codeProviderNotAllowed = "provider_not_allowed"
	codeRegionNotAllowed   = "region_not_allowed"
	codeNoAllowedProvider  = "no_allowed_provider"
	codeBudgetExceeded     = "budget_exceeded"
	codeDeadlineExceeded   = "deadline_exceeded"
	codeNoHealthyModel     = "no_healthy_model"
	codePrimaryUnavailable = "primary_unavailable"
	codeCancelled          = "cancelled"
	codeCanceled           = "canceled" // the adapters' error kind, spelled the American way
)

// ErrorFor maps the terminal error of a pipeline response to the status and OpenAI error a
// client should see. The message is the pipeline's (a default one when it has none); the
// code is the pipeline's code unless OpenAI has its own for the case (context_length_exceeded,
// content_filter, model_not_found, insufficient_quota). Failures that are not the client's
// (a provider down, every attempt failed) are 502 server_error, or 503 when no model was
// healthy enough to try. A nil info is a 502 with no code.
func ErrorFor(info *schemas.ErrorInfo) *APIError {
	if info == nil {
		return &APIError{Status: http.StatusBadGateway, Type: TypeServer, Message: "the request failed"}
	}
	e := &APIError{Status: http.StatusBadGateway, Type: TypeServer, Code: info.Code, Message: info.Message}
	switch code := info.Code; {
	case code == codeInvalidRequest || code == codeInvalidToolCall:
		e.Status, e.Type = http.StatusBadRequest, TypeInvalidRequest
	case code == codeContextTooLong:
		e.Status, e.Type, e.Code, e.Param = http.StatusBadRequest, TypeInvalidRequest, "context_length_exceeded", "messages"
	case code == codeContentFiltered:
		e.Status, e.Type, e.Code = http.StatusBadRequest, TypeInvalidRequest, "content_filter"
	case schemas.IsValidationReason(code):
		// A request the gateway let through but the pipeline's validation refused.
		e.Status, e.Type, e.Param = http.StatusBadRequest, TypeInvalidRequest, strings.TrimPrefix(code, schemas.ReasonValidationPrefix)
	case code == codeModelNotAllowed:
		e.Status, e.Type, e.Code, e.Param = http.StatusNotFound, TypeNotFound, "model_not_found", "model"
	case code == codeProviderNotAllowed || code == codeRegionNotAllowed || code == codeNoAllowedProvider:
		e.Status, e.Type = http.StatusForbidden, TypePermission
	case code == codeBudgetExceeded:
		e.Status, e.Type, e.Code = http.StatusTooManyRequests, TypeInsufficientQuota, "insufficient_quota"
	case code == codeDeadlineExceeded:
		e.Status, e.Type = http.StatusGatewayTimeout, TypeTimeout
	case code == codeNoHealthyModel || code == codePrimaryUnavailable:
		e.Status = http.StatusServiceUnavailable
	case code == codeCancelled || code == codeCanceled:
		e.Status, e.Type, e.Code = StatusClientClosed, TypeCancelled, codeCancelled
	}
	if e.Message == "" {
		e.Message = defaultMessage(info.Code)
	}
	return e
}

func defaultMessage(code string) string {
	switch code {
	case "":
		return "the request failed"
	case codeCancelled, codeCanceled:
		return "the request was cancelled"
	case codeDeadlineExceeded:
		return "the request's deadline passed before a provider answered"
	case codeBudgetExceeded:
		return "the request is over its budget"
	}
	return "the request failed: " + code
}
