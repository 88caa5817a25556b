package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// wdServer starts a loopback server for one test.
func wdServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// wdClient is a provider client as the worker builds it, so the tests go through the whole chain.
func wdClient(t *testing.T) *http.Client {
	t.Helper()
	c := NewHTTPClient(time.Second)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func wdGet(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

// wdBlock holds a handler until the client goes away (or a bound far above any test's timeouts,
// so that a broken watchdog fails the test instead of hanging it).
func wdBlock(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

// wdFlush writes s and pushes it to the client at once.
func wdFlush(w http.ResponseWriter, s string) {
	_, _ = io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

// wdWait returns the cause of ctx once it ends, or nil if it is still live after d.
func wdWait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(d):
		return nil
	}
}

func TestWatchFirstByteTimeout(t *testing.T) {
	srv := wdServer(t, func(w http.ResponseWriter, r *http.Request) {
		wdBlock(r)
		w.WriteHeader(http.StatusOK)
	})
	ctx, _, cancel := Watch(t.Context(), Timeouts{FirstByte: 50 * time.Millisecond, Stall: time.Second, Total: 5 * time.Second})
	defer cancel()

	start := time.Now()
	resp, err := wdGet(ctx, wdClient(t), srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("Do returned %s, want an error", resp.Status)
	}
	if !errors.Is(err, ErrFirstByteTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do error = %v, want one matching ErrFirstByteTimeout and context.DeadlineExceeded", err)
	}
	if got := TimeoutCause(ctx); got != ErrFirstByteTimeout {
		t.Errorf("TimeoutCause = %v, want %v", got, ErrFirstByteTimeout)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("the first-byte timeout fired after %s, before its 50ms bound", d)
	}
}

func TestWatchStall(t *testing.T) {
	const stall = 80 * time.Millisecond
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		body    string
		cause   error // nil: the body reads to the end
	}{
		{
			name: "headers then silence",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				wdBlock(r)
			},
			cause: ErrStallTimeout,
		},
		{
			name: "some bytes then silence",
			handler: func(w http.ResponseWriter, r *http.Request) {
				wdFlush(w, "data: 1\n\n")
				time.Sleep(stall / 4)
				wdFlush(w, "data: 2\n\n")
				wdBlock(r)
			},
			body:  "data: 1\n\ndata: 2\n\n",
			cause: ErrStallTimeout,
		},
		{
			name: "trickle faster than the bound",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for i := range 12 { // 12 × 20ms: three times the stall bound in all
					wdFlush(w, fmt.Sprintf("data: %d\n\n", i))
					time.Sleep(stall / 4)
				}
			},
			body: func() string {
				var b strings.Builder
				for i := range 12 {
					fmt.Fprintf(&b, "data: %d\n\n", i)
				}
				return b.String()
			}(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := wdServer(t, tc.handler)
			ctx, _, cancel := Watch(t.Context(), Timeouts{FirstByte: time.Second, Stall: stall, Total: 5 * time.Second})
			defer cancel()

			start := time.Now()
			resp, err := wdGet(ctx, wdClient(t), srv.URL)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if string(body) != tc.body {
				t.Errorf("body = %q, want %q", body, tc.body)
			}
			if tc.cause == nil {
				if err != nil || ctx.Err() != nil {
					t.Fatalf("ReadAll error %v, context cause %v; want the whole body", err, context.Cause(ctx))
				}
				if d := time.Since(start); d < 3*stall {
					t.Errorf("the body took %s, the test needs more than three stall bounds (%s)", d, 3*stall)
				}
				return
			}
			if !errors.Is(err, tc.cause) {
				t.Errorf("ReadAll error = %v, want one matching %v", err, tc.cause)
			}
			if got := TimeoutCause(ctx); got != tc.cause {
				t.Errorf("TimeoutCause = %v, want %v", got, tc.cause)
			}
		})
	}
}

