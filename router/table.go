package router

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Price is what one million tokens cost on a model, in US dollars.
type Price struct {
	InputPerMTok       float64 `yaml:"input_per_mtok" json:"input_per_mtok"`
	OutputPerMTok      float64 `yaml:"output_per_mtok" json:"output_per_mtok"`
	CachedInputPerMTok float64 `yaml:"cached_input_per_mtok" json:"cached_input_per_mtok"`
	// CacheWritePerMTok prices input tokens written to the prompt cache (Anthropic bills them
	// above the input rate). Default: the input rate.
	CacheWritePerMTok float64 `yaml:"cache_write_per_mtok" json:"cache_write_per_mtok"`
}

// Cost prices a usage report. Cached (read) and cache-write input tokens are part of the input
// tokens and are billed at their own rates when the model has them.
func (p Price) Cost(u schemas.Usage) float64 {
	cached := min(max(u.CachedTokens, 0), u.InputTokens)
	written := min(max(u.CacheWriteTokens, 0), u.InputTokens-cached)
	cachedRate := p.CachedInputPerMTok
	if cachedRate == 0 {
		cachedRate = p.InputPerMTok
	}
	writeRate := p.CacheWritePerMTok
	if writeRate == 0 {
		writeRate = p.InputPerMTok
	}
	return (float64(u.InputTokens-cached-written)*p.InputPerMTok +
		float64(cached)*cachedRate +
		float64(written)*writeRate +
		float64(u.OutputTokens)*p.OutputPerMTok) / 1e6
}

// Model is a model as the routing table names it: an alias bound to a provider and a pinned
// version, with its context window and price.
type Model struct {
	// Name is the alias requests and the routing table use, e.g. "fast-chat" or "gpt-4o-mini".
	Name string `yaml:"name" json:"name"`
	// Provider names the provider (and so the work topic) that serves the model.
	Provider string `yaml:"provider" json:"provider"`
	// Version is the pinned model id sent to the provider, e.g. "gpt-4o-mini-2024-07-18".
	Version string `yaml:"version" json:"version"`
	// ContextWindow is the most tokens (prompt plus output) the model accepts.
	ContextWindow int `yaml:"context_window" json:"context_window"`
	// MaxOutputTokens is the most output tokens the model produces; also the default max_tokens.
	MaxOutputTokens int `yaml:"max_output_tokens" json:"max_output_tokens"`
	// Price is the model's price per million tokens. A model without a price is a config error.
	Price Price `yaml:"price" json:"price"`
}

// Rule maps a task type to a primary model and an ordered fallback chain, by model name.
type Rule struct {
	Model     string   `yaml:"model" json:"model"`
	Fallbacks []string `yaml:"fallbacks" json:"fallbacks"`
}

// Table is the routing configuration: the models and the rules that choose among them.
type Table struct {
	Models []Model `yaml:"models" json:"models"`
	// Default applies to task types without a rule of their own.
	Default Rule `yaml:"default" json:"default"`
	// Tasks maps a task type (chat, summarization, code, ...) to its rule.
	Tasks map[string]Rule `yaml:"tasks" json:"tasks"`
}

// Validate lists every problem of the table, each prefixed with its field path, joined into one
// error. providers is the set of configured provider names; nil skips that check.
func (t Table) Validate(providers map[string]bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	for i, m := range t.Models {
		p := fmt.Sprintf("routing.models[%d]", i)
		switch {
		case m.Name == "":
			add("%s.name: required", p)
		case names[m.Name]:
			add("%s.name: duplicate model %q", p, m.Name)
		}
		names[m.Name] = true
		if m.Provider == "" {
			add("%s.provider: required", p)
		} else if providers != nil && !providers[m.Provider] {
			add("%s.provider: unknown provider %q", p, m.Provider)
		}
		if m.Version == "" {
			add("%s.version: required (a pinned model version)", p)
		}
		if m.ContextWindow <= 0 {
			add("%s.context_window: must be > 0", p)
		}
		if m.MaxOutputTokens <= 0 {
			add("%s.max_output_tokens: must be > 0", p)
		} else if m.ContextWindow > 0 && m.MaxOutputTokens > m.ContextWindow {
			add("%s.max_output_tokens: %d exceeds context_window %d", p, m.MaxOutputTokens, m.ContextWindow)
		}
		if m.Price.InputPerMTok <= 0 || m.Price.OutputPerMTok <= 0 {
			add("%s.price: input_per_mtok and output_per_mtok must be > 0 (a model without a price is never $0)", p)
		}
		if m.Price.CachedInputPerMTok < 0 {
			add("%s.price.cached_input_per_mtok: must be >= 0", p)
		}
		if m.Price.CacheWritePerMTok < 0 {
			add("%s.price.cache_write_per_mtok: must be >= 0", p)
		}
	}
	checkRule := func(p string, r Rule) {
		if r.Model == "" {
			add("%s.model: required", p)
		} else if !names[r.Model] {
			add("%s.model: unknown model %q", p, r.Model)
		}
		seen := map[string]bool{r.Model: true}
		for j, f := range r.Fallbacks {
			switch {
			case !names[f]:
				add("%s.fallbacks[%d]: unknown model %q", p, j, f)
			case seen[f]:
				add("%s.fallbacks[%d]: model %q appears twice in the chain", p, j, f)
			}
			seen[f] = true
		}
	}
	checkRule("routing.default", t.Default)
	tasks := make([]string, 0, len(t.Tasks))
	for k := range t.Tasks {
		tasks = append(tasks, k)
	}
	sort.Strings(tasks)
	for _, k := range tasks {
		if strings.TrimSpace(k) == "" {
			add("routing.tasks: empty task type")
		}
		checkRule("routing.tasks."+k, t.Tasks[k])
	}
	return errors.Join(errs...)
}
