package gateway

import (
	"net/http"
	"strconv"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Codes of the errors a StreamEncoder makes itself.
const (
	// CodeStreamRestarted: the answer started again on another model after part of it was
	// streamed, and the new answer does not repeat the part the client already has (or tool
	// calls had already been streamed). The stream cannot be mended: it ends in error.
	CodeStreamRestarted = "stream_restarted"
	// CodeStreamIncomplete: the stream is being finished before its done chunk arrived.
	CodeStreamIncomplete = "stream_incomplete"
	// CodeStreamMalformed: a chunk the pipeline should never send (a tool-call index out of
	// bounds).
	CodeStreamMalformed = "stream_malformed"
)

// maxToolIndexGap bounds how far past the calls seen so far a tool-call index may jump, so a
// corrupt index cannot make the encoder allocate without bound.
const maxToolIndexGap = 128

// StreamEncoder turns the stream chunks of one request (schemas.StreamChunk, in seq order) into
// OpenAI chat.completion.chunk server-sent events, "data: {...}\n\n". Every frame names ID,
// Created, the model of the latest chunk that named one (Model before any did), a null
// system_fingerprint and, when IncludeUsage, "usage":null, as OpenAI's do.
//
// An encoder serves one stream and is not safe for concurrent use. Its methods append to a
// buffer the caller owns; on an error they append nothing.
type StreamEncoder struct {
	ID           string
	Created      int64
	Model        string // the model frames name before any chunk names one
	IncludeUsage bool   // stream_options.include_usage: Finish sends a usage frame

	model   string // the model frames name: the latest chunk's, else Model
	sent    bool   // a frame was produced
	started bool   // the role frame is out
	// text is the content the client has. matched is how much of it the current answer has
	// produced: len(text), except after a restart, while the new answer replays what the
	// client already has (those bytes are swallowed, not sent again).
	text    []byte
	matched int
	tools   []bool // tool-call indices whose first fragment was sent
	calls   bool   // any tool-call fragment was sent
	done    bool   // the done chunk arrived
	finish  string // its finish reason
	ended   bool   // Finish ran
	err     *APIError
}

// Sent reports whether any frame was produced yet; a handler that holds the HTTP status back
// until the first frame can still answer with an error status while it is false.
func (e *StreamEncoder) Sent() bool { return e.sent }

// Chunk appends the frames for c to dst and returns dst.
//
// The first frame of a stream is the role frame, delta {"role":"assistant","content":""}.
// A delta chunk is a frame with delta.content; a tool_call chunk is a frame with
// delta.tool_calls [{index, function{arguments}}], with id, type "function" and function.name
// on the first fragment of each call only. A provider_switch chunk makes no frame: in mode
// continue the text already sent stands; in mode restart the answer starts again, and the text
// the new answer repeats of what the client already has is swallowed, only what goes beyond it
// is sent. A restarted answer that departs from that text, or a restart after tool calls were
// streamed, is a 502 with code CodeStreamRestarted: the client's copy cannot be mended. The
// done chunk makes no frame itself: Finish writes its finish_reason frame, so that the last
// frame can carry the switchyard extension. An error chunk is a 502 server_error with the
// chunk's Delta as message when it has one (the pipeline's terminal response, when the handler
// has it, says more: see ErrorFor).
//
// After an error, every call returns the same error; the handler should end the stream with
// ErrorFrame. Chunks after the done chunk are ignored.
func (e *StreamEncoder) Chunk(dst []byte, c *schemas.StreamChunk) ([]byte, *APIError) {
	if e.err != nil {
		return dst, e.err
	}
	if e.done || e.ended {
		return dst, nil
	}
	if c.Model != "" {
		e.model = c.Model
	}
	switch c.Kind {
	case schemas.ChunkDelta:
		text := c.Delta
		if e.matched < len(e.text) {
			n := min(len(text), len(e.text)-e.matched)
			if text[:n] != string(e.text[e.matched:e.matched+n]) {
				return dst, e.fail(CodeStreamRestarted, "The answer was restarted on another model after part of it had been streamed, and the new answer departs from that part. Retry the request.")
			}
			e.matched += n
			text = text[n:]
		}
		dst = e.role(dst)
		if text == "" {
			return dst, nil
		}
		dst = e.head(dst)
		dst = append(dst, `[{"index":0,"delta":{"content":`...)
		dst = jsonw.String(dst, text)
		dst = append(dst, `},"logprobs":null,"finish_reason":null}]`...)
		dst = e.tail(dst)
		e.text = append(e.text, text...)
		e.matched = len(e.text)

	case schemas.ChunkToolCall:
		if e.matched < len(e.text) {
			return dst, e.fail(CodeStreamRestarted, "The answer was restarted on another model after part of it had been streamed, and the new answer calls tools instead of repeating that part. Retry the request.")
		}
		tc := c.ToolCall
		if tc == nil {
			return e.role(dst), nil
		}
		i := int(tc.Index)
		if i < 0 || i >= len(e.tools)+maxToolIndexGap {
			return dst, e.fail(CodeStreamMalformed, "The pipeline sent a tool call with index "+strconv.Itoa(i)+".")
		}
		if i >= len(e.tools) {
			e.tools = append(e.tools, make([]bool, i+1-len(e.tools))...)
		}
		first := !e.tools[i]
		dst = e.role(dst)
		dst = e.head(dst)
		dst = append(dst, `[{"index":0,"delta":{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		if first && tc.ID != "" {
			dst = append(dst, `,"id":`...)
			dst = jsonw.String(dst, tc.ID)
			dst = append(dst, `,"type":"function"`...)
		}
		dst = append(dst, `,"function":{`...)
		if first {
			dst = append(dst, `"name":`...)
			dst = jsonw.String(dst, tc.Name)
			dst = append(dst, ',')
		}
		dst = append(dst, `"arguments":`...)
		dst = jsonw.String(dst, tc.Arguments)
		dst = append(dst, `}}]},"logprobs":null,"finish_reason":null}]`...)
		dst = e.tail(dst)
		e.tools[i], e.calls = true, true

	case schemas.ChunkProviderSwitch:
		if c.Mode != schemas.StreamRestart {
			return dst, nil
		}
		if e.calls {
			return dst, e.fail(CodeStreamRestarted, "The answer was restarted on another model after tool calls had been streamed. Retry the request.")
		}
		// The new answer must first repeat all the client has; see the delta case.
		e.matched = 0

	case schemas.ChunkDone:
		if e.matched < len(e.text) {
			return dst, e.fail(CodeStreamRestarted, "The answer was restarted on another model after part of it had been streamed, and the new answer is shorter than that part. Retry the request.")
		}
		dst = e.role(dst)
		e.done, e.finish = true, c.FinishReason

	case schemas.ChunkError:
		msg := c.Delta
		if msg == "" {
			msg = "The answer failed after it had begun streaming."
		}
		e.err = &APIError{Status: http.StatusBadGateway, Type: TypeServer, Message: msg}
		return dst, e.err
	}
	return dst, nil
}

// Finish appends the end of the stream after the done chunk: the finish_reason frame (with the
// switchyard extension object of resp when there will be no usage frame); when IncludeUsage
// and resp is known, a usage frame with "choices":[] and the extension; and "data: [DONE]".
// resp may be nil (the terminal response did not arrive): then there is no usage and no
// extension. Frames written here name resp.Model, as Completion does.
//
// A stream that cannot end well ends in an error frame instead, without [DONE]: when resp is
// an error response (ErrorFor of its error), or when no done chunk arrived (code
// CodeStreamIncomplete). Finish does nothing after a Chunk error (the handler writes that
// error's frame) or a first Finish.
func (e *StreamEncoder) Finish(dst []byte, resp *schemas.Response) []byte {
	if e.ended || e.err != nil {
		return dst
	}
	e.ended = true
	if resp != nil && resp.Status == schemas.StatusError {
		e.sent = true
		return ErrorFrame(dst, ErrorFor(resp.Error))
	}
	if !e.done {
		e.sent = true
		return ErrorFrame(dst, &APIError{Status: http.StatusBadGateway, Type: TypeServer, Code: CodeStreamIncomplete,
			Message: "The stream ended before the answer was complete."})
	}
	if resp != nil && resp.Model != "" {
		e.model = resp.Model
	}
	dst = e.head(dst)
	dst = append(dst, `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"`...)
	dst = append(dst, finishReason(e.finish, e.calls)...)
	dst = append(dst, `"}]`...)
	switch {
	case resp != nil && e.IncludeUsage:
		dst = e.tail(dst)
		dst = e.head(dst)
		dst = append(dst, `[],"usage":`...)
		dst = appendUsage(dst, &resp.Usage)
		dst = append(dst, `,"switchyard":`...)
		dst = appendExtension(dst, resp)
		dst = append(dst, "}\n\n"...)
	case resp != nil:
		dst = append(dst, `,"switchyard":`...)
		dst = appendExtension(dst, resp)
		dst = e.tail(dst)
	default:
		dst = e.tail(dst)
	}
	return append(dst, "data: [DONE]\n\n"...)
}

