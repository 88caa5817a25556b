package schemas

import (
	"errors"
	"strings"
)

// Reason codes of a [DecodeError]. They are stable: they appear on llm.dlq records, in audit
// events and as a metric label. Validation failures use [ValidationReason] instead.
const (
	// ReasonBadHeader: empty input, or a first byte that is none of 0x00 (Confluent framing),
	// 0xC3 (single-object encoding) or '{' (JSON), or a header shorter than its framing needs.
	ReasonBadHeader = "bad_header"
	// ReasonUnknownSchema: a Confluent schema id the registry does not know, Confluent framing
	// with no registry configured, or a single-object fingerprint of no known schema.
	ReasonUnknownSchema = "unknown_schema"
	// ReasonSchemaIncompatible: the writer schema cannot be resolved to the reader schema.
	ReasonSchemaIncompatible = "schema_incompatible"
	// ReasonTruncated: the input ends inside the record.
	ReasonTruncated = "truncated"
	// ReasonTrailingBytes: bytes are left after the record.
	ReasonTrailingBytes = "trailing_bytes"
	// ReasonInvalidUTF8: a string is not valid UTF-8.
	ReasonInvalidUTF8 = "invalid_utf8"
	// ReasonFieldTooLarge: a length or item count beyond the codec's MaxMessageBytes.
	ReasonFieldTooLarge = "field_too_large"
	// ReasonTooLarge: the whole input is larger than the codec's MaxMessageBytes.
	ReasonTooLarge = "too_large"
	// ReasonDecodeError: anything else that is not valid data for the schema: invalid JSON, an
	// unknown or duplicate JSON field, a value of the wrong type, a negative length, a varint
	// overflow, a union branch out of range, a boolean that is neither 0 nor 1.
	ReasonDecodeError = "decode_error"

	// ReasonInvalidRequest: a provider rejected the request as invalid (a 400 that the same
	// request would hit again anywhere); dead-lettered by the worker.
	ReasonInvalidRequest = "invalid_request"
	// ReasonContextTooLong: the prompt is over the context window of the chain's largest model.
	ReasonContextTooLong = "context_too_long"
	// ReasonContentFiltered: a provider's content filter refused the prompt and the policy is
	// not to try another.
	ReasonContentFiltered = "content_filtered"

	// ReasonValidationPrefix starts the reason of a missing required field or a value that
	// fails [ValidateRequest]: "validation:<top-level field>", e.g. "validation:messages".
	ReasonValidationPrefix = "validation:"
)

// ValidationReason returns the reason code for a failed check of a top-level field.
func ValidationReason(field string) string { return ReasonValidationPrefix + field }

// IsValidationReason reports whether reason is a validation reason.
func IsValidationReason(reason string) bool { return strings.HasPrefix(reason, ReasonValidationPrefix) }

// DecodeError is why a value could not be decoded or did not validate. The input is bad and
// will stay bad: retrying cannot help, so it belongs on the dead-letter topic.
type DecodeError struct {
	// Reason is one of the Reason constants or "validation:<top-level field>".
	Reason string
	// Detail says where and what: offsets, field paths, sizes. Never message content.
	Detail string
	// Err is the underlying error, if any. Its text may quote the input: log Reason and
	// Detail, not Err.
	Err error
}

// Error returns "schemas: <reason>: <detail>"; it never includes Err's text.
func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "schemas: " + e.Reason
	}
	return "schemas: " + e.Reason + ": " + e.Detail
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the first [*DecodeError] in err's chain, or "" if there is none
// (including for errors that match [ErrRegistryUnavailable]).
func ReasonOf(err error) string {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}

// ErrRegistryUnavailable matches (with errors.Is) every error caused by a schema registry that
// could not be reached or answered with anything but "not found". It says nothing about the
// input: the caller should back off and retry the same record, not dead-letter it.
var ErrRegistryUnavailable = errors.New("schemas: schema registry unavailable")

// ErrNotRegistered is returned by Encode with Confluent framing before Register succeeded.
var ErrNotRegistered = errors.New("schemas: schemas not registered; call Codec.Register first")

func decodeErr(reason, detail string, err error) *DecodeError {
	return &DecodeError{Reason: reason, Detail: detail, Err: err}
}
