package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/switchyard-llm/switchyard/adapters/sim"
)

// The official Anthropic Go SDK (v2) as a client of the simulator: if the SDK reads the
// simulator's answers, its stream events (through Message.Accumulate) and its errors, the
// simulator speaks Anthropic's Messages format. The SDK sends its own anthropic-version header and
// the key as a bearer token.

const anSDKKey = "sk-ant-sim-sdk-key"

func anthropicSDK(t *testing.T, cfg sim.Config) anthropic.Client {
	t.Helper()
	cfg.APIKey = anSDKKey
	srv, err := sim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return anthropic.NewClient(
		option.WithBaseURL(srv.URL()),
		option.WithAPIKey(anSDKKey),
		option.WithMaxRetries(0),
	)
}

func anCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func anUserText(text string) anthropic.MessageParam {
	return anthropic.NewUserMessage(anthropic.NewTextBlock(text))
}

func TestAnthropicSDKMessage(t *testing.T) {
	c := anthropicSDK(t, sim.Config{})
	const user = "What is the capital of France? Tell me more"
	msg, err := c.Messages.New(anCtx(t), anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
			anthropic.NewTextBlock(user),
			anthropic.NewImageBlockBase64("image/png", "iVBORw0KGgo="),
		)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.ID, "msg_") || msg.Model != "claude-sonnet-4-5" || string(msg.Role) != "assistant" || string(msg.Type) != "message" {
		t.Errorf("envelope: %s", msg.RawJSON())
	}
	if msg.StopReason != anthropic.StopReasonEndTurn || msg.StopSequence != "" {
		t.Errorf("stop: %q %q", msg.StopReason, msg.StopSequence)
	}
	if len(msg.Content) != 1 {
		t.Fatalf("content: %s", msg.RawJSON())
	}
	text := msg.Content[0].AsText()
	if text.Type != "text" || !strings.HasPrefix(text.Text, "Simulated answer to: "+user[:40]) || len(text.Text) != 160 {
		t.Errorf("text %q", text.Text)
	}
	u := msg.Usage
	if u.InputTokens <= 0 || u.OutputTokens != 40 || u.CacheReadInputTokens != 0 || u.CacheCreationInputTokens != 0 ||
		!u.JSON.CacheReadInputTokens.Valid() || !u.JSON.CacheCreationInputTokens.Valid() || u.ServiceTier != "standard" {
		t.Errorf("usage: %s", u.RawJSON())
	}
}