// ErrorFrame appends the frame an OpenAI client reads as a stream error,
// "data: {\"error\":{...}}\n\n". OpenAI sends nothing after it, not even [DONE].
func ErrorFrame(dst []byte, err *APIError) []byte {
	dst = append(dst, "data: "...)
	dst = err.appendBody(dst)
	return append(dst, "\n\n"...)
}

func (e *StreamEncoder) fail(code, msg string) *APIError {
	e.err = &APIError{Status: http.StatusBadGateway, Type: TypeServer, Code: code, Message: msg}
	return e.err
}

// role appends the role frame when it is not out yet.
func (e *StreamEncoder) role(dst []byte) []byte {
	if e.started {
		return dst
	}
	e.started = true
	dst = e.head(dst)
	dst = append(dst, `[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`...)
	return e.tail(dst)
}

// head appends a frame up to the value of "choices".
func (e *StreamEncoder) head(dst []byte) []byte {
	e.sent = true
	if e.model == "" {
		e.model = e.Model
	}
	dst = append(dst, `data: {"id":`...)
	dst = jsonw.String(dst, e.ID)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = strconv.AppendInt(dst, e.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = jsonw.String(dst, e.model)
	dst = append(dst, `,"system_fingerprint":null,"choices":`...)
	return dst
}

// tail closes a frame whose choices are written.
func (e *StreamEncoder) tail(dst []byte) []byte {
	if e.IncludeUsage {
		dst = append(dst, `,"usage":null`...)
	}
	return append(dst, "}\n\n"...)
}
