package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/switchyard-llm/switchyard/adapters/sim"
)

// The official Google Gen AI Go SDK as a client of the simulator: if the SDK reads the
// simulator's answers, the simulator speaks Gemini's wire format.

const sdkKey = "sim-gemini-key"

func geminiSDK(t *testing.T, cfg sim.Config) *genai.Client {
	t.Helper()
	cfg.APIKey = sdkKey
	srv, err := sim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	// The SDK joins BaseURL, APIVersion (left at its default, "v1beta" for the Gemini API) and
	// "models/{model}:generateContent" (createAPIURL in api_client.go), adds "?alt=sse" for
	// streams, and sends the key as x-goog-api-key.
	c, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey:      sdkKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL() + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sdkCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGeminiSDKGenerateContent(t *testing.T) {
	c := geminiSDK(t, sim.Config{})
	cfg := &genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("Be brief.", genai.RoleUser)}
	resp, err := c.Models.GenerateContent(sdkCtx(t), "gemini-2.5-flash", genai.Text("What is the capital of France? Tell me more"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Text(), "Simulated answer to: What is the capital of France? Tell me m ") || len(resp.Text()) != 160 {
		t.Errorf("text = %q", resp.Text())
	}
	if len(resp.Candidates) != 1 || resp.Candidates[0].FinishReason != genai.FinishReasonStop || resp.Candidates[0].Content.Role != genai.RoleModel {
		t.Fatalf("candidates = %+v", resp.Candidates)
	}
	u := resp.UsageMetadata
	if u == nil || u.PromptTokenCount < 5 || u.CandidatesTokenCount != 40 || u.TotalTokenCount != u.PromptTokenCount+40 {
		t.Errorf("usage = %+v", u)
	}
	if resp.ModelVersion != "gemini-2.5-flash" || resp.ResponseID == "" {
		t.Errorf("model %q, response id %q", resp.ModelVersion, resp.ResponseID)
	}

	// Image parts, inline and by URI, beside the text.
	parts := []*genai.Part{
		genai.NewPartFromText("Describe this picture"),
		genai.NewPartFromBytes([]byte("\x89PNG\r\n\x1a\n"), "image/png"),
		genai.NewPartFromURI("https://example.com/cat.png", "image/png"),
	}
	resp, err = c.Models.GenerateContent(sdkCtx(t), "sim-ok", []*genai.Content{genai.NewContentFromParts(parts, genai.RoleUser)}, nil)
	if err != nil || !strings.HasPrefix(resp.Text(), "Simulated answer to: Describe this picture") || resp.UsageMetadata.PromptTokenCount < 2*258 {
		t.Fatalf("images: %v", err)
	}

	// A max output token cap ends with MAX_TOKENS.
	resp, err = c.Models.GenerateContent(sdkCtx(t), "sim-ok", genai.Text("Tell me everything"), &genai.GenerateContentConfig{MaxOutputTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Candidates[0].FinishReason != genai.FinishReasonMaxTokens || resp.UsageMetadata.CandidatesTokenCount != 5 || len(resp.Text()) != 20 {
		t.Errorf("max tokens: finish %s, usage %+v, text %q", resp.Candidates[0].FinishReason, resp.UsageMetadata, resp.Text())
	}
}

func TestGeminiSDKStream(t *testing.T) {
	c := geminiSDK(t, sim.Config{TokenDelay: time.Millisecond})
	var text strings.Builder
	var last *genai.GenerateContentResponse
	n := 0
	for resp, err := range c.Models.GenerateContentStream(sdkCtx(t), "sim-ok", genai.Text("hello there, stream please"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		text.WriteString(resp.Text())
		last = resp
	}
	if n < 5 || !strings.HasPrefix(text.String(), "Simulated answer to: hello there, stream please") || len(text.String()) != 160 {
		t.Fatalf("%d chunks, text %q", n, text.String())
	}
	if last.Candidates[0].FinishReason != genai.FinishReasonStop || last.UsageMetadata.CandidatesTokenCount != 40 || last.ResponseID == "" {
		t.Errorf("last chunk: %+v usage %+v", last.Candidates[0], last.UsageMetadata)
	}

	// sim-content-filter-finish: SAFETY after part of the answer.
	var finish genai.FinishReason
	for resp, err := range c.Models.GenerateContentStream(sdkCtx(t), sim.ModelContentFilterFinal, genai.Text("say something"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		finish = resp.Candidates[0].FinishReason
	}
	if finish != genai.FinishReasonSafety {
		t.Errorf("content filter finish = %q", finish)
	}
}

var weather = &genai.FunctionDeclaration{
	Name:        "get_weather",
	Description: "Current weather for a city",
	Parameters: &genai.Schema{
		Type: genai.TypeObject,
		Properties: map[string]*genai.Schema{
			"city": {Type: genai.TypeString},
			"unit": {Type: genai.TypeString, Enum: []string{"celsius", "fahrenheit"}, Format: "enum"},
			"days": {Type: genai.TypeInteger},
		},
		Required: []string{"city", "unit", "days"},
	},
}

var timeTool = &genai.FunctionDeclaration{
	Name:       "get_time",
	Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"tz": {Type: genai.TypeString}}, Required: []string{"tz"}},
}

func TestGeminiSDKFunctionCalls(t *testing.T) {
	c := geminiSDK(t, sim.Config{})
	tools := []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{weather, timeTool}}}

	// Mode ANY with one allowed name: that function.
	cfg := &genai.GenerateContentConfig{Tools: tools, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{
		Mode: genai.FunctionCallingConfigModeAny, AllowedFunctionNames: []string{"get_time"}}}}
	resp, err := c.Models.GenerateContent(sdkCtx(t), "sim-ok", genai.Text("What time is it?"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 1 || calls[0].Name != "get_time" || calls[0].Args["tz"] != "sim" || resp.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Fatalf("calls %+v, finish %s", calls, resp.Candidates[0].FinishReason)
	}

	// Parallel calls ("call all tools"), streamed.
	var got []*genai.FunctionCall
	var finish genai.FinishReason
	for resp, err := range c.Models.GenerateContentStream(sdkCtx(t), "sim-ok", genai.Text("Please call all tools"), &genai.GenerateContentConfig{Tools: tools}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.FunctionCalls()...)
		finish = resp.Candidates[0].FinishReason
	}
	if len(got) != 2 || got[0].Name != "get_weather" || got[1].Name != "get_time" || finish != genai.FinishReasonStop {
		t.Fatalf("streamed calls %+v, finish %s", got, finish)
	}
	if got[0].Args["city"] != "sim" || got[0].Args["unit"] != "celsius" || got[0].Args["days"] != float64(1) {
		t.Errorf("args = %v", got[0].Args)
	}

	// The function's answer goes back as a functionResponse; mode NONE then gets text.
	history := []*genai.Content{
		genai.NewContentFromText("What time is it in Paris?", genai.RoleUser),
		genai.NewContentFromFunctionCall("get_time", map[string]any{"tz": "CET"}, genai.RoleModel),
		genai.NewContentFromFunctionResponse("get_time", map[string]any{"time": "12:00"}, genai.RoleUser),
	}
	cfg = &genai.GenerateContentConfig{Tools: tools, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeNone}}}
	resp, err = c.Models.GenerateContent(sdkCtx(t), "sim-ok", history, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.FunctionCalls()) != 0 || !strings.HasPrefix(resp.Text(), "Simulated answer to: What time is it in Paris?") {
		t.Errorf("after the function response: calls %v, text %q", resp.FunctionCalls(), resp.Text())
	}
}

