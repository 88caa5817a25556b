package anthropic

import "encoding/json"

// Wire types of the Messages API, private to this package. Only the fields Switchyard sends or
// reads are declared; unknown response fields (and unknown content blocks and stream events, which
// Anthropic says may be added at any time) are ignored.

type messagesRequest struct {
	Model        string        `json:"model"`
	MaxTokens    int           `json:"max_tokens"`
	System       string        `json:"system,omitempty"`
	Messages     []message     `json:"messages"`
	Tools        []tool        `json:"tools,omitempty"`
	ToolChoice   *toolChoice   `json:"tool_choice,omitempty"`
	OutputConfig *outputConfig `json:"output_config,omitempty"`
	Temperature  *float64      `json:"temperature,omitempty"`
	Stream       bool          `json:"stream,omitempty"`
	CacheControl *cacheControl `json:"cache_control,omitempty"`
}

// cacheControl is the top-level prompt-cache marker: the API applies it to the last cacheable
// block of the request.
type cacheControl struct {
	Type string `json:"type"`          // ephemeral
	TTL  string `json:"ttl,omitempty"` // 5m (the default) or 1h
}

type message struct {
	Role    string  `json:"role"` // user or assistant
	Content []block `json:"content"`
}

// block is a request content block: text, image, tool_use or tool_result.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *imageSource    `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   any             `json:"content,omitempty"` // tool_result: a string or []block
}

type imageSource struct {
	Type      string `json:"type"` // base64 or url
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type toolChoice struct {
	Type string `json:"type"` // auto, any, tool, none
	Name string `json:"name,omitempty"`
}

// outputConfig carries structured outputs: format {type: json_schema, schema}.
type outputConfig struct {
	Format *outputFormat `json:"format,omitempty"`
}

type outputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

type messageResponse struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"` // "message", or "error" for an error body
	Role       string          `json:"role"`
	Model      string          `json:"model"`
	Content    []responseBlock `json:"content"`
	StopReason *string         `json:"stop_reason"`
	Usage      *usage          `json:"usage"`
	Error      *apiError       `json:"error"`
}

// responseBlock is a response content block: text, tool_use, thinking, and server-tool blocks
// that Switchyard ignores.
type responseBlock struct {
	Type  tag             `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// usage counts tokens as Anthropic does: input_tokens excludes the tokens read from and written
// to the prompt cache. Pointers tell an absent counter from a zero (message_delta repeats only
// some of them).
type usage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	OutputTokensDetails      *struct {
		ThinkingTokens *int64 `json:"thinking_tokens"` // included in output_tokens
	} `json:"output_tokens_details"`
}

// streamEvent is the data of any stream event; Type says which fields are set.
type streamEvent struct {
	Type         tag              `json:"type"`
	Message      *messageResponse `json:"message"`       // message_start
	Index        int              `json:"index"`         // content_block_*
	ContentBlock *responseBlock   `json:"content_block"` // content_block_start
	Delta        streamDelta      `json:"delta"`         // content_block_delta, message_delta
	Usage        *usage           `json:"usage"`         // message_delta
	Error        *apiError        `json:"error"`         // error
}

type streamDelta struct {
	Type        tag     `json:"type"` // text_delta, input_json_delta, thinking_delta, ...
	Text        string  `json:"text"`
	PartialJSON string  `json:"partial_json"`
	StopReason  *string `json:"stop_reason"` // message_delta
}

// errorBody is Anthropic's error envelope:
// {"type":"error","error":{"type","message","details":{"error_code"}},"request_id"}.
type errorBody struct {
	Type      string    `json:"type"`
	Error     *apiError `json:"error"`
	RequestID string    `json:"request_id"`
}

type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Details *struct {
		ErrorCode string `json:"error_code"`
	} `json:"details"`
}

// tag is a type name ("content_block_delta", "text_delta", ...). Decoding one of the known names
// yields a constant instead of allocating a new string for every stream event.
type tag string

var knownTags = func() map[string]tag {
	m := map[string]tag{}
	for _, s := range []string{
		"message_start", "message_delta", "message_stop", "content_block_start", "content_block_delta",
		"content_block_stop", "ping", "error", "text", "tool_use", "thinking", "redacted_thinking",
		"text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta",
	} {
		m[s] = tag(s)
	}
	return m
}()

func (t *tag) UnmarshalText(b []byte) error {
	if k, ok := knownTags[string(b)]; ok { // the conversion does not allocate in a map lookup
		*t = k
		return nil
	}
	*t = tag(b)
	return nil
}
