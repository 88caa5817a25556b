package router

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

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
	// BatchInputPerMTok and BatchOutputPerMTok are the rates of batch-priority requests (see
	// Price.ForPriority). Default: the regular rates.
	BatchInputPerMTok  float64 `yaml:"batch_input_per_mtok" json:"batch_input_per_mtok"`
	BatchOutputPerMTok float64 `yaml:"batch_output_per_mtok" json:"batch_output_per_mtok"`
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

// ForPriority returns the rates that apply to a request of the given priority: for
// schemas.PriorityBatch the batch input and output rates replace the regular ones where the
// model has them (cached and cache-write rates stay); any other priority pays the regular rates.
func (p Price) ForPriority(priority string) Price {
	if priority != schemas.PriorityBatch {
		return p
	}
	if p.BatchInputPerMTok > 0 {
		p.InputPerMTok = p.BatchInputPerMTok
	}
	if p.BatchOutputPerMTok > 0 {
		p.OutputPerMTok = p.BatchOutputPerMTok
	}
	return p
}

// set reports whether the price has any rate at all.
func (p Price) set() bool { return p != Price{} }

// Model is a model as the routing table names it: an alias bound to a provider and a pinned
// version, with its context window, region and price.
type Model struct {
	// Name is the alias requests and the routing table use, e.g. "fast-chat" or "gpt-4o-mini".
	Name string `yaml:"name" json:"name"`
	// Provider names the provider (and so the work topic) that serves the model.
	Provider string `yaml:"provider" json:"provider"`
	// Version is the pinned model id sent to the provider, e.g. "gpt-4o-mini-2024-07-18". A
	// floating id (see IsFloating) is refused unless AllowFloating is set.
	Version string `yaml:"version" json:"version"`
	// AllowFloating accepts a Version that IsFloating reports as floating (e.g. "-latest", or an
	// id without a date or version suffix). Default false.
	AllowFloating bool `yaml:"allow_floating" json:"allow_floating"`
	// Region is where the model is served (e.g. "us", "eu"); tenants with regions only get
	// models in one of them. Default "" (no region: excluded for tenants that list regions).
	Region string `yaml:"region" json:"region"`
	// ContextWindow is the most tokens (prompt plus output) the model accepts.
	ContextWindow int `yaml:"context_window" json:"context_window"`
	// MaxOutputTokens is the most output tokens the model produces; also the default max_tokens.
	MaxOutputTokens int `yaml:"max_output_tokens" json:"max_output_tokens"`
	// Price is the model's price per million tokens, in force from the zero time; routing.prices
	// entries with later effective dates supersede it. A model with neither is a config error.
	Price Price `yaml:"price" json:"price"`
}

// Chain is a primary model and its ordered fallbacks, by model name.
type Chain struct {
	Model     string   `yaml:"model" json:"model"`
	Fallbacks []string `yaml:"fallbacks" json:"fallbacks"`
}

// Rule maps a task type to a primary model and an ordered fallback chain, by model name, with
// optional per-tier chains that replace it for requests of that complexity tier.
type Rule struct {
	Model     string   `yaml:"model" json:"model"`
	Fallbacks []string `yaml:"fallbacks" json:"fallbacks"`
	// Tiers maps a tier (simple, standard, complex, long-context) to the chain used for it.
	// Default none: every tier uses Model and Fallbacks.
	Tiers map[string]Chain `yaml:"tiers" json:"tiers"`
}

// chain returns the chain for a tier and whether a tier entry matched.
func (r *Rule) chain(tier string) (Chain, bool) {
	if c, ok := r.Tiers[tier]; ok {
		return c, true
	}
	return Chain{Model: r.Model, Fallbacks: r.Fallbacks}, false
}

