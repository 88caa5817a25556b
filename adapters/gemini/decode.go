package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/internal/httpx"
	"github.com/switchyard-llm/switchyard/schemas"
)

// malformedError marks decode failures: the adapter reports them as Kind Malformed. Unlike
// httpx.MalformedError it carries a code: Gemini's finish reason for a function call it could not
// produce (MALFORMED_FUNCTION_CALL, ...), which the caller sees as Error.Code.
type malformedError struct {
	msg  string
	code string
}

func (e *malformedError) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &malformedError{msg: fmt.Sprintf(format, args...)}
}

// providerError is an error object found inside a 200 body or a stream.
type providerError struct{ err *apiError }

func (e *providerError) Error() string { return "provider error in response" }

// blockedError is a prompt Gemini refused to answer: promptFeedback.blockReason and no
// candidates. The adapter reports it as Kind ContentFiltered.
type blockedError struct {
	reason  string // SAFETY, OTHER, BLOCKLIST, PROHIBITED_CONTENT, IMAGE_SAFETY, ...
	message string // blockReasonMessage, if any
}

func (e *blockedError) Error() string { return "prompt blocked: " + e.reason }

// badCallFinish reports the finish reasons of a function call Gemini could not produce in valid
// form. They are reported as Kind Malformed (retryable: the model may well get it right next time)
// rather than as a result with FinishError, because there is no usable call in the answer.
func badCallFinish(f string) bool {
	return f == "MALFORMED_FUNCTION_CALL" || f == "UNEXPECTED_TOOL_CALL" || f == "TOO_MANY_TOOL_CALLS"
}

// mapFinish converts Gemini's finishReason to the canonical set. hasCalls turns STOP into
// tool_calls: Gemini finishes a function call answer with STOP.
func mapFinish(s string, hasCalls bool) string {
	switch s {
	case "STOP", "OTHER":
		if hasCalls {
			return adapters.FinishToolCalls
		}
		return adapters.FinishStop
	case "MAX_TOKENS":
		return adapters.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return adapters.FinishContentFilter
	}
	return adapters.FinishError // LANGUAGE, FINISH_REASON_UNSPECIFIED, NO_IMAGE, anything new
}

// usageOf maps usageMetadata. promptTokenCount already includes the cached tokens; Gemini bills
// thoughts as output, so OutputTokens adds them to the candidates' tokens.
func usageOf(u *usageMetadata) schemas.Usage {
	if u == nil {
		return schemas.Usage{}
	}
	return schemas.Usage{
		InputTokens:     u.PromptTokenCount + u.ToolUsePromptTokenCount,
		OutputTokens:    u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedTokens:    u.CachedContentTokenCount,
		ReasoningTokens: u.ThoughtsTokenCount,
	}
}

// modelName is modelVersion without the "models/" prefix some answers carry
// ("models/gemini-2.5-flash-preview-05-20"), so that it reads like the requested name.
func modelName(v sticky) string { return strings.TrimPrefix(string(v), "models/") }

// firstCandidate returns the candidate with index 0 (we ask for one), or nil.
func firstCandidate(cs []candidate) *candidate {
	for i := range cs {
		if cs[i].Index == 0 {
			return &cs[i]
		}
	}
	return nil
}

// argsText renders a function call's args as compact JSON text; none means "{}".
func argsText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	if raw[0] != '{' {
		return "", malformed("function call args are not an object")
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return "", malformed("function call args are not valid JSON")
	}
	return buf.String(), nil
}

// decodeResponse converts a non-streaming GenerateContentResponse to a Result.
func decodeResponse(body []byte) (*adapters.Result, error) {
	var resp generateResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, malformed("invalid JSON body: %v", httpx.JSONErrorSummary(err))
	}
	if resp.Error != nil {
		return nil, &providerError{err: resp.Error}
	}
	ch := firstCandidate(resp.Candidates)
	if ch == nil {
		if pf := resp.PromptFeedback; pf != nil && pf.BlockReason != "" {
			return nil, &blockedError{reason: pf.BlockReason, message: pf.BlockReasonMessage}
		}
		return nil, malformed("response has no candidates")
	}
	res := &adapters.Result{Model: modelName(resp.ModelVersion), ResponseID: string(resp.ResponseID), Usage: usageOf(resp.UsageMetadata)}
	var text []string
	for i := range ch.Content.Parts {
		p := &ch.Content.Parts[i]
		switch {
		case p.FunctionCall != nil:
			tc, err := toolCall(p.FunctionCall, len(res.ToolCalls))
			if err != nil {
				return nil, err
			}
			tc.Signature = p.ThoughtSignature
			res.ToolCalls = append(res.ToolCalls, tc)
		case !p.Thought:
			text = append(text, p.Text)
		}
	}
	res.Content = strings.Join(text, "")
	finish := ch.FinishReason
	switch {
	case badCallFinish(finish):
		return nil, &malformedError{msg: "the model produced an invalid function call", code: finish}
	case finish == "" && len(ch.Content.Parts) > 0:
		// A whole body without a finish reason: complete by construction, take it as a stop.
		finish = "STOP"
	case finish == "":
		return nil, malformed("candidate has neither content nor finishReason")
	}
	res.FinishReason = mapFinish(finish, len(res.ToolCalls) > 0)
	return res, nil
}

