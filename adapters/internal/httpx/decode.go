package httpx

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchyard-llm/switchyard/adapters"
)

// MalformedError marks a response an adapter could not decode; the adapter reports it as Kind
// Malformed. Its message says what was wrong without quoting the response, which may hold
// prompt or answer text.
type MalformedError struct{ Msg string }

func (e *MalformedError) Error() string { return e.Msg }

// Malformed returns a *MalformedError with a formatted message. Never pass it response text.
func Malformed(format string, args ...any) error {
	return &MalformedError{Msg: fmt.Sprintf(format, args...)}
}

// MalformedAnswer is the Error for a decode failure with a success status (0 inside a stream):
// the message of a *MalformedError, or a generic one.
func (e *Endpoint) MalformedAnswer(err error, status int) *adapters.Error {
	if me, ok := errors.AsType[*MalformedError](err); ok {
		return &adapters.Error{Provider: e.name, Kind: adapters.Malformed, Status: status, Message: me.Msg}
	}
	return &adapters.Error{Provider: e.name, Kind: adapters.Malformed, Status: status, Message: "cannot decode response"}
}

// JSONErrorSummary describes a JSON error without quoting the input (which may hold prompt or
// answer text): the error type and offset are enough to debug with the recorded payload.
func JSONErrorSummary(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type (%s) at offset %d", te.Field, te.Value, te.Offset)
	}
	return "cannot decode"
}
