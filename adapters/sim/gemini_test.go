package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func gmPost(t *testing.T, base, model, method, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	u := base + "/v1beta/models/" + model + ":" + method
	if method == "streamGenerateContent" {
		u += "?alt=sse"
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// gmResp is a GenerateContentResponse as a client reads it.
type gmResp struct {
	Candidates []struct {
		Content *struct {
			Role  string `json:"role"`
			Parts []struct {
				Text         *string `json:"text"`
				FunctionCall *struct {
					ID   string         `json:"id"`
					Name string         `json:"name"`
					Args map[string]any `json:"args"`
				} `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason  string            `json:"finishReason"`
		Index         *int              `json:"index"`
		SafetyRatings []json.RawMessage `json:"safetyRatings"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason   string            `json:"blockReason"`
		SafetyRatings []json.RawMessage `json:"safetyRatings"`
	} `json:"promptFeedback"`
	UsageMetadata *struct {
		PromptTokenCount        int `json:"promptTokenCount"`
		CandidatesTokenCount    int `json:"candidatesTokenCount"`
		TotalTokenCount         int `json:"totalTokenCount"`
		CachedContentTokenCount int `json:"cachedContentTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	ResponseID   string `json:"responseId"`
}

func (g gmResp) text() string {
	var sb strings.Builder
	for _, c := range g.Candidates[:min(1, len(g.Candidates))] {
		if c.Content == nil {
			continue
		}
		for _, p := range c.Content.Parts {
			if p.Text != nil {
				sb.WriteString(*p.Text)
			}
		}
	}
	return sb.String()
}

func decodeStrict(t *testing.T, b []byte) gmResp {
	t.Helper()
	var v gmResp
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

const gmHello = `{"systemInstruction":{"parts":[{"text":"Be brief."}]},"contents":[{"role":"user","parts":[{"text":"What is the capital of France? Tell me more about it"}]}]}`

func TestGeminiShape(t *testing.T) {
	_, hs := newTest(t, Config{})
	resp, body := gmPost(t, hs.URL, "gemini-2.5-flash", "generateContent", gmHello)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	v := decodeStrict(t, body)
	if len(v.Candidates) != 1 {
		t.Fatalf("candidates: %s", body)
	}
	c := v.Candidates[0]
	if c.Content == nil || c.Content.Role != "model" || c.FinishReason != "STOP" || c.Index == nil || *c.Index != 0 {
		t.Fatalf("candidate: %s", body)
	}
	if got := v.text(); !strings.HasPrefix(got, "Simulated answer to: What is the capital of France? Tell me m ") || len(got) != 160 {
		t.Errorf("text %q", got)
	}
	u := v.UsageMetadata
	if u == nil || u.PromptTokenCount < 10 || u.CandidatesTokenCount != 40 || u.TotalTokenCount != u.PromptTokenCount+40 {
		t.Errorf("usage: %s", body)
	}
	if v.ModelVersion != "gemini-2.5-flash" || !strings.HasPrefix(v.ResponseID, "sim") {
		t.Errorf("envelope: %s", body)
	}
	// Deterministic, with a fresh response id.
	_, body2 := gmPost(t, hs.URL, "gemini-2.5-flash", "generateContent", gmHello)
	v2 := decodeStrict(t, body2)
	if v2.text() != v.text() || v2.ResponseID == v.ResponseID {
		t.Error("not deterministic, or the response id repeats")
	}
	// maxOutputTokens cuts the answer: MAX_TOKENS.
	_, body = gmPost(t, hs.URL, "sim-ok", "generateContent", `{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":5,"temperature":0.2,"stopSequences":["x"]}}`)
	v = decodeStrict(t, body)
	if v.Candidates[0].FinishReason != "MAX_TOKENS" || v.UsageMetadata.CandidatesTokenCount != 5 || len(v.text()) != 20 {
		t.Errorf("max tokens: %s", body)
	}
	// candidateCount repeats the candidate with its index.
	_, body = gmPost(t, hs.URL, "sim-ok", "generateContent", `{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":2}}`)
	v = decodeStrict(t, body)
	if len(v.Candidates) != 2 || *v.Candidates[1].Index != 1 {
		t.Errorf("candidateCount: %s", body)
	}
	// Long prompts report cached tokens.
	_, body = gmPost(t, hs.URL, "sim-ok", "generateContent", `{"contents":[{"parts":[{"text":"`+strings.Repeat("word ", 2000)+`"}]}]}`)
	v = decodeStrict(t, body)
	if u := v.UsageMetadata; u.CachedContentTokenCount == 0 || u.CachedContentTokenCount >= u.PromptTokenCount {
		t.Errorf("cached tokens: %+v", u)
	}
}

func TestGeminiStreamSequence(t *testing.T) {
	_, hs := newTest(t, Config{})
	resp, body := gmPost(t, hs.URL, "sim-ok", "streamGenerateContent", `{"contents":[{"role":"user","parts":[{"text":"hello there"}]}]}`)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	if !bytes.HasSuffix(body, []byte("}\r\n\r\n")) || bytes.Contains(body, []byte("[DONE]")) || bytes.Contains(body, []byte("event:")) {
		t.Fatalf("framing: %q", body[max(0, len(body)-80):])
	}
	data := sseData(t, body)
	if len(data) < 5 {
		t.Fatalf("%d events", len(data))
	}
	var text strings.Builder
	id := ""
	for i, d := range data {
		v := decodeStrict(t, []byte(d))
		last := i == len(data)-1
		if v.ModelVersion != "sim-ok" || v.ResponseID == "" || (id != "" && v.ResponseID != id) {
			t.Fatalf("chunk %d envelope: %s", i, d)
		}
		id = v.ResponseID
		if got := v.Candidates[0].FinishReason; (got != "") == !last || last && got != "STOP" {
			t.Errorf("chunk %d finishReason %q", i, got)
		}
		if last != (v.UsageMetadata.CandidatesTokenCount > 0) {
			t.Errorf("chunk %d usage %+v", i, v.UsageMetadata)
		}
		text.WriteString(v.text())
	}
	if !strings.HasPrefix(text.String(), "Simulated answer to: hello there") || len(text.String()) != 160 {
		t.Errorf("text %q", text.String())
	}
	// Without alt=sse: one JSON array of the same chunks.
	resp, body = gmPost(t, hs.URL, "sim-ok", "streamGenerateContent?prettyPrint=false", `{"contents":[{"role":"user","parts":[{"text":"hello there"}]}]}`)
	var arr []gmResp
	if err := json.Unmarshal(body, &arr); err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("array form: %v %s", err, body)
	}
	var arrText strings.Builder
	for _, v := range arr {
		arrText.WriteString(v.text())
	}
	if len(arr) != len(data) || arrText.String() != text.String() || arr[len(arr)-1].Candidates[0].FinishReason != "STOP" {
		t.Errorf("array form: %d chunks, text %q", len(arr), arrText.String())
	}
	_, body = gmPost(t, hs.URL, ModelContentFilter, "streamGenerateContent?prettyPrint=false", `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	if err := json.Unmarshal(body, &arr); err != nil || len(arr) != 1 || arr[0].PromptFeedback == nil {
		t.Errorf("blocked, array form: %s", body)
	}

	// sim-no-done: a clean end without a finishReason anywhere.
	_, body = gmPost(t, hs.URL, ModelNoDone, "streamGenerateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	for _, d := range sseData(t, body) {
		if strings.Contains(d, "finishReason") {
			t.Fatalf("sim-no-done sent a finishReason: %s", d)
		}
	}
	// sim-content-filter-finish: SAFETY with ratings after part of the answer.
	_, body = gmPost(t, hs.URL, ModelContentFilterFinal, "streamGenerateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	data = sseData(t, body)
	last := decodeStrict(t, []byte(data[len(data)-1]))
	if last.Candidates[0].FinishReason != "SAFETY" || len(last.Candidates[0].SafetyRatings) == 0 || len(data) < 2 {
		t.Errorf("content filter finish: %s", data[len(data)-1])
	}
	// sim-malformed-chunk: one data line is not JSON.
	_, body = gmPost(t, hs.URL, ModelMalformedChunk, "streamGenerateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	bad := 0
	for _, d := range sseData(t, body) {
		if !json.Valid([]byte(d)) {
			bad++
		}
	}
	if bad != 1 {
		t.Errorf("%d invalid events, want 1", bad)
	}
}

func TestGeminiStreamCutAndStall(t *testing.T) {
	s, err := NewServer(Config{TokenDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, root+"/v1beta/models/"+ModelStreamCut+":streamGenerateContent?alt=sse", strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || !bytes.HasSuffix(b, []byte("cut here")) {
		t.Fatalf("cut stream read cleanly: %v, tail %q", err, b[max(0, len(b)-40):])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, root+"/v1beta/models/"+ModelStall+":streamGenerateContent?alt=sse", strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || !bytes.Contains(b, []byte("data: ")) || bytes.Contains(b, []byte("finishReason")) {
		t.Fatalf("stall: %v, %q", err, b)
	}
}

const gmTools = `"tools":[{"functionDeclarations":[` +
	`{"name":"get_weather","description":"Weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"},"unit":{"type":"STRING","enum":["celsius","fahrenheit"],"format":"enum"},"days":{"type":"INTEGER"}},"required":["city","unit","days"]}},` +
	`{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"}},"required":["tz"]}}]}]`

func TestGeminiTools(t *testing.T) {
	_, hs := newTest(t, Config{})
	type call struct {
		name string
		args map[string]any
	}
	calls := func(v gmResp) (out []call) {
		for _, p := range v.Candidates[0].Content.Parts {
			if fc := p.FunctionCall; fc != nil {
				if fc.ID != "" {
					t.Errorf("function call with an id: %+v", fc)
				}
				out = append(out, call{fc.Name, fc.Args})
			}
		}
		return out
	}
	for _, tc := range []struct {
		name, prompt, config string
		want                 []string
	}{
		{"auto, asked", "Please call tool now", "", []string{"get_weather"}},
		{"auto, not asked", "Hello", `,"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}`, nil},
		{"ANY", "Hello", `,"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}`, []string{"get_weather"}},
		{"ANY one name", "Hello", `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_time"]}}`, []string{"get_time"}},
		{"ANY two names, all", "call all tools", `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_time","get_weather"]}}`, []string{"get_weather", "get_time"}},
		{"NONE", "Please call tool now", `,"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}`, nil},
		{"parallel", "Please call all tools", "", []string{"get_weather", "get_time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"contents":[{"role":"user","parts":[{"text":"` + tc.prompt + `"}]}],` + gmTools + tc.config + `}`
			for _, method := range []string{"generateContent", "streamGenerateContent"} {
				resp, b := gmPost(t, hs.URL, "sim-ok", method, body)
				if resp.StatusCode != 200 {
					t.Fatalf("%d %s", resp.StatusCode, b)
				}
				var got []call
				finish := ""
				if method == "generateContent" {
					v := decodeStrict(t, b)
					got, finish = calls(v), v.Candidates[0].FinishReason
				} else {
					for _, d := range sseData(t, b) {
						v := decodeStrict(t, []byte(d))
						got = append(got, calls(v)...)
						if f := v.Candidates[0].FinishReason; f != "" {
							finish = f
						}
					}
				}
				if finish != "STOP" || len(got) != len(tc.want) {
					t.Fatalf("%s: finish %q, calls %+v", method, finish, got)
				}
				for i, name := range tc.want {
					if got[i].name != name {
						t.Errorf("%s: call %d = %s, want %s", method, i, got[i].name, name)
					}
				}
				if len(got) > 0 && got[0].name == "get_weather" {
					if a := got[0].args; a["city"] != "sim" || a["unit"] != "celsius" || a["days"] != float64(1) {
						t.Errorf("%s: args %v (upper-case OpenAPI types must be read)", method, a)
					}
				}
			}
		})
	}
	// A whole round trip: the function's result comes back, the model answers the last question.
	_, b := gmPost(t, hs.URL, "sim-ok", "generateContent", `{"contents":[`+
		`{"role":"user","parts":[{"text":"Weather in Paris?"}]},`+
		`{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},`+
		`{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp_c":18}}}]}],`+gmTools+`}`)
	v := decodeStrict(t, b)
	if !strings.HasPrefix(v.text(), "Simulated answer to: Weather in Paris?") {
		t.Errorf("after a function response: %s", b)
	}
}

func TestGeminiJSONMode(t *testing.T) {
	_, hs := newTest(t, Config{})
	_, b := gmPost(t, hs.URL, "sim-ok", "generateContent", `{"contents":[{"parts":[{"text":"Give me JSON"}]}],"generationConfig":{"responseMimeType":"application/json"}}`)
	var m map[string]any
	if err := json.Unmarshal([]byte(decodeStrict(t, b).text()), &m); err != nil || m["answer"] != "Simulated answer to: Give me JSON" {
		t.Fatalf("json mode: %s", b)
	}
	_, b = gmPost(t, hs.URL, "sim-ok", "streamGenerateContent", `{"contents":[{"parts":[{"text":"Give me JSON"}]}],"generationConfig":{"responseMimeType":"application/json",`+
		`"responseSchema":{"type":"OBJECT","properties":{"answer":{"type":"STRING"},"score":{"type":"NUMBER"},"ok":{"type":"BOOLEAN"}},"required":["answer","score","ok"]}}}`)
	var text strings.Builder
	for _, d := range sseData(t, b) {
		v := decodeStrict(t, []byte(d))
		text.WriteString(v.text())
	}
	var s struct {
		Answer *string  `json:"answer"`
		Score  *float64 `json:"score"`
		OK     *bool    `json:"ok"`
	}
	if err := json.Unmarshal([]byte(text.String()), &s); err != nil || s.Answer == nil || s.Score == nil || s.OK == nil {
		t.Fatalf("json schema: %q %v", text.String(), err)
	}
}

func TestGeminiErrors(t *testing.T) {
	_, hs := newTest(t, Config{})
	type gerr struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Details []struct {
				Type       string `json:"@type"`
				RetryDelay string `json:"retryDelay"`
				Reason     string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	ok := `{"contents":[{"parts":[{"text":"hi"}]}]}`
	for _, tc := range []struct {
		model, body string
		code        int
		status, msg string
		retryDelay  string
	}{
		{Model429RetryAfter, ok, 429, "RESOURCE_EXHAUSTED", "You exceeded your current quota", "1s"},
		{Model429, ok, 429, "RESOURCE_EXHAUSTED", "quota", ""},
		{Model500, ok, 500, "INTERNAL", "An internal error has occurred", ""},
		{Model503, ok, 503, "UNAVAILABLE", "The model is overloaded", ""},
		{Model400, ok, 400, "INVALID_ARGUMENT", "temperature", ""},
		{Model401, ok, 401, "UNAUTHENTICATED", "invalid authentication credentials", ""},
		{Model404, ok, 404, "NOT_FOUND", "models/sim-404 is not found for API version v1beta", ""},
		{ModelContextLength, ok, 400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", ""},
		{ModelStatusPrefix + "504", ok, 504, "DEADLINE_EXCEEDED", "Simulated error 504", ""},
		{ModelStatusPrefix + "403", ok, 403, "PERMISSION_DENIED", "Simulated error 403", ""},
		{"sim-ok", `{"contents":[]}`, 400, "INVALID_ARGUMENT", "contents is not specified", ""},
		{"sim-ok", `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, 400, "INVALID_ARGUMENT", "Please use a valid role: user, model.", ""},
		{"sim-ok", `{"contents":[{"parts":[{"text":"x"}]}],"generation_config":{}}`, 400, "INVALID_ARGUMENT", `Unknown name "generation_config"`, ""},
		{"sim-ok", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"maxTokens":3}}`, 400, "INVALID_ARGUMENT", `Unknown name "maxTokens"`, ""},
		{"sim-ok", `{"contents":[{"parts":[{}]}]}`, 400, "INVALID_ARGUMENT", "required oneof field 'data'", ""},
		{"sim-ok", `{"contents":[{"parts":[{"text":"x"}]},{"role":"model","parts":[{"text":""}]}]}`, 400, "INVALID_ARGUMENT", "contents[1].parts[0].data: required oneof field 'data'", ""},
		{"sim-ok", `{"systemInstruction":{"parts":[{"text":""}]},"contents":[{"parts":[{"text":"x"}]}]}`, 400, "INVALID_ARGUMENT", "system_instruction.parts[0].data: required oneof field 'data'", ""},
		{"sim-ok", `{"contents":[{"parts":[]}]}`, 400, "INVALID_ARGUMENT", "contents.parts must not be empty", ""},
		{"sim-ok", `{"contents":[{"parts":[{"functionResponse":{"name":"f","response":"text"}}]}]}`, 400, "INVALID_ARGUMENT", "must be a JSON object", ""},
		{"sim-ok", `{"contents":[{"parts":[{"text":"x"}]}],` + gmTools + `,"generationConfig":{"responseMimeType":"application/json"}}`, 400, "INVALID_ARGUMENT", "Tool use with a response mime type: 'application/json' is unsupported", ""},
		{"sim-ok", `{"contents":[`, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.", ""},
		{"sim-ok", `{"contents":[{"parts":[{"text":"x"}]}]} {}`, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.", ""},
	} {
		for _, method := range []string{"generateContent", "streamGenerateContent"} {
			resp, b := gmPost(t, hs.URL, tc.model, method, tc.body)
			var e gerr
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("%s %s: %v %s", tc.model, method, err, b)
			}
			if resp.StatusCode != tc.code || e.Error.Code != tc.code || e.Error.Status != tc.status || !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("%s %s: %d %s", tc.model, method, resp.StatusCode, b)
			}
			if tc.retryDelay != "" {
				if got := e.Error.Details[len(e.Error.Details)-1]; got.Type != "type.googleapis.com/google.rpc.RetryInfo" || got.RetryDelay != tc.retryDelay {
					t.Errorf("%s: retry info %+v", tc.model, got)
				}
			} else if strings.Contains(string(b), "RetryInfo") {
				t.Errorf("%s: unexpected RetryInfo: %s", tc.model, b)
			}
		}
	}
	// A blocked prompt is a 200 with promptFeedback and no candidates, streamed or not.
	for _, method := range []string{"generateContent", "streamGenerateContent"} {
		resp, b := gmPost(t, hs.URL, ModelContentFilter, method, ok)
		if method == "streamGenerateContent" {
			d := sseData(t, b)
			if len(d) != 1 {
				t.Fatalf("blocked stream: %q", b)
			}
			b = []byte(d[0])
		}
		v := decodeStrict(t, b)
		if resp.StatusCode != 200 || v.PromptFeedback == nil || v.PromptFeedback.BlockReason != "SAFETY" || len(v.PromptFeedback.SafetyRatings) == 0 ||
			len(v.Candidates) != 0 || v.UsageMetadata == nil || v.UsageMetadata.PromptTokenCount == 0 {
			t.Errorf("blocked prompt %s: %d %s", method, resp.StatusCode, b)
		}
	}
	// Only POST; an unknown method is not a Gemini path.
	resp, err := http.Get(hs.URL + "/v1beta/models/sim-ok:generateContent")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if _, _, ok := geminiPath("/v1beta/models/sim-ok:countTokens"); ok {
		t.Error("countTokens routed to generate")
	}
}

func TestGeminiAuth(t *testing.T) {
	_, hs := newTest(t, Config{APIKey: "AIza-right"})
	body := `{"contents":[{"parts":[{"text":"hi"}]}]}`
	if resp, b := gmPost(t, hs.URL, "sim-ok", "generateContent", body, "x-goog-api-key", "AIza-right"); resp.StatusCode != 200 {
		t.Errorf("header key: %d %s", resp.StatusCode, b)
	}
	if resp, b := gmPost(t, hs.URL+"", "sim-ok", "generateContent?key=AIza-right", body); resp.StatusCode != 200 {
		t.Errorf("query key: %d %s", resp.StatusCode, b)
	}
	resp, b := gmPost(t, hs.URL, "sim-ok", "generateContent", body, "x-goog-api-key", "AIza-wrong")
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"status": "INVALID_ARGUMENT"`) || !strings.Contains(string(b), "API key not valid. Please pass a valid API key.") ||
		!strings.Contains(string(b), `"reason":"API_KEY_INVALID"`) || strings.Contains(string(b), "AIza-wrong") {
		t.Errorf("wrong key: %d %s", resp.StatusCode, b)
	}
	resp, b = gmPost(t, hs.URL, "sim-ok", "generateContent", body, "Authorization", "Bearer AIza-right")
	if resp.StatusCode != 403 || !strings.Contains(string(b), "PERMISSION_DENIED") {
		t.Errorf("no key: %d %s", resp.StatusCode, b)
	}
	// sim-echo redacts the key header.
	_, b = gmPost(t, hs.URL, ModelEcho, "generateContent", body, "x-goog-api-key", "AIza-right")
	if strings.Contains(decodeStrict(t, b).text(), "AIza-right") {
		t.Errorf("echo shows the key: %s", b)
	}
}

func TestGeminiHuge(t *testing.T) {
	_, hs := newTest(t, Config{HugeBytes: 1 << 20})
	for _, method := range []string{"generateContent", "streamGenerateContent"} {
		_, b := gmPost(t, hs.URL, ModelHuge, method, `{"contents":[{"parts":[{"text":"hi"}]}]}`)
		var text strings.Builder
		if method == "generateContent" {
			text.WriteString(decodeStrict(t, b).text())
		} else {
			for _, d := range sseData(t, b) {
				text.WriteString(decodeStrict(t, []byte(d)).text())
			}
		}
		if text.Len() < 1<<20 {
			t.Errorf("%s: %d bytes of text", method, text.Len())
		}
	}
}

func BenchmarkGeminiHandler(b *testing.B) {
	s, err := NewServer(Config{})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, tc := range []struct{ name, method, body string }{
		{"complete", "generateContent", `{"systemInstruction":{"parts":[{"text":"You are terse."}]},"contents":[{"role":"user","parts":[{"text":"What is the capital of France?"}]}],"generationConfig":{"maxOutputTokens":64}}`},
		{"stream", "streamGenerateContent?alt=sse", `{"systemInstruction":{"parts":[{"text":"You are terse."}]},"contents":[{"role":"user","parts":[{"text":"What is the capital of France?"}]}]}`},
		{"tool-call", "generateContent", `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body := []byte(tc.body)
			rd := bytes.NewReader(body)
			req, _ := http.NewRequest(http.MethodPost, "/v1beta/models/sim-ok:"+tc.method, io.NopCloser(rd))
			req.Header.Set(requestIDHeader, "bench")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			if w.n == 0 {
				b.Fatal("no output")
			}
		})
	}
}

func TestGemini3ThoughtSignatures(t *testing.T) {
	_, hs := newTest(t, Config{})
	// Answers sign the first function call.
	_, b := gmPost(t, hs.URL, "gemini-3-pro-preview", "generateContent", `{"contents":[{"role":"user","parts":[{"text":"call all tools"}]}],`+gmTools+`}`)
	var v struct {
		Candidates []struct {
			Content struct {
				Parts []struct {
					ThoughtSignature string `json:"thoughtSignature"`
				} `json:"parts"`
			} `json:"content"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(b, &v); err != nil || len(v.Candidates[0].Content.Parts) != 2 ||
		v.Candidates[0].Content.Parts[0].ThoughtSignature == "" || v.Candidates[0].Content.Parts[1].ThoughtSignature != "" {
		t.Fatalf("signatures: %s", b)
	}
	history := func(sig string) string {
		return `{"contents":[{"role":"user","parts":[{"text":"Weather in Paris?"}]},` +
			`{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}` + sig + `},{"functionCall":{"name":"get_time","args":{}}}]},` +
			`{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"t":1}}},{"functionResponse":{"name":"get_time","response":{"t":2}}}]}],` + gmTools + `}`
	}
	resp, b := gmPost(t, hs.URL, "gemini-3-pro-preview", "generateContent", history(""))
	if resp.StatusCode != 400 || !strings.Contains(string(b), "Function call is missing a thought_signature in functionCall parts") || !strings.Contains(string(b), "default_api:get_weather") {
		t.Errorf("unsigned call in the current turn: %d %s", resp.StatusCode, b)
	}
	if resp, b := gmPost(t, hs.URL, "gemini-3-pro-preview", "generateContent", history(`,"thoughtSignature":"skip_thought_signature_validator"`)); resp.StatusCode != 200 {
		t.Errorf("signed: %d %s", resp.StatusCode, b)
	}
	// Gemini 3 combines function calling with JSON output.
	if resp, b := gmPost(t, hs.URL, "gemini-3-flash-preview", "generateContent", `{"contents":[{"parts":[{"text":"x"}]}],`+gmTools+`,"generationConfig":{"responseMimeType":"application/json"}}`); resp.StatusCode != 200 {
		t.Errorf("tools with JSON on Gemini 3: %d %s", resp.StatusCode, b)
	}
	// Older models and earlier turns are not checked.
	if resp, b := gmPost(t, hs.URL, "gemini-2.5-flash", "generateContent", history("")); resp.StatusCode != 200 {
		t.Errorf("2.5: %d %s", resp.StatusCode, b)
	}
	earlier := strings.Replace(history(""), `]}],"tools"`, `]},{"role":"model","parts":[{"text":"It is sunny."}]},{"role":"user","parts":[{"text":"Thanks"}]}],"tools"`, 1)
	if resp, b := gmPost(t, hs.URL, "gemini-3-pro-preview", "generateContent", earlier); resp.StatusCode != 200 {
		t.Errorf("an earlier turn: %d %s", resp.StatusCode, b)
	}
}