func TestWatchFirstToken(t *testing.T) {
	const bound = 50 * time.Millisecond
	for _, tc := range []struct {
		name  string
		token bool
		want  error
	}{
		{"no token", false, ErrFirstTokenTimeout},
		{"token", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, w, cancel := Watch(t.Context(), Timeouts{FirstToken: bound})
			defer cancel()
			if tc.token {
				// Every chunk of a stream may report; only the first one counts.
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(w.Token)
				}
				wg.Wait()
			}
			if got := wdWait(ctx, 3*bound); got != tc.want {
				t.Errorf("cause after %s = %v, want %v", 3*bound, got, tc.want)
			}
			if got := TimeoutCause(ctx); got != tc.want {
				t.Errorf("TimeoutCause = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWatchTotalTimeout(t *testing.T) {
	// A stream that never stalls and never ends: only the total bound stops it.
	srv := wdServer(t, func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			wdFlush(w, "data: x\n\n")
			time.Sleep(10 * time.Millisecond)
		}
	})
	ctx, _, cancel := Watch(t.Context(), Timeouts{FirstByte: time.Second, Stall: time.Second, Total: 100 * time.Millisecond})
	defer cancel()
	if _, ok := ctx.Deadline(); !ok {
		t.Error("the attempt's context has no deadline; the total bound should be one")
	}

	resp, err := wdGet(ctx, wdClient(t), srv.URL)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if n == 0 || !errors.Is(err, ErrTotalTimeout) {
		t.Errorf("read %d bytes, error %v; want some bytes, then an error matching ErrTotalTimeout", n, err)
	}
	if got := TimeoutCause(ctx); got != ErrTotalTimeout {
		t.Errorf("TimeoutCause = %v, want %v", got, ErrTotalTimeout)
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("ctx.Err() = %v, want context.DeadlineExceeded", ctx.Err())
	}
}

// Ending the attempt from outside (parent cancelled, the parent's own deadline, the cancel
// func) is never a watchdog timeout, not even when a phase timer would have fired later.
func TestWatchEndedFromOutside(t *testing.T) {
	const bound = 40 * time.Millisecond
	phases := Timeouts{FirstByte: bound, FirstToken: bound, Stall: bound, Total: time.Second}
	for _, tc := range []struct {
		name  string
		end   func(parentCancel, cancel context.CancelFunc)
		short bool // the parent's own deadline is shorter than every phase
		cause error
	}{
		{"parent cancelled", func(pc, _ context.CancelFunc) { pc() }, false, context.Canceled},
		{"cancel func", func(_, c context.CancelFunc) { c() }, false, context.Canceled},
		{"parent deadline", func(context.CancelFunc, context.CancelFunc) {}, true, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, parentCancel := context.WithCancel(t.Context())
			if tc.short {
				parent, parentCancel = context.WithTimeout(t.Context(), bound/4)
			}
			defer parentCancel()
			ctx, _, cancel := Watch(parent, phases)
			defer cancel()

			tc.end(parentCancel, cancel)
			<-ctx.Done()
			time.Sleep(2 * bound) // let the phase timers run out, had they not been stopped
			if got := TimeoutCause(ctx); got != nil {
				t.Errorf("TimeoutCause = %v, want nil", got)
			}
			if got := context.Cause(ctx); got != tc.cause {
				t.Errorf("context.Cause = %v, want %v", got, tc.cause)
			}
		})
	}
}

