package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/router/evalset"
	"github.com/switchyard-llm/switchyard/router/internal/complexity"
	"github.com/switchyard-llm/switchyard/schemas"
)

// The eval file (docs/eval.md): labelled requests for `switchyard eval`, one evalset.Line each.
// Requests come from the complexity generator's templates (noise off, so the tier label is the
// template's tier); the model label is the labelling rule below applied to the config's models.

// Per task type and tier, how many requests the eval file takes from the generator's stream.
var evalQuota = map[string]int{router.TierSimple: 14, router.TierStandard: 14, router.TierComplex: 14, router.TierLongContext: 6}

// Model classes of the labelling rule: an operator's judgement of what each demo model is good
// for (docs/eval.md). A config model not listed here is never a label (grok-flaky is the
// simulator's failing model).
var modelClass = map[string]string{
	"llama-3.1-8b": "small", "grok-3-mini": "small",
	"gemini-flash": "standard", "gpt-4o-mini": "standard", "claude-haiku": "standard", "llama-3.3-70b": "standard",
	"gpt-4o": "premium", "claude-sonnet": "premium", "gemini-pro": "premium",
}

// taskPremium is the premium model the operator prefers per task type; others get gpt-4o.
var taskPremium = map[string]string{"code": "claude-sonnet", "reasoning": "gemini-pro"}

// labeller applies the labelling rule to one table.
type labeller struct {
	models []router.Model
	rt     *router.Router // for the price in force when a request was created
	est    *router.Estimator
}

func (l *labeller) label(req *schemas.Request, tier string, out int64) evalset.Label {
	lab := evalset.Label{Tier: tier, ExpectedOutputTokens: out}
	reserve := int64(req.MaxTokens)
	if reserve <= 0 {
		reserve = out
	}
	type cand struct {
		m    router.Model
		cost float64
	}
	var fit []cand
	restricted := false
	for _, m := range l.models {
		if _, ok := modelClass[m.Name]; !ok {
			continue
		}
		if len(req.AllowedProviders) > 0 && !slices.Contains(req.AllowedProviders, m.Provider) {
			restricted = true
			continue
		}
		in := l.est.Count(m.Version, req).Input
		if int64(req.MaxTokens) > int64(m.MaxOutputTokens) || in+reserve > int64(m.ContextWindow) {
			continue
		}
		u := schemas.Usage{InputTokens: in, OutputTokens: out}
		cost, ok := l.rt.CostAt(m.Provider, m.Version, time.UnixMilli(req.CreatedAt), req.Priority, u)
		if !ok {
			cost = m.Price.Cost(u)
		}
		fit = append(fit, cand{m, cost})
	}
	// Cheapest first; ties keep the table's order.
	slices.SortStableFunc(fit, func(a, b cand) int {
		switch {
		case a.cost < b.cost:
			return -1
		case a.cost > b.cost:
			return 1
		}
		return 0
	})
	first := func(ok func(router.Model) bool) string {
		for _, c := range fit {
			if ok(c.m) {
				return c.m.Name
			}
		}
		return ""
	}
	atLeastStandard := func(m router.Model) bool { return modelClass[m.Name] != "small" }
	switch tier {
	case router.TierSimple:
		lab.Model = first(func(router.Model) bool { return true })
	case router.TierStandard, router.TierLongContext:
		lab.Model = first(atLeastStandard)
	case router.TierComplex:
		want := taskPremium[req.TaskType]
		if want == "" {
			want = "gpt-4o"
		}
		lab.Model = first(func(m router.Model) bool { return m.Name == want })
		if lab.Model == "" {
			lab.Model = first(func(m router.Model) bool { return modelClass[m.Name] == "premium" })
		}
		if lab.Model == "" && len(fit) > 0 {
			lab.Model = fit[len(fit)-1].m.Name // the strongest it can get: the dearest that fits
		}
	}
	if lab.Model == "" {
		lab.Reject = router.ReasonContextTooLong
		if restricted {
			lab.Reject = router.ReasonNoProvider
		}
	}
	return lab
}

// expectedOutput draws the answer length of a request of the tier, capped by max_tokens.
func expectedOutput(r *rand.Rand, tier string, maxTokens int32) int64 {
	span := map[string][2]int{
		router.TierSimple:      {5, 60},
		router.TierStandard:    {150, 600},
		router.TierComplex:     {600, 2500},
		router.TierLongContext: {200, 1200},
	}[tier]
	lo, hi := span[0], span[1]
	n := int64(lo + r.IntN(hi-lo+1))
	if maxTokens > 0 {
		n = min(n, int64(maxTokens))
	}
	return n
}

