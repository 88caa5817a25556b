package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Timeouts bound the phases of one provider attempt. Zero means no bound for that phase.
//
// One total deadline cannot tell a provider that is slowly writing a long answer from one
// that has stopped answering, so each phase has its own bound: a stream that keeps producing
// may run long, while one that goes quiet is cut after Stall and retried or hedged elsewhere.
type Timeouts struct {
	Connect    time.Duration `yaml:"connect"`     // TCP+TLS connect (applied by NewHTTPClient's dialer; per provider, since connections are shared by models)
	FirstByte  time.Duration `yaml:"first_byte"`  // from the start of the attempt until the response headers arrive
	FirstToken time.Duration `yaml:"first_token"` // from the start until Watchdog.Token is first called (streams)
	Stall      time.Duration `yaml:"stall"`       // the longest gap between two body reads that return data, from the headers on
	Total      time.Duration `yaml:"total"`       // the whole attempt
}

// Merge returns t with every zero field taken from base (a model's timeouts over its
// provider's), so a model entry in the configuration only names the phases it changes.
func (t Timeouts) Merge(base Timeouts) Timeouts {
	or := func(d, fallback time.Duration) time.Duration {
		if d == 0 {
			return fallback
		}
		return d
	}
	return Timeouts{
		Connect:    or(t.Connect, base.Connect),
		FirstByte:  or(t.FirstByte, base.FirstByte),
		FirstToken: or(t.FirstToken, base.FirstToken),
		Stall:      or(t.Stall, base.Stall),
		Total:      or(t.Total, base.Total),
	}
}

// Validate lists problems (negative durations) prefixed with field, e.g.
// "providers[0].resilience.timeouts.stall: must not be negative"; nil if none. It reports
// every problem rather than the first so that one run of the configuration check shows them
// all.
func (t Timeouts) Validate(field string) []error {
	var errs []error
	for _, f := range [...]struct {
		name string
		d    time.Duration
	}{{"connect", t.Connect}, {"first_byte", t.FirstByte}, {"first_token", t.FirstToken}, {"stall", t.Stall}, {"total", t.Total}} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: must not be negative", field, f.name))
		}
	}
	return errs
}

// The causes a Watchdog gives the attempt's context. Each is also a context.DeadlineExceeded
// (errors.Is), so code that only knows the context package, adapters.KindOf among it, counts
// a phase timeout as a timeout and not as a cancellation; errors.Is against a specific one
// tells the phases apart.
var (
	ErrFirstByteTimeout  error = &timeoutError{"no response headers within the first-byte timeout"}
	ErrFirstTokenTimeout error = &timeoutError{"no token within the first-token timeout"}
	ErrStallTimeout      error = &timeoutError{"no response data within the stall timeout"}
	ErrTotalTimeout      error = &timeoutError{"attempt not finished within the total timeout"}
)

// timeoutError is a phase's cancellation cause. It is a pointer type so that errors.Is compares
// identities and each phase stays distinct.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return "resilience: " + e.msg }

// Timeout reports true, like context.DeadlineExceeded and net.Error timeouts.
func (e *timeoutError) Timeout() bool { return true }

// Is makes every phase timeout match context.DeadlineExceeded.
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// TimeoutCause returns the Err*Timeout that cancelled ctx (or one of its parents' watchdogs),
// or nil when ctx was not cancelled by a watchdog timeout. The context's Err alone cannot say
// it: a phase timeout reads as context.Canceled there, and a parent's own deadline reads as
// context.DeadlineExceeded although no watchdog fired. The worker uses it to classify an
// attempt as timed out (retry, hedge, breaker failure) rather than cancelled.
func TimeoutCause(ctx context.Context) error {
	cause := context.Cause(ctx)
	if cause == nil {
		return nil
	}
	for _, e := range [...]error{ErrFirstByteTimeout, ErrFirstTokenTimeout, ErrStallTimeout, ErrTotalTimeout} {
		if errors.Is(cause, e) {
			return e
		}
	}
	return nil
}

// A Watchdog times the phases of one attempt and cancels the attempt's context when one
// overruns. The worker holds it to report the first token; the HTTP transport (Transport)
// finds it in the request's context and reports the response headers and body progress, so
// adapters need no change to be watched.
type Watchdog struct {
	t      Timeouts
	start  time.Time // carries a monotonic reading: now() is immune to wall-clock jumps
	cancel context.CancelCauseFunc

	// last is when a body last made progress, in nanoseconds since start. Reads only store it;
	// the stall timer compares it when it fires and re-arms for the remainder. That keeps a
	// Read at one atomic store instead of a timer reset, which takes a lock in the runtime.
	last atomic.Int64

	headers atomic.Bool // the first response headers arrived
	token   atomic.Bool // Token was called

	// The timers are created under mu in Watch and never reassigned, except stall, which is
	// created on the first watched body; all are read under mu or, for firstByte and
	// firstToken, after Watch returned (which orders their writes first).
	mu         sync.Mutex
	done       bool // cancelled, by a phase or by the caller: no timer may fire or re-arm
	bodies     int  // open response bodies; the stall timer runs while there is one
	firstByte  *time.Timer
	firstToken *time.Timer
	stall      *time.Timer
}

