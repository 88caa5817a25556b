package gateway

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard-llm/switchyard/schemas"
)

const pngData = "iVBORw0KGgo=" // standard, padded base64

// The body the official SDK sends for a conversation that uses every supported feature is
// read into the canonical shapes.
func TestParseChatRequestFromSDK(t *testing.T) {
	weather := shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	}
	params := openai.ChatCompletionNewParams{
		Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."),
			openai.DeveloperMessage("Answer in French."),
			openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("What is in these pictures?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/a.png", Detail: "low"}),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + pngData}),
			}),
			{OfAssistant: &openai.ChatCompletionAssistantMessageParam{
				ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
					ID:       "call_1",
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_weather", Arguments: `{"city":"Paris"}`},
				}}},
			}},
			openai.ToolMessage(`{"temp":21}`, "call_1"),
			openai.AssistantMessage("It is 21 degrees."),
			openai.UserMessage("And tomorrow?"),
		},
		Tools: []openai.ChatCompletionToolUnionParam{
			openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name: "get_weather", Description: openai.String("Weather by city"), Parameters: weather, Strict: openai.Bool(true),
			}),
			openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "ping"}),
		},
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfFunctionToolChoice: &openai.ChatCompletionNamedToolChoiceParam{
			Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"},
		}},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name: "forecast", Strict: openai.Bool(true),
				Schema: map[string]any{"type": "object", "properties": map[string]any{"temp": map[string]any{"type": "number"}}},
			},
		}},
		MaxTokens:           openai.Int(50),
		MaxCompletionTokens: openai.Int(300),
		Temperature:         openai.Float(0.25),
		StreamOptions:       openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		User:                openai.String("end-user-7"),
		Metadata:            shared.Metadata{"team": "search"},
		N:                   openai.Int(1),
		TopP:                openai.Float(0.9),
		Seed:                openai.Int(42),
		PresencePenalty:     openai.Float(0.1),
		FrequencyPenalty:    openai.Float(0.1),
		ParallelToolCalls:   openai.Bool(false),
		Store:               openai.Bool(false),
		Logprobs:            openai.Bool(false),
		ServiceTier:         openai.ChatCompletionNewParamsServiceTierAuto,
	}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	// NewStreaming adds "stream": true to the same body.
	body = append(body[:len(body)-1], `,"stream":true}`...)

	c, aerr := ParseChatRequest(body)
	if aerr != nil {
		t.Fatalf("ParseChatRequest: %v\nbody %s", aerr, body)
	}
	temp := 0.25
	want := &ChatRequest{
		Model: "gpt-4o",
		Messages: []schemas.Message{
			{Role: "system", Content: "Be brief."},
			{Role: "system", Content: "Answer in French."},
			{Role: "user", Parts: []schemas.ContentPart{
				{Type: "text", Text: "What is in these pictures?"},
				{Type: "image", URL: "https://example.com/a.png"},
				{Type: "image", MediaType: "image/png", Data: pngData},
			}},
			{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
			{Role: "tool", Content: `{"temp":21}`, ToolCallID: "call_1"},
			{Role: "assistant", Content: "It is 21 degrees."},
			{Role: "user", Content: "And tomorrow?"},
		},
		Tools: []schemas.Tool{
			{Name: "get_weather", Description: "Weather by city",
				Parameters: `{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}`},
			{Name: "ping", Parameters: `{"type":"object","properties":{}}`},
		},
		ToolChoice: "get_weather",
		ResponseFormat: schemas.ResponseFormat{Type: "json_schema", Name: "forecast",
			Schema: `{"properties":{"temp":{"type":"number"}},"type":"object"}`},
		MaxTokens:    300,
		Temperature:  &temp,
		Stream:       true,
		IncludeUsage: true,
		User:         "end-user-7",
		Metadata:     map[string]string{"team": "search"},
	}
	if !reflect.DeepEqual(c, want) {
		gj, _ := json.MarshalIndent(c, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("parsed\n%s\nwant\n%s", gj, wj)
	}
}

func TestParseChatRequestValues(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	for _, tt := range []struct {
		name  string
		body  string
		check func(*testing.T, *ChatRequest)
	}{
		{"defaults", `{"model":"m",` + user + `}`, func(t *testing.T, c *ChatRequest) {
			if c.Stream || c.IncludeUsage || c.MaxTokens != 0 || c.Temperature != nil || c.ToolChoice != "" ||
				c.ResponseFormat != (schemas.ResponseFormat{Type: "text"}) || c.Tools != nil || c.Metadata != nil {
				t.Errorf("%+v", c)
			}
		}},
		{"max_tokens alone", `{"model":"m",` + user + `,"max_tokens":77}`, func(t *testing.T, c *ChatRequest) {
			if c.MaxTokens != 77 {
				t.Errorf("max tokens %d", c.MaxTokens)
			}
		}},
		{"max_completion_tokens wins whatever the order", `{"model":"m",` + user + `,"max_completion_tokens":9,"max_tokens":77}`, func(t *testing.T, c *ChatRequest) {
			if c.MaxTokens != 9 {
				t.Errorf("max tokens %d", c.MaxTokens)
			}
		}},
		{"developer role is system, name kept", `{"model":"m","messages":[{"role":"developer","content":"rules","name":"ops"},{"role":"user","content":"hi","name":"ann"}]}`, func(t *testing.T, c *ChatRequest) {
			if m := c.Messages[0]; m.Role != "system" || m.Content != "rules" || m.Name != "ops" || c.Messages[1].Name != "ann" {
				t.Errorf("%+v", c.Messages)
			}
		}},
		{"tool_choice strings", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}`, func(t *testing.T, c *ChatRequest) {
			if c.ToolChoice != "required" {
				t.Errorf("tool choice %q", c.ToolChoice)
			}
		}},
		{"tool_choice none without tools", `{"model":"m",` + user + `,"tool_choice":"none"}`, func(t *testing.T, c *ChatRequest) {
			if c.ToolChoice != "none" {
				t.Errorf("tool choice %q", c.ToolChoice)
			}
		}},
		{"json_object", `{"model":"m",` + user + `,"response_format":{"type":"json_object"}}`, func(t *testing.T, c *ChatRequest) {
			if c.ResponseFormat != (schemas.ResponseFormat{Type: "json"}) {
				t.Errorf("%+v", c.ResponseFormat)
			}
		}},
		{"response_format text", `{"model":"m",` + user + `,"response_format":{"type":"text"}}`, func(t *testing.T, c *ChatRequest) {
			if c.ResponseFormat != (schemas.ResponseFormat{Type: "text"}) {
				t.Errorf("%+v", c.ResponseFormat)
			}
		}},
		{"data URL media type is lower-cased", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:IMAGE/JPEG;base64,` + pngData + `"}}]}]}`, func(t *testing.T, c *ChatRequest) {
			if p := c.Messages[0].Parts[0]; p.Type != "image" || p.MediaType != "image/jpeg" || p.Data != pngData || p.URL != "" {
				t.Errorf("%+v", p)
			}
		}},
		{"text parts in a tool message", `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"done"}]}]}`, func(t *testing.T, c *ChatRequest) {
			if m := c.Messages[1]; m.ToolCallID != "c1" || len(m.Parts) != 1 || m.Parts[0].Text != "done" || m.Text() != "done" {
				t.Errorf("%+v", m)
			}
		}},
		{"nulls are absent", `{"model":"m",` + user + `,"temperature":null,"max_tokens":null,"stream":null,"stream_options":null,"tools":null,"tool_choice":null,"response_format":null,"n":null,"stop":null,"user":null,"metadata":null,"logprobs":null}`, func(t *testing.T, c *ChatRequest) {
			if c.Temperature != nil || c.MaxTokens != 0 || c.Stream || c.ResponseFormat.Type != "text" {
				t.Errorf("%+v", c)
			}
		}},
		{"harmless and unknown fields ignored", `{"model":"m",` + user + `,"top_p":0.5,"presence_penalty":1,"frequency_penalty":-1,"seed":3,"logprobs":false,"parallel_tool_calls":true,"store":true,"service_tier":"flex","logit_bias":{"50256":-100},"reasoning_effort":"low","stop":[],"modalities":["text"],"x_vendor":{"a":[1,2]},"n":1}`, func(t *testing.T, c *ChatRequest) {
			if c.Model != "m" || len(c.Messages) != 1 {
				t.Errorf("%+v", c)
			}
		}},
		{"temperature bounds", `{"model":"m",` + user + `,"temperature":2}`, func(t *testing.T, c *ChatRequest) {
			if c.Temperature == nil || *c.Temperature != 2 {
				t.Errorf("temperature %v", c.Temperature)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseChatRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseChatRequest: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseChatRequestErrors(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	const tool = `"tools":[{"type":"function","function":{"name":"get_weather"}}]`
	called := `{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}`
	for _, tt := range []struct {
		name, body, param string
		says              string // a piece of the message
	}{
		{"not JSON", `{"model":`, "", "not valid JSON"},
		{"empty body", ``, "", "not valid JSON"},
		{"not an object", `["model"]`, "", "JSON object"},
		{"model missing", `{` + user + `}`, "model", "model"},
		{"model null", `{"model":null,` + user + `}`, "model", "model"},
		{"model not a string", `{"model":4,` + user + `}`, "model", "expected a string, got number"},
		{"model empty", `{"model":"",` + user + `}`, "model", "empty"},
		{"messages missing", `{"model":"m"}`, "messages", "messages"},
		{"messages empty", `{"model":"m","messages":[]}`, "messages", "at least one"},
		{"messages not an array", `{"model":"m","messages":"hi"}`, "messages", "expected an array, got string"},
		{"message not an object", `{"model":"m","messages":[{"role":"user","content":"a"},7]}`, "messages[1]", "object"},
		{"role missing", `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role", "required"},
		{"function role", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"function","name":"f","content":"x"}]}`, "messages[1].role", "function role"},
		{"unknown role", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role", "one of"},
		{"role not a string", `{"model":"m","messages":[{"role":1,"content":"hi"}]}`, "messages[0].role", "expected a string"},
		{"content missing", `{"model":"m","messages":[{"role":"user"}]}`, "messages[0].content", "required"},
		{"content null for user", `{"model":"m","messages":[{"role":"user","content":null}]}`, "messages[0].content", "required"},
		{"content null for assistant without tool calls", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":null}]}`, "messages[1].content", "tool_calls"},
		{"content a number", `{"model":"m","messages":[{"role":"user","content":1}]}`, "messages[0].content", "string or an array"},
		{"content empty array", `{"model":"m","messages":[{"role":"user","content":[]}]}`, "messages[0].content", "empty"},
		{"part not an object", `{"model":"m","messages":[{"role":"user","content":["hi"]}]}`, "messages[0].content[0]", "object"},
		{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"hi"}]}]}`, "messages[0].content[0].type", "type"},
		{"text part without text", `{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content[0].text", "text"},
		{"text not a string", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`, "messages[0].content[0].text", "expected a string"},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"input_audio","input_audio":{}}]}]}`, "messages[0].content[1].type", "not supported"},
		{"image in a system message", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}`, "messages[0].content[0].type", "user messages"},
		{"image without url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, "messages[0].content[0].image_url.url", "url"},
		{"image_url a string", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"https://x/a.png"}]}]}`, "messages[0].content[0].image_url", "expected an object"},
		{"image ftp url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/a.png"}}]}]}`, "messages[0].content[0].image_url.url", "https://"},
		{"data URL not base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abcd"}}]}]}`, "messages[0].content[0].image_url.url", "base64"},
		{"data URL media type", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,` + pngData + `"}}]}]}`, "messages[0].content[0].image_url.url", "media type"},
		{"data URL bad data", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,abc"}}]}]}`, "messages[0].content[0].image_url.url", "base64"},
		{"tool_calls on a user message", `{"model":"m","messages":[{"role":"user","content":"a","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls", "assistant"},
		{"tool call without id", `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].id", "id"},
		{"tool call without name", `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].function.name", "name"},
		{"tool call arguments an object", `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{}}}]}]}`, "messages[0].tool_calls[0].function.arguments", "expected a string, got object"},
		{"custom tool call", `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"custom","custom":{}}]}]}`, "messages[0].tool_calls[0].type", "function"},
		{"assistant function_call", `{"model":"m","messages":[{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}}]}`, "messages[0].function_call", "deprecated"},
		{"tool message without tool_call_id", `{"model":"m","messages":[` + called + `,{"role":"tool","content":"x"}]}`, "messages[1].tool_call_id", "tool_call_id"},
		{"tool message answering nothing", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"tool","tool_call_id":"c9","content":"x"}]}`, "messages[1].tool_call_id", "answer"},
		{"tool message answering another id", `{"model":"m","messages":[` + called + `,{"role":"tool","tool_call_id":"c2","content":"x"}]}`, "messages[1].tool_call_id", "answer"},
		{"tool call never answered", `{"model":"m","messages":[{"role":"user","content":"a"},` + called + `,{"role":"user","content":"b"}]}`, "messages[1].tool_calls", `"c1"`},
		{"tool call last and unanswered", `{"model":"m","messages":[{"role":"user","content":"a"},` + called + `]}`, "messages[1].tool_calls", `"c1"`},
		{"tools not an array", `{"model":"m",` + user + `,"tools":{}}`, "tools", "expected an array"},
		{"tool of another type", `{"model":"m",` + user + `,"tools":[{"type":"web_search"}]}`, "tools[0].type", "function"},
		{"tool without function", `{"model":"m",` + user + `,"tools":[{"type":"function"}]}`, "tools[0].function", "function"},
		{"tool name with spaces", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"get weather"}}]}`, "tools[0].function.name", "64"},
		{"tool name too long", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"` + strings.Repeat("a", 65) + `"}}]}`, "tools[0].function.name", "64"},
		{"tool parameters not an object", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}]}`, "tools[0].function.parameters", "object"},
		{"duplicate tool names", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]}`, "tools[1].function.name", "unique"},
		{"tool_choice unknown string", `{"model":"m",` + user + `,` + tool + `,"tool_choice":"any"}`, "tool_choice", "auto, none, required"},
		{"tool_choice required without tools", `{"model":"m",` + user + `,"tool_choice":"required"}`, "tool_choice", "tools"},
		{"tool_choice names no declared tool", `{"model":"m",` + user + `,` + tool + `,"tool_choice":{"type":"function","function":{"name":"nope"}}}`, "tool_choice.function.name", "not in tools"},
		{"tool_choice object without name", `{"model":"m",` + user + `,` + tool + `,"tool_choice":{"type":"function","function":{}}}`, "tool_choice.function.name", "name"},
		{"tool_choice allowed_tools", `{"model":"m",` + user + `,` + tool + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{}}}`, "tool_choice.type", "function"},
		{"tool_choice a number", `{"model":"m",` + user + `,"tool_choice":1}`, "tool_choice", "string or an object"},
		{"tool_choice names a mode", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"auto"}}],"tool_choice":{"type":"function","function":{"name":"auto"}}}`, "tool_choice.function.name", "auto, none or required"},
		{"response_format unknown", `{"model":"m",` + user + `,"response_format":{"type":"yaml"}}`, "response_format.type", "json_schema"},
		{"response_format without type", `{"model":"m",` + user + `,"response_format":{}}`, "response_format.type", "type"},
		{"response_format a string", `{"model":"m",` + user + `,"response_format":"json"}`, "response_format", "expected an object"},
		{"json_schema missing", `{"model":"m",` + user + `,"response_format":{"type":"json_schema"}}`, "response_format.json_schema", "json_schema"},
		{"json_schema without name", `{"model":"m",` + user + `,"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object"}}}}`, "response_format.json_schema.name", "name"},
		{"json_schema without schema", `{"model":"m",` + user + `,"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`, "response_format.json_schema.schema", "required"},
		{"json_schema schema not an object", `{"model":"m",` + user + `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":true}}}`, "response_format.json_schema.schema", "object"},
		{"max_tokens zero", `{"model":"m",` + user + `,"max_tokens":0}`, "max_tokens", "from 1"},
		{"max_tokens fractional", `{"model":"m",` + user + `,"max_tokens":1.5}`, "max_tokens", "expected an integer, got number"},
		{"max_completion_tokens too large", `{"model":"m",` + user + `,"max_completion_tokens":3000000000}`, "max_completion_tokens", "from 1"},
		{"temperature over 2", `{"model":"m",` + user + `,"temperature":2.5}`, "temperature", "0 to 2"},
		{"temperature negative", `{"model":"m",` + user + `,"temperature":-0.1}`, "temperature", "0 to 2"},
		{"temperature a string", `{"model":"m",` + user + `,"temperature":"hot"}`, "temperature", "expected a number, got string"},
		{"stream a string", `{"model":"m",` + user + `,"stream":"yes"}`, "stream", "expected a boolean"},
		{"include_usage a string", `{"model":"m",` + user + `,"stream":true,"stream_options":{"include_usage":"yes"}}`, "stream_options.include_usage", "expected a boolean"},
		{"user a number", `{"model":"m",` + user + `,"user":7}`, "user", "expected a string"},
		{"metadata value a number", `{"model":"m",` + user + `,"metadata":{"a":1}}`, "metadata", "expected a string, got number"},
		{"metadata too many pairs", `{"model":"m",` + user + `,"metadata":{` + manyPairs(17) + `}}`, "metadata", "16"},
		{"metadata key too long", `{"model":"m",` + user + `,"metadata":{"` + strings.Repeat("k", 65) + `":"v"}}`, "metadata", "64"},
		{"metadata value too long", `{"model":"m",` + user + `,"metadata":{"k":"` + strings.Repeat("é", 513) + `"}}`, "metadata", "512"},
		{"n=2", `{"model":"m",` + user + `,"n":2}`, "n", "one choice"},
		{"n=0", `{"model":"m",` + user + `,"n":0}`, "n", "one choice"},
		{"logprobs", `{"model":"m",` + user + `,"logprobs":true,"top_logprobs":2}`, "logprobs", "not supported"},
		{"stop string", `{"model":"m",` + user + `,"stop":"\n"}`, "stop", "not supported"},
		{"stop list", `{"model":"m",` + user + `,"stop":["END"]}`, "stop", "not supported"},
		{"stop a number", `{"model":"m",` + user + `,"stop":1}`, "stop", "string or an array"},
		{"functions", `{"model":"m",` + user + `,"functions":[{"name":"f"}]}`, "functions", "tools"},
		{"function_call", `{"model":"m",` + user + `,"function_call":"auto"}`, "function_call", "tool_choice"},
		{"audio output", `{"model":"m",` + user + `,"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"}}`, "audio", "audio"},
		{"audio modality", `{"model":"m",` + user + `,"modalities":["text","audio"]}`, "modalities[1]", "text"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseChatRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if err.Status != 400 || err.Type != "invalid_request_error" || err.Param != tt.param {
				t.Errorf("got %d %s param %q, want 400 invalid_request_error param %q (%s)", err.Status, err.Type, err.Param, tt.param, err.Message)
			}
			if !strings.Contains(err.Message, tt.says) {
				t.Errorf("message %q does not say %q", err.Message, tt.says)
			}
		})
	}
}