func TestAnthropicSDKCacheUsage(t *testing.T) {
	c := anthropicSDK(t, sim.Config{})
	long := strings.Repeat("context ", 1000)
	msg, err := c.Messages.New(anCtx(t), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 64,
		System:   []anthropic.TextBlockParam{{Text: long, CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages: []anthropic.MessageParam{anUserText("hi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The simulator's rule: characters plus 16 per text, four a token; half of a long prompt is
	// read from the cache, a quarter of the rest written to it, both in 128-token steps.
	prompt := int64((len(long) + 16 + len("hi") + 16) / 4)
	read := prompt / 2 / 128 * 128
	write := (prompt - read) / 4 / 128 * 128
	u := msg.Usage
	if u.CacheReadInputTokens != read || u.CacheCreationInputTokens != write || u.InputTokens != prompt-read-write || write == 0 {
		t.Errorf("usage %s; want input %d, cache read %d, cache write %d", u.RawJSON(), prompt-read-write, read, write)
	}
	if u.CacheCreation.Ephemeral5mInputTokens != write {
		t.Errorf("cache_creation %s", u.CacheCreation.RawJSON())
	}
	// The top-level marker (automatic caching) works too; without any marker nothing is cached.
	for _, cc := range []anthropic.CacheControlEphemeralParam{{TTL: anthropic.CacheControlEphemeralTTLTTL1h}, {}} {
		msg, err := c.Messages.New(anCtx(t), anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 64, CacheControl: cc,
			System:   []anthropic.TextBlockParam{{Text: long}},
			Messages: []anthropic.MessageParam{anUserText("hi")},
		})
		if err != nil {
			t.Fatal(err)
		}
		u := msg.Usage
		if cc.TTL != "" && (u.CacheReadInputTokens != read || u.InputTokens != prompt-read-write) ||
			cc.TTL == "" && (u.CacheReadInputTokens != 0 || u.CacheCreationInputTokens != 0 || u.InputTokens != prompt) {
			t.Errorf("cache control %+v: usage %s", cc, u.RawJSON())
		}
	}
}

// anAccumulate runs a streaming call through Message.Accumulate and also returns the text of the
// text_delta events, in order.
func anAccumulate(t *testing.T, c anthropic.Client, params anthropic.MessageNewParams) (anthropic.Message, string, []string, error) {
	t.Helper()
	stream := c.Messages.NewStreaming(anCtx(t), params)
	defer stream.Close()
	var msg anthropic.Message
	var text strings.Builder
	var events []string
	for stream.Next() {
		ev := stream.Current()
		events = append(events, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", ev.Type, err)
		}
		if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
			text.WriteString(ev.Delta.Text)
		}
	}
	return msg, text.String(), events, stream.Err()
}

func TestAnthropicSDKStream(t *testing.T) {
	c := anthropicSDK(t, sim.Config{})
	msg, deltas, events, err := anAccumulate(t, c, anthropic.MessageNewParams{
		Model: sim.ModelOK, MaxTokens: 1024, Messages: []anthropic.MessageParam{anUserText("hello there, stream please")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if events[0] != "message_start" || events[len(events)-1] != "message_stop" || len(events) < 8 {
		t.Errorf("events %v", events)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != deltas || !strings.HasPrefix(deltas, "Simulated answer to: hello there, stream please") {
		t.Fatalf("accumulated %s, deltas %q", msg.RawJSON(), deltas)
	}
	if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.OutputTokens != 40 || msg.Usage.InputTokens <= 0 || !strings.HasPrefix(msg.ID, "msg_") || msg.Model != sim.ModelOK {
		t.Errorf("message %s", msg.RawJSON())
	}

	for _, tc := range []struct {
		model     string
		maxTokens int64
		stop      anthropic.StopReason
		output    int64
	}{
		{sim.ModelOK, 5, anthropic.StopReasonMaxTokens, 5},
		{sim.ModelContentFilterFinal, 1024, anthropic.StopReasonRefusal, 20},
	} {
		msg, deltas, _, err := anAccumulate(t, c, anthropic.MessageNewParams{Model: anthropic.Model(tc.model), MaxTokens: tc.maxTokens, Messages: []anthropic.MessageParam{anUserText("hello")}})
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != tc.stop || msg.Usage.OutputTokens != tc.output || msg.Content[0].Text != deltas {
			t.Errorf("%s max %d: stop %q, output %d, text %q", tc.model, tc.maxTokens, msg.StopReason, msg.Usage.OutputTokens, deltas)
		}
	}
}

var anWeatherTool = anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Current weather for a city"),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{
			"city": map[string]any{"type": "string"},
			"unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
			"days": map[string]any{"type": "integer"},
		},
		Required: []string{"city", "unit", "days"},
	},
}

var anTimeTool = anthropic.ToolParam{
	Name:        "get_time",
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"tz": map[string]any{"type": "string"}}, Required: []string{"tz"}},
}

type anWeatherArgs struct {
	City string `json:"city"`
	Unit string `json:"unit"`
	Days *int   `json:"days"`
}

func TestAnthropicSDKToolUse(t *testing.T) {
	c := anthropicSDK(t, sim.Config{})
	tools := []anthropic.ToolUnionParam{{OfTool: &anWeatherTool}, {OfTool: &anTimeTool}}
	for _, tc := range []struct {
		name   string
		prompt string
		choice anthropic.ToolChoiceUnionParam
		want   []string
	}{
		{"any", "Weather in Paris?", anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}}, []string{"get_weather"}},
		{"named", "What time is it?", anthropic.ToolChoiceParamOfTool("get_time"), []string{"get_time"}},
		{"parallel", "Please call all tools", anthropic.ToolChoiceUnionParam{}, []string{"get_weather", "get_time"}},
	} {
		params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024, Tools: tools, ToolChoice: tc.choice, Messages: []anthropic.MessageParam{anUserText(tc.prompt)}}
		check := func(mode string, msg anthropic.Message) {
			if msg.StopReason != anthropic.StopReasonToolUse || len(msg.Content) != len(tc.want) {
				t.Fatalf("%s/%s: %s", tc.name, mode, msg.RawJSON())
			}
			for i, name := range tc.want {
				tu := msg.Content[i].AsToolUse()
				if tu.Type != "tool_use" || tu.Name != name || !strings.HasPrefix(tu.ID, "toolu_") {
					t.Errorf("%s/%s: block %d %s", tc.name, mode, i, msg.Content[i].RawJSON())
				}
				switch name {
				case "get_weather":
					var args anWeatherArgs
					if err := json.Unmarshal(tu.Input, &args); err != nil || args.City != "sim" || args.Unit != "celsius" || args.Days == nil || *args.Days != 1 {
						t.Errorf("%s/%s: input %s (%v)", tc.name, mode, tu.Input, err)
					}
				case "get_time":
					var args struct{ Tz string }
					if err := json.Unmarshal(tu.Input, &args); err != nil || args.Tz != "sim" {
						t.Errorf("%s/%s: input %s (%v)", tc.name, mode, tu.Input, err)
					}
				}
			}
		}
		msg, err := c.Messages.New(anCtx(t), params)
		if err != nil {
			t.Fatal(err)
		}
		check("complete", *msg)
		streamed, _, _, err := anAccumulate(t, c, params)
		if err != nil {
			t.Fatal(err)
		}
		check("stream", streamed)

		// The round trip: the SDK's own assistant turn and tool results, then a text answer (tool
		// choice none: the neutral model would call the tools again for a prompt that asks to).
		var results []anthropic.ContentBlockParamUnion
		for _, b := range msg.Content {
			results = append(results, anthropic.NewToolResultBlock(b.AsToolUse().ID, `{"ok":true}`, false))
		}
		params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(results...))
		params.ToolChoice = anthropic.ToolChoiceUnionParam{OfNone: &anthropic.ToolChoiceNoneParam{}}
		final, err := c.Messages.New(anCtx(t), params)
		if err != nil {
			t.Fatal(err)
		}
		if final.StopReason != anthropic.StopReasonEndTurn || !strings.HasPrefix(final.Content[0].Text, "Simulated answer to: "+tc.prompt) {
			t.Errorf("%s: after the tool results: %s", tc.name, final.RawJSON())
		}
	}
}