func TestTimeoutCause(t *testing.T) {
	t.Run("derived contexts", func(t *testing.T) {
		ctx, _, cancel := Watch(t.Context(), Timeouts{FirstToken: 20 * time.Millisecond})
		defer cancel()
		child, childCancel := context.WithCancel(context.WithValue(ctx, struct{}{}, 1))
		defer childCancel()
		<-child.Done()
		for name, c := range map[string]context.Context{"attempt": ctx, "derived": child} {
			if got := TimeoutCause(c); got != ErrFirstTokenTimeout {
				t.Errorf("TimeoutCause(%s) = %v, want %v", name, got, ErrFirstTokenTimeout)
			}
		}
	})
	t.Run("outer watchdog", func(t *testing.T) {
		outer, _, cancelOuter := Watch(t.Context(), Timeouts{Total: 20 * time.Millisecond})
		defer cancelOuter()
		inner, _, cancelInner := Watch(outer, Timeouts{FirstToken: time.Second})
		defer cancelInner()
		<-inner.Done()
		if got := TimeoutCause(inner); got != ErrTotalTimeout {
			t.Errorf("TimeoutCause(inner) = %v, want the outer %v", got, ErrTotalTimeout)
		}
	})
	t.Run("other causes", func(t *testing.T) {
		for _, tc := range []struct {
			cause, want error
		}{
			{nil, nil},
			{context.DeadlineExceeded, nil},
			{errors.New("shutdown"), nil},
			{fmt.Errorf("hedge lost: %w", ErrStallTimeout), ErrStallTimeout},
		} {
			ctx, cancel := context.WithCancelCause(t.Context())
			cancel(tc.cause)
			if got := TimeoutCause(ctx); got != tc.want {
				t.Errorf("TimeoutCause(cancelled with %v) = %v, want %v", tc.cause, got, tc.want)
			}
		}
		if got := TimeoutCause(t.Context()); got != nil {
			t.Errorf("TimeoutCause(live context) = %v, want nil", got)
		}
	})
}

func TestTimeoutErrors(t *testing.T) {
	all := []error{ErrFirstByteTimeout, ErrFirstTokenTimeout, ErrStallTimeout, ErrTotalTimeout}
	for i, err := range all {
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("%v: want it to match context.DeadlineExceeded and not context.Canceled", err)
		}
		for j, other := range all {
			if i != j && (errors.Is(err, other) || err.Error() == other.Error()) {
				t.Errorf("%v and %v are not told apart", err, other)
			}
		}
	}
}

func TestTimeoutsMerge(t *testing.T) {
	base := Timeouts{Connect: 1, FirstByte: 2, FirstToken: 3, Stall: 4, Total: 5}
	for _, tc := range []struct {
		name          string
		t, base, want Timeouts
	}{
		{name: "all from base", t: Timeouts{}, base: base, want: base},
		{name: "own values win", t: Timeouts{FirstToken: 30, Total: 50}, base: base,
			want: Timeouts{Connect: 1, FirstByte: 2, FirstToken: 30, Stall: 4, Total: 50}},
		{name: "zero base", t: Timeouts{Stall: 40}, base: Timeouts{}, want: Timeouts{Stall: 40}},
	} {
		if got := tc.t.Merge(tc.base); got != tc.want {
			t.Errorf("%s: %+v.Merge(%+v) = %+v, want %+v", tc.name, tc.t, tc.base, got, tc.want)
		}
	}
}

