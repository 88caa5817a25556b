package anthropic

import (
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
)

// modelInfo is what Anthropic documents for a model family (platform.claude.com, models
// overview, per-model pages and migration guides, checked November 2026).
type modelInfo struct {
	prefix     string // the model id, or its prefix before a "-" or "@" (a date, a minor version)
	context    int
	output     int
	jsonSchema bool // structured outputs (output_config.format): Claude 4.5 and later
	noPrefill  bool // Claude 4.6 and later reject a final assistant message with 400
	noSampling bool // Claude Opus 4.7 and later reject temperature with 400 ("deprecated for this model")
}

// models is searched in order; a more specific prefix comes first.
var models = []modelInfo{
	{prefix: "claude-opus-4-8", context: 1_000_000, output: 128_000, jsonSchema: true, noPrefill: true, noSampling: true},
	{prefix: "claude-opus-4-7", context: 1_000_000, output: 128_000, jsonSchema: true, noPrefill: true, noSampling: true},
	{prefix: "claude-opus-4-6", context: 1_000_000, output: 128_000, jsonSchema: true, noPrefill: true},
	{prefix: "claude-sonnet-4-6", context: 1_000_000, output: 128_000, jsonSchema: true, noPrefill: true},
	{prefix: "claude-opus-4-5", context: 200_000, output: 64_000, jsonSchema: true},
	{prefix: "claude-sonnet-4-5", context: 200_000, output: 64_000, jsonSchema: true}, // 1M with the context-1m beta
	{prefix: "claude-haiku-4-5", context: 200_000, output: 64_000, jsonSchema: true},
	{prefix: "claude-opus-4-1", context: 200_000, output: 32_000},
	{prefix: "claude-opus-4-0", context: 200_000, output: 32_000},
	{prefix: "claude-opus-4-20250514", context: 200_000, output: 32_000},
	{prefix: "claude-sonnet-4-0", context: 200_000, output: 64_000},
	{prefix: "claude-sonnet-4-20250514", context: 200_000, output: 64_000},
	{prefix: "claude-3-7-sonnet", context: 200_000, output: 64_000},
	{prefix: "claude-3-5-haiku", context: 200_000, output: 8_192},
	{prefix: "claude-opus-5", context: 1_000_000, output: 128_000, jsonSchema: true, noPrefill: true, noSampling: true},
	{prefix: "claude-sonnet-5", context: 1_000_000, output: 128_000, jsonSchema: true, noPrefill: true, noSampling: true},
	{prefix: "claude-fable-5", context: 1_000_000, output: 128_000, jsonSchema: true, noPrefill: true, noSampling: true},
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
		c.MaxContext, c.MaxOutput, c.JSONSchema, c.Prefill = m.context, m.output, m.jsonSchema, !m.noPrefill
	}
	return c
}

// sendsTemperature reports whether a temperature may be sent for model: not to the models that
// reject it, nor with API versions from 2026-10-21 on, which removed the parameter.
func (a *Adapter) sendsTemperature(model string) bool {
	if a.versionHdr[0] >= "2026-10-21" {
		return false
	}
	m, _ := lookupModel(model)
	return !m.noSampling
}
