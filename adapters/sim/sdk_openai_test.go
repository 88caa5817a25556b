package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard-llm/switchyard/adapters/sim"
)

// The official OpenAI Go SDK as a client of the simulator: if the SDK reads the simulator's
// answers (and its stream accumulator assembles them), the simulator speaks OpenAI's wire format.

const oaSDKKey = "sk-sim-openai-sdk-key"

func openAISDK(t *testing.T, cfg sim.Config) openai.Client {
	c, _ := openAISDKServer(t, cfg)
	return c
}

func openAISDKServer(t *testing.T, cfg sim.Config) (openai.Client, *sim.Server) {
	t.Helper()
	cfg.APIKey = oaSDKKey
	srv, err := sim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return openai.NewClient(
		option.WithBaseURL(srv.OpenAIBaseURL()+"/"),
		option.WithAPIKey(oaSDKKey),
		option.WithMaxRetries(0),
	), srv
}

func oaCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// promptTokens is the simulator's usage rule: every message's text plus 16 characters, four
// characters a token; half of a prompt of 1024 tokens or more is cached, in 128-token steps.
func promptTokens(texts ...string) (prompt, cached int64) {
	n := 0
	for _, s := range texts {
		n += len(s) + 16
	}
	prompt = max(1, int64(n/4))
	if prompt >= 1024 {
		cached = prompt / 2 / 128 * 128
	}
	return prompt, cached
}

func TestOpenAISDKChatCompletion(t *testing.T) {
	c := openAISDK(t, sim.Config{})
	const system, user = "Be brief.", "What is the capital of France? Tell me more"
	resp, err := c.Chat.Completions.New(oaCtx(t), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system), openai.UserMessage(user)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("choices = %d", len(resp.Choices))
	}
	ch := resp.Choices[0]
	if !strings.HasPrefix(ch.Message.Content, "Simulated answer to: What is the capital of France? Tell me m") || len(ch.Message.Content) != 160 {
		t.Errorf("content = %q (%d bytes)", ch.Message.Content, len(ch.Message.Content))
	}
	if ch.FinishReason != "stop" || ch.Message.Role != "assistant" || ch.Message.Refusal != "" {
		t.Errorf("finish %q role %q refusal %q", ch.FinishReason, ch.Message.Role, ch.Message.Refusal)
	}
	wantPrompt, _ := promptTokens(system, user)
	u := resp.Usage
	if u.PromptTokens != wantPrompt || u.CompletionTokens != 40 || u.TotalTokens != wantPrompt+40 || u.PromptTokensDetails.CachedTokens != 0 {
		t.Errorf("usage = %+v, want prompt %d, completion 40", u, wantPrompt)
	}
	if !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Model != "gpt-4o" || resp.Object != "chat.completion" || resp.Created == 0 {
		t.Errorf("id %q model %q object %q created %d", resp.ID, resp.Model, resp.Object, resp.Created)
	}
}

func TestOpenAISDKCachedTokens(t *testing.T) {
	c := openAISDK(t, sim.Config{})
	long := strings.Repeat("The quarterly report says revenue grew. ", 200) // 8000 bytes
	resp, err := c.Chat.Completions.New(oaCtx(t), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(long)},
	})
	if err != nil {
		t.Fatal(err)
	}
	prompt, cached := promptTokens(long)
	if cached == 0 {
		t.Fatal("test prompt too short to be cached")
	}
	if resp.Usage.PromptTokens != prompt || resp.Usage.PromptTokensDetails.CachedTokens != cached {
		t.Errorf("usage %+v, want prompt %d cached %d", resp.Usage, prompt, cached)
	}
}