func manyPairs(n int) string {
	pairs := make([]string, n)
	for i := range pairs {
		pairs[i] = `"k` + strings.Repeat("x", i) + `":"v"`
	}
	return strings.Join(pairs, ",")
}

func baseRequest() schemas.Request {
	budget := 0.5
	return schemas.Request{
		RequestID: "req-1", TenantID: "acme", CreatedAt: 1_700_000_000_000, Priority: "interactive",
		TaskType: "chat", DeadlineMS: 30_000, BudgetUSD: &budget, AllowedProviders: []string{"openai"},
		Metadata: map[string]string{"gateway": "gw-1", "team": "from-key"},
	}
}

func TestToRequest(t *testing.T) {
	c, err := ParseChatRequest([]byte(`{"model":"switchyard/auto","messages":[{"role":"user","content":"hi"}],
		"max_tokens":64,"temperature":0.5,"stream":true,"user":"u-9","metadata":{"team":"body","app":"web"},
		"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto","response_format":{"type":"json_object"}}`))
	if err != nil {
		t.Fatal(err)
	}
	base := baseRequest()
	r, err := c.ToRequest(base)
	if err != nil {
		t.Fatalf("ToRequest: %v", err)
	}
	if r.Model != "" || r.MaxTokens != 64 || *r.Temperature != 0.5 || !r.Stream || r.UserID != "u-9" ||
		r.ToolChoice != "auto" || r.ResponseFormat.Type != "json" || len(r.Tools) != 1 || r.Messages[0].Content != "hi" {
		t.Errorf("request %+v", r)
	}
	if r.RequestID != "req-1" || r.TenantID != "acme" || r.Priority != "interactive" || r.TaskType != "chat" ||
		r.DeadlineMS != 30_000 || *r.BudgetUSD != 0.5 || !reflect.DeepEqual(r.AllowedProviders, []string{"openai"}) || r.CreatedAt != base.CreatedAt {
		t.Errorf("base fields lost: %+v", r)
	}
	if want := map[string]string{"gateway": "gw-1", "team": "from-key", "app": "web"}; !reflect.DeepEqual(r.Metadata, want) {
		t.Errorf("metadata %v, want %v (base wins)", r.Metadata, want)
	}
	if len(base.Metadata) != 2 {
		t.Errorf("base metadata modified: %v", base.Metadata)
	}

	// "auto" too; a named model passes; the handler's own user id wins over the body's.
	for model, want := range map[string]string{"auto": "", "gpt-4o": "gpt-4o", "claude-sonnet-4-5": "claude-sonnet-4-5"} {
		c.Model = model
		base.UserID = "key-user"
		r, err := c.ToRequest(base)
		if err != nil || r.Model != want || r.UserID != "key-user" {
			t.Errorf("model %q: %v %q user %q", model, err, r.Model, r.UserID)
		}
	}

	// Validation: a pipeline rule the parser does not check surfaces as a 400 naming the field.
	bad := baseRequest()
	bad.Priority = "urgent"
	if _, err := c.ToRequest(bad); err == nil || err.Status != 400 || err.Param != "priority" {
		t.Errorf("bad priority: %v", err)
	}
	c.Messages = []schemas.Message{{Role: "user", Parts: []schemas.ContentPart{{Type: "image", URL: "https://x/a.png", Data: pngData}}}}
	if _, err := c.ToRequest(baseRequest()); err == nil || err.Param != "messages[0].content[0]" || err.Type != TypeInvalidRequest {
		t.Errorf("bad part: %v", err)
	}
}

