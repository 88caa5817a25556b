package sim

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
)

// Google Gemini generateContent and streamGenerateContent (Gemini API, not Vertex AI), as
// documented at https://ai.google.dev/api/generate-content and as google.golang.org/genai sends
// and reads it:
//
//	POST /v1beta/models/{model}:generateContent
//	POST /v1beta/models/{model}:streamGenerateContent?alt=sse
//
// Choices the simulator makes where the real API varies or says little:
//
//   - The key is read from the x-goog-api-key header or the ?key= query parameter (the SDK uses
//     the header). With Config.APIKey set, a wrong key gets what Google answers: 400
//     INVALID_ARGUMENT "API key not valid. Please pass a valid API key." with an ErrorInfo
//     detail of reason API_KEY_INVALID; a missing key gets 403 PERMISSION_DENIED.
//   - Unknown request fields are rejected with 400 INVALID_ARGUMENT ("Invalid JSON payload
//     received. Unknown name ..."), as Google's JSON transcoding does: an adapter that misspells a
//     field fails here instead of being silently ignored. camelCase names only.
//   - Function calls carry no "id" (the Gemini API leaves functionCall.id empty for the 2.x
//     models); clients must match results by name and order.
//   - A blocked prompt (sim-content-filter) is a 200 with promptFeedback.blockReason SAFETY and
//     no candidates, streamed or not: that is how Gemini reports it, never as an HTTP error.
//   - Streams (alt=sse) are "data: {GenerateContentResponse}" events separated by CRLF CRLF, with
//     no event names and no end marker: the last chunk carries finishReason and the final usageMetadata.
//     sim-no-done leaves finishReason out of the last chunk, sim-stream-cut aborts the
//     connection in the middle of an event. Without alt=sse, streamGenerateContent answers as
//     Google does: one JSON array of the same chunks, written as they come (sim-huge then
//     answers as generateContent).
//   - Model names starting with "gemini-3" play Gemini 3: the first function call of an answer
//     carries a thoughtSignature, and a request whose current turn (the contents after the last
//     user text) holds a model step whose first function call has no thoughtSignature gets
//     Google's 400 "Function call is missing a thought_signature in functionCall parts. ...".
//   - Function declarations together with responseMimeType application/json get Google's 400
//     "Tool use with a response mime type: 'application/json' is unsupported", except on
//     gemini-3 names (Gemini 3 combines structured output with function calling).
//   - safetyRatings appear only where something was blocked (current models leave them out of
//     ordinary answers); stopSequences are accepted and ignored; candidateCount above 1 repeats
//     the one deterministic candidate.

// geminiPath splits /v1beta/models/{model}:{method}.
func geminiPath(path string) (model, method string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v1beta/models/")
	if !found {
		return "", "", false
	}
	model, method, found = strings.Cut(rest, ":")
	if !found || model == "" || (method != "generateContent" && method != "streamGenerateContent") {
		return "", "", false
	}
	return model, method, true
}

type gmRequest struct {
	Contents          []gmContent     `json:"contents"`
	SystemInstruction *gmContent      `json:"systemInstruction"`
	Tools             []gmTool        `json:"tools"`
	ToolConfig        *gmToolConfig   `json:"toolConfig"`
	GenerationConfig  *gmGenConfig    `json:"generationConfig"`
	SafetySettings    json.RawMessage `json:"safetySettings"`
	CachedContent     string          `json:"cachedContent"`
	Model             string          `json:"model"` // the SDK may repeat the model in the body
}

type gmContent struct {
	Role  string   `json:"role"`
	Parts []gmPart `json:"parts"`
}

type gmPart struct {
	Text             *string         `json:"text"`
	Thought          bool            `json:"thought"`
	ThoughtSignature string          `json:"thoughtSignature"`
	InlineData       *gmBlob         `json:"inlineData"`
	FileData         *gmFileData     `json:"fileData"`
	FunctionCall     *gmFunctionCall `json:"functionCall"`
	FunctionResponse *gmFunctionResp `json:"functionResponse"`
}

