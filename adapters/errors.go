package adapters

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Kind classifies a provider failure. Callers decide retry, fallback and breaker accounting from
// the Kind alone, so every adapter maps its provider's errors onto these.
type Kind uint8

// Kinds. The zero value OK is what KindOf returns for a nil error; an Error never carries it.
const (
	OK              Kind = iota
	RateLimited          // 429 and provider quota throttling; see RetryAfter
	Unavailable          // 502/503/504, overload, connection refused or reset before an answer
	Timeout              // deadline exceeded, 408
	InvalidRequest       // 400-class errors that the same call will hit again (incl. unknown model)
	ContextTooLong       // the prompt does not fit the model's context window
	ContentFiltered      // the provider's content policy refused the prompt
	Auth                 // 401/403: bad or missing key, no access
	Internal             // 500 and errors the provider did not explain
	Canceled             // the caller cancelled (e.g. a hedge loser); not a provider fault
	Malformed            // a bad, cut, oversized or unterminated response
	numKinds
)

var kindNames = [numKinds]string{
	OK:              "ok",
	RateLimited:     "rate_limited",
	Unavailable:     "unavailable",
	Timeout:         "timeout",
	InvalidRequest:  "invalid_request",
	ContextTooLong:  "context_too_long",
	ContentFiltered: "content_filtered",
	Auth:            "auth",
	Internal:        "internal",
	Canceled:        "canceled",
	Malformed:       "malformed",
}

// String returns the stable snake_case code used in events, metrics and responses.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind_" + strconv.Itoa(int(k))
}

// MarshalText encodes the Kind as its String code.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses a code produced by String.
func (k *Kind) UnmarshalText(b []byte) error {
	v, ok := ParseKind(string(b))
	if !ok {
		return errors.New("adapters: unknown error kind " + strconv.Quote(string(b)))
	}
	*k = v
	return nil
}

// ParseKind returns the Kind whose String is s.
func ParseKind(s string) (Kind, bool) {
	for k, name := range kindNames {
		if name == s {
			return Kind(k), true
		}
	}
	return OK, false
}

// Retryable reports whether the same call may succeed if sent again (here or elsewhere).
func (k Kind) Retryable() bool {
	switch k {
	case RateLimited, Unavailable, Timeout, Internal, Malformed:
		return true
	}
	return false
}

// Kinds lists every failure Kind (OK excluded), in order.
func Kinds() []Kind {
	ks := make([]Kind, 0, numKinds-1)
	for k := RateLimited; k < numKinds; k++ {
		ks = append(ks, k)
	}
	return ks
}

// Error is the one error type adapters return for provider failures.
//
// Message holds the provider's own explanation, cleaned by the adapter: it never contains the
// API key or the prompt. Err is the underlying cause (a transport error, a decode error), if any.
type Error struct {
	Provider   string        // adapter name, e.g. "openai"
	Kind       Kind          // classification; never OK
	Status     int           // HTTP status, 0 if no response was received
	Code       string        // the provider's error code (e.g. "context_length_exceeded"), if any
	RetryAfter time.Duration // how long the provider asked us to wait, 0 if it did not say
	Message    string        // provider explanation or adapter detail, safe to log
	Err        error         // underlying cause, may be nil
}

// Error renders "provider: kind (http 429, code x, retry after 1s): message: cause".
func (e *Error) Error() string {
	var b strings.Builder
	b.Grow(64 + len(e.Message))
	if e.Provider != "" {
		b.WriteString(e.Provider)
		b.WriteString(": ")
	}
	kind := e.Kind
	if kind == OK {
		kind = Internal
	}
	b.WriteString(kind.String())
	sep := " ("
	if e.Status != 0 {
		b.WriteString(sep + "http " + strconv.Itoa(e.Status))
		sep = ", "
	}
	if e.Code != "" {
		b.WriteString(sep + "code " + e.Code)
		sep = ", "
	}
	if e.RetryAfter > 0 {
		b.WriteString(sep + "retry after " + e.RetryAfter.String())
		sep = ", "
	}
	if sep == ", " {
		b.WriteByte(')')
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the error's Kind is retryable.
func (e *Error) Retryable() bool { return e.kind().Retryable() }

func (e *Error) kind() Kind {
	if e.Kind == OK {
		return Internal
	}
	return e.Kind
}

// KindOf classifies err: the Kind of the first *Error in its chain; for other errors, Timeout for
// context.DeadlineExceeded, Canceled for context.Canceled, and Internal otherwise. KindOf(nil) is
// OK.
func KindOf(err error) Kind {
	if err == nil {
		return OK
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.kind()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Internal
}

// IsRetryable reports whether KindOf(err) is retryable: RateLimited, Unavailable, Timeout,
// Internal or Malformed.
func IsRetryable(err error) bool { return err != nil && KindOf(err).Retryable() }

// RetryAfterOf returns the wait the provider asked for, or 0.
func RetryAfterOf(err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

// ConfigError lists every problem found in an adapter's configuration.
type ConfigError struct {
	Provider string   // adapter kind or name, e.g. "openai"
	Problems []string // one line per problem, naming the field
}

func (e *ConfigError) Error() string {
	return e.Provider + ": invalid config: " + strings.Join(e.Problems, "; ")
}