func TestOpenAISDKStreamAccumulator(t *testing.T) {
	c := openAISDK(t, sim.Config{})
	const user = "Stream me a short answer"
	stream := c.Chat.Completions.NewStreaming(oaCtx(t), openai.ChatCompletionNewParams{
		Model:         "gpt-4o",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(user)},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	var deltas strings.Builder
	chunks, finished := 0, ""
	for stream.Next() {
		chunk := stream.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("accumulator rejected chunk %d", chunks)
		}
		chunks++
		if len(chunk.Choices) > 0 {
			deltas.WriteString(chunk.Choices[0].Delta.Content)
		}
		if content, ok := acc.JustFinishedContent(); ok {
			finished = content
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 5 {
		t.Fatalf("only %d chunks", chunks)
	}
	if len(acc.Choices) != 1 {
		t.Fatalf("choices = %d", len(acc.Choices))
	}
	got := acc.Choices[0].Message.Content
	if got != deltas.String() || !strings.HasPrefix(got, "Simulated answer to: "+user) || len(got) != 160 {
		t.Errorf("accumulated %q, deltas %q", got, deltas.String())
	}
	if finished != got {
		t.Errorf("JustFinishedContent = %q", finished)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish = %q", acc.Choices[0].FinishReason)
	}
	prompt, _ := promptTokens(user)
	if acc.Usage.PromptTokens != prompt || acc.Usage.CompletionTokens != 40 || acc.Usage.TotalTokens != prompt+40 {
		t.Errorf("usage = %+v", acc.Usage)
	}
}

func weatherTools() []openai.ChatCompletionToolUnionParam {
	tool := func(name string, params shared.FunctionParameters) openai.ChatCompletionToolUnionParam {
		return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: name, Parameters: params})
	}
	return []openai.ChatCompletionToolUnionParam{
		tool("get_weather", shared.FunctionParameters{
			"type": "object",
			"properties": map[string]any{
				"city": map[string]any{"type": "string"},
				"unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
				"days": map[string]any{"type": "integer"},
			},
			"required": []string{"city", "unit", "days"},
		}),
		tool("get_time", shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"tz": map[string]any{"type": "string"}},
			"required":   []string{"tz"},
		}),
		tool("ping", nil),
	}
}

// wantArgs are the arguments the simulator derives from each tool's schema.
var wantArgs = map[string]map[string]any{
	"get_weather": {"city": "sim", "unit": "celsius", "days": 1.0},
	"get_time":    {"tz": "sim"},
	"ping":        {},
}

func checkArgs(t *testing.T, name, raw string) {
	t.Helper()
	var args map[string]any
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatalf("%s: arguments %q: %v", name, raw, err)
	}
	want, ok := wantArgs[name]
	if !ok || len(args) != len(want) {
		t.Fatalf("%s: arguments %v", name, args)
	}
	for k, v := range want {
		if args[k] != v {
			t.Errorf("%s: %s = %v, want %v", name, k, args[k], v)
		}
	}
}

func TestOpenAISDKToolCalls(t *testing.T) {
	c := openAISDK(t, sim.Config{})
	for _, tt := range []struct {
		prompt string
		names  []string
	}{
		{"Please call tool for Paris", []string{"get_weather"}},
		{"Call all tools now", []string{"get_weather", "get_time", "ping"}},
	} {
		t.Run(tt.prompt, func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model:    "gpt-4o",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tt.prompt)},
				Tools:    weatherTools(),
			}
			resp, err := c.Chat.Completions.New(oaCtx(t), params)
			if err != nil {
				t.Fatal(err)
			}
			ch := resp.Choices[0]
			if ch.FinishReason != "tool_calls" || ch.Message.Content != "" || len(ch.Message.ToolCalls) != len(tt.names) {
				t.Fatalf("finish %q content %q calls %d", ch.FinishReason, ch.Message.Content, len(ch.Message.ToolCalls))
			}
			ids := map[string]bool{}
			for i, tc := range ch.Message.ToolCalls {
				if tc.Type != "function" || tc.Function.Name != tt.names[i] || !strings.HasPrefix(tc.ID, "call_") || ids[tc.ID] {
					t.Errorf("call %d: %+v", i, tc)
				}
				ids[tc.ID] = true
				checkArgs(t, tc.Function.Name, tc.Function.Arguments)
			}

			// The same answer streamed: the accumulator rebuilds every call from its deltas.
			stream := c.Chat.Completions.NewStreaming(oaCtx(t), params)
			var acc openai.ChatCompletionAccumulator
			var finished []openai.FinishedChatCompletionToolCall
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatal("accumulator rejected a chunk")
				}
				if tc, ok := acc.JustFinishedToolCall(); ok {
					finished = append(finished, tc)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			msg := acc.Choices[0].Message
			if acc.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != len(tt.names) || len(finished) != len(tt.names) {
				t.Fatalf("stream: finish %q, %d calls, %d finished", acc.Choices[0].FinishReason, len(msg.ToolCalls), len(finished))
			}
			for i, tc := range msg.ToolCalls {
				if tc.Function.Name != tt.names[i] || !strings.HasPrefix(tc.ID, "call_") {
					t.Errorf("stream call %d: %+v", i, tc)
				}
				checkArgs(t, tc.Function.Name, tc.Function.Arguments)
				if f := finished[i]; f.Index != i || f.ID != tc.ID || f.Name != tc.Function.Name || f.Arguments != tc.Function.Arguments {
					t.Errorf("JustFinishedToolCall %d = %+v", i, f)
				}
			}
		})
	}
}

