package httpx

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/sse"
)

// Events reads a streamed body as server-sent events, under the endpoint's body and event caps.
func (e *Endpoint) Events(body io.Reader) *sse.Reader {
	return sse.NewReaderSize(LimitReader(body, e.maxBody), e.maxEvent)
}

// StreamError classifies an error from reading events: the context ended, the stream was cut in
// the middle of an event, an event was too large, or the body ended cleanly before the
// provider's end marker (named in the message; "" for a format without one, whose caller decides
// about io.EOF itself).
func (e *Endpoint) StreamError(ctx context.Context, err error, endMarker string) *adapters.Error {
	if ce := ContextError(ctx, e.name, err); ce != nil {
		return ce
	}
	switch {
	case endMarker != "" && errors.Is(err, io.EOF):
		return &adapters.Error{Provider: e.name, Kind: adapters.Malformed, Message: "stream ended without " + endMarker}
	case errors.Is(err, sse.ErrTruncated):
		return &adapters.Error{Provider: e.name, Kind: adapters.Malformed, Message: "stream cut in the middle of an event", Err: err}
	case errors.Is(err, sse.ErrTooLarge):
		return &adapters.Error{Provider: e.name, Kind: adapters.Malformed, Message: "stream event too large", Err: err}
	}
	return BodyError(ctx, e.name, err)
}

// Drain reads what little follows a stream's end marker (the chunked-encoding terminator) so
// that the connection can be reused, but gives up quickly, through abort (which cancels the
// request's context), on a server that keeps the stream open.
func Drain(body io.Reader, abort context.CancelFunc) {
	t := time.AfterFunc(50*time.Millisecond, abort)
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	t.Stop()
}

// ReplayJSON delivers a whole JSON answer, data, where a stream was asked for: decode (the
// adapter's, returning its errors classified) turns it into a result, whose content and then
// each tool call are passed on through deltas as a stream would have passed them. The whole
// answer is its first token.
func ReplayJSON(data []byte, deltas *Deltas, decode func([]byte) (*adapters.Result, error)) (*adapters.Result, error) {
	res, err := decode(data)
	if err != nil {
		return nil, err
	}
	res.TTFT = deltas.TTFT()
	if res.Content != "" {
		if err := deltas.Emit(adapters.Delta{Content: res.Content}); err != nil {
			return nil, err
		}
	}
	for i, tc := range res.ToolCalls {
		if err := deltas.Emit(adapters.Delta{ToolCall: &adapters.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}}); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Deltas passes a stream's deltas on to the caller's onDelta, noting when the first one came and
// keeping the caller's own error when it refuses one: the adapter returns that error as is,
// never classified as the provider's.
type Deltas struct {
	start   time.Time
	onDelta func(adapters.Delta) error
	first   time.Duration
	refused error
}

// NewDeltas passes deltas to onDelta (nil: nowhere) for a call sent at start.
func NewDeltas(start time.Time, onDelta func(adapters.Delta) error) Deltas {
	return Deltas{start: start, onDelta: onDelta}
}

// Emit passes d on.
func (d *Deltas) Emit(delta adapters.Delta) error {
	if d.first == 0 {
		d.first = time.Since(d.start)
	}
	if d.onDelta == nil {
		return nil
	}
	if err := d.onDelta(delta); err != nil {
		d.refused = err
		return err
	}
	return nil
}

// Refused is the caller's error if it refused a delta, else nil.
func (d *Deltas) Refused() error { return d.refused }

// TTFT is the time from the call to the first delta, or to now if none came.
func (d *Deltas) TTFT() time.Duration {
	if d.first == 0 {
		return time.Since(d.start)
	}
	return d.first
}