// hasData reports whether the part's oneof data is set. Google's JSON parsing treats an empty
// text like an absent one (proto3 default), so {"text":""} is a part without data.
func (p *gmPart) hasData() bool {
	return p.Text != nil && *p.Text != "" || p.InlineData != nil || p.FileData != nil || p.FunctionCall != nil || p.FunctionResponse != nil
}

type gmBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gmFileData struct {
	MimeType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

type gmFunctionCall struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type gmFunctionResp struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type gmTool struct {
	FunctionDeclarations []gmFunctionDecl `json:"functionDeclarations"`
	GoogleSearch         json.RawMessage  `json:"googleSearch"`
	CodeExecution        json.RawMessage  `json:"codeExecution"`
}

type gmFunctionDecl struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Parameters           json.RawMessage `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
	Behavior             string          `json:"behavior"`
	Response             json.RawMessage `json:"response"`
}

type gmToolConfig struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
}

type gmGenConfig struct {
	MaxOutputTokens    int             `json:"maxOutputTokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	TopK               *float64        `json:"topK"`
	Seed               *int64          `json:"seed"`
	CandidateCount     int             `json:"candidateCount"`
	StopSequences      []string        `json:"stopSequences"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	PresencePenalty    *float64        `json:"presencePenalty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty"`
	ThinkingConfig     json.RawMessage `json:"thinkingConfig"`
	ResponseLogprobs   bool            `json:"responseLogprobs"`
	Logprobs           *int            `json:"logprobs"`
}

// gmCall is the per-request scratch space, pooled.
type gmCall struct {
	body   []byte
	out    []byte
	req    gmRequest
	p      prompt
	pieces []piece
	words  []string
	n      int    // candidates
	id     string // responseId
	array  bool   // streamGenerateContent without alt=sse: one JSON array of the chunks
}

var gmPool = sync.Pool{New: func() any { return &gmCall{body: make([]byte, 0, 16<<10), out: make([]byte, 0, 8<<10)} }}

func (c *gmCall) reset() {
	c.req = gmRequest{}
	c.array = false
	c.p.reset()
	c.pieces, c.words = c.pieces[:0], c.words[:0]
}

// prompt reduces the request to what the simulated model reads.
func (c *gmCall) prompt(model string, stream bool) *prompt {
	req, p := &c.req, &c.p
	p.model, p.stream = model, stream
	for i := len(req.Contents) - 1; i >= 0 && p.user == ""; i-- {
		if req.Contents[i].Role == "user" || req.Contents[i].Role == "" {
			p.user = gmPartsText(req.Contents[i].Parts)
		}
	}
	count := func(ct *gmContent) {
		for j := range ct.Parts {
			pt := &ct.Parts[j]
			if pt.Text != nil {
				p.promptChars += len(*pt.Text)
			}
			if pt.FunctionCall != nil {
				p.promptChars += len(pt.FunctionCall.Name) + len(pt.FunctionCall.Args)
			}
			if pt.FunctionResponse != nil {
				p.promptChars += len(pt.FunctionResponse.Name) + len(pt.FunctionResponse.Response)
			}
			if pt.InlineData != nil || pt.FileData != nil {
				p.promptChars += 258 * 4 // Gemini counts an image as 258 tokens
			}
		}
		p.promptChars += 16
	}
	if req.SystemInstruction != nil {
		count(req.SystemInstruction)
	}
	for i := range req.Contents {
		count(&req.Contents[i])
	}
	var allowed []string
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fc := tc.FunctionCallingConfig
		switch fc.Mode {
		case "ANY":
			allowed = fc.AllowedFunctionNames
			p.toolChoice = "required"
			if len(allowed) == 1 {
				p.toolChoice, p.toolName = "tool", allowed[0]
			}
		case "NONE":
			p.toolChoice = "none"
		case "AUTO", "VALIDATED":
			p.toolChoice = "auto"
		}
	}
	for i := range req.Tools {
		for j := range req.Tools[i].FunctionDeclarations {
			f := &req.Tools[i].FunctionDeclarations[j]
			params := f.Parameters
			if len(params) == 0 {
				params = f.ParametersJSONSchema
			}
			p.promptChars += len(f.Name) + len(params) + 16
			if len(allowed) > 1 && !gmContains(allowed, f.Name) {
				continue // mode ANY with a list: the model can only call these
			}
			p.tools = append(p.tools, toolDef{name: f.Name, params: gmLowerTypes(params)})
		}
	}
	if g := req.GenerationConfig; g != nil {
		p.maxTokens = g.MaxOutputTokens
		if g.ResponseMimeType == "application/json" {
			p.json = true
			p.schema = g.ResponseSchema
			if len(p.schema) == 0 {
				p.schema = g.ResponseJSONSchema
			}
			p.schema = gmLowerTypes(p.schema)
		}
	}
	return p
}

func gmPartsText(parts []gmPart) string {
	var sb strings.Builder
	for i := range parts {
		if t := parts[i].Text; t != nil && !parts[i].Thought {
			sb.WriteString(*t)
		}
	}
	return sb.String()
}

func gmContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// gmLowerTypes rewrites OpenAPI type names ("OBJECT", "STRING": the SDK's genai.Type constants) to
// the lower-case JSON Schema names the neutral model reads. Schemas without an upper-case type
// are returned as they are.
func gmLowerTypes(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !bytes.Contains(raw, []byte(`"type"`)) {
		return raw
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	changed := false
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, sub := range x {
				if s, ok := sub.(string); ok && k == "type" && s != strings.ToLower(s) {
					x[k] = strings.ToLower(s)
					changed = true
					continue
				}
				walk(sub)
			}
		case []any:
			for _, sub := range x {
				walk(sub)
			}
		}
	}
	walk(v)
	if !changed {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

// geminiKey returns the key the client sent: the x-goog-api-key header, else ?key=.
func geminiKey(r *http.Request) (string, bool) {
	if v := r.Header["X-Goog-Api-Key"]; len(v) > 0 {
		return v[0], true
	}
	if v, ok := r.URL.Query()["key"]; ok && len(v) > 0 {
		return v[0], true
	}
	return "", false
}

func (s *Server) geminiGenerate(w http.ResponseWriter, r *http.Request, model, method string) {
	c := gmPool.Get().(*gmCall)
	defer func() {
		if cap(c.body) <= 1<<20 && cap(c.out) <= 1<<20 {
			gmPool.Put(c)
		}
	}()
	stream := method == "streamGenerateContent"
	rid, body, ok := s.readRequest(w, r, c.body[:0], FormatGemini, model, stream, s.geminiBadBody)
	c.body = body
	if !ok {
		return
	}
	c.reset()
	c.array = stream && r.URL.Query().Get("alt") != "sse"
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(&c.req)
	if err == nil {
		if _, tail := dec.Token(); tail != io.EOF {
			err = errors.New("trailing data after the JSON body")
		}
	}
	n, fault := s.arrive(r, FormatGemini, rid, model, stream)
	if err != nil {
		msg := "Invalid JSON payload received. Unexpected token."
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			msg = "Invalid JSON payload received. Unknown name " + name + ": Cannot find field."
		}
		writeGeminiError(w, http.StatusBadRequest, msg)
		return
	}
	if s.cfg.APIKey != "" {
		key, sent := geminiKey(r)
		switch {
		case !sent:
			writeGeminiStatus(w, http.StatusForbidden, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "")
			return
		case subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1:
			writeGeminiStatus(w, http.StatusBadRequest, "API key not valid. Please pass a valid API key.",
				`[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}},{"@type":"type.googleapis.com/google.rpc.LocalizedMessage","locale":"en-US","message":"API key not valid. Please pass a valid API key."}]`)
			return
		}
	}
	if msg := c.validate(model); msg != "" {
		writeGeminiError(w, http.StatusBadRequest, msg)
		return
	}
	c.n = 1
	if g := c.req.GenerationConfig; g != nil && g.CandidateCount > 1 {
		c.n = min(g.CandidateCount, 8)
	}
	ctx := r.Context()
	p := c.prompt(model, stream)
	p.fault = fault
	if s.preFault(w, r, FormatGemini, p, n, rid != "", func(w http.ResponseWriter, status int, kind errKind, p *prompt) {
		s.writeGeminiFault(w, status, kind, p, c.array)
	}) {
		return
	}
	if fault == ModelStreamError && !stream {
		s.writeGeminiFault(w, http.StatusServiceUnavailable, errOverloaded, p, c.array)
		return
	}
	if !s.wait(ctx, s.latencyFor(model).sample()) {
		return
	}
	if fault == ModelSlowFirstToken && !stream && !s.wait(ctx, s.cfg.FirstTokenDelay) {
		return
	}
	c.id = s.gmResponseID()
	if fault == ModelHuge {
		s.writeGeminiHuge(w, c, stream && !c.array)
		return
	}
	a := s.answerFor(p, r, c.body, "")
	if stream {
		s.writeGeminiStream(w, r, c, &a)
		return
	}
	out := c.appendResponse(c.out[:0], &a)
	c.out = out
	s.writeAnswer(ctx, w, fault, hdrGmJSON, out)
}

// geminiBadBody answers a request whose body could not be read.
func (s *Server) geminiBadBody(w http.ResponseWriter, tooLarge bool) {
	if tooLarge {
		writeGeminiStatus(w, http.StatusRequestEntityTooLarge, "Request payload size exceeds the limit: "+strconv.FormatInt(s.cfg.MaxRequestBytes, 10)+" bytes.", "")
	} else {
		writeGeminiError(w, http.StatusBadRequest, "Could not read the request body.")
	}
}

// validate checks what Google checks before generating; it returns Google's message or "".
func (c *gmCall) validate(model string) string {
	req := &c.req
	if len(req.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified\n"
	}
	if msg := checkSignatures(model, req.Contents); msg != "" {
		return msg
	}
	for i := range req.Contents {
		ct := &req.Contents[i]
		if ct.Role != "" && ct.Role != "user" && ct.Role != "model" {
			return "Please use a valid role: user, model."
		}
		if len(ct.Parts) == 0 {
			return "* GenerateContentRequest.contents[" + strconv.Itoa(i) + "].parts: contents.parts must not be empty.\n"
		}
		for j := range ct.Parts {
			pt := &ct.Parts[j]
			if !pt.hasData() {
				return "* GenerateContentRequest.contents[" + strconv.Itoa(i) + "].parts[" + strconv.Itoa(j) + "].data: required oneof field 'data' must have one initialized field\n"
			}
			if fc := pt.FunctionCall; fc != nil && (fc.Name == "" || len(fc.Args) > 0 && fc.Args[0] != '{' && string(fc.Args) != "null") {
				return "* GenerateContentRequest.contents[" + strconv.Itoa(i) + "].parts[" + strconv.Itoa(j) + "].function_call: invalid function call\n"
			}
			if fr := pt.FunctionResponse; fr != nil && (fr.Name == "" || len(fr.Response) > 0 && fr.Response[0] != '{') {
				return "* GenerateContentRequest.contents[" + strconv.Itoa(i) + "].parts[" + strconv.Itoa(j) + "].function_response.response: must be a JSON object\n"
			}
		}
	}
	if si := req.SystemInstruction; si != nil {
		for j := range si.Parts {
			if !si.Parts[j].hasData() {
				return "* GenerateContentRequest.system_instruction.parts[" + strconv.Itoa(j) + "].data: required oneof field 'data' must have one initialized field\n"
			}
		}
	}
	for i := range req.Tools {
		for j := range req.Tools[i].FunctionDeclarations {
			if req.Tools[i].FunctionDeclarations[j].Name == "" {
				return "* GenerateContentRequest.tools[" + strconv.Itoa(i) + "].function_declarations[" + strconv.Itoa(j) + "].name: Name cannot be empty.\n"
			}
		}
	}
	if g := req.GenerationConfig; g != nil {
		if g.ResponseMimeType == "application/json" && !signed(model) {
			for i := range req.Tools {
				if len(req.Tools[i].FunctionDeclarations) > 0 {
					return "Tool use with a response mime type: 'application/json' is unsupported"
				}
			}
		}
		switch g.ResponseMimeType {
		case "", "text/plain", "application/json", "text/x.enum":
		default:
			return "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `application/xml`, `application/yaml` and `text/x.enum`.\n"
		}
		if len(g.ResponseSchema) > 0 && g.ResponseMimeType != "application/json" && g.ResponseMimeType != "text/x.enum" {
			return "* GenerateContentRequest.generation_config.response_schema: specifying response schema requires setting response_mime_type to `application/json` or `text/x.enum`.\n"
		}
		if g.MaxOutputTokens < 0 {
			return "* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n"
		}
	}
	return ""
}

// signed reports whether model plays a Gemini 3 model: its function calls carry a
// thoughtSignature, and it wants them back.
func signed(model string) bool { return strings.HasPrefix(model, "gemini-3") }

// simSignature is the opaque thoughtSignature the simulator's Gemini 3 models return.
const simSignature = "c2ltLXRob3VnaHQtc2lnbmF0dXJl"

// checkSignatures applies Gemini 3's rule: in the current turn (the contents after the last
// user text), the first function call of every model step must come back with its
// thoughtSignature (any non-empty value: the simulator cannot tell a real one, and Google
// documents a placeholder for history it did not produce).
func checkSignatures(model string, contents []gmContent) string {
	if !signed(model) {
		return ""
	}
	start := 0
	for i := len(contents) - 1; i >= 0; i-- {
		if contents[i].Role != "model" && gmPartsText(contents[i].Parts) != "" {
			start = i + 1
			break
		}
	}
	for i := start; i < len(contents); i++ {
		for j := range contents[i].Parts {
			pt := &contents[i].Parts[j]
			if pt.FunctionCall == nil {
				continue
			}
			if pt.ThoughtSignature == "" {
				return "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:" +
					pt.FunctionCall.Name + "` , position " + strconv.Itoa(i+1) + ". Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
			}
			break // only a step's first call carries one
		}
	}
	return ""
}