func TestOpenAISDKResponseFormats(t *testing.T) {
	c := openAISDK(t, sim.Config{})
	t.Run("json_object", func(t *testing.T) {
		resp, err := c.Chat.Completions.New(oaCtx(t), openai.ChatCompletionNewParams{
			Model:          "gpt-4o",
			Messages:       []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Answer in JSON")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]string
		if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), &v); err != nil {
			t.Fatalf("content %q: %v", resp.Choices[0].Message.Content, err)
		}
		if v["answer"] != "Simulated answer to: Answer in JSON" || resp.Choices[0].FinishReason != "stop" {
			t.Errorf("answer %v finish %q", v, resp.Choices[0].FinishReason)
		}
	})
	t.Run("json_schema", func(t *testing.T) {
		schema := map[string]any{
			"type": "object",
			"properties": map[string]any{
				"name":  map[string]any{"type": "string"},
				"score": map[string]any{"type": "number"},
				"tags":  map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
				"level": map[string]any{"enum": []string{"low", "high"}},
			},
			"required":             []string{"name", "score", "tags", "level"},
			"additionalProperties": false,
		}
		resp, err := c.Chat.Completions.New(oaCtx(t), openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Rate it")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "rating", Schema: schema, Strict: openai.Bool(true)},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Name  string   `json:"name"`
			Score float64  `json:"score"`
			Tags  []string `json:"tags"`
			Level string   `json:"level"`
		}
		dec := json.NewDecoder(strings.NewReader(resp.Choices[0].Message.Content))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("content %q: %v", resp.Choices[0].Message.Content, err)
		}
		if v.Name != "sim" || v.Score != 1 || v.Tags == nil || len(v.Tags) != 0 || v.Level != "low" {
			t.Errorf("decoded %+v", v)
		}
	})
}

func TestOpenAISDKErrors(t *testing.T) {
	c, srv := openAISDKServer(t, sim.Config{RetryAfter: 2 * time.Second})
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
	_, err := c.Chat.Completions.New(oaCtx(t), openai.ChatCompletionNewParams{Model: sim.Model429RetryAfter, Messages: msgs})
	var apierr *openai.Error
	if !errors.As(err, &apierr) {
		t.Fatalf("err = %T %v", err, err)
	}
	if apierr.StatusCode != http.StatusTooManyRequests || apierr.Code != "rate_limit_exceeded" || !strings.HasPrefix(apierr.Message, "Rate limit reached") {
		t.Errorf("status %d code %q message %q", apierr.StatusCode, apierr.Code, apierr.Message)
	}
	if ra := apierr.Response.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After = %q", ra)
	}

	for _, tt := range []struct {
		model  string
		status int
		code   string
	}{
		{sim.ModelContextLength, 400, "context_length_exceeded"},
		{sim.Model404, 404, "model_not_found"},
		{sim.Model500, 500, ""},
	} {
		_, err := c.Chat.Completions.New(oaCtx(t), openai.ChatCompletionNewParams{Model: tt.model, Messages: msgs})
		if !errors.As(err, &apierr) || apierr.StatusCode != tt.status || apierr.Code != tt.code || apierr.Message == "" {
			t.Errorf("%s: %v", tt.model, err)
		}
	}

	// A wrong key: 401 invalid_api_key, and the key is never quoted whole.
	wrong := openai.NewClient(option.WithBaseURL(srv.OpenAIBaseURL()+"/"), option.WithAPIKey("sk-wrong-key-0123456789"), option.WithMaxRetries(0))
	_, err = wrong.Chat.Completions.New(oaCtx(t), openai.ChatCompletionNewParams{Model: sim.ModelOK, Messages: msgs})
	if !errors.As(err, &apierr) || apierr.StatusCode != http.StatusUnauthorized || apierr.Code != "invalid_api_key" {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(apierr.Message, "sk-wrong-key-0123456789") {
		t.Errorf("the key is quoted: %s", apierr.Message)
	}
}
