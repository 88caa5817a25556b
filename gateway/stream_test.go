package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/switchyard-llm/switchyard/schemas"
)

// sdkStream reads SSE bytes with the official SDK's own decoder and accumulator, as a client
// of the gateway would.
type sdkStream struct {
	chunks   []openai.ChatCompletionChunk
	acc      openai.ChatCompletionAccumulator
	finished []openai.FinishedChatCompletionToolCall
	err      error
}

func readSDK(t *testing.T, sse []byte) *sdkStream {
	t.Helper()
	res := &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(sse)),
	}
	stream := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	s := &sdkStream{}
	for stream.Next() {
		c := stream.Current()
		if !s.acc.AddChunk(c) {
			t.Fatalf("the accumulator refused chunk %d: %s", len(s.chunks), c.RawJSON())
		}
		if tc, ok := s.acc.JustFinishedToolCall(); ok {
			s.finished = append(s.finished, tc)
		}
		s.chunks = append(s.chunks, c)
	}
	s.err = stream.Err()
	return s
}

// frames splits SSE bytes into their data payloads, checking the framing.
func frames(t *testing.T, sse []byte) []string {
	t.Helper()
	if len(sse) == 0 {
		return nil
	}
	if !bytes.HasSuffix(sse, []byte("\n\n")) {
		t.Fatalf("stream does not end with a blank line: %q", sse)
	}
	var out []string
	for _, f := range strings.Split(strings.TrimSuffix(string(sse), "\n\n"), "\n\n") {
		data, ok := strings.CutPrefix(f, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("bad frame %q", f)
		}
		if data != "[DONE]" && !json.Valid([]byte(data)) {
			t.Fatalf("frame is not JSON: %s", data)
		}
		out = append(out, data)
	}
	return out
}

func encodeAll(t *testing.T, e *StreamEncoder, chunks []schemas.StreamChunk, resp *schemas.Response) []byte {
	t.Helper()
	var buf []byte
	for i := range chunks {
		chunks[i].RequestID, chunks[i].Seq = "req-1", int32(i)
		var err *APIError
		if buf, err = e.Chunk(buf, &chunks[i]); err != nil {
			t.Fatalf("chunk %d (%s): %v", i, chunks[i].Kind, err)
		}
	}
	return e.Finish(buf, resp)
}

func delta(s string) schemas.StreamChunk {
	return schemas.StreamChunk{Kind: schemas.ChunkDelta, Delta: s, Provider: "openai", Model: "gpt-4o"}
}

func toolDelta(i int32, id, name, args string) schemas.StreamChunk {
	return schemas.StreamChunk{Kind: schemas.ChunkToolCall, Provider: "openai", Model: "gpt-4o",
		ToolCall: &schemas.ToolCallDelta{Index: i, ID: id, Name: name, Arguments: args}}
}

func switchTo(mode, model string) schemas.StreamChunk {
	return schemas.StreamChunk{Kind: schemas.ChunkProviderSwitch, Mode: mode, Provider: "anthropic", Model: model}
}

func done(reason string) schemas.StreamChunk {
	return schemas.StreamChunk{Kind: schemas.ChunkDone, FinishReason: reason, Provider: "openai", Model: "gpt-4o"}
}