// loadTable reads the routing section of a Switchyard config (the file is the command's own,
// so only the routing table is decoded here; `switchyard config check` validates the rest).
func loadTable(path string) (router.Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return router.Table{}, err
	}
	var c struct {
		Routing router.Table `yaml:"routing"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return router.Table{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Routing.Validate(nil); err != nil {
		return router.Table{}, fmt.Errorf("%s: %w", path, err)
	}
	for name := range modelClass {
		if !slices.ContainsFunc(c.Routing.Models, func(m router.Model) bool { return m.Name == name }) {
			return router.Table{}, fmt.Errorf("%s: the labelling rule names model %q, which the config lacks", path, name)
		}
	}
	return c.Routing, nil
}

// special are requests with a user's model choice or a provider restriction, appended after
// the sampled ones; each takes the next unused generated record of its task and tier.
var special = []struct {
	task, tier string
	model      string
	providers  []string
}{
	{"chat", router.TierStandard, "claude-sonnet", nil},
	{"code", router.TierSimple, "gpt-4o", nil},
	{"summarization", router.TierStandard, "gemini-pro", nil},
	{"translation", router.TierSimple, "gpt-4o-mini", nil},
	{"chat", router.TierSimple, "gpt-5", nil},
	{"reasoning", router.TierComplex, "claude-opus", nil},
	{"extraction", router.TierStandard, "mistral-large", nil},
	{"code", router.TierComplex, "", []string{"openai"}},
	{"chat", router.TierStandard, "", []string{"groq"}},
	{"summarization", router.TierSimple, "", []string{"anthropic"}},
	{"reasoning", router.TierComplex, "", []string{"groq"}},
	{"classification", router.TierStandard, "", []string{"openai"}},
}

func genEval(seed uint64, configPath, out string, candidates int) (int, error) {
	table, err := loadTable(configPath)
	if err != nil {
		return 0, err
	}
	recs := complexity.Generate(complexity.GenOptions{Seed: seed, N: candidates})
	rt, err := router.New(table)
	if err != nil {
		return 0, err
	}
	l := &labeller{models: table.Models, rt: rt, est: router.NewEstimator()}
	r := rand.New(rand.NewPCG(seed, 0xe7a1))
	used := make([]bool, len(recs))
	var lines []evalset.Line
	add := func(i int, model string, providers []string) {
		used[i] = true
		rec := &recs[i]
		req := rec.Request()
		req.RequestID = fmt.Sprintf("eval-%04d", len(lines)+1)
		req.TenantID = "eval"
		req.UserID = "eval-user"
		req.CreatedAt = 1_764_000_000_000
		req.Priority = "interactive"
		req.Model = model
		req.AllowedProviders = providers
		req.Metadata = map[string]string{"template": rec.Template}
		line := evalset.Line{Request: req, AttachmentTokens: rec.AttachmentTokens}
		full := *req
		full.Messages = slices.Clone(req.Messages)
		for j := range full.Messages {
			full.Messages[j].Parts = slices.Clone(full.Messages[j].Parts)
		}
		evalset.WithAttachment(&full, rec.AttachmentTokens)
		eo := expectedOutput(r, rec.Label, req.MaxTokens)
		switch {
		case model == "":
			line.Label = l.label(&full, rec.Label, eo)
		case slices.ContainsFunc(table.Models, func(m router.Model) bool { return m.Name == model }):
			line.Label = evalset.Label{Tier: rec.Label, Model: model, ExpectedOutputTokens: eo} // the user's choice stands
		default:
			line.Label = evalset.Label{Tier: rec.Label, Reject: router.ReasonModelNotAllowed, ExpectedOutputTokens: eo}
		}
		lines = append(lines, line)
	}
	for _, task := range router.TaskTypes {
		for _, tier := range router.Tiers {
			need := evalQuota[tier]
			for i := range recs {
				if need == 0 {
					break
				}
				if recs[i].TaskType == task && recs[i].Label == tier {
					add(i, "", nil)
					need--
				}
			}
			if need > 0 {
				return 0, fmt.Errorf("only %d candidates: too few %s/%s records; raise -eval-candidates", candidates, task, tier)
			}
		}
	}
	for _, s := range special {
		i := slices.IndexFunc(recs, func(rec complexity.Record) bool { return rec.TaskType == s.task && rec.Label == s.tier })
		for i >= 0 && used[i] {
			j := slices.IndexFunc(recs[i+1:], func(rec complexity.Record) bool { return rec.TaskType == s.task && rec.Label == s.tier })
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i < 0 {
			return 0, fmt.Errorf("no unused %s/%s record for a special request; raise -eval-candidates", s.task, s.tier)
		}
		add(i, s.model, s.providers)
	}
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	err = writeEval(f, lines)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return len(lines), err
}

func writeEval(w io.Writer, lines []evalset.Line) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