func sampleResponse() *schemas.Response {
	return &schemas.Response{
		RequestID: "req-1", TenantID: "acme", Status: "degraded", Provider: "anthropic", Model: "claude-sonnet-4-5-20250929",
		Content:      "Calling the tools. \"Quoted\"\n<b>",
		FinishReason: "tool_calls",
		ToolCalls: []schemas.ResponseToolCall{
			{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`, Raw: `{ "city": "Paris" }`, Valid: true},
			{ID: "call_b", Name: "get_time", Arguments: `{"tz":"CET"}`, Raw: `{"tz":"CET"}`, Valid: true},
		},
		Usage:          schemas.Usage{InputTokens: 1200, OutputTokens: 80, CachedTokens: 1024, ReasoningTokens: 16},
		CostUSD:        0.0001234,
		Attempts:       []schemas.Attempt{{Provider: "openai", Outcome: "error"}, {Provider: "anthropic", Outcome: "ok"}},
		FallbackDepth:  1,
		Hedged:         true,
		DegradedReason: "primary_unhealthy",
	}
}

type extension struct {
	RequestID      string  `json:"request_id"`
	Provider       string  `json:"provider"`
	Model          string  `json:"model"`
	Status         string  `json:"status"`
	Degraded       bool    `json:"degraded"`
	DegradedReason *string `json:"degraded_reason"`
	FallbackDepth  int     `json:"fallback_depth"`
	Hedged         bool    `json:"hedged"`
	CostUSD        float64 `json:"cost_usd"`
	Attempts       int     `json:"attempts"`
}

func checkExtension(t *testing.T, raw string, resp *schemas.Response) {
	t.Helper()
	var ext extension
	if err := json.Unmarshal([]byte(raw), &ext); err != nil {
		t.Fatalf("switchyard extension %q: %v", raw, err)
	}
	reason := ""
	if ext.DegradedReason != nil {
		reason = *ext.DegradedReason
	}
	if ext.RequestID != resp.RequestID || ext.Provider != resp.Provider || ext.Model != resp.Model || ext.Status != resp.Status ||
		ext.Degraded != (resp.Status == "degraded") || reason != resp.DegradedReason || ext.FallbackDepth != int(resp.FallbackDepth) ||
		ext.Hedged != resp.Hedged || ext.CostUSD != resp.CostUSD || ext.Attempts != len(resp.Attempts) {
		t.Errorf("extension %+v (reason %q) does not match the response", ext, reason)
	}
	if resp.DegradedReason == "" && ext.DegradedReason != nil {
		t.Errorf("degraded_reason %q, want null", *ext.DegradedReason)
	}
}

func TestCompletionReadBySDK(t *testing.T) {
	resp := sampleResponse()
	body := Completion(resp, "chatcmpl-sy-1", 1_700_000_123)
	var cc openai.ChatCompletion
	if err := json.Unmarshal(body, &cc); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if cc.ID != "chatcmpl-sy-1" || cc.Object != "chat.completion" || cc.Created != 1_700_000_123 || cc.Model != resp.Model || len(cc.Choices) != 1 {
		t.Fatalf("completion %s", body)
	}
	ch := cc.Choices[0]
	if ch.Index != 0 || ch.FinishReason != "tool_calls" || ch.Message.Role != "assistant" || ch.Message.Content != resp.Content ||
		ch.Message.Refusal != "" || ch.Message.JSON.Refusal.Raw() != "null" || ch.Logprobs.JSON.Content.Valid() {
		t.Errorf("choice %+v", ch)
	}
	if len(ch.Message.ToolCalls) != 2 {
		t.Fatalf("tool calls %+v", ch.Message.ToolCalls)
	}
	for i, tc := range ch.Message.ToolCalls {
		want := resp.ToolCalls[i]
		if tc.ID != want.ID || tc.Type != "function" || tc.Function.Name != want.Name || tc.Function.Arguments != want.Arguments {
			t.Errorf("tool call %d = %+v, want %+v", i, tc, want)
		}
	}
	u := cc.Usage
	if u.PromptTokens != 1200 || u.CompletionTokens != 80 || u.TotalTokens != 1280 ||
		u.PromptTokensDetails.CachedTokens != 1024 || u.CompletionTokensDetails.ReasoningTokens != 16 {
		t.Errorf("usage %+v", u)
	}
	if cc.JSON.SystemFingerprint.Raw() != "null" {
		t.Errorf("system_fingerprint %s", cc.JSON.SystemFingerprint.Raw())
	}
	ext, ok := cc.JSON.ExtraFields["switchyard"]
	if !ok {
		t.Fatalf("no switchyard extension in %s", body)
	}
	checkExtension(t, ext.Raw(), resp)

	// Tool calls and no text: content is JSON null, as OpenAI sends it.
	resp.Content = ""
	cc = openai.ChatCompletion{}
	if err := json.Unmarshal(Completion(resp, "x", 1), &cc); err != nil {
		t.Fatal(err)
	}
	if raw := cc.Choices[0].Message.JSON.Content.Raw(); raw != "null" {
		t.Errorf("content %s, want null", raw)
	}
	// No tool calls: content is a string even when empty, and tool_calls is left out.
	resp.ToolCalls, resp.Status, resp.DegradedReason = nil, "ok", ""
	body = Completion(resp, "x", 1)
	cc = openai.ChatCompletion{}
	if err := json.Unmarshal(body, &cc); err != nil {
		t.Fatal(err)
	}
	if raw := cc.Choices[0].Message.JSON.Content.Raw(); raw != `""` || cc.Choices[0].Message.JSON.ToolCalls.Valid() || strings.Contains(string(body), "tool_calls\":") {
		t.Errorf("content %s, body %s", raw, body)
	}
	checkExtension(t, cc.JSON.ExtraFields["switchyard"].Raw(), resp)
}

func TestFinishReasonMapping(t *testing.T) {
	for _, tt := range []struct {
		reason string
		tools  bool
		want   string
	}{
		{"stop", false, "stop"}, {"length", false, "length"}, {"tool_calls", true, "tool_calls"},
		{"content_filter", false, "content_filter"}, {"stop", true, "stop"},
		{"", false, "stop"}, {"error", false, "stop"}, {"end_turn", false, "stop"},
		{"", true, "tool_calls"}, {"error", true, "tool_calls"},
	} {
		resp := &schemas.Response{Model: "m", Content: "x", FinishReason: tt.reason}
		if tt.tools {
			resp.ToolCalls = []schemas.ResponseToolCall{{ID: "c", Name: "f", Arguments: "{}"}}
		}
		var cc openai.ChatCompletion
		if err := json.Unmarshal(Completion(resp, "id", 1), &cc); err != nil {
			t.Fatal(err)
		}
		if got := cc.Choices[0].FinishReason; got != tt.want {
			t.Errorf("finish %q (tools %v) = %q, want %q", tt.reason, tt.tools, got, tt.want)
		}
	}
}

func FuzzParseChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"auto","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}],"max_completion_tokens":5}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{}}},"metadata":{"a":"b"}}`,
		`[]`, `null`, `{"model":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseChatRequest(body)
		if err != nil {
			if err.Status != 400 || err.Type != TypeInvalidRequest || !json.Valid(err.Body()) {
				t.Fatalf("error %+v", err)
			}
			return
		}
		if c.Model == "" || len(c.Messages) == 0 {
			t.Fatalf("accepted without model or messages: %+v", c)
		}
		// What the parser accepts, the pipeline's validation accepts too: no 400 comes late.
		if _, err := c.ToRequest(baseRequest()); err != nil {
			t.Fatalf("parsed %s but ToRequest refused it: %v", body, err)
		}
	})
}
