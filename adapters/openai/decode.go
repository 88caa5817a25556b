package openai

import (
	"encoding/json"
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/internal/httpx"
	"github.com/switchyard-llm/switchyard/schemas"
)

// malformedError marks decode failures: the adapter reports them as Kind Malformed.
type malformedError = httpx.MalformedError

// malformed returns a *malformedError; its message must not quote the response.
func malformed(format string, args ...any) error { return httpx.Malformed(format, args...) }

// providerError is an error object found inside a 200 body or a stream.
type providerError struct{ err *apiError }

func (e *providerError) Error() string { return "provider error in response" }

// finishNoResource is DeepSeek's finish_reason for an answer the server cut short for lack of
// resources: the answer is truncated, so it is an error (retryable elsewhere), not a result.
const finishNoResource = "insufficient_system_resource"

var errNoResource = &providerError{err: &apiError{
	Message: "the provider cut the answer short for lack of resources",
	Code:    json.RawMessage(`"` + finishNoResource + `"`),
}}

// mapFinish converts OpenAI's finish_reason (and the spellings some compatible servers use) to
// the canonical set.
func mapFinish(s string) string {
	switch s {
	case "stop", "eos", "end_turn", "stop_sequence":
		return adapters.FinishStop
	case "length", "max_tokens", "model_length":
		return adapters.FinishLength
	case "tool_calls", "function_call":
		return adapters.FinishToolCalls
	case "content_filter":
		return adapters.FinishContentFilter
	}
	return adapters.FinishError
}

func usageOf(u *chatUsage) schemas.Usage {
	if u == nil {
		return schemas.Usage{}
	}
	out := schemas.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		out.CachedTokens = u.PromptTokensDetails.CachedTokens
	}
	if out.CachedTokens == 0 {
		out.CachedTokens = u.PromptCacheHitTokens // DeepSeek
	}
	if u.CompletionTokensDetails != nil {
		out.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}

// decodeResponse converts a non-streaming Chat Completions body to a Result.
func decodeResponse(body []byte) (*adapters.Result, error) {
	var resp chatResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, malformed("invalid JSON body: %v", httpx.JSONErrorSummary(err))
	}
	if resp.Error != nil {
		return nil, &providerError{err: resp.Error}
	}
	if len(resp.Choices) == 0 {
		return nil, malformed("response has no choices")
	}
	ch := &resp.Choices[0]
	u := resp.Usage
	if u == nil && resp.XGroq != nil {
		u = resp.XGroq.Usage
	}
	res := &adapters.Result{Model: resp.Model, ResponseID: resp.ID, Usage: usageOf(u)}
	if ch.Message.Content != nil {
		res.Content = *ch.Message.Content
	}
	finish := ""
	if ch.FinishReason != nil {
		finish = *ch.FinishReason
	}
	switch {
	case finish == "" && (ch.Message.Content != nil || len(ch.Message.ToolCalls) > 0):
		// Some compatible servers leave finish_reason null on a complete, non-streamed answer.
		res.FinishReason = adapters.FinishStop
		if len(ch.Message.ToolCalls) > 0 {
			res.FinishReason = adapters.FinishToolCalls
		}
	case finish == "":
		return nil, malformed("response has neither content nor finish_reason")
	case finish == finishNoResource:
		return nil, errNoResource
	default:
		res.FinishReason = mapFinish(finish)
	}
	if ch.Message.Refusal != nil && *ch.Message.Refusal != "" {
		// A structured-output refusal: the answer is not what was asked for.
		if res.Content == "" {
			res.Content = *ch.Message.Refusal
		}
		res.FinishReason = adapters.FinishContentFilter
	}
	if n := len(ch.Message.ToolCalls); n > 0 {
		res.ToolCalls = make([]schemas.ToolCall, n)
		for i, tc := range ch.Message.ToolCalls {
			if tc.Function.Name == "" {
				return nil, malformed("tool call %d has no function name", i)
			}
			res.ToolCalls[i] = schemas.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments}
		}
	}
	normalizeFinish(res)
	return res, nil
}

// normalizeFinish makes the finish reason agree with the answer. OpenAI ends an answer to a
// forced or required tool choice with "stop" although it calls tools (so do vLLM for a named tool
// and several other servers); some servers say "tool_calls" for an answer that has none.
func normalizeFinish(res *adapters.Result) {
	switch {
	case res.FinishReason == adapters.FinishStop && len(res.ToolCalls) > 0:
		res.FinishReason = adapters.FinishToolCalls
	case res.FinishReason == adapters.FinishToolCalls && len(res.ToolCalls) == 0 && res.Content != "":
		res.FinishReason = adapters.FinishStop
	}
}

// maxToolCalls bounds the tool-call index a stream may use, so that a bogus index cannot make
// the accumulator allocate a huge slice.
const maxToolCalls = 128

// streamState accumulates a streamed answer chunk by chunk.
type streamState struct {
	content  []string
	tools    []toolAcc
	slot     []int // the wire's tool-call index -> position in tools (see toolSlot)
	finish   string
	usage    *chatUsage
	model    string
	id       string
	refusal  bool
	gotChunk bool
	chunk    chatResponse // reused across chunks
}

type toolAcc struct {
	id, name string
	args     []byte // not a strings.Builder: tools grows by append, which copies its elements
	seen     bool
}

