package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestKindStringsStable(t *testing.T) {
	want := map[Kind]string{
		OK: "ok", RateLimited: "rate_limited", Unavailable: "unavailable", Timeout: "timeout",
		InvalidRequest: "invalid_request", ContextTooLong: "context_too_long",
		ContentFiltered: "content_filtered", Auth: "auth", Internal: "internal",
		Canceled: "canceled", Malformed: "malformed",
	}
	if len(want) != int(numKinds) {
		t.Fatalf("table covers %d kinds, there are %d", len(want), numKinds)
	}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), s)
		}
		back, ok := ParseKind(s)
		if !ok || back != k {
			t.Errorf("ParseKind(%q) = %v, %v", s, back, ok)
		}
		b, _ := json.Marshal(k)
		var k2 Kind
		if err := json.Unmarshal(b, &k2); err != nil || k2 != k {
			t.Errorf("JSON round trip of %v: %s -> %v, %v", k, b, k2, err)
		}
	}
	if Kind(200).String() != "kind_200" {
		t.Errorf("unknown kind = %q", Kind(200).String())
	}
	if _, ok := ParseKind("nope"); ok {
		t.Error("ParseKind accepted an unknown code")
	}
	if len(Kinds()) != int(numKinds)-1 || Kinds()[0] != RateLimited {
		t.Errorf("Kinds() = %v", Kinds())
	}
}

func TestRetryable(t *testing.T) {
	retryable := map[Kind]bool{RateLimited: true, Unavailable: true, Timeout: true, Internal: true, Malformed: true}
	for _, k := range Kinds() {
		err := fmt.Errorf("wrapped: %w", &Error{Provider: "p", Kind: k})
		if got := IsRetryable(err); got != retryable[k] {
			t.Errorf("IsRetryable(%v) = %v", k, got)
		}
		if KindOf(err) != k {
			t.Errorf("KindOf(wrapped %v) = %v", k, KindOf(err))
		}
	}
	if IsRetryable(nil) {
		t.Error("nil is retryable")
	}
}

func TestKindOfPlainErrors(t *testing.T) {
	tests := []struct {
		err  error
		want Kind
	}{
		{nil, OK},
		{context.DeadlineExceeded, Timeout},
		{fmt.Errorf("x: %w", context.Canceled), Canceled},
		{errors.New("boom"), Internal},
		{&Error{}, Internal}, // an Error without a kind is still a failure
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestErrorString(t *testing.T) {
	cause := errors.New("read: connection reset by peer")
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Provider: "openai", Kind: RateLimited, Status: 429, Code: "rate_limit_exceeded", RetryAfter: 1500 * time.Millisecond, Message: "slow down"},
			"openai: rate_limited (http 429, code rate_limit_exceeded, retry after 1.5s): slow down"},
		{&Error{Provider: "sim", Kind: Unavailable, Err: cause}, "sim: unavailable: read: connection reset by peer"},
		{&Error{Kind: Malformed, Message: "stream ended without [DONE]"}, "malformed: stream ended without [DONE]"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q\nwant      %q", got, tt.want)
		}
	}
	e := &Error{Kind: Unavailable, Err: cause}
	if !errors.Is(e, cause) {
		t.Error("Unwrap does not reach the cause")
	}
	if RetryAfterOf(fmt.Errorf("w: %w", &Error{Kind: RateLimited, RetryAfter: time.Second})) != time.Second {
		t.Error("RetryAfterOf through wrapping")
	}
	if RetryAfterOf(errors.New("x")) != 0 {
		t.Error("RetryAfterOf plain error")
	}
}