// sameAnswer checks that the SDK's accumulated message is the canonical answer, and the same
// message the SDK reads from Completion for it.
func sameAnswer(t *testing.T, s *sdkStream, resp *schemas.Response) {
	t.Helper()
	if s.err != nil {
		t.Fatalf("stream error: %v", s.err)
	}
	if len(s.acc.Choices) != 1 {
		t.Fatalf("choices %d", len(s.acc.Choices))
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(Completion(resp, s.acc.ID, s.acc.Created), &cc); err != nil {
		t.Fatal(err)
	}
	got, want := s.acc.Choices[0], cc.Choices[0]
	if got.Message.Content != resp.Content || got.Message.Content != want.Message.Content || got.Message.Role != "assistant" {
		t.Errorf("content %q, want %q", got.Message.Content, resp.Content)
	}
	if got.FinishReason != want.FinishReason {
		t.Errorf("finish %q, Completion says %q", got.FinishReason, want.FinishReason)
	}
	if len(got.Message.ToolCalls) != len(resp.ToolCalls) {
		t.Fatalf("tool calls %+v, want %+v", got.Message.ToolCalls, resp.ToolCalls)
	}
	for i, tc := range got.Message.ToolCalls {
		w := want.Message.ToolCalls[i]
		if tc.ID != w.ID || tc.Type != "function" || tc.Function.Name != w.Function.Name || tc.Function.Arguments != resp.ToolCalls[i].Raw {
			t.Errorf("tool call %d = %+v, want %+v with the raw arguments %s", i, tc, w, resp.ToolCalls[i].Raw)
		}
	}
	if s.acc.Model != cc.Model {
		t.Errorf("accumulated model %q, Completion's %q", s.acc.Model, cc.Model)
	}
}

func TestStreamTextReadBySDK(t *testing.T) {
	resp := &schemas.Response{
		RequestID: "req-1", Status: "ok", Provider: "openai", Model: "gpt-4o-2024-08-06",
		Content: "The capital of France is \"Paris\".\nÇa va? 🎉", FinishReason: "stop",
		Usage:    schemas.Usage{InputTokens: 20, OutputTokens: 12, CachedTokens: 4, ReasoningTokens: 2},
		CostUSD:  0.000042,
		Attempts: []schemas.Attempt{{Provider: "openai", Outcome: "ok"}},
	}
	e := &StreamEncoder{ID: "chatcmpl-sy-1", Created: 1_700_000_000, Model: "auto", IncludeUsage: true}
	if e.Sent() {
		t.Fatal("Sent before any chunk")
	}
	sse := encodeAll(t, e, []schemas.StreamChunk{
		delta("The capital of France"), delta(" is \"Paris\".\n"), delta(""), delta("Ça va? 🎉"), done("stop"),
	}, resp)
	if !e.Sent() {
		t.Error("Sent is false after frames")
	}
	fs := frames(t, sse)
	if fs[len(fs)-1] != "[DONE]" {
		t.Fatalf("last frame %q", fs[len(fs)-1])
	}
	s := readSDK(t, sse)
	sameAnswer(t, s, resp)
	// role frame, three content frames, finish frame, usage frame
	if len(s.chunks) != 6 {
		t.Fatalf("%d chunks:\n%s", len(s.chunks), sse)
	}
	first := s.chunks[0].Choices[0]
	if first.Delta.Role != "assistant" || first.Delta.JSON.Content.Raw() != `""` || first.FinishReason != "" {
		t.Errorf("first frame %s", s.chunks[0].RawJSON())
	}
	for i, c := range s.chunks {
		if c.ID != "chatcmpl-sy-1" || c.Object != "chat.completion.chunk" || c.Created != 1_700_000_000 || c.JSON.SystemFingerprint.Raw() != "null" {
			t.Errorf("frame %d: %s", i, c.RawJSON())
		}
		wantModel := "gpt-4o" // the chunks' model
		if i >= 4 {
			wantModel = resp.Model // Finish names the model that answered, as Completion does
		}
		if c.Model != wantModel {
			t.Errorf("frame %d model %q, want %q", i, c.Model, wantModel)
		}
		if i < 5 && (c.JSON.Usage.Raw() != "null" || len(c.Choices) != 1) {
			t.Errorf("frame %d: usage %s, %d choices", i, c.JSON.Usage.Raw(), len(c.Choices))
		}
	}
	if fin := s.chunks[4]; fin.Choices[0].FinishReason != "stop" || fin.Choices[0].Delta.JSON.Content.Valid() {
		t.Errorf("finish frame %s", fin.RawJSON())
	}
	last := s.chunks[5]
	if len(last.Choices) != 0 || !last.JSON.Choices.Valid() {
		t.Errorf("usage frame choices: %s", last.RawJSON())
	}
	u := s.acc.Usage
	if u.PromptTokens != 20 || u.CompletionTokens != 12 || u.TotalTokens != 32 || u.PromptTokensDetails.CachedTokens != 4 || u.CompletionTokensDetails.ReasoningTokens != 2 {
		t.Errorf("usage %+v", u)
	}
	ext, ok := last.JSON.ExtraFields["switchyard"]
	if !ok {
		t.Fatalf("no extension on the usage frame: %s", last.RawJSON())
	}
	checkExtension(t, ext.Raw(), resp)
	for _, c := range s.chunks[:5] {
		if _, ok := c.JSON.ExtraFields["switchyard"]; ok {
			t.Errorf("extension on a frame before the usage frame: %s", c.RawJSON())
		}
	}
}

func TestStreamWithoutUsage(t *testing.T) {
	resp := &schemas.Response{RequestID: "req-2", Status: "degraded", DegradedReason: "primary_unhealthy", Provider: "openai",
		Model: "gpt-4o-mini", Content: "Hi.", FinishReason: "length", FallbackDepth: 1,
		Usage: schemas.Usage{InputTokens: 5, OutputTokens: 1}}
	e := &StreamEncoder{ID: "chatcmpl-2", Created: 7, Model: "auto"}
	sse := encodeAll(t, e, []schemas.StreamChunk{{Kind: schemas.ChunkDelta, Delta: "Hi."}, {Kind: schemas.ChunkDone, FinishReason: "length"}}, resp)
	if bytes.Contains(sse, []byte(`"usage"`)) {
		t.Errorf("usage in a stream that did not ask for it:\n%s", sse)
	}
	s := readSDK(t, sse)
	sameAnswer(t, s, resp)
	if len(s.chunks) != 3 {
		t.Fatalf("%d chunks:\n%s", len(s.chunks), sse)
	}
	// Chunks without a model name the encoder's Model until Finish names the answering one.
	if s.chunks[0].Model != "auto" || s.chunks[1].Model != "auto" || s.chunks[2].Model != "gpt-4o-mini" {
		t.Errorf("models %q %q %q", s.chunks[0].Model, s.chunks[1].Model, s.chunks[2].Model)
	}
	// No usage frame: the extension rides on the last frame, the finish frame.
	fin := s.chunks[2]
	if fin.Choices[0].FinishReason != "length" {
		t.Errorf("finish frame %s", fin.RawJSON())
	}
	ext, ok := fin.JSON.ExtraFields["switchyard"]
	if !ok {
		t.Fatalf("no extension on the finish frame: %s", fin.RawJSON())
	}
	checkExtension(t, ext.Raw(), resp)

	// The terminal response unknown: no usage frame and no extension, still a clean end.
	e = &StreamEncoder{ID: "chatcmpl-3", Created: 7, Model: "m", IncludeUsage: true}
	sse = encodeAll(t, e, []schemas.StreamChunk{delta("Hi."), done("stop")}, nil)
	s = readSDK(t, sse)
	if s.err != nil || s.acc.Choices[0].Message.Content != "Hi." || len(s.chunks) != 3 || !bytes.HasSuffix(sse, []byte("data: [DONE]\n\n")) ||
		bytes.Contains(sse, []byte("switchyard")) {
		t.Errorf("err %v, %d chunks:\n%s", s.err, len(s.chunks), sse)
	}
}

func TestStreamToolCallsReadBySDK(t *testing.T) {
	resp := &schemas.Response{
		RequestID: "req-3", Status: "ok", Provider: "openai", Model: "gpt-4o", Content: "Let me check.", FinishReason: "tool_calls",
		ToolCalls: []schemas.ResponseToolCall{
			{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`, Raw: `{"city": "Paris"}`, Valid: true},
			{ID: "call_b", Name: "get_time", Arguments: `{"tz":"CET"}`, Raw: `{"tz":"CET"}`, Valid: true},
		},
	}
	e := &StreamEncoder{ID: "chatcmpl-4", Created: 9, Model: "gpt-4o"}
	sse := encodeAll(t, e, []schemas.StreamChunk{
		delta("Let me "), delta("check."),
		toolDelta(0, "call_a", "get_weather", ""),
		toolDelta(0, "", "", `{"city"`),
		toolDelta(0, "call_a", "get_weather", `: "Pa`), // a repeated id and name are not sent again
		toolDelta(0, "", "", `ris"}`),
		toolDelta(1, "call_b", "get_time", `{"tz":`),
		toolDelta(1, "", "", `"CET"}`),
		done("tool_calls"),
	}, resp)
	s := readSDK(t, sse)
	sameAnswer(t, s, resp)
	if got := bytes.Count(sse, []byte(`"id":"call_a"`)); got != 1 {
		t.Errorf("call_a's id sent %d times", got)
	}
	if got := bytes.Count(sse, []byte(`"name":`)); got != 2 {
		t.Errorf("names sent %d times, want once per call", got)
	}
	if got := bytes.Count(sse, []byte(`"type":"function"`)); got != 2 {
		t.Errorf("type sent %d times, want once per call", got)
	}
	// The SDK saw each call finish, in order, whole.
	if len(s.finished) != 2 {
		t.Fatalf("finished tool calls %+v", s.finished)
	}
	for i, f := range s.finished {
		if f.Index != i || f.ID != resp.ToolCalls[i].ID || f.Name != resp.ToolCalls[i].Name || f.Arguments != resp.ToolCalls[i].Raw {
			t.Errorf("finished %d = %+v", i, f)
		}
	}
	// A tool-call frame carries only the call: no content key, OpenAI's shape.
	for _, c := range s.chunks {
		if len(c.Choices) > 0 && len(c.Choices[0].Delta.ToolCalls) > 0 && c.Choices[0].Delta.JSON.Content.Valid() {
			t.Errorf("tool-call frame with content: %s", c.RawJSON())
		}
	}

	// A done chunk without a reason still tells an SDK loop to run the tools.
	e = &StreamEncoder{ID: "chatcmpl-5", Created: 9, Model: "m"}
	s = readSDK(t, encodeAll(t, e, []schemas.StreamChunk{toolDelta(0, "c", "f", "{}"), done("")}, nil))
	if s.err != nil || s.acc.Choices[0].FinishReason != "tool_calls" || s.acc.Choices[0].Message.ToolCalls[0].Function.Name != "f" {
		t.Errorf("err %v, choice %+v", s.err, s.acc.Choices[0])
	}
}

func TestStreamProviderSwitch(t *testing.T) {
	for _, tt := range []struct {
		name   string
		chunks []schemas.StreamChunk
		want   string
		// sent are the content deltas the client receives, in order.
		sent []string
	}{
		{"continue: the text sent stands",
			[]schemas.StreamChunk{delta("Hello"), switchTo("continue", "claude"), delta(" world"), done("stop")},
			"Hello world", []string{"Hello", " world"}},
		{"restart: the replayed prefix is swallowed",
			[]schemas.StreamChunk{delta("The capital"), delta(" of Fr"), switchTo("restart", "claude"),
				delta("The cap"), delta("ital of France"), delta(" is Paris."), done("stop")},
			"The capital of France is Paris.", []string{"The capital", " of Fr", "ance", " is Paris."}},
		{"restart: the new answer repeats exactly what was sent",
			[]schemas.StreamChunk{delta("Yes."), switchTo("restart", "claude"), delta("Yes"), delta("."), done("stop")},
			"Yes.", []string{"Yes."}},
		{"restart before any text",
			[]schemas.StreamChunk{switchTo("restart", "claude"), delta("Fresh"), done("stop")},
			"Fresh", []string{"Fresh"}},
		{"restart, then a continue while replaying",
			[]schemas.StreamChunk{delta("Hello wor"), switchTo("restart", "claude"), delta("Hel"),
				switchTo("continue", "gemini"), delta("lo world!"), done("stop")},
			"Hello world!", []string{"Hello wor", "ld!"}},
		{"two restarts",
			[]schemas.StreamChunk{delta("One two"), switchTo("restart", "b"), delta("One two three"),
				switchTo("restart", "c"), delta("One two three four"), done("stop")},
			"One two three four", []string{"One two", " three", " four"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := &schemas.Response{RequestID: "r", Status: "ok", Model: "final", Content: tt.want, FinishReason: "stop"}
			e := &StreamEncoder{ID: "chatcmpl-6", Created: 1, Model: "auto"}
			s := readSDK(t, encodeAll(t, e, tt.chunks, resp))
			sameAnswer(t, s, resp)
			var sent []string
			for _, c := range s.chunks {
				if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
					sent = append(sent, c.Choices[0].Delta.Content)
				}
			}
			if strings.Join(sent, "|") != strings.Join(tt.sent, "|") {
				t.Errorf("content frames %q, want %q", sent, tt.sent)
			}
		})
	}
}

func TestStreamRestartDiverges(t *testing.T) {
	for _, tt := range []struct {
		name   string
		chunks []schemas.StreamChunk
		bad    schemas.StreamChunk // the chunk the encoder refuses
		code   string
		seen   string // the content the client has when the error frame arrives
	}{
		{"different text", []schemas.StreamChunk{delta("The capital"), switchTo("restart", "b"), delta("The cap")},
			delta("tain of the team"), CodeStreamRestarted, "The capital"},
		{"different at once", []schemas.StreamChunk{delta("Paris"), switchTo("restart", "b")},
			delta("Lyon"), CodeStreamRestarted, "Paris"},
		{"shorter answer", []schemas.StreamChunk{delta("Paris is nice"), switchTo("restart", "b"), delta("Paris")},
			done("stop"), CodeStreamRestarted, "Paris is nice"},
		{"tool calls instead of the text", []schemas.StreamChunk{delta("Let me"), switchTo("restart", "b")},
			toolDelta(0, "c", "f", "{}"), CodeStreamRestarted, "Let me"},
		{"restart after tool calls", []schemas.StreamChunk{toolDelta(0, "c", "f", `{"a"`)},
			switchTo("restart", "b"), CodeStreamRestarted, ""},
		{"tool index out of bounds", []schemas.StreamChunk{delta("x")},
			toolDelta(1000, "c", "f", "{}"), CodeStreamMalformed, "x"},
		{"negative tool index", nil, toolDelta(-1, "c", "f", "{}"), CodeStreamMalformed, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &StreamEncoder{ID: "chatcmpl-7", Created: 1, Model: "m"}
			var buf []byte
			for i := range tt.chunks {
				var err *APIError
				if buf, err = e.Chunk(buf, &tt.chunks[i]); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			before := len(buf)
			buf, err := e.Chunk(buf, &tt.bad)
			if err == nil {
				t.Fatalf("accepted %+v", tt.bad)
			}
			if err.Status != 502 || err.Type != TypeServer || err.Code != tt.code || err.Message == "" {
				t.Errorf("error %+v", err)
			}
			if len(buf) != before {
				t.Errorf("a refused chunk wrote %q", buf[before:])
			}
			// The encoder stays failed, and Finish adds nothing.
			if b2, err2 := e.Chunk(buf, &tt.bad); err2 != err || len(b2) != before {
				t.Errorf("second call: %v, %d bytes", err2, len(b2)-before)
			}
			d := done("stop")
			if _, err2 := e.Chunk(buf, &d); err2 != err {
				t.Errorf("done after the error: %v", err2)
			}
			if b2 := e.Finish(buf, &schemas.Response{Status: "ok"}); len(b2) != before {
				t.Errorf("Finish after an error wrote %q", b2[before:])
			}
			// The handler ends the stream with the error frame; the SDK reports it.
			s := readSDK(t, ErrorFrame(buf, err))
			var se *ssestream.StreamError
			if !errors.As(s.err, &se) || !strings.Contains(se.Error(), tt.code) || !strings.Contains(se.Error(), err.Message[:20]) {
				t.Fatalf("SDK stream error %v", s.err)
			}
			if got := s.acc.Choices; tt.seen != "" && (len(got) != 1 || got[0].Message.Content != tt.seen) {
				t.Errorf("client has %+v, want %q", got, tt.seen)
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	t.Run("error chunk first", func(t *testing.T) {
		e := &StreamEncoder{ID: "x", Created: 1, Model: "m"}
		buf, err := e.Chunk(nil, &schemas.StreamChunk{Kind: schemas.ChunkError})
		if err == nil || err.Status != 502 || err.Type != TypeServer || err.Message == "" || len(buf) != 0 || e.Sent() {
			t.Fatalf("err %+v, %d bytes, sent %v", err, len(buf), e.Sent())
		}
	})
	t.Run("error chunk mid-stream with a message", func(t *testing.T) {
		e := &StreamEncoder{ID: "x", Created: 1, Model: "m"}
		d := delta("Half an ans")
		buf, _ := e.Chunk(nil, &d)
		buf, err := e.Chunk(buf, &schemas.StreamChunk{Kind: schemas.ChunkError, Delta: "provider went away"})
		if err == nil || err.Message != "provider went away" {
			t.Fatalf("err %+v", err)
		}
		s := readSDK(t, ErrorFrame(buf, err))
		if s.err == nil || !strings.Contains(s.err.Error(), "provider went away") || s.acc.Choices[0].Message.Content != "Half an ans" {
			t.Errorf("SDK: err %v, content %q", s.err, s.acc.Choices[0].Message.Content)
		}
		if bytes.Contains(ErrorFrame(nil, err), []byte("[DONE]")) {
			t.Error("an error frame is followed by [DONE]")
		}
	})
	t.Run("finish without done", func(t *testing.T) {
		e := &StreamEncoder{ID: "x", Created: 1, Model: "m", IncludeUsage: true}
		d := delta("Half")
		buf, _ := e.Chunk(nil, &d)
		buf = e.Finish(buf, &schemas.Response{Status: "ok", Content: "Half and more"})
		s := readSDK(t, buf)
		if s.err == nil || !strings.Contains(s.err.Error(), CodeStreamIncomplete) || bytes.Contains(buf, []byte("[DONE]")) {
			t.Errorf("SDK err %v:\n%s", s.err, buf)
		}
	})
	t.Run("finish with an error response", func(t *testing.T) {
		e := &StreamEncoder{ID: "x", Created: 1, Model: "m"}
		d, dn := delta("Half"), done("stop")
		buf, _ := e.Chunk(nil, &d)
		buf, _ = e.Chunk(buf, &dn)
		buf = e.Finish(buf, &schemas.Response{Status: "error", Error: &schemas.ErrorInfo{Code: "invalid_tool_call", Message: "the calls broke their schemas"}})
		fs := frames(t, buf)
		var body errorBody
		if err := json.Unmarshal([]byte(fs[len(fs)-1]), &body); err != nil || body.Error["code"] != "invalid_tool_call" || body.Error["message"] != "the calls broke their schemas" {
			t.Errorf("last frame %s", fs[len(fs)-1])
		}
		if s := readSDK(t, buf); s.err == nil {
			t.Error("SDK saw no error")
		}
		if b2 := e.Finish(buf, nil); len(b2) != len(buf) {
			t.Error("a second Finish wrote more")
		}
	})
	t.Run("chunks after done are ignored", func(t *testing.T) {
		e := &StreamEncoder{ID: "x", Created: 1, Model: "m"}
		buf := encodeAll(t, e, []schemas.StreamChunk{delta("A"), done("stop")}, nil)
		late := delta("B")
		if b2, err := e.Chunk(buf, &late); err != nil || len(b2) != len(buf) {
			t.Errorf("late chunk: %v, %q", err, b2[len(buf):])
		}
	})
	t.Run("done first", func(t *testing.T) {
		e := &StreamEncoder{ID: "x", Created: 1, Model: "m"}
		s := readSDK(t, encodeAll(t, e, []schemas.StreamChunk{done("stop")}, &schemas.Response{Status: "ok", Model: "m"}))
		if s.err != nil || len(s.chunks) != 2 || s.acc.Choices[0].Message.Role != "assistant" || s.acc.Choices[0].FinishReason != "stop" {
			t.Errorf("err %v, %d chunks", s.err, len(s.chunks))
		}
	})
}

// A content frame costs no allocation once the caller's buffer has grown (the encoder's own
// copy of the text grows geometrically).
func TestStreamChunkAllocations(t *testing.T) {
	e := &StreamEncoder{ID: "chatcmpl-abcdefghijklmnop", Created: 1_700_000_000, Model: "gpt-4o", IncludeUsage: true}
	c := delta("a token or two, with \"quotes\"")
	buf := make([]byte, 0, 4096)
	buf, _ = e.Chunk(buf, &c)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = e.Chunk(buf[:0], &c)
	})
	if allocs >= 1 {
		t.Errorf("%.1f allocations per delta frame", allocs)
	}
}

func BenchmarkStreamDelta(b *testing.B) {
	e := &StreamEncoder{ID: "chatcmpl-abcdefghijklmnop", Created: 1_700_000_000, Model: "gpt-4o", IncludeUsage: true}
	c := delta("a token or two")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = e.Chunk(buf[:0], &c)
	}
}

func BenchmarkCompletion(b *testing.B) {
	resp := sampleResponse()
	b.ReportAllocs()
	for b.Loop() {
		_ = Completion(resp, "chatcmpl-abcdefghijklmnop", 1_700_000_000)
	}
}
