package gemini

import (
	"bytes"
	"encoding/json"
)

// Wire types of the Gemini API (generateContent, streamGenerateContent), private to this
// package. Only the fields Switchyard sends or reads are declared; unknown response fields are
// ignored. Names are the REST API's camelCase.

type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part is one request part; exactly one of its data fields is set.
type part struct {
	Text             *string           `json:"text,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FileData         *fileData         `json:"fileData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
}

type blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"` // standard base64
}

type fileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type tool struct {
	FunctionDeclarations []functionDecl `json:"functionDeclarations"`
}

type functionDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"` // AUTO, ANY, NONE
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type generationConfig struct {
	MaxOutputTokens  int             `json:"maxOutputTokens,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	ResponseMimeType string          `json:"responseMimeType,omitempty"`
	ResponseSchema   json.RawMessage `json:"responseSchema,omitempty"`
}

// generateResponse is a GenerateContentResponse: the whole answer, or one stream chunk.
type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   sticky          `json:"modelVersion"`
	ResponseID     sticky          `json:"responseId"`
	Error          *apiError       `json:"error"` // an error object inside a 200 or a stream
}

type candidate struct {
	Content      responseContent `json:"content"`
	FinishReason string          `json:"finishReason"`
	Index        int             `json:"index"`
}

type responseContent struct {
	Role  string         `json:"role"`
	Parts []responsePart `json:"parts"`
}

type responsePart struct {
	Text             string        `json:"text"`
	Thought          bool          `json:"thought"`
	FunctionCall     *functionCall `json:"functionCall"`
	ThoughtSignature string        `json:"thoughtSignature"`
}

type promptFeedback struct {
	BlockReason        string `json:"blockReason"`
	BlockReasonMessage string `json:"blockReasonMessage"`
}

type usageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	TotalTokenCount         int64 `json:"totalTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount"`
}

// errorBody is Google's error envelope: {"error":{"code","message","status","details"}}.
type errorBody struct {
	Error *apiError `json:"error"`
}

type apiError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Status  string        `json:"status"` // google.rpc.Code name, e.g. RESOURCE_EXHAUSTED
	Details []errorDetail `json:"details"`
}

// errorDetail is one google.rpc detail; only the fields Switchyard reads.
type errorDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`     // google.rpc.ErrorInfo
	RetryDelay string `json:"retryDelay"` // google.rpc.RetryInfo, e.g. "13s"
}

// sticky is a string field that keeps its value, without allocating, when a stream chunk repeats
// it: Gemini sends modelVersion and responseId in every chunk.
type sticky string

func (s *sticky) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 && string(b[1:len(b)-1]) == string(*s) {
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = sticky(v)
	return nil
}