func TestTimeoutsValidate(t *testing.T) {
	const field = "providers[0].resilience.timeouts"
	if errs := (Timeouts{Stall: time.Second}).Validate(field); errs != nil {
		t.Errorf("Validate(valid) = %v, want nil", errs)
	}
	errs := Timeouts{Connect: -1, FirstByte: 1, FirstToken: -1, Stall: -time.Second, Total: -1}.Validate(field)
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{
		field + ".connect: must not be negative",
		field + ".first_token: must not be negative",
		field + ".stall: must not be negative",
		field + ".total: must not be negative",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Validate =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// wdRoundTripFunc is a base transport without a network.
type wdRoundTripFunc func(*http.Request) (*http.Response, error)

func (f wdRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// wdBody counts the Close calls that reach the provider's body.
type wdBody struct {
	io.Reader
	closes atomic.Int32
}

func (b *wdBody) Close() error { b.closes.Add(1); return nil }

// wdEndless always returns a full buffer, like a fast stream.
type wdEndless struct{}

func (wdEndless) Read(p []byte) (int, error) { return len(p), nil }
func (wdEndless) Close() error               { return nil }

func TestTransportWithoutWatchdog(t *testing.T) {
	body := &wdBody{Reader: strings.NewReader("ok")}
	want := &http.Response{StatusCode: http.StatusOK, Body: body}
	rt := Transport(wdRoundTripFunc(func(*http.Request) (*http.Response, error) { return want, nil }))
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://provider.invalid/", nil)

	resp, err := rt.RoundTrip(req)
	if err != nil || resp != want || resp.Body != io.ReadCloser(body) {
		t.Fatalf("RoundTrip = %p (body %T), %v; want the base's response and body untouched", resp, resp.Body, err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = rt.RoundTrip(req) }); n != 0 {
		t.Errorf("RoundTrip without a watchdog allocates %v times, want 0", n)
	}
}

func TestTransportBody(t *testing.T) {
	const content = "data: one\n\ndata: two\n\n"
	body := &wdBody{Reader: strings.NewReader(content)}
	rt := Transport(wdRoundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: body}, nil
	}))
	ctx, w, cancel := Watch(t.Context(), Timeouts{Stall: time.Hour})
	defer cancel()
	resp, err := rt.RoundTrip(httptest.NewRequestWithContext(ctx, http.MethodGet, "http://provider.invalid/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body == io.ReadCloser(body) {
		t.Fatal("the body of a watched request is not wrapped")
	}
	if err := iotest.TestReader(resp.Body, []byte(content)); err != nil {
		t.Error(err)
	}
	w.mu.Lock()
	bodies, stopped := w.bodies, !w.stall.Stop()
	w.mu.Unlock()
	if bodies != 0 || !stopped {
		t.Errorf("after EOF: %d open bodies, stall timer stopped %v; want 0 and true", bodies, stopped)
	}
	for range 3 {
		if err := resp.Body.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if n := body.closes.Load(); n != 1 {
		t.Errorf("the provider's body was closed %d times, want once", n)
	}
	w.mu.Lock()
	bodies = w.bodies
	w.mu.Unlock()
	if bodies != 0 {
		t.Errorf("after EOF and Close: %d open bodies, want 0 (one bodyDone per body)", bodies)
	}
}

// Stall watching ends with the body: a finished call does not time out afterwards, however
// long the worker keeps the attempt open.
func TestTransportStallEndsWithBody(t *testing.T) {
	const stall = 50 * time.Millisecond
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		finish  func(io.ReadCloser) error
	}{
		{
			name:    "EOF",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") },
			finish: func(b io.ReadCloser) error {
				got, err := io.ReadAll(b)
				if err == nil && string(got) != "ok" {
					err = fmt.Errorf("body %q, want %q", got, "ok")
				}
				return err
			},
		},
		{
			name: "Close",
			handler: func(w http.ResponseWriter, r *http.Request) {
				wdFlush(w, "data: 1\n\n")
				wdBlock(r)
			},
			finish: func(b io.ReadCloser) error { return b.Close() },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := wdServer(t, tc.handler)
			ctx, _, cancel := Watch(t.Context(), Timeouts{FirstByte: time.Second, Stall: stall, Total: 5 * time.Second})
			defer cancel()
			resp, err := wdGet(ctx, wdClient(t), srv.URL)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			if err := tc.finish(resp.Body); err != nil {
				t.Fatal(err)
			}
			if got := wdWait(ctx, 3*stall); got != nil {
				t.Errorf("the attempt ended with %v after its body was done, want it still live", got)
			}
		})
	}
}