// Table is the routing configuration: the models, the rules that choose among them, the price
// history and the tenants' policies.
type Table struct {
	Models []Model `yaml:"models" json:"models"`
	// Default applies to task types without a rule of their own.
	Default Rule `yaml:"default" json:"default"`
	// Tasks maps a task type (chat, summarization, code, ...) to its rule.
	Tasks map[string]Rule `yaml:"tasks" json:"tasks"`
	// Prices is the versioned price table (see PriceEntry). Default none: inline prices only.
	Prices []PriceEntry `yaml:"prices" json:"prices"`
	// Tenants maps a tenant id to its policy; "default" applies to tenants not listed. Default
	// none: every tenant may use every model, without budget.
	Tenants map[string]TenantPolicy `yaml:"tenants" json:"tenants"`
}

// PriceEntry is one version of a model's price: in force from EffectiveFrom (inclusive) until
// the next entry of the same model.
type PriceEntry struct {
	// Model is the model's alias (Model.Name).
	Model string `yaml:"model" json:"model"`
	// EffectiveFrom is the first instant (UTC) the price applies, e.g. 2025-01-01.
	EffectiveFrom time.Time `yaml:"effective_from" json:"effective_from"`
	Price         `yaml:",inline" json:",inline"`
}

var (
	// pinSuffix: a date (2024-08-06, 20241022), a four-digit snapshot (0613, 2411), a revision
	// of three or more digits (001) or v<N> (v2), as the id's last segment.
	pinSuffix = regexp.MustCompile(`(?:\d{4}-\d{2}-\d{2}|(?:^|[-_:@])(?:\d{3,8}|v\d+))$`)
	// dottedVersion: a dotted version number as a whole segment (2.5, 3.1).
	dottedVersion = regexp.MustCompile(`(?:^|[-_:@])v?\d+\.\d+(?:$|[-_:@])`)
	// latestSegment: "latest" as a segment.
	latestSegment = regexp.MustCompile(`(?:^|[-_:@./])latest(?:$|[-_:@./])`)
)

// IsFloating reports whether a model id may change under the same name. The rule, in order:
//
//  1. An id with a "latest" segment floats (gpt-4o-latest, claude-3-5-sonnet-latest,
//     llama3:latest).
//  2. An id ending in a pin floats not: a date (gpt-4o-2024-08-06, claude-3-5-haiku-20241022),
//     a four-digit snapshot (gpt-4-0613, mistral-large-2411), a revision of three or more
//     digits (gemini-2.0-flash-001) or v<N> (mid-v3), after '-', '_', ':' or '@'.
//  3. An id with a dotted version number as a segment (gemini-2.5-flash, llama-3.1-8b-instant)
//     is pinned: providers that name models this way (Google from Gemini 2.5, Llama hosts)
//     publish a new id for each new model. OpenAI's gpt-4.1 is the known exception: write its
//     dated id.
//  4. Anything else floats: gpt-4o, claude-sonnet-4-5, grok-3-mini, deepseek-chat.
func IsFloating(version string) bool {
	v := strings.ToLower(version)
	switch {
	case latestSegment.MatchString(v):
		return true
	case pinSuffix.MatchString(v), dottedVersion.MatchString(v):
		return false
	}
	return true
}

// Validate lists every problem of the table, each prefixed with its field path, joined into one
// error. providers is the set of configured provider names; nil skips that check.
func (t Table) Validate(providers map[string]bool) error { return t.validate(providers, true) }