// add decodes one data payload and reports the deltas it carries through emit.
func (s *streamState) add(data []byte, emit func(adapters.Delta) error) error {
	// encoding/json decodes into reused slice elements without zeroing them first: clear them so
	// that nothing from the previous chunk survives.
	choices := s.chunk.Choices[:cap(s.chunk.Choices)]
	clear(choices)
	s.chunk = chatResponse{Choices: choices[:0]}
	if err := json.Unmarshal(data, &s.chunk); err != nil {
		return malformed("invalid stream chunk: %v", httpx.JSONErrorSummary(err))
	}
	c := &s.chunk
	if c.Error != nil {
		return &providerError{err: c.Error}
	}
	s.gotChunk = true
	if c.Model != "" {
		s.model = c.Model
	}
	if c.ID != "" {
		s.id = c.ID
	}
	if c.Usage != nil {
		u := *c.Usage
		s.usage = &u
	} else if c.XGroq != nil && c.XGroq.Usage != nil && s.usage == nil {
		u := *c.XGroq.Usage
		s.usage = &u
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // we ask for one choice
		}
		d := &ch.Delta
		if d.Content != nil && *d.Content != "" {
			s.appendContent(*d.Content)
			if err := emit(adapters.Delta{Content: *d.Content}); err != nil {
				return err
			}
		}
		if d.Refusal != nil && *d.Refusal != "" {
			s.refusal = true
			s.appendContent(*d.Refusal)
		}
		for j := range d.ToolCalls {
			tc := &d.ToolCalls[j]
			idx, err := s.toolSlot(tc, j)
			if err != nil {
				return err
			}
			acc := &s.tools[idx]
			acc.seen = true
			if tc.ID != "" {
				acc.id = tc.ID
			}
			name := tc.Function.Name
			switch {
			case name == "":
			case acc.name == "":
				acc.name = name
			case name == acc.name:
				name = "" // a server that repeats the name in every fragment: already known
			default:
				acc.name += name // a name sent in fragments
			}
			acc.args = append(acc.args, tc.Function.Arguments...)
			if err := emit(adapters.Delta{ToolCall: &adapters.ToolCallDelta{Index: idx, ID: tc.ID, Name: name, Arguments: tc.Function.Arguments}}); err != nil {
				return err
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finish = *ch.FinishReason
		}
	}
	return nil
}

// toolSlot returns the position in s.tools of a streamed tool-call fragment, growing s.tools
// for a new call. OpenAI numbers the calls with "index" and sends each call's id with its first
// fragment. Compatible servers differ: Ollama before 0.4.7 sends no index, and later versions send
// index 0 for every call of a parallel answer (each call whole in one fragment). So a fragment
// with an id that differs from the id already held at its index starts a new call, and later
// fragments with that index (and no id) continue it; a fragment without an index continues the
// last call, or starts one when it has a new id. pos is the fragment's position in its delta.
func (s *streamState) toolSlot(tc *chatToolCall, pos int) (int, error) {
	if tc.Index == nil {
		if tc.ID != "" {
			if i := s.findTool(tc.ID); i >= 0 {
				return i, nil
			}
			return s.newTool()
		}
		if n := len(s.tools); n > 0 && pos == 0 {
			return n - 1, nil
		}
		return s.newTool()
	}
	w := *tc.Index
	if w < 0 || w >= maxToolCalls {
		return 0, malformed("tool call index %d out of range", w)
	}
	for len(s.slot) <= w {
		s.slot = append(s.slot, -1)
	}
	cur := s.slot[w]
	switch {
	case cur < 0:
		i := -1
		if tc.ID != "" {
			i = s.findTool(tc.ID)
		}
		if i < 0 {
			var err error
			if i, err = s.newTool(); err != nil {
				return 0, err
			}
		}
		s.slot[w] = i
		return i, nil
	case tc.ID != "" && s.tools[cur].id != "" && s.tools[cur].id != tc.ID:
		i := s.findTool(tc.ID)
		if i < 0 {
			var err error
			if i, err = s.newTool(); err != nil {
				return 0, err
			}
		}
		s.slot[w] = i
		return i, nil
	}
	return cur, nil
}

func (s *streamState) findTool(id string) int {
	for i := range s.tools {
		if s.tools[i].id == id {
			return i
		}
	}
	return -1
}

func (s *streamState) newTool() (int, error) {
	if len(s.tools) >= maxToolCalls {
		return 0, malformed("more than %d tool calls", maxToolCalls)
	}
	s.tools = append(s.tools, toolAcc{})
	return len(s.tools) - 1, nil
}

// appendContent keeps the decoded pieces and joins them once at the end: a growing buffer would
// allocate several times the size of a long answer.
func (s *streamState) appendContent(text string) {
	s.content = append(s.content, text)
}

// result assembles the Result after [DONE].
func (s *streamState) result() (*adapters.Result, error) {
	if s.finish == "" {
		return nil, malformed("stream ended without a finish_reason")
	}
	if s.finish == finishNoResource {
		return nil, errNoResource
	}
	res := &adapters.Result{
		Content:      strings.Join(s.content, ""),
		FinishReason: mapFinish(s.finish),
		Usage:        usageOf(s.usage),
		Model:        s.model,
		ResponseID:   s.id,
	}
	if s.refusal {
		res.FinishReason = adapters.FinishContentFilter
	}
	for i := range s.tools {
		t := &s.tools[i]
		if !t.seen {
			continue
		}
		if t.name == "" {
			return nil, malformed("streamed tool call %d has no function name", i)
		}
		res.ToolCalls = append(res.ToolCalls, schemas.ToolCall{ID: t.id, Name: t.name, Arguments: string(t.args)})
	}
	normalizeFinish(res)
	return res, nil
}