var hdrGmJSON = []string{"application/json; charset=UTF-8"}

func (s *Server) gmResponseID() string {
	return "sim" + s.idPfx + strconv.FormatUint(s.seq.Add(1), 36)
}

// googleStatus is the google.rpc.Code name Google sends with an HTTP status.
func googleStatus(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 413:
		return "INVALID_ARGUMENT"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 500:
		return "INTERNAL"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "UNKNOWN"
	}
	return "FAILED_PRECONDITION"
}

// writeGeminiError writes Google's error envelope {"error":{"code","message","status"}}.
func writeGeminiError(w http.ResponseWriter, status int, msg string) {
	writeGeminiStatus(w, status, msg, "")
}

// writeGeminiStatus writes Google's error envelope with the status name of the HTTP status and,
// if details is not empty, the JSON array of google.rpc detail objects.
func writeGeminiStatus(w http.ResponseWriter, status int, msg, details string) {
	b := appendGeminiError(make([]byte, 0, 128+len(msg)+len(details)), status, msg, details)
	h := w.Header()
	h["Content-Type"] = hdrGmJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func appendGeminiError(b []byte, status int, msg, details string) []byte {
	b = append(b, "{\n  \"error\": {\n    \"code\": "...)
	b = appendInt(b, int64(status))
	b = append(b, ",\n    \"message\": "...)
	b = jsonw.String(b, msg)
	b = append(b, ",\n    \"status\": "...)
	b = jsonw.String(b, googleStatus(status))
	if details != "" {
		b = append(b, ",\n    \"details\": "...)
		b = append(b, details...)
	}
	return append(b, "\n  }\n}\n"...)
}

// writeGeminiFault writes a simulated failure with Google's statuses and messages. A filtered
// prompt is not an HTTP error in Gemini: it is a 200 with promptFeedback.blockReason.
func (s *Server) writeGeminiFault(w http.ResponseWriter, status int, kind errKind, p *prompt, array bool) {
	switch kind {
	case errRateLimited:
		details := `[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":` +
			string(jsonw.String(nil, p.model)) + `},"quotaValue":"10"}]},{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]}`
		if ra := w.Header().Get("Retry-After"); ra != "" {
			details += `,{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"` + ra + `s"}`
		}
		writeGeminiStatus(w, status, "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.", details+"]")
	case errServer:
		writeGeminiStatus(w, status, "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "")
	case errOverloaded:
		writeGeminiStatus(w, status, "The model is overloaded. Please try again later.", "")
	case errInvalid:
		writeGeminiStatus(w, status, "* GenerateContentRequest.generation_config.temperature: simulated invalid request.\n",
			`[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"generation_config.temperature","description":"simulated invalid request"}]}]`)
	case errAuth:
		writeGeminiStatus(w, status, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", "")
	case errNotFound:
		writeGeminiStatus(w, status, "models/"+p.model+" is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", "")
	case errContextLength:
		writeGeminiStatus(w, status, "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", "")
	case errContentFilter:
		s.writeGeminiBlocked(w, p, array)
	default:
		writeGeminiStatus(w, status, "Simulated error "+strconv.Itoa(status)+".", "")
	}
}

const gmRatings = `[{"category":"HARM_CATEGORY_SEXUALLY_EXPLICIT","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_HATE_SPEECH","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_HARASSMENT","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"NEGLIGIBLE"}]`

const gmRatingsBlocked = `[{"category":"HARM_CATEGORY_SEXUALLY_EXPLICIT","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_HATE_SPEECH","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true},{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"NEGLIGIBLE"}]`

// writeGeminiBlocked answers a filtered prompt: 200, promptFeedback with blockReason, usage, no
// candidates (as one SSE event for a stream, or an array of one for a stream without alt=sse).
func (s *Server) writeGeminiBlocked(w http.ResponseWriter, p *prompt, array bool) {
	promptTokens := max(1, int64(p.promptChars/4))
	b := make([]byte, 0, 1024)
	switch {
	case array:
		b = append(b, '[')
	case p.stream:
		b = append(b, "data: "...)
	}
	b = append(b, `{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":`...)
	b = append(b, gmRatingsBlocked...)
	b = append(b, `},"usageMetadata":{"promptTokenCount":`...)
	b = appendInt(b, promptTokens)
	b = append(b, `,"totalTokenCount":`...)
	b = appendInt(b, promptTokens)
	b = append(b, `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`...)
	b = appendInt(b, promptTokens)
	b = append(b, `}]},"modelVersion":`...)
	b = jsonw.String(b, p.model)
	b = append(b, `,"responseId":`...)
	b = jsonw.String(b, s.gmResponseID())
	b = append(b, '}')
	h := w.Header()
	switch {
	case array:
		b = append(b, "]\n"...)
		h["Content-Type"] = hdrGmJSON
	case p.stream:
		b = append(b, "\r\n\r\n"...)
		h["Content-Type"] = hdrSSE
	default:
		b = append(b, '\n')
		h["Content-Type"] = hdrGmJSON
	}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// gmFinish names a neutral finish reason as Gemini does: a function call finishes with STOP.
func gmFinish(f string) string {
	switch f {
	case finishLength:
		return "MAX_TOKENS"
	case finishContentFilter:
		return "SAFETY"
	}
	return "STOP"
}

func appendGmUsage(dst []byte, a *answer, final bool) []byte {
	dst = append(dst, `{"promptTokenCount":`...)
	dst = appendInt(dst, a.prompt)
	total := a.prompt
	if final {
		dst = append(dst, `,"candidatesTokenCount":`...)
		dst = appendInt(dst, a.output)
		total += a.output
	}
	dst = append(dst, `,"totalTokenCount":`...)
	dst = appendInt(dst, total)
	if a.cached > 0 {
		dst = append(dst, `,"cachedContentTokenCount":`...)
		dst = appendInt(dst, a.cached)
	}
	dst = append(dst, `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`...)
	dst = appendInt(dst, a.prompt)
	dst = append(dst, `}]`...)
	if a.cached > 0 {
		dst = append(dst, `,"cacheTokensDetails":[{"modality":"TEXT","tokenCount":`...)
		dst = appendInt(dst, a.cached)
		dst = append(dst, `}]`...)
	}
	return append(dst, '}')
}

// appendGmFunctionCall writes a functionCall part; sig adds a thoughtSignature (Gemini 3 signs
// the first call of a step).
func appendGmFunctionCall(dst []byte, t *toolAnswer, sig bool) []byte {
	dst = append(dst, `{"functionCall":{"name":`...)
	dst = jsonw.String(dst, t.name)
	dst = append(dst, `,"args":`...)
	if t.args == "" {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, t.args...)
	}
	dst = append(dst, '}')
	if sig {
		dst = append(dst, `,"thoughtSignature":"`+simSignature+`"`...)
	}
	return append(dst, '}')
}

// appendCandidates writes the candidates array of one response or chunk: parts (already
// rendered), the finish reason if any.
func (c *gmCall) appendCandidates(dst, parts []byte, finish string) []byte {
	dst = append(dst, `"candidates":[`...)
	for i := range c.n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"content":{"parts":[`...)
		dst = append(dst, parts...)
		dst = append(dst, `],"role":"model"}`...)
		if finish != "" {
			dst = append(dst, `,"finishReason":"`...)
			dst = append(dst, finish...)
			dst = append(dst, '"')
			if finish == "SAFETY" {
				dst = append(dst, `,"safetyRatings":`...)
				dst = append(dst, gmRatingsBlocked...)
			}
		}
		dst = append(dst, `,"index":`...)
		dst = appendInt(dst, int64(i))
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func (c *gmCall) appendTail(dst []byte, model string) []byte {
	dst = append(dst, `,"modelVersion":`...)
	dst = jsonw.String(dst, model)
	dst = append(dst, `,"responseId":`...)
	dst = jsonw.String(dst, c.id)
	return append(dst, '}')
}

// appendResponse writes a whole GenerateContentResponse.
func (c *gmCall) appendResponse(dst []byte, a *answer) []byte {
	parts := make([]byte, 0, 64+len(a.content))
	if len(a.tools) > 0 {
		for i := range a.tools {
			if i > 0 {
				parts = append(parts, ',')
			}
			parts = appendGmFunctionCall(parts, &a.tools[i], i == 0 && signed(c.p.model))
		}
	} else {
		parts = append(parts, `{"text":`...)
		parts = jsonw.String(parts, a.content)
		parts = append(parts, '}')
	}
	dst = append(dst, '{')
	dst = c.appendCandidates(dst, parts, gmFinish(a.finish))
	dst = append(dst, `,"usageMetadata":`...)
	dst = appendGmUsage(dst, a, true)
	return append(c.appendTail(dst, c.p.model), '\n')
}

func (s *Server) writeGeminiStream(w http.ResponseWriter, r *http.Request, c *gmCall, a *answer) {
	ctx := r.Context()
	model, fault := c.p.model, c.p.fault
	h := w.Header()
	// SSE events, or (without alt=sse) the elements of one JSON array, written as they come.
	open, end := "data: ", "\r\n\r\n"
	h["Content-Type"] = hdrSSE
	if c.array {
		open, end = "[", ""
		h["Content-Type"] = hdrGmJSON
	}
	h["Cache-Control"] = hdrNoCache
	w.WriteHeader(http.StatusOK)
	sw := &streamWriter{w: w, buf: c.out[:0]}
	defer func() { c.out = sw.buf }()
	next := func() {
		sw.buf = append(sw.buf, open...)
		if c.array {
			open = ",\r\n"
		}
	}

	if fault == ModelSlowFirstToken {
		if !sw.send(true) || !s.wait(ctx, s.cfg.FirstTokenDelay) {
			return
		}
	}
	// Content in word pieces; each function call whole, in its own chunk (Gemini does not split
	// a call's arguments).
	var pieces []piece
	if len(a.tools) > 0 {
		pieces = c.pieces[:0]
		for i := range a.tools {
			pieces = append(pieces, piece{tool: i, first: true})
		}
	} else {
		pieces, c.words = streamPieces(c.pieces[:0], a, s.cfg.StreamWords, c.words)
		if len(pieces) == 0 {
			pieces = append(pieces, piece{tool: -1})
		}
	}
	c.pieces = pieces
	var parts []byte
	for i, p := range pieces {
		switch {
		case fault == ModelStall && i == stallAt(len(pieces)):
			sw.send(true)
			s.block(ctx)
			return
		case fault == ModelStreamCut && i == cutAt(len(pieces)):
			next()
			sw.buf = append(sw.buf, `{"candidates":[{"content":{"parts":[{"text":"cut here`...)
			sw.send(true)
			panic(http.ErrAbortHandler) // close without the chunked terminator: the client sees a cut
		case fault == ModelStreamError && i == cutAt(len(pieces)):
			// A failure after the stream started: Google sends the error envelope as the last
			// element and ends the stream.
			next()
			sw.buf = append(sw.buf, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`...)
			sw.buf = append(sw.buf, end...)
			if c.array {
				sw.buf = append(sw.buf, ']')
			}
			sw.send(false)
			return
		case fault == ModelMalformedChunk && i == malformedAt(len(pieces)):
			next()
			sw.buf = append(sw.buf, `{"candidates":[{"content":{"parts":[{"text":"broken"}]]}`...)
			sw.buf = append(sw.buf, end...)
		}
		parts = parts[:0]
		if p.tool >= 0 {
			parts = appendGmFunctionCall(parts, &a.tools[p.tool], p.tool == 0 && signed(model))
		} else {
			parts = append(parts, `{"text":`...)
			parts = jsonw.String(parts, p.text)
			parts = append(parts, '}')
		}
		last := i == len(pieces)-1
		finish := ""
		if last && fault != ModelNoDone {
			finish = gmFinish(a.finish)
		}
		next()
		sw.buf = append(sw.buf, '{')
		sw.buf = c.appendCandidates(sw.buf, parts, finish)
		sw.buf = append(sw.buf, `,"usageMetadata":`...)
		sw.buf = appendGmUsage(sw.buf, a, last)
		sw.buf = c.appendTail(sw.buf, model)
		sw.buf = append(sw.buf, end...)
		if s.cfg.TokenDelay > 0 && !last {
			if !sw.send(true) || !s.wait(ctx, s.cfg.TokenDelay) {
				return
			}
		} else if len(sw.buf) >= 16<<10 && !sw.send(false) {
			return
		}
	}
	if c.array {
		sw.buf = append(sw.buf, "]\n"...)
	}
	sw.send(false)
}

// writeGeminiHuge writes an answer of HugeBytes of text, never holding more than one block.
func (s *Server) writeGeminiHuge(w http.ResponseWriter, c *gmCall, stream bool) {
	content := hugeText
	a := answer{finish: finishStop, prompt: 1, output: s.cfg.HugeBytes / 4}
	model := c.p.model
	h := w.Header()
	if !stream {
		h["Content-Type"] = hdrGmJSON
		b := append(c.out[:0], `{"candidates":[{"content":{"parts":[{"text":"`...)
		if _, err := w.Write(b); err != nil {
			return
		}
		if !s.repeatHuge(w, content) {
			return
		}
		b = append(b[:0], `"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":`...)
		b = appendGmUsage(b, &a, true)
		b = c.appendTail(b, model)
		c.out = b
		_, _ = w.Write(b)
		return
	}
	h["Content-Type"] = hdrSSE
	chunk := append(c.out[:0], `data: {"candidates":[{"content":{"parts":[{"text":"`...)
	chunk = append(chunk, content...)
	chunk = append(chunk, `"}],"role":"model"},"index":0}],"modelVersion":`...)
	chunk = jsonw.String(chunk, model)
	chunk = append(chunk, "}\r\n\r\n"...)
	if !s.repeatHuge(w, chunk) {
		return
	}
	end := append(chunk[:0], `data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":`...)
	end = appendGmUsage(end, &a, true)
	end = c.appendTail(end, model)
	end = append(end, "\r\n\r\n"...)
	c.out = end
	_, _ = w.Write(end)
}