// validate is Validate; pinning false skips the floating-alias check (see New).
func (t Table) validate(providers map[string]bool, pinning bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	priced := map[string]bool{}
	for _, e := range t.Prices {
		priced[e.Model] = true
	}
	regions := map[string]bool{}
	for i, m := range t.Models {
		p := fmt.Sprintf("routing.models[%d]", i)
		switch {
		case m.Name == "":
			add("%s.name: required", p)
		case names[m.Name]:
			add("%s.name: duplicate model %q", p, m.Name)
		}
		names[m.Name] = true
		regions[m.Region] = true
		if m.Provider == "" {
			add("%s.provider: required", p)
		} else if providers != nil && !providers[m.Provider] {
			add("%s.provider: unknown provider %q", p, m.Provider)
		}
		if m.Version == "" {
			add("%s.version: required (a pinned model version)", p)
		} else if pinning && !m.AllowFloating && IsFloating(m.Version) {
			add("%s.version: %q is a floating alias (no date or version suffix, or \"latest\"); pin a version or set allow_floating: true (docs/routing.md)", p, m.Version)
		}
		if m.ContextWindow <= 0 {
			add("%s.context_window: must be > 0", p)
		}
		if m.MaxOutputTokens <= 0 {
			add("%s.max_output_tokens: must be > 0", p)
		} else if m.ContextWindow > 0 && m.MaxOutputTokens > m.ContextWindow {
			add("%s.max_output_tokens: %d exceeds context_window %d", p, m.MaxOutputTokens, m.ContextWindow)
		}
		switch {
		case m.Price.set():
			checkPrice(add, p+".price", m.Price)
		case !priced[m.Name]:
			add("%s.price: required: an inline price or a routing.prices entry (a model without a price is never $0)", p)
		}
	}
	type key struct {
		model string
		from  time.Time
	}
	seenEntry := map[key]int{}
	for i, e := range t.Prices {
		p := fmt.Sprintf("routing.prices[%d]", i)
		if e.Model == "" {
			add("%s.model: required", p)
		} else if !names[e.Model] {
			add("%s.model: unknown model %q", p, e.Model)
		}
		if e.EffectiveFrom.IsZero() {
			add("%s.effective_from: required (a date such as 2025-01-01)", p)
		}
		k := key{e.Model, e.EffectiveFrom.UTC()}
		if j, dup := seenEntry[k]; dup {
			add("%s: same model and effective_from as routing.prices[%d]", p, j)
		} else {
			seenEntry[k] = i
		}
		checkPrice(add, p, e.Price)
	}
	checkChain := func(p string, c Chain) {
		if c.Model == "" {
			add("%s.model: required", p)
		} else if !names[c.Model] {
			add("%s.model: unknown model %q", p, c.Model)
		}
		seen := map[string]bool{c.Model: true}
		for j, f := range c.Fallbacks {
			switch {
			case !names[f]:
				add("%s.fallbacks[%d]: unknown model %q", p, j, f)
			case seen[f]:
				add("%s.fallbacks[%d]: model %q appears twice in the chain", p, j, f)
			}
			seen[f] = true
		}
	}
	checkRule := func(p string, r Rule) {
		checkChain(p, Chain{Model: r.Model, Fallbacks: r.Fallbacks})
		for _, tier := range sortedKeys(r.Tiers) {
			if !slices.Contains(Tiers, tier) {
				add("%s.tiers: unknown tier %q (want one of %s)", p, tier, strings.Join(Tiers, ", "))
				continue
			}
			checkChain(p+".tiers."+tier, r.Tiers[tier])
		}
	}
	checkRule("routing.default", t.Default)
	for _, k := range sortedKeys(t.Tasks) {
		if strings.TrimSpace(k) == "" {
			add("routing.tasks: empty task type")
		}
		checkRule("routing.tasks."+k, t.Tasks[k])
	}
	for _, id := range sortedKeys(t.Tenants) {
		if strings.TrimSpace(id) == "" {
			add("routing.tenants: empty tenant id")
		}
		t.Tenants[id].validate(add, "routing.tenants."+id, providers, names, regions)
	}
	return errors.Join(errs...)
}

func checkPrice(add func(string, ...any), p string, pr Price) {
	if pr.InputPerMTok <= 0 || pr.OutputPerMTok <= 0 {
		add("%s: input_per_mtok and output_per_mtok must be > 0 (a model without a price is never $0)", p)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"cached_input_per_mtok", pr.CachedInputPerMTok}, {"cache_write_per_mtok", pr.CacheWritePerMTok},
		{"batch_input_per_mtok", pr.BatchInputPerMTok}, {"batch_output_per_mtok", pr.BatchOutputPerMTok}} {
		if r.v < 0 {
			add("%s.%s: must be >= 0", p, r.name)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