// Gemini 3 signs function calls and wants the signature back: the SDK keeps it in the Part, and
// a history built from the returned content passes the simulator's check.
func TestGeminiSDKThoughtSignature(t *testing.T) {
	c := geminiSDK(t, sim.Config{})
	tools := []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{weather}}}
	cfg := &genai.GenerateContentConfig{Tools: tools}
	question := genai.NewContentFromText("Weather in Paris?", genai.RoleUser)
	anyCfg := &genai.GenerateContentConfig{Tools: tools, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny}}}
	resp, err := c.Models.GenerateContent(sdkCtx(t), "gemini-3-pro-preview", []*genai.Content{question}, anyCfg)
	if err != nil {
		t.Fatal(err)
	}
	call := resp.Candidates[0].Content
	if len(call.Parts) != 1 || call.Parts[0].FunctionCall == nil || string(call.Parts[0].ThoughtSignature) != "sim-thought-signature" {
		t.Fatalf("parts %+v", call.Parts)
	}
	answer := genai.NewContentFromFunctionResponse("get_weather", map[string]any{"temp_c": 18}, genai.RoleUser)
	resp, err = c.Models.GenerateContent(sdkCtx(t), "gemini-3-pro-preview", []*genai.Content{question, call, answer}, cfg)
	if err != nil || !strings.HasPrefix(resp.Text(), "Simulated answer to: Weather in Paris?") {
		t.Fatalf("signed history: %v", err)
	}
	// Without the signature the simulator answers as Gemini 3 does.
	call.Parts[0].ThoughtSignature = nil
	_, err = c.Models.GenerateContent(sdkCtx(t), "gemini-3-pro-preview", []*genai.Content{question, call, answer}, cfg)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 400 || !strings.Contains(ae.Message, "thought_signature") {
		t.Errorf("unsigned history: %v", err)
	}
}