func TestNewHTTPClientTransport(t *testing.T) {
	for _, tc := range []struct {
		connect, want time.Duration
	}{
		{0, 30 * time.Second},
		{-time.Second, 30 * time.Second},
		{2 * time.Second, 2 * time.Second},
	} {
		c := NewHTTPClient(tc.connect)
		if c.Timeout != 0 {
			t.Errorf("NewHTTPClient(%s).Timeout = %s, want 0: the watchdog bounds calls", tc.connect, c.Timeout)
		}
		wrapped, ok := c.Transport.(*transport)
		if !ok {
			t.Fatalf("NewHTTPClient(%s).Transport is %T, want the watchdog's transport", tc.connect, c.Transport)
		}
		tr, ok := wrapped.base.(*http.Transport)
		if !ok {
			t.Fatalf("NewHTTPClient(%s) wraps %T, want *http.Transport", tc.connect, wrapped.base)
		}
		if tr.MaxIdleConns != 4096 || tr.MaxIdleConnsPerHost != 1024 || tr.IdleConnTimeout != 90*time.Second ||
			tr.TLSHandshakeTimeout != tc.want || tr.DialContext == nil || tr.Proxy == nil {
			t.Errorf("NewHTTPClient(%s): MaxIdleConns %d, MaxIdleConnsPerHost %d, IdleConnTimeout %s, TLSHandshakeTimeout %s, "+
				"DialContext set %v, Proxy set %v; want 4096, 1024, 90s, %s, true, true", tc.connect, tr.MaxIdleConns,
				tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.TLSHandshakeTimeout, tr.DialContext != nil, tr.Proxy != nil, tc.want)
		}
	}

	// Through the real chain: prompt headers stop the first-byte timer and open stall watching.
	srv := wdServer(t, func(w http.ResponseWriter, r *http.Request) {
		wdFlush(w, "data: 1\n\n")
		wdBlock(r)
	})
	const bound = 50 * time.Millisecond
	ctx, w, cancel := Watch(t.Context(), Timeouts{FirstByte: bound, Stall: 5 * time.Second})
	defer cancel()
	resp, err := wdGet(ctx, wdClient(t), srv.URL)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	w.mu.Lock()
	bodies := w.bodies
	w.mu.Unlock()
	if !w.headers.Load() || bodies != 1 {
		t.Errorf("after the headers: headers reported %v, watched bodies %d; want true, 1", w.headers.Load(), bodies)
	}
	if got := wdWait(ctx, 3*bound); got != nil {
		t.Errorf("the attempt ended with %v although the headers came in time", got)
	}
}

// Token, body progress, Close and cancel race in the worker (a hedge winner cancels the loser
// while its stream is being read); run with -race.
func TestWatchConcurrentReports(t *testing.T) {
	rt := Transport(wdRoundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: wdEndless{}}, nil
	}))
	for range 5 {
		ctx, w, cancel := Watch(t.Context(), Timeouts{FirstByte: time.Millisecond, FirstToken: time.Millisecond,
			Stall: time.Millisecond, Total: 5 * time.Millisecond})
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				resp, err := rt.RoundTrip(httptest.NewRequestWithContext(ctx, http.MethodGet, "http://provider.invalid/", nil))
				if err != nil {
					t.Error(err)
					return
				}
				buf := make([]byte, 64)
				for ctx.Err() == nil {
					_, _ = resp.Body.Read(buf)
					w.Token()
				}
				_ = resp.Body.Close()
			})
		}
		wg.Go(func() {
			time.Sleep(2 * time.Millisecond)
			cancel()
		})
		wg.Wait()
		cancel()
		<-ctx.Done()
	}
}

func BenchmarkWatchdogBodyRead(b *testing.B) {
	for _, watched := range []bool{true, false} {
		name := "plain"
		if watched {
			name = "watched"
		}
		b.Run(name, func(b *testing.B) {
			rt := Transport(wdRoundTripFunc(func(*http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: http.StatusOK, Body: wdEndless{}}, nil
			}))
			ctx := b.Context()
			if watched {
				var cancel context.CancelFunc
				ctx, _, cancel = Watch(ctx, Timeouts{FirstByte: time.Hour, Stall: time.Hour, Total: time.Hour})
				defer cancel()
			}
			resp, err := rt.RoundTrip(httptest.NewRequestWithContext(ctx, http.MethodGet, "http://provider.invalid/", nil))
			if err != nil {
				b.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 512)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := resp.Body.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
