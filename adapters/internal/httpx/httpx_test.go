package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
)

func TestReadCapped(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1000)
	for _, tc := range []struct {
		n, max, hint int64
		ok           bool
	}{
		{1000, 1000, -1, true}, {1000, 999, -1, false}, {1000, 1000, 1000, true}, {1000, 10, 1000, false}, {0, 10, -1, true}, {1000, 5000, 10, true},
	} {
		got, err := ReadCapped(bytes.NewReader(data[:tc.n]), tc.max, tc.hint)
		if tc.ok != (err == nil) || (tc.ok && int64(len(got)) != tc.n) || (!tc.ok && !errors.Is(err, ErrTooLarge)) {
			t.Errorf("%+v: %d bytes, %v", tc, len(got), err)
		}
	}
	boom := errors.New("boom")
	if _, err := ReadCapped(io.MultiReader(bytes.NewReader(data), errReader{boom}), 1<<20, -1); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestLimitReader(t *testing.T) {
	b, err := io.ReadAll(LimitReader(strings.NewReader("hello"), 5))
	if err != nil || string(b) != "hello" {
		t.Fatalf("%q %v", b, err)
	}
	if _, err := io.ReadAll(LimitReader(strings.NewReader("hello!"), 5)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    map[string]string
		want time.Duration
	}{
		{nil, 0},
		{map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond},
		{map[string]string{"Retry-After": "-4"}, 0},
		{map[string]string{"Retry-After": now.Add(20 * time.Second).Format(http.TimeFormat)}, 20 * time.Second},
		{map[string]string{"Retry-After": now.Add(-20 * time.Second).Format(http.TimeFormat)}, 0},
		{map[string]string{"Retry-After": "3", "Retry-After-Ms": "250"}, 250 * time.Millisecond},
		{map[string]string{"retry-after-ms": "nonsense", "Retry-After": "1"}, time.Second},
		{map[string]string{"Retry-After": "86400"}, time.Hour},
	} {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		if got := RetryAfter(h, now); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestKindForStatus(t *testing.T) {
	for status, want := range map[int]adapters.Kind{
		400: adapters.InvalidRequest, 401: adapters.Auth, 403: adapters.Auth, 404: adapters.InvalidRequest, 408: adapters.Timeout,
		409: adapters.InvalidRequest, 429: adapters.RateLimited, 500: adapters.Internal, 501: adapters.Internal, 502: adapters.Unavailable,
		503: adapters.Unavailable, 504: adapters.Unavailable, 529: adapters.Unavailable, 302: adapters.Malformed,
	} {
		if got := KindForStatus(status); got != want {
			t.Errorf("%d: %v, want %v", status, got, want)
		}
	}
}

func TestTransportError(t *testing.T) {
	urlErr := func(err error) error {
		return &url.Error{Op: "Post", URL: "http://user:secret@host/v1/chat/completions", Err: err}
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &osSyscallErr{syscall.ECONNREFUSED}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: &osSyscallErr{syscall.ECONNRESET}}
	for _, tc := range []struct {
		name string
		err  error
		want adapters.Kind
	}{
		{"refused", urlErr(refused), adapters.Unavailable},
		{"reset", urlErr(reset), adapters.Unavailable},
		{"EOF", urlErr(io.EOF), adapters.Unavailable},
		{"client timeout", urlErr(timeoutErr{}), adapters.Timeout},
		{"deadline", urlErr(context.DeadlineExceeded), adapters.Timeout},
		{"other", urlErr(errors.New("tls: bad certificate")), adapters.Unavailable},
	} {
		e := TransportError(context.Background(), "p", tc.err)
		if e.Kind != tc.want || e.Provider != "p" {
			t.Errorf("%s: %v", tc.name, e)
		}
		if strings.Contains(e.Error(), "secret") {
			t.Errorf("%s: URL kept in %v", tc.name, e)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e := TransportError(ctx, "p", errors.New("x")); e.Kind != adapters.Canceled {
		t.Errorf("canceled ctx: %v", e)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if e := BodyError(ctx, "p", errors.New("x")); e.Kind != adapters.Timeout {
		t.Errorf("deadline ctx: %v", e)
	}
	if e := BodyError(context.Background(), "p", fmt.Errorf("w: %w", ErrTooLarge)); e.Kind != adapters.Malformed || !strings.Contains(e.Error(), "too large") {
		t.Errorf("too large: %v", e)
	}
}

type osSyscallErr struct{ errno syscall.Errno }

func (e *osSyscallErr) Error() string { return e.errno.Error() }
func (e *osSyscallErr) Unwrap() error { return e.errno }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestHeaderValue(t *testing.T) {
	for in, want := range map[string]string{
		"req-1/abc":             "req-1/abc",
		"evil\r\nX-Injected: 1": "evil%0D%0AX-Injected%3A+1",
		"space here":            "space+here",
		"ünïcode":               "%C3%BCn%C3%AFcode",
	} {
		if got := HeaderValue(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	if got := HeaderValue(strings.Repeat("a", 1000)); len(got) != 256 {
		t.Errorf("long value: %d bytes", len(got))
	}
}

func TestCleanMessage(t *testing.T) {
	msg := CleanMessage("bad key sk-123456 for prompt 'please summarise this document' and 'hi'", []string{"sk-123456"}, []string{"please summarise this document", "hi"})
	if msg != "bad key [REDACTED] for prompt '[PROMPT]' and 'hi'" {
		t.Errorf("%q", msg)
	}
	long := CleanMessage(strings.Repeat("é", 600)+"\xff", nil, nil)
	if len(long) > 520 || !strings.HasSuffix(long, "…") || !strings.ContainsRune(long, 'é') {
		t.Errorf("cut: %d bytes %q", len(long), long[len(long)-8:])
	}
}