func TestGeminiSDKJSONSchema(t *testing.T) {
	c := geminiSDK(t, sim.Config{})
	cfg := &genai.GenerateContentConfig{
		ResponseMIMEType: "application/json",
		ResponseSchema: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{
			"answer": {Type: genai.TypeString}, "score": {Type: genai.TypeNumber}, "tags": {Type: genai.TypeArray, Items: &genai.Schema{Type: genai.TypeString}},
		}, Required: []string{"answer", "score", "tags"}},
	}
	resp, err := c.Models.GenerateContent(sdkCtx(t), "sim-ok", genai.Text("Give me JSON"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Answer *string   `json:"answer"`
		Score  *float64  `json:"score"`
		Tags   *[]string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(resp.Text()), &v); err != nil || v.Answer == nil || v.Score == nil || v.Tags == nil {
		t.Fatalf("text %q: %v", resp.Text(), err)
	}
	// JSON mode without a schema: any object.
	resp, err = c.Models.GenerateContent(sdkCtx(t), "sim-ok", genai.Text("Give me JSON"), &genai.GenerateContentConfig{ResponseMIMEType: "application/json"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.Text()), &m); err != nil || m["answer"] != "Simulated answer to: Give me JSON" {
		t.Fatalf("text %q: %v", resp.Text(), err)
	}
}

func TestGeminiSDKErrors(t *testing.T) {
	c := geminiSDK(t, sim.Config{})
	for _, tc := range []struct {
		model  string
		code   int
		status string
	}{
		{sim.Model429, 429, "RESOURCE_EXHAUSTED"},
		{sim.Model503, 503, "UNAVAILABLE"},
		{sim.Model404, 404, "NOT_FOUND"},
		{sim.ModelContextLength, 400, "INVALID_ARGUMENT"},
	} {
		_, err := c.Models.GenerateContent(sdkCtx(t), tc.model, genai.Text("hi"), nil)
		var ae genai.APIError
		if !errors.As(err, &ae) || ae.Code != tc.code || ae.Status != tc.status || ae.Message == "" {
			t.Errorf("%s: %T %v", tc.model, err, err)
		}
	}
	// Retry information travels in the details, as google.rpc.RetryInfo.
	_, err := c.Models.GenerateContent(sdkCtx(t), sim.Model429RetryAfter, genai.Text("hi"), nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 429 || !strings.Contains(ae.Error(), "retryDelay:1s") {
		t.Errorf("429 with retry: %v", err)
	}
	// A blocked prompt is not an error: promptFeedback says why there is no candidate.
	resp, err := c.Models.GenerateContent(sdkCtx(t), sim.ModelContentFilter, genai.Text("hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.PromptFeedback == nil || resp.PromptFeedback.BlockReason != genai.BlockedReasonSafety || len(resp.Candidates) != 0 || resp.UsageMetadata.PromptTokenCount == 0 {
		t.Errorf("blocked prompt: %+v", resp)
	}

	// A wrong key, as Google reports it.
	bad, err := genai.NewClient(t.Context(), &genai.ClientConfig{APIKey: "wrong", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: strings.TrimSuffix(c.ClientConfig().HTTPOptions.BaseURL, "/") + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Models.GenerateContent(sdkCtx(t), "sim-ok", genai.Text("hi"), nil)
	if !errors.As(err, &ae) || ae.Code != 400 || ae.Status != "INVALID_ARGUMENT" || !strings.Contains(ae.Message, "API key not valid") {
		t.Errorf("wrong key: %v", err)
	}
}