func TestAnthropicSDKStructuredOutput(t *testing.T) {
	c := anthropicSDK(t, sim.Config{})
	msg, err := c.Messages.New(anCtx(t), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: []anthropic.MessageParam{anUserText("Give me JSON")},
		OutputConfig: anthropic.OutputConfigParam{Format: anthropic.JSONOutputFormatParam{Schema: map[string]any{
			"type":                 "object",
			"properties":           map[string]any{"answer": map[string]any{"type": "string"}, "score": map[string]any{"type": "number"}},
			"required":             []string{"answer", "score"},
			"additionalProperties": false,
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Answer string   `json:"answer"`
		Score  *float64 `json:"score"`
	}
	if err := json.Unmarshal([]byte(msg.Content[0].Text), &v); err != nil || v.Answer == "" || v.Score == nil {
		t.Fatalf("%s (%v)", msg.RawJSON(), err)
	}
}

func TestAnthropicSDKErrors(t *testing.T) {
	c := anthropicSDK(t, sim.Config{})
	call := func(model string) error {
		_, err := c.Messages.New(anCtx(t), anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 64, Messages: []anthropic.MessageParam{anUserText("hi")}})
		return err
	}
	for _, tc := range []struct {
		model  string
		status int
		typ    string
		msg    string
	}{
		{sim.Model429, 429, "rate_limit_error", "rate limit"},
		{sim.Model429RetryAfter, 429, "rate_limit_error", ""},
		{sim.Model500, 500, "api_error", ""},
		{sim.Model503, 529, "overloaded_error", "Overloaded"},
		{sim.Model401, 401, "authentication_error", ""},
		{sim.Model404, 404, "not_found_error", ""},
		{sim.ModelContextLength, 400, "invalid_request_error", "prompt is too long"},
		{sim.ModelContentFilter, 400, "invalid_request_error", "content filtering"},
	} {
		err := call(tc.model)
		var ae *anthropic.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%s: %T %v", tc.model, err, err)
		}
		if ae.StatusCode != tc.status || string(ae.Type()) != tc.typ || !strings.Contains(ae.Message, tc.msg) {
			t.Errorf("%s: status %d type %q message %q", tc.model, ae.StatusCode, ae.Type(), ae.Message)
		}
		if tc.model == sim.Model429RetryAfter && ae.Response.Header.Get("Retry-After") != "1" {
			t.Errorf("retry-after %q", ae.Response.Header.Get("Retry-After"))
		}
	}

	// A wrong key.
	bad := anthropic.NewClient(option.WithBaseURL(anSDKBaseURL(t)), option.WithAPIKey("sk-ant-wrong"), option.WithMaxRetries(0))
	_, err := bad.Messages.New(anCtx(t), anthropic.MessageNewParams{Model: "m", MaxTokens: 8, Messages: []anthropic.MessageParam{anUserText("hi")}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Type() != "authentication_error" {
		t.Errorf("wrong key: %v", err)
	}

	// An error event in the middle of a stream ends it with an *anthropic.Error.
	_, text, _, err := anAccumulate(t, c, anthropic.MessageNewParams{Model: sim.ModelStreamError, MaxTokens: 1024, Messages: []anthropic.MessageParam{anUserText("hello")}})
	if !errors.As(err, &ae) || ae.Type() != "overloaded_error" || ae.Message != "Overloaded" || text == "" {
		t.Errorf("mid-stream error: %v (text %q)", err, text)
	}
	// A stream cut in the middle is an error too, never a clean end.
	_, _, _, err = anAccumulate(t, c, anthropic.MessageNewParams{Model: sim.ModelStreamCut, MaxTokens: 1024, Messages: []anthropic.MessageParam{anUserText("hello")}})
	if err == nil {
		t.Error("cut stream: no error")
	}
}

// anSDKBaseURL starts a simulator that requires anSDKKey and returns its root URL.
func anSDKBaseURL(t *testing.T) string {
	t.Helper()
	srv, err := sim.NewServer(sim.Config{APIKey: anSDKKey})
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return u
}