type watchdogKey struct{}

// Watch starts a watchdog for one attempt. The returned context is cancelled when cancel is
// called, when parent ends, or when a phase overruns, in which case context.Cause(ctx) is that
// phase's Err*Timeout. cancel releases the timers and must always be called; after it returns
// no timer fires, so a cancelled attempt never turns into a timed-out one.
//
// The first-byte, first-token and total clocks start now, so call Watch right before the
// attempt, after any local waiting (rate limits, concurrency slots). For a call that does not
// stream, either leave FirstToken zero or call Token when the answer arrives.
func Watch(parent context.Context, t Timeouts) (ctx context.Context, w *Watchdog, cancel context.CancelFunc) {
	w = &Watchdog{t: t, start: time.Now()}
	ctx = parent
	var cancelTotal context.CancelFunc
	if t.Total > 0 {
		// A real deadline rather than a timer: the transport and anything else below can see it
		// through ctx.Deadline.
		ctx, cancelTotal = context.WithDeadlineCause(ctx, w.start.Add(t.Total), ErrTotalTimeout)
	}
	ctx, w.cancel = context.WithCancelCause(ctx)
	ctx = context.WithValue(ctx, watchdogKey{}, w)

	w.mu.Lock()
	if t.FirstByte > 0 {
		w.firstByte = time.AfterFunc(t.FirstByte, func() {
			if !w.headers.Load() {
				w.fire(ErrFirstByteTimeout)
			}
		})
	}
	if t.FirstToken > 0 {
		w.firstToken = time.AfterFunc(t.FirstToken, func() {
			if !w.token.Load() {
				w.fire(ErrFirstTokenTimeout)
			}
		})
	}
	w.mu.Unlock()

	return ctx, w, func() {
		w.mu.Lock()
		w.stopLocked()
		w.mu.Unlock()
		w.cancel(nil)
		if cancelTotal != nil {
			cancelTotal()
		}
	}
}

// Token records that the attempt produced its first token (idempotent, cheap; safe from any
// goroutine). It stops the first-token timer. Only the first call does any work; the rest are
// one atomic load, so the worker may call it for every chunk. A nil Watchdog ignores it, so
// code paths without a watchdog need no check.
func (w *Watchdog) Token() {
	if w == nil || w.token.Load() || w.token.Swap(true) {
		return
	}
	if w.firstToken != nil {
		w.firstToken.Stop()
	}
}

// now returns the monotonic time since the watchdog started, in nanoseconds.
func (w *Watchdog) now() int64 { return int64(time.Since(w.start)) }

// fire cancels the attempt with cause unless it already ended. A timer that fires while the
// caller cancels may race it to the lock: whichever gets it first decides the cause.
func (w *Watchdog) fire(cause error) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.stopLocked()
	w.mu.Unlock()
	w.cancel(cause)
}

// stopLocked marks the watchdog done and stops its timers; a callback already running sees
// done and does nothing.
func (w *Watchdog) stopLocked() {
	w.done = true
	for _, t := range [...]*time.Timer{w.firstByte, w.firstToken, w.stall} {
		if t != nil {
			t.Stop()
		}
	}
}

// gotHeaders stops the first-byte clock and, when watch is set, starts stall watching for one
// more body. It reports whether the body is watched, so that bodyDone is called once for each
// body it counted.
func (w *Watchdog) gotHeaders(watch bool) bool {
	if !w.headers.Load() && !w.headers.Swap(true) && w.firstByte != nil {
		w.firstByte.Stop()
	}
	if !watch {
		return false
	}
	// Store before counting the body: a stall timer already running for another body must not
	// compare against an old progress time and cut this one short.
	w.last.Store(w.now())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return false
	}
	w.bodies++
	switch {
	case w.stall == nil:
		w.stall = time.AfterFunc(w.t.Stall, w.checkStall)
	case w.bodies == 1:
		w.stall.Reset(w.t.Stall)
	}
	return true
}

// progress records that a body returned data. It must stay this cheap: it runs on every Read.
func (w *Watchdog) progress() { w.last.Store(w.now()) }

