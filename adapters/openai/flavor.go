package openai

import (
	"crypto/sha256"
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
)

// Flavor names the family of Chat Completions server the adapter talks to. Each flavor sets a
// default BaseURL, whether an API key is required, and the request quirks that server needs;
// docs/providers-openai-compatible.md lists every quirk with its source.
type Flavor string

// Flavors.
const (
	FlavorOpenAI   Flavor = "openai"   // api.openai.com (the default)
	FlavorGroq     Flavor = "groq"     // api.groq.com/openai/v1
	FlavorXAI      Flavor = "xai"      // api.x.ai/v1
	FlavorMistral  Flavor = "mistral"  // api.mistral.ai/v1
	FlavorDeepSeek Flavor = "deepseek" // api.deepseek.com/v1
	FlavorTogether Flavor = "together" // api.together.xyz/v1
	FlavorOllama   Flavor = "ollama"   // a local Ollama server's /v1
	FlavorVLLM     Flavor = "vllm"     // a vLLM OpenAI-compatible server
	FlavorGeneric  Flavor = "generic"  // any other compatible server: the most conservative request
)

// Flavors lists every flavor, in the order of the constants.
func Flavors() []Flavor {
	return []Flavor{FlavorOpenAI, FlavorGroq, FlavorXAI, FlavorMistral, FlavorDeepSeek, FlavorTogether, FlavorOllama, FlavorVLLM, FlavorGeneric}
}

// quirks is what a flavor changes in the request the adapter sends. The zero value is OpenAI's
// own behaviour.
type quirks struct {
	baseURL     string
	keyRequired bool // when BaseURL is the flavor's default host
	// developerAsSystem sends the "developer" role as "system": only OpenAI knows "developer"
	// (Mistral's strict schema rejects it; other servers map roles through a chat template).
	developerAsSystem bool
	// dropNames leaves out messages[].name: Groq answers 400 to it, Mistral's schema forbids
	// extra fields.
	dropNames bool
	// noStreamOptions leaves out stream_options: Mistral rejects it with 422 (and sends usage
	// in the last chunk anyway).
	noStreamOptions bool
	// maxTokensOnly never sends max_completion_tokens: Mistral rejects it (422), and servers
	// that do not know it (older vLLM, Ollama, Together's older models) ignore it, leaving the
	// output uncapped. max_tokens is understood by all of them.
	maxTokensOnly bool
	// openAIReasoning applies OpenAI's reasoning-model rules (max_completion_tokens, no
	// temperature) to o1*, o3*, o4*, gpt-5* models.
	openAIReasoning bool
	// textAsString sends text-only multi-part content as one string: several servers accept a
	// parts array only on user messages (Groq: "content must be a string" for system), or only
	// one text element per message (xAI).
	textAsString bool
	// mergeTextParts joins adjacent text parts of a message that also has images into one part
	// (xAI: "The model expects a single `text` element per message").
	mergeTextParts bool
	// toolCallID9 rewrites tool-call ids that are not [a-zA-Z0-9]{9} (Mistral: "Tool call id
	// was ... but must be a-z, A-Z, 0-9, with a length of 9"), e.g. ids from another provider
	// after a failover.
	toolCallID9 bool
	// noTemperature reports models that reject (or silently ignore) temperature.
	noTemperature func(model string) bool
	// caps are the flavor's default capabilities.
	caps adapters.Capabilities
}

var compatCaps = adapters.Capabilities{
	Streaming: true, Tools: true, ParallelTools: true, JSONMode: true, JSONSchema: true, Images: true, MaxContext: 128000,
}

var flavors = map[Flavor]quirks{
	FlavorOpenAI: {
		baseURL: DefaultBaseURL, keyRequired: true, openAIReasoning: true,
		noTemperature: isOpenAIReasoning, caps: defaultCaps,
	},
	FlavorGroq: {
		baseURL: "https://api.groq.com/openai/v1", keyRequired: true,
		developerAsSystem: true, dropNames: true, textAsString: true, caps: compatCaps,
	},
	FlavorXAI: {
		baseURL: "https://api.x.ai/v1", keyRequired: true,
		developerAsSystem: true, textAsString: true, mergeTextParts: true, caps: withContext(compatCaps, 256000),
	},
	FlavorMistral: {
		baseURL: "https://api.mistral.ai/v1", keyRequired: true,
		developerAsSystem: true, dropNames: true, noStreamOptions: true, maxTokensOnly: true,
		textAsString: true, toolCallID9: true, caps: compatCaps,
	},
	FlavorDeepSeek: {
		baseURL: "https://api.deepseek.com/v1", keyRequired: true,
		developerAsSystem: true, maxTokensOnly: true, textAsString: true,
		noTemperature: func(m string) bool { return strings.HasPrefix(m, "deepseek-reasoner") },
		caps:          adapters.Capabilities{Streaming: true, Tools: true, ParallelTools: true, JSONMode: true, MaxContext: 128000, MaxOutput: 8192},
	},
	FlavorTogether: {
		baseURL: "https://api.together.xyz/v1", keyRequired: true,
		developerAsSystem: true, maxTokensOnly: true, textAsString: true, caps: compatCaps,
	},
	FlavorOllama: {
		baseURL: "http://127.0.0.1:11434/v1", developerAsSystem: true, maxTokensOnly: true, textAsString: true,
		// The OpenAI endpoint cannot set num_ctx: the server's context applies (2048 before
		// v0.6.7, 4096 after, chosen from VRAM since v0.15.5 with 4096 as the floor;
		// OLLAMA_CONTEXT_LENGTH sets it), and a longer prompt is cut silently.
		caps: withContext(compatCaps, 4096),
	},
	FlavorVLLM: {
		baseURL: "http://127.0.0.1:8000/v1", developerAsSystem: true, maxTokensOnly: true, textAsString: true, caps: compatCaps,
	},
	FlavorGeneric: {
		baseURL: "http://127.0.0.1:8000/v1", developerAsSystem: true, maxTokensOnly: true, textAsString: true, caps: compatCaps,
	},
}

func withContext(c adapters.Capabilities, n int) adapters.Capabilities {
	c.MaxContext = n
	return c
}

// isOpenAIReasoning reports OpenAI's reasoning models: they need max_completion_tokens and accept
// only the default temperature (gpt-5-chat* is a chat model and keeps both).
func isOpenAIReasoning(model string) bool {
	model = strings.TrimPrefix(model, "openai/")
	for _, p := range []string{"o1", "o3", "o4"} {
		if rest, ok := strings.CutPrefix(model, p); ok && (rest == "" || rest[0] == '-') {
			return true
		}
	}
	return strings.HasPrefix(model, "gpt-5") && !strings.HasPrefix(model, "gpt-5-chat")
}

// mistralToolCallID returns id when it already is 9 ASCII letters or digits, otherwise a stable
// 9-character id derived from it, so that a call and its result still pair up.
func mistralToolCallID(id string) string {
	if len(id) == 9 {
		ok := true
		for i := 0; i < len(id) && ok; i++ {
			c := id[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		}
		if ok {
			return id
		}
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	sum := sha256.Sum256([]byte(id))
	var out [9]byte
	for i := range out {
		out[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(out[:])
}