func toolCall(fc *functionCall, index int) (schemas.ToolCall, error) {
	if fc.Name == "" {
		return schemas.ToolCall{}, malformed("function call %d has no name", index)
	}
	args, err := argsText(fc.Args)
	if err != nil {
		return schemas.ToolCall{}, err
	}
	id := fc.ID
	if id == "" {
		id = syntheticID(index)
	}
	return schemas.ToolCall{ID: id, Name: fc.Name, Arguments: args}, nil
}

// maxToolCalls bounds the function calls a stream may carry.
const maxToolCalls = 128

// streamState accumulates a streamed answer chunk by chunk. Gemini streams whole parts: text
// pieces, and each function call complete in one part.
type streamState struct {
	content []string
	calls   []schemas.ToolCall
	finish  string
	usage   *usageMetadata
	model   sticky
	id      string
	chunk   generateResponse // reused across chunks
}

// add decodes one data payload and reports the deltas it carries through emit.
func (s *streamState) add(data []byte, emit func(adapters.Delta) error) error {
	// encoding/json decodes into reused slice elements without zeroing them first: clear them,
	// keeping each candidate's parts array, so that nothing from the previous chunk survives.
	cands := s.chunk.Candidates[:cap(s.chunk.Candidates)]
	for i := range cands {
		parts := cands[i].Content.Parts[:cap(cands[i].Content.Parts)]
		clear(parts)
		cands[i] = candidate{Content: responseContent{Parts: parts[:0]}}
	}
	s.chunk = generateResponse{Candidates: cands[:0], ModelVersion: s.chunk.ModelVersion, ResponseID: s.chunk.ResponseID}
	if err := json.Unmarshal(data, &s.chunk); err != nil {
		return malformed("invalid stream chunk: %v", httpx.JSONErrorSummary(err))
	}
	c := &s.chunk
	if c.Error != nil {
		return &providerError{err: c.Error}
	}
	s.model, s.id = c.ModelVersion, string(c.ResponseID)
	if c.UsageMetadata != nil {
		u := *c.UsageMetadata
		s.usage = &u
	}
	ch := firstCandidate(c.Candidates)
	if ch == nil {
		if pf := c.PromptFeedback; pf != nil && pf.BlockReason != "" {
			return &blockedError{reason: pf.BlockReason, message: pf.BlockReasonMessage}
		}
		return nil // a usage-only chunk
	}
	for i := range ch.Content.Parts {
		p := &ch.Content.Parts[i]
		switch {
		case p.FunctionCall != nil:
			idx := len(s.calls)
			if idx >= maxToolCalls {
				return malformed("more than %d function calls", maxToolCalls)
			}
			tc, err := toolCall(p.FunctionCall, idx)
			if err != nil {
				return err
			}
			tc.Signature = p.ThoughtSignature
			s.calls = append(s.calls, tc)
			if err := emit(adapters.Delta{ToolCall: &adapters.ToolCallDelta{Index: idx, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}}); err != nil {
				return err
			}
		case !p.Thought && p.Text != "":
			s.content = append(s.content, p.Text)
			if err := emit(adapters.Delta{Content: p.Text}); err != nil {
				return err
			}
		}
	}
	if ch.FinishReason != "" {
		s.finish = ch.FinishReason
	}
	return nil
}

// result assembles the Result once the body ended cleanly.
func (s *streamState) result() (*adapters.Result, error) {
	switch {
	case s.finish == "":
		return nil, malformed("stream ended without a finishReason")
	case badCallFinish(s.finish):
		return nil, &malformedError{msg: "the model produced an invalid function call", code: s.finish}
	}
	return &adapters.Result{
		Content:      strings.Join(s.content, ""),
		ToolCalls:    s.calls,
		FinishReason: mapFinish(s.finish, len(s.calls) > 0),
		Usage:        usageOf(s.usage),
		Model:        modelName(s.model),
		ResponseID:   s.id,
	}, nil
}