// bodyDone ends stall watching for one body (EOF or Close); the timer stops with the last one.
func (w *Watchdog) bodyDone() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bodies--
	if w.bodies == 0 && w.stall != nil {
		w.stall.Stop()
	}
}

// checkStall runs when the stall timer fires. Reads did not reset the timer, so it looks at
// the last progress: if it is recent, the timer is re-armed for what is left of the bound;
// otherwise no data came for Stall and the attempt is cancelled. A callback that was already
// running when bodyDone stopped the timer sees no open body and does nothing.
func (w *Watchdog) checkStall() {
	w.mu.Lock()
	if w.done || w.bodies == 0 {
		w.mu.Unlock()
		return
	}
	if idle := time.Duration(w.now() - w.last.Load()); idle < w.t.Stall {
		w.stall.Reset(w.t.Stall - idle)
		w.mu.Unlock()
		return
	}
	w.stopLocked()
	w.mu.Unlock()
	w.cancel(ErrStallTimeout)
}

// Transport wraps base (nil means http.DefaultTransport) so that a request whose context
// carries a Watchdog (from Watch) reports to it: the response headers stop the first-byte
// timer and start stall watching; every body Read that returns n > 0 re-arms the stall timer;
// Close or EOF of the body stops it. Requests without a watchdog pass through untouched (no
// allocation beyond what base does).
//
// Reporting from the transport is what lets the adapters stay unaware of the watchdog: they
// only pass the attempt's context to their requests. When a phase timeout ends a request, the
// error returned (from RoundTrip or from a body Read) matches that phase's Err*Timeout with
// errors.Is.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base}
}

type transport struct{ base http.RoundTripper }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if gate, _ := req.Context().Value(gateKey{}).(func() error); gate != nil {
		if err := gate(); err != nil {
			return nil, err
		}
	}
	w, _ := req.Context().Value(watchdogKey{}).(*Watchdog)
	if w == nil {
		return t.base.RoundTrip(req)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, withCause(req.Context(), err)
	}
	// A 101 body is also the connection's writer; wrapping it would hide that. A body that
	// cannot carry data has nothing to stall on.
	watch := w.t.Stall > 0 && resp.Body != nil && resp.Body != http.NoBody &&
		resp.StatusCode != http.StatusSwitchingProtocols
	if w.gotHeaders(watch) {
		resp.Body = &watchedBody{rc: resp.Body, w: w, ctx: req.Context()}
	}
	return resp, nil
}

// CloseIdleConnections passes on to base, so that http.Client.CloseIdleConnections still works
// through the wrapper.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// withCause adds the watchdog's timeout to err when a phase timeout ended the request and
// base did not say so (net/http does; other round trippers may only say "canceled").
func withCause(ctx context.Context, err error) error {
	if cause := TimeoutCause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// watchedBody reports a response body's progress to its watchdog.
type watchedBody struct {
	rc       io.ReadCloser
	w        *Watchdog
	ctx      context.Context // the request's, for the cause of a failed Read
	finished atomic.Bool     // bodyDone was called (EOF or Close)
	closed   atomic.Bool     // rc.Close was called
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.w.progress()
	}
	if err != nil {
		if err == io.EOF {
			b.finish()
		} else {
			err = withCause(b.ctx, err)
		}
	}
	return n, err
}

// Close closes the underlying body once; later calls return nil.
func (b *watchedBody) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.finish()
	return b.rc.Close()
}

func (b *watchedBody) finish() {
	if !b.finished.Swap(true) {
		b.w.bodyDone()
	}
}

// NewHTTPClient returns a client for one provider: a clone of http.DefaultTransport tuned for
// many keep-alive connections (MaxIdleConns 4096, MaxIdleConnsPerHost 1024, IdleConnTimeout
// 90s), whose dialer has the connect timeout (0 means 30s) and whose TLS handshake timeout is
// the connect timeout too, wrapped by Transport. No client-level Timeout (the watchdog and the
// context bound calls).
//
// The connect timeout lives here and not in the watchdog because a connection outlives the
// attempt that dialled it and is shared by all the provider's models. A client Timeout is left
// out because it would cut long streams that the stall bound lets run, and would report
// neither the phase nor a cause.
func NewHTTPClient(connect time.Duration) *http.Client {
	if connect <= 0 {
		connect = 30 * time.Second
	}
	var tr *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	} else {
		// Someone replaced the default; start from its documented settings instead.
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, ExpectContinueTimeout: time.Second}
	}
	tr.DialContext = (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = connect
	tr.MaxIdleConns = 4096
	tr.MaxIdleConnsPerHost = 1024
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: Transport(tr)}
}
