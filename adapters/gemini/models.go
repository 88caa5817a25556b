package gemini

import (
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
)

// defaultCaps is what the adapter declares for a model it does not know: everything Gemini's
// generateContent supports except prefill (a final model turn is not continued).
var defaultCaps = adapters.Capabilities{
	Streaming: true, Tools: true, ParallelTools: true, JSONMode: true, JSONSchema: true, Images: true,
	MaxContext: 1048576, MaxOutput: 8192,
}

// modelInfo is what the table knows about a model family: Google's published input and output
// token limits (ai.google.dev/gemini-api/docs/models, November 2026).
type modelInfo struct {
	prefix    string
	context   int
	maxOutput int
	noTools   bool // no function calling
	noSchema  bool // no responseSchema
}

// knownModels is matched by the longest prefix, so that dated and preview names
// ("gemini-2.5-flash-preview-09-2025") find their family.
var knownModels = []modelInfo{
	{prefix: "gemini-3-pro", context: 1048576, maxOutput: 65536},
	{prefix: "gemini-3-flash", context: 1048576, maxOutput: 65536},
	{prefix: "gemini-2.5-pro", context: 1048576, maxOutput: 65536},
	{prefix: "gemini-2.5-flash", context: 1048576, maxOutput: 65536},
	{prefix: "gemini-2.5-flash-lite", context: 1048576, maxOutput: 65536},
	{prefix: "gemini-2.5-flash-image", context: 32768, maxOutput: 32768, noTools: true, noSchema: true},
	{prefix: "gemini-2.0-flash", context: 1048576, maxOutput: 8192},
	{prefix: "gemini-2.0-flash-lite", context: 1048576, maxOutput: 8192},
	{prefix: "gemini-1.5-pro", context: 2097152, maxOutput: 8192},
	{prefix: "gemini-1.5-flash", context: 1048576, maxOutput: 8192},
	{prefix: "gemini-1.5-flash-8b", context: 1048576, maxOutput: 8192},
	{prefix: "gemma-3", context: 131072, maxOutput: 8192, noTools: true, noSchema: true},
}

func lookupModel(model string) (modelInfo, bool) {
	model = strings.TrimPrefix(model, "models/")
	best, found := modelInfo{}, false
	for _, m := range knownModels {
		if strings.HasPrefix(model, m.prefix) && len(m.prefix) > len(best.prefix) {
			best, found = m, true
		}
	}
	return best, found
}

// ModelCapabilities implements adapters.ModelCapabler: the table's figures for a known model
// family, Capabilities() otherwise. A Config.Capabilities override applies to every model.
func (a *Adapter) ModelCapabilities(model string) adapters.Capabilities {
	c := a.caps
	if a.override {
		return c
	}
	m, ok := lookupModel(model)
	if !ok {
		return c
	}
	c.MaxContext, c.MaxOutput = m.context, m.maxOutput
	if m.noTools {
		c.Tools, c.ParallelTools = false, false
	}
	if m.noSchema {
		c.JSONSchema = false
	}
	return c
}
