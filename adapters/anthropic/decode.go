package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/internal/httpx"
	"github.com/switchyard-llm/switchyard/schemas"
)

// malformedError marks decode failures: the adapter reports them as Kind Malformed.
type malformedError = httpx.MalformedError

// malformed returns a *malformedError; its message must not quote the response.
func malformed(format string, args ...any) error { return httpx.Malformed(format, args...) }

// providerError is an error object found inside a 200 body or a stream ("event: error").
type providerError struct{ err *apiError }

func (e *providerError) Error() string { return "provider error in response" }

// mapStop converts Anthropic's stop_reason to the canonical finish reasons.
func mapStop(s string) string {
	switch s {
	case "end_turn", "stop_sequence", "pause_turn":
		// pause_turn: a server-tool turn paused; what came back is a complete, usable answer.
		return adapters.FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return adapters.FinishLength
	case "tool_use":
		return adapters.FinishToolCalls
	case "refusal":
		return adapters.FinishContentFilter
	}
	return adapters.FinishError
}

// usageOf converts Anthropic's counters to the canonical ones, whose input includes the cached
// tokens: InputTokens = input_tokens + cache_read_input_tokens + cache_creation_input_tokens.
// ReasoningTokens is output_tokens_details.thinking_tokens (part of OutputTokens).
func usageOf(u *usage) schemas.Usage {
	if u == nil {
		return schemas.Usage{}
	}
	v := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	out := schemas.Usage{
		OutputTokens:     v(u.OutputTokens),
		CachedTokens:     v(u.CacheReadInputTokens),
		CacheWriteTokens: v(u.CacheCreationInputTokens),
	}
	out.InputTokens = v(u.InputTokens) + out.CachedTokens + out.CacheWriteTokens
	if d := u.OutputTokensDetails; d != nil {
		out.ReasoningTokens = v(d.ThinkingTokens)
	}
	return out
}

// decodeResponse converts a non-streaming Messages body to a Result. prefill is put in front of
// the content (see encoded.prefill).
func decodeResponse(body []byte, prefill string) (*adapters.Result, error) {
	var resp messageResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, malformed("invalid JSON body: %v", httpx.JSONErrorSummary(err))
	}
	if resp.Type == "error" || resp.Error != nil {
		if resp.Error == nil {
			return nil, malformed("error body without an error object")
		}
		return nil, &providerError{err: resp.Error}
	}
	if resp.StopReason == nil || *resp.StopReason == "" {
		return nil, malformed("response has no stop_reason")
	}
	res := &adapters.Result{
		FinishReason: mapStop(*resp.StopReason),
		Usage:        usageOf(resp.Usage),
		Model:        resp.Model,
		ResponseID:   resp.ID,
	}
	var text []string
	if prefill != "" {
		text = append(text, prefill)
	}
	for i := range resp.Content {
		b := &resp.Content[i]
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "tool_use":
			if b.Name == "" || b.ID == "" {
				return nil, malformed("tool_use block %d has no id or name", i)
			}
			args, err := compactObject(b.Input)
			if err != nil {
				return nil, malformed("tool_use block %d: %v", i, err)
			}
			res.ToolCalls = append(res.ToolCalls, schemas.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		}
		// thinking, redacted_thinking and server-tool blocks carry no answer text.
	}
	res.Content = strings.Join(text, "")
	return res, nil
}

