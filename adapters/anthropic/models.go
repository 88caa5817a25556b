package anthropic

import (
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
)

// modelInfo is what Anthropic documents for a model family (platform.claude.com, models
// overview and per-model pages, checked November 2026).
type modelInfo struct {
	prefix     string // the model id, or its prefix before a "-" (a date, a minor version)
	context    int
	output     int
	jsonSchema bool // structured outputs (output_config.format): Claude 4.5 and later
	prefill    bool // Claude 4.6 and later reject a final assistant message with 400
}

// models is searched in order; a more specific prefix comes first.
var models = []modelInfo{
	{"claude-opus-4-8", 1_000_000, 128_000, true, false},
	{"claude-opus-4-7", 1_000_000, 128_000, true, false},
	{"claude-opus-4-6", 1_000_000, 128_000, true, false},
	{"claude-sonnet-4-6", 1_000_000, 128_000, true, false},
	{"claude-opus-4-5", 200_000, 64_000, true, true},
	{"claude-sonnet-4-5", 200_000, 64_000, true, true}, // 1M with the context-1m beta
	{"claude-haiku-4-5", 200_000, 64_000, true, true},
	{"claude-opus-4-1", 200_000, 32_000, false, true},
	{"claude-opus-4-0", 200_000, 32_000, false, true},
	{"claude-opus-4-20250514", 200_000, 32_000, false, true},
	{"claude-sonnet-4-0", 200_000, 64_000, false, true},
	{"claude-sonnet-4-20250514", 200_000, 64_000, false, true},
	{"claude-3-7-sonnet", 200_000, 64_000, false, true},
	{"claude-3-5-haiku", 200_000, 8_192, false, true},
	{"claude-opus-5", 1_000_000, 128_000, true, false},
	{"claude-sonnet-5", 1_000_000, 128_000, true, false},
	{"claude-fable-5", 1_000_000, 128_000, true, false},
}

func lookupModel(model string) (modelInfo, bool) {
	for _, m := range models {
		if model == m.prefix || strings.HasPrefix(model, m.prefix) && (model[len(m.prefix)] == '-' || model[len(m.prefix)] == '@') {
			return m, true
		}
	}
	return modelInfo{}, false
}

// ModelCapabilities implements adapters.ModelCapabler: the context window, output cap,
// structured-output and prefill support of the Claude models Anthropic documents; the adapter's
// Capabilities for other models, and for every model when Config.Capabilities was given.
func (a *Adapter) ModelCapabilities(model string) adapters.Capabilities {
	c := a.caps
	if a.capsFixed {
		return c
	}
	if m, ok := lookupModel(model); ok {
		c.MaxContext, c.MaxOutput, c.JSONSchema, c.Prefill = m.context, m.output, m.jsonSchema, m.prefill
	}
	return c
}
