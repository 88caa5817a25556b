package openai

import (
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
)

// modelInfo is what the table knows about a model family. Figures are the providers' published
// context windows and output caps (November 2026); a model the table does not know gets the
// flavor's capabilities.
type modelInfo struct {
	prefix    string
	context   int
	maxOutput int
	images    bool
	noTools   bool
	noSchema  bool // no response_format json_schema
	noJSON    bool // no response_format json_object either
	noStream  bool
}

// knownModels is matched by the longest prefix, after an optional "vendor/" prefix that some
// hosts put in front (e.g. "openai/gpt-oss-120b" on Groq is matched as written first).
var knownModels = []modelInfo{
	// OpenAI.
	{prefix: "gpt-4o", context: 128000, maxOutput: 16384, images: true},
	{prefix: "gpt-4o-mini", context: 128000, maxOutput: 16384, images: true},
	{prefix: "gpt-4.1", context: 1047576, maxOutput: 32768, images: true},
	{prefix: "gpt-5", context: 400000, maxOutput: 128000, images: true},
	{prefix: "gpt-5-chat", context: 128000, maxOutput: 16384, images: true},
	{prefix: "o1", context: 200000, maxOutput: 100000, images: true},
	{prefix: "o3", context: 200000, maxOutput: 100000, images: true},
	{prefix: "o3-mini", context: 200000, maxOutput: 100000},
	{prefix: "o4-mini", context: 200000, maxOutput: 100000, images: true},
	{prefix: "gpt-4-turbo", context: 128000, maxOutput: 4096, images: true},
	{prefix: "gpt-3.5-turbo", context: 16385, maxOutput: 4096, noSchema: true},
	// Groq.
	{prefix: "llama-3.3-70b-versatile", context: 131072, maxOutput: 32768, noSchema: true},
	{prefix: "llama-3.1-8b-instant", context: 131072, maxOutput: 131072, noSchema: true},
	{prefix: "openai/gpt-oss-120b", context: 131072, maxOutput: 65536},
	{prefix: "openai/gpt-oss-20b", context: 131072, maxOutput: 65536},
	{prefix: "meta-llama/llama-4-scout-17b-16e-instruct", context: 131072, maxOutput: 8192, images: true},
	{prefix: "meta-llama/llama-4-maverick-17b-128e-instruct", context: 131072, maxOutput: 8192, images: true},
	{prefix: "moonshotai/kimi-k2-instruct", context: 131072, maxOutput: 16384},
	// xAI.
	{prefix: "grok-4", context: 256000, images: true},
	{prefix: "grok-4-fast", context: 2000000, images: true},
	{prefix: "grok-4-1-fast", context: 2000000, images: true},
	{prefix: "grok-3", context: 131072},
	{prefix: "grok-3-mini", context: 131072},
	{prefix: "grok-code-fast-1", context: 256000},
	// Mistral.
	{prefix: "mistral-large", context: 131072},
	{prefix: "mistral-medium", context: 131072, images: true},
	{prefix: "mistral-small", context: 131072, images: true},
	{prefix: "ministral-8b", context: 131072},
	{prefix: "ministral-3b", context: 131072},
	{prefix: "codestral", context: 256000},
	{prefix: "pixtral-large", context: 131072, images: true},
	{prefix: "open-mistral-nemo", context: 131072},
	// DeepSeek: JSON mode but no json_schema.
	{prefix: "deepseek-chat", context: 128000, maxOutput: 8192, noSchema: true},
	{prefix: "deepseek-reasoner", context: 128000, maxOutput: 65536, noSchema: true},
	// Together (model names as Together spells them).
	{prefix: "meta-llama/Llama-3.3-70B-Instruct-Turbo", context: 131072},
	{prefix: "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", context: 131072},
	{prefix: "deepseek-ai/DeepSeek-V3", context: 131072, noSchema: true},
	{prefix: "Qwen/Qwen2.5-72B-Instruct-Turbo", context: 32768},
}

// lookupModel returns the table entry with the longest prefix of model, or nil.
func lookupModel(model string) *modelInfo {
	var best *modelInfo
	for i := range knownModels {
		m := &knownModels[i]
		if strings.HasPrefix(model, m.prefix) && (best == nil || len(m.prefix) > len(best.prefix)) {
			best = m
		}
	}
	return best
}

// ModelCapabilities implements adapters.ModelCapabler: the flavor's capabilities, refined by
// what the table knows about model (context window, output cap, images, structured output).
// An adapter configured with Config.Capabilities returns them for every model; the server's
// own limits win over the table (Ollama's context is its num_ctx, whatever the model).
func (a *Adapter) ModelCapabilities(model string) adapters.Capabilities {
	c := a.caps
	if a.capsFixed {
		return c
	}
	m := lookupModel(model)
	if m == nil {
		if i := strings.IndexByte(model, '/'); i >= 0 {
			m = lookupModel(model[i+1:])
		}
	}
	if m == nil {
		return c
	}
	if m.context > 0 && (c.MaxContext == 0 || a.flavor != FlavorOllama) {
		c.MaxContext = m.context
	}
	if m.maxOutput > 0 {
		c.MaxOutput = m.maxOutput
	}
	c.Images = m.images
	if m.noTools {
		c.Tools, c.ParallelTools = false, false
	}
	if m.noSchema {
		c.JSONSchema = false
	}
	if m.noJSON {
		c.JSONMode, c.JSONSchema = false, false
	}
	if m.noStream {
		c.Streaming = false
	}
	return c
}