// compactObject renders a tool_use input (a JSON object; absent means no arguments) as compact
// JSON text.
func compactObject(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	if raw[0] != '{' {
		return "", errors.New("input is not a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", errors.New("input is not valid JSON")
	}
	return buf.String(), nil
}

// Bounds on what a stream may open, so that bogus indexes cannot make the accumulator allocate
// without limit.
const (
	maxBlocks    = 1024
	maxToolCalls = 128
)

// Content block kinds the stream accumulator tells apart.
const (
	kindOther = iota // thinking, server tools, ...: ignored
	kindText
	kindTool
)

type blockState struct {
	kind    int
	tool    int    // index among the tool_use blocks, for kindTool
	input   string // the input given with content_block_start, if not empty
	gotJSON bool   // an input_json_delta arrived
	stopped bool
}

// streamState accumulates a streamed answer event by event.
type streamState struct {
	prefill     string
	prefillSent bool
	started     bool // message_start seen
	done        bool // message_stop seen
	id, model   string
	stop        string
	usage       usage
	blocks      []blockState
	text        []string
	tools       []toolAcc
	ev          streamEvent // reused across events
}

type toolAcc struct {
	id, name string
	args     strings.Builder
}

// add decodes one event's data and reports the deltas it carries through emit. name is the SSE
// event name ("" if absent); the data's own type decides.
func (s *streamState) add(name string, data []byte, emit func(adapters.Delta) error) error {
	s.ev = streamEvent{}
	if err := json.Unmarshal(data, &s.ev); err != nil {
		return malformed("invalid %s event: %v", eventLabel(name), httpx.JSONErrorSummary(err))
	}
	ev := &s.ev
	typ := string(ev.Type)
	if typ == "" {
		typ = name
	}
	if typ == "error" || name == "error" {
		if ev.Error == nil {
			return malformed("error event without an error object")
		}
		return &providerError{err: ev.Error}
	}
	if s.done {
		return malformed("%s event after message_stop", eventLabel(typ))
	}
	switch typ {
	case "ping":
		return nil
	case "message_start":
		if s.started || ev.Message == nil {
			return malformed("unexpected message_start")
		}
		s.started = true
		s.id, s.model = ev.Message.ID, ev.Message.Model
		s.mergeUsage(ev.Message.Usage)
		return nil
	}
	if !s.started {
		return malformed("%s event before message_start", eventLabel(typ))
	}
	switch typ {
	case "content_block_start":
		if ev.ContentBlock == nil || ev.Index != len(s.blocks) || ev.Index >= maxBlocks {
			return malformed("content_block_start with a bad index or no block")
		}
		cb := ev.ContentBlock
		b := blockState{}
		switch cb.Type {
		case "text":
			b.kind = kindText
			s.blocks = append(s.blocks, b)
			if cb.Text != "" {
				return s.emitText(cb.Text, emit)
			}
			return nil
		case "tool_use":
			if len(s.tools) >= maxToolCalls {
				return malformed("more than %d tool calls", maxToolCalls)
			}
			if cb.ID == "" || cb.Name == "" {
				return malformed("tool_use block %d has no id or name", ev.Index)
			}
			b.kind, b.tool = kindTool, len(s.tools)
			if in, err := compactObject(cb.Input); err != nil {
				return malformed("tool_use block %d: %v", ev.Index, err)
			} else if in != "{}" {
				b.input = in
			}
			s.blocks = append(s.blocks, b)
			s.tools = append(s.tools, toolAcc{id: cb.ID, name: cb.Name})
			return emit(adapters.Delta{ToolCall: &adapters.ToolCallDelta{Index: b.tool, ID: cb.ID, Name: cb.Name}})
		}
		s.blocks = append(s.blocks, b)
		return nil
	case "content_block_delta":
		b, err := s.block(ev.Index, typ)
		if err != nil {
			return err
		}
		d := &ev.Delta
		if d.Type == "" {
			return malformed("content_block_delta without a delta")
		}
		if b.kind == kindOther {
			return nil // thinking, server tools (whose input also streams as input_json_delta), ...
		}
		switch d.Type {
		case "text_delta":
			if b.kind != kindText {
				return malformed("text_delta for a block that is not text")
			}
			if d.Text == "" {
				return nil
			}
			return s.emitText(d.Text, emit)
		case "input_json_delta":
			if b.kind != kindTool {
				return malformed("input_json_delta for a block that is not tool_use")
			}
			b.gotJSON = true
			if d.PartialJSON == "" {
				return nil
			}
			s.tools[b.tool].args.WriteString(d.PartialJSON)
			return emit(adapters.Delta{ToolCall: &adapters.ToolCallDelta{Index: b.tool, Arguments: d.PartialJSON}})
		}
		return nil // thinking_delta, signature_delta, citations_delta, ...
	case "content_block_stop":
		b, err := s.block(ev.Index, typ)
		if err != nil {
			return err
		}
		b.stopped = true
		if b.kind == kindTool && !b.gotJSON {
			// The whole input came with content_block_start (or there is none).
			args := b.input
			if args == "" {
				args = "{}"
			}
			s.tools[b.tool].args.WriteString(args)
			return emit(adapters.Delta{ToolCall: &adapters.ToolCallDelta{Index: b.tool, Arguments: args}})
		}
		return nil
	case "message_delta":
		if ev.Delta.StopReason != nil {
			s.stop = *ev.Delta.StopReason
		}
		s.mergeUsage(ev.Usage)
		return nil
	case "message_stop":
		s.done = true
		return nil
	}
	return nil // event types added later are ignored, as Anthropic asks
}

func eventLabel(name string) string {
	if name == "" || len(name) > 32 {
		return "stream"
	}
	return name
}

func (s *streamState) block(index int, typ string) (*blockState, error) {
	if index < 0 || index >= len(s.blocks) {
		return nil, malformed("%s for content block %d, which was not started", typ, index)
	}
	b := &s.blocks[index]
	if b.stopped {
		return nil, malformed("%s for content block %d, which was stopped", typ, index)
	}
	return b, nil
}

// emitText delivers answer text, preceded once by the prefill so that the deltas add up to the
// Result's content.
func (s *streamState) emitText(text string, emit func(adapters.Delta) error) error {
	if !s.prefillSent {
		s.prefillSent = true
		if s.prefill != "" {
			if err := emit(adapters.Delta{Content: s.prefill}); err != nil {
				return err
			}
		}
	}
	s.text = append(s.text, text)
	return emit(adapters.Delta{Content: text})
}

// mergeUsage keeps the counters an event carries: message_delta's are cumulative totals and
// replace message_start's.
func (s *streamState) mergeUsage(u *usage) {
	if u == nil {
		return
	}
	set := func(dst **int64, src *int64) {
		if src != nil {
			v := *src
			*dst = &v
		}
	}
	set(&s.usage.InputTokens, u.InputTokens)
	set(&s.usage.OutputTokens, u.OutputTokens)
	set(&s.usage.CacheCreationInputTokens, u.CacheCreationInputTokens)
	set(&s.usage.CacheReadInputTokens, u.CacheReadInputTokens)
	if d := u.OutputTokensDetails; d != nil && d.ThinkingTokens != nil {
		v := *d.ThinkingTokens
		s.usage.OutputTokensDetails = &struct {
			ThinkingTokens *int64 `json:"thinking_tokens"`
		}{ThinkingTokens: &v}
	}
}

// result assembles the Result after message_stop. If the prefill was not delivered yet (an answer
// without text), finish delivers it.
func (s *streamState) result(emit func(adapters.Delta) error) (*adapters.Result, error) {
	if !s.done {
		return nil, malformed("stream ended without message_stop")
	}
	if s.stop == "" {
		return nil, malformed("stream ended without a stop_reason")
	}
	if !s.prefillSent && s.prefill != "" {
		s.prefillSent = true
		if err := emit(adapters.Delta{Content: s.prefill}); err != nil {
			return nil, err
		}
	}
	content := strings.Join(s.text, "")
	if s.prefill != "" {
		content = s.prefill + content
	}
	res := &adapters.Result{
		Content:      content,
		FinishReason: mapStop(s.stop),
		Usage:        usageOf(&s.usage),
		Model:        s.model,
		ResponseID:   s.id,
	}
	for i := range s.tools {
		t := &s.tools[i]
		res.ToolCalls = append(res.ToolCalls, schemas.ToolCall{ID: t.id, Name: t.name, Arguments: t.args.String()})
	}
	return res, nil
}
