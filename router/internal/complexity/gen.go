package complexity

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// GenOptions control Generate.
type GenOptions struct {
	Seed  uint64
	N     int     // number of records
	Noise float64 // probability that a label moves to a neighbouring tier
}

// Tier mix of the generated set (long-context is rare in real traffic and the rule decides it).
var tierMix = []struct {
	tier string
	p    float64
}{
	{router.TierSimple, 0.30}, {router.TierStandard, 0.35}, {router.TierComplex, 0.30}, {router.TierLongContext, 0.05},
}

// Generate makes N records deterministically from the seed. Each record picks a tier from
// tierMix and a task type uniformly, fills a template of that (task, tier) from the vocabulary
// lists, counts its tokens with the router's estimator (o200k_base), and with probability Noise
// moves its label to a neighbouring tier (simple<->standard<->complex) to model disagreeing
// human labellers.
func Generate(o GenOptions) []Record {
	r := rand.New(rand.NewPCG(o.Seed, 0x5ca1ab1e))
	est := router.NewEstimator()
	out := make([]Record, 0, o.N)
	for i := range o.N {
		g := &gen{r: r}
		tier := g.pickTier()
		task := router.TaskTypes[r.IntN(len(router.TaskTypes))]
		rec := g.record(task, tier)
		rec.ID = fmt.Sprintf("ex-%05d", i)
		rec.TaskType = task
		rec.Label = tier
		if tier != router.TierLongContext && r.Float64() < o.Noise {
			rec.Label = neighbour(r, tier)
			rec.Noise = true
		}
		rec.InputTokens = est.Count("gpt-4o", rec.Request()).Input + rec.AttachmentTokens
		out = append(out, rec)
	}
	return out
}

func neighbour(r *rand.Rand, tier string) string {
	switch tier {
	case router.TierSimple:
		return router.TierStandard
	case router.TierComplex:
		return router.TierStandard
	}
	if r.IntN(2) == 0 {
		return router.TierSimple
	}
	return router.TierComplex
}

type gen struct{ r *rand.Rand }

func (g *gen) pickTier() string {
	x := g.r.Float64()
	for _, t := range tierMix {
		if x < t.p {
			return t.tier
		}
		x -= t.p
	}
	return router.TierStandard
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }
func (g *gen) chance(p float64) bool     { return g.r.Float64() < p }
func (g *gen) between(lo, hi int) int    { return lo + g.r.IntN(hi-lo+1) }

// Vocabulary.
var (
	subjects  = []string{"the committee", "our team", "the customer", "a small bakery", "the city council", "the new intern", "my landlord", "the research group", "the vendor", "the support desk", "a local school", "the board", "the hospital", "the startup", "my neighbour"}
	verbs     = []string{"approved", "rejected", "postponed", "announced", "reviewed", "cancelled", "expanded", "questioned", "funded", "reorganised", "delayed", "celebrated", "audited", "shipped", "discussed"}
	objects   = []string{"the budget for next year", "a new parking policy", "the quarterly report", "the product launch", "a hiring freeze", "the office move", "the pricing change", "a safety review", "the marketing plan", "the data migration", "a partnership", "the holiday schedule", "the refund request", "the software upgrade", "a community event"}
	adverbs   = []string{"yesterday", "after a long debate", "without warning", "on Monday", "late last night", "for the second time", "unanimously", "reluctantly", "in a short meeting", "despite objections"}
	languages = []string{"French", "German", "Spanish", "Japanese", "Portuguese", "Italian", "Korean", "Dutch", "Polish", "Turkish", "Hindi", "Swedish"}
	countries = []string{"France", "Kenya", "Peru", "Vietnam", "Norway", "Chile", "Egypt", "Canada", "Nepal", "Ghana", "Japan", "Poland"}
	terms     = []string{"photosynthesis", "inflation", "a mutex", "latency", "an API", "entropy", "a haiku", "compound interest", "a hash table", "osmosis", "a sonnet", "a firewall"}
	reviews   = []string{"The delivery was late and the box was damaged.", "Absolutely loved it, would buy again!", "It works, I guess. Nothing special.", "Terrible support, nobody answered my emails.", "Great value for the price.", "The app crashes every time I open it.", "Friendly staff and a clean room.", "Not worth the money at all."}
	cats      = []string{"billing, technical, account, other", "bug, feature request, question", "urgent, normal, low", "sports, politics, technology, culture", "refund, exchange, complaint, praise"}
	codeLangs = []string{"Go", "Python", "TypeScript", "Rust", "Java", "C#", "Kotlin", "SQL"}
	codeTasks = []string{"reverses a linked list", "parses a CSV line", "validates an email address", "merges two sorted slices", "computes a moving average", "retries an HTTP call with backoff", "deduplicates a list while keeping order", "formats a duration as h:mm:ss", "counts word frequencies", "reads a config file with defaults"}
	systems   = []string{"a multi-region payment ledger", "a rate limiter for a public API", "a real-time chat service", "an event-sourced order system", "a feature-flag service", "a search index for 100M documents", "a job scheduler with retries", "a metrics pipeline", "a plugin system", "a CDN cache invalidation scheme"}
	claims    = []string{"the square root of 2 is irrational", "there are infinitely many primes", "every tree with n nodes has n-1 edges", "the sum of the first n odd numbers is n squared", "a bipartite graph has no odd cycle", "the halting problem is undecidable", "log n! is Theta(n log n)", "every finite group of prime order is cyclic"}
	activity  = []string{"running a first marathon", "learning to bake bread", "keeping houseplants alive", "saving for a holiday", "studying for an exam", "starting a vegetable garden", "improving my sleep", "learning chess"}
	people    = []string{"my manager", "a client", "the landlord", "a colleague", "the school", "a supplier", "my team"}
	topics    = []string{"the project delay", "next week's offsite", "a late invoice", "the new rota", "a broken laptop", "the office move", "a missed deadline"}
	systemMsg = []string{"You are a helpful assistant.", "You are a concise assistant. Answer briefly.", "You are a senior software engineer who reviews code carefully.", "You are a customer support agent for an online shop.", "You are a careful analyst. Cite your assumptions."}
	fillers   = []string{"Please", "Could you", "Can you", "I need you to", "Quick one:", "Hey,", ""}
)

func (g *gen) sentence() string {
	subj := g.pick(subjects)
	return strings.ToUpper(subj[:1]) + subj[1:] + " " + g.pick(verbs) + " " + g.pick(objects) + " " + g.pick(adverbs) + "."
}

func (g *gen) paragraph(sentences int) string {
	s := make([]string, sentences)
	for i := range s {
		s[i] = g.sentence()
	}
	return strings.Join(s, " ")
}

func (g *gen) code(lines int) string {
	var b strings.Builder
	b.WriteString("```\nfunc process(items []Item) ([]Result, error) {\n")
	for i := range lines {
		fmt.Fprintf(&b, "\tif items[%d].Value > %d { total += items[%d].Value * %d }\n", i, g.r.IntN(100), i, g.r.IntN(9)+1)
	}
	b.WriteString("\treturn results, nil\n}\n```")
	return b.String()
}

func (g *gen) ask(s string) string {
	if f := g.pick(fillers); f != "" && g.chance(0.5) {
		return f + " " + strings.ToLower(s[:1]) + s[1:]
	}
	return s
}

// record fills a template of (task, tier).
func (g *gen) record(task, tier string) Record {
	rec := Record{}
	user := func(s string) { rec.Turns = append(rec.Turns, Turn{Role: "user", Content: s}) }
	if g.chance(0.4) {
		rec.System = g.pick(systemMsg)
	}
	// History: earlier turns for multi-turn conversations, more of them for harder tiers.
	depth := map[string]int{router.TierSimple: 0, router.TierStandard: 1, router.TierComplex: 3, router.TierLongContext: 1}[tier]
	if n := g.r.IntN(depth*2 + 1); n > 0 && g.chance(0.5) {
		for range n {
			rec.Turns = append(rec.Turns, Turn{Role: "user", Content: g.ask(g.sentence() + " What do you think?")},
				Turn{Role: "assistant", Content: g.paragraph(g.between(1, 4))})
		}
	}
	switch tier {
	case router.TierSimple:
		rec.Template = g.simple(task, user)
		rec.MaxTokens = []int32{0, 16, 64, 256}[g.r.IntN(4)]
	case router.TierStandard:
		rec.Template = g.standard(task, user, &rec)
		rec.MaxTokens = int32(g.between(2, 16) * 64)
	case router.TierComplex:
		rec.Template = g.complex(task, user, &rec)
		rec.MaxTokens = int32(g.between(8, 64) * 64)
	case router.TierLongContext:
		rec.Template = g.long(task, user, &rec)
		rec.MaxTokens = int32(g.between(4, 32) * 64)
	}
	// Cross-signals every tier can carry, so that no single feature gives the label away.
	// Many clients never set max_tokens.
	if g.chance(0.4) {
		rec.MaxTokens = 0
	}
	if g.chance(0.1) {
		rec.ResponseFormat = schemas.ResponseFormatJSON
	}
	if g.chance(0.05) {
		last := &rec.Turns[len(rec.Turns)-1]
		last.Images = 1
	}
	return rec
}

func (g *gen) simple(task string, user func(string)) string {
	switch task {
	case "classification":
		switch g.r.IntN(3) {
		case 0:
			user(g.ask(fmt.Sprintf("Classify the sentiment of this review as positive or negative: %q", g.pick(reviews))))
		case 1:
			user(fmt.Sprintf("Which category fits best (%s)? %s", g.pick(cats), g.sentence()))
		default:
			user(fmt.Sprintf("Is this message spam? Answer yes or no. %q", g.sentence()))
		}
		return "simple/classification"
	case "translation":
		if g.chance(0.5) {
			user(g.ask(fmt.Sprintf("Translate to %s: %s", g.pick(languages), g.sentence())))
		} else {
			user(fmt.Sprintf("How do you say %q in %s?", g.pick([]string{"good morning", "thank you", "where is the station", "I am lost", "see you tomorrow"}), g.pick(languages)))
		}
		return "simple/translation"
	case "summarization":
		user(g.ask("Summarize in one sentence: " + g.paragraph(g.between(2, 6))))
		return "simple/summarization"
	case "extraction":
		user(g.ask(fmt.Sprintf("Extract the date from this sentence: %s It happened on %d March.", g.sentence(), g.between(1, 28))))
		return "simple/extraction"
	case "code":
		if g.chance(0.5) {
			user(fmt.Sprintf("What does len(%q) return in Go?", g.pick(terms)))
		} else {
			user(g.ask("Fix the typo in this variable name: recieveBuffer"))
		}
		return "simple/code"
	case "reasoning":
		user(fmt.Sprintf("What is %d + %d?", g.between(2, 999), g.between(2, 999)))
		return "simple/reasoning"
	}
	switch g.r.IntN(4) {
	case 0:
		user(fmt.Sprintf("What is the capital of %s?", g.pick(countries)))
	case 1:
		user(g.ask("Define " + g.pick(terms) + " in one word."))
	case 2:
		user(g.pick([]string{"hi", "thanks!", "ok, got it", "good morning", "thank you, that helps"}))
	default:
		user(fmt.Sprintf("True or false: %s", g.sentence()))
	}
	return "simple/chat"
}

func (g *gen) standard(task string, user func(string), rec *Record) string {
	switch task {
	case "classification":
		var b strings.Builder
		fmt.Fprintf(&b, "Label each of these messages with one of: %s.\n", g.pick(cats))
		for i := range g.between(3, 10) {
			fmt.Fprintf(&b, "%d. %s\n", i+1, g.sentence())
		}
		user(b.String())
		if g.chance(0.4) {
			rec.ResponseFormat = schemas.ResponseFormatJSONSchema
		}
	case "translation":
		user(g.ask(fmt.Sprintf("Translate this paragraph into %s, keeping the tone formal:\n%s", g.pick(languages), g.paragraph(g.between(3, 8)))))
	case "summarization":
		if g.chance(0.4) {
			rec.AttachmentTokens = int64(g.between(1_500, 20_000))
			user(g.ask("Summarize the attached report in five bullet points."))
		} else {
			user(g.ask("Summarize the following article in a few bullet points:\n" + g.paragraph(g.between(6, 20))))
		}
	case "extraction":
		user(g.ask("Extract the names, dates and amounts from this invoice text as JSON:\n" + g.paragraph(g.between(3, 9))))
		if g.chance(0.6) {
			rec.ResponseFormat = schemas.ResponseFormatJSONSchema
		}
	case "code":
		user(g.ask(fmt.Sprintf("Write a %s function that %s.", g.pick(codeLangs), g.pick(codeTasks))))
		if g.chance(0.3) {
			rec.Turns[len(rec.Turns)-1].Content += " Add a short test.\n" + g.code(g.between(2, 5))
		}
	case "reasoning":
		user(fmt.Sprintf("A train leaves at %d:00 going %d km/h; another leaves %d hours later at %d km/h. When does the second catch up?", g.between(6, 11), g.between(60, 90), g.between(1, 3), g.between(100, 140)))
	default:
		switch g.r.IntN(3) {
		case 0:
			user(g.ask(fmt.Sprintf("Give me some tips for %s.", g.pick(activity))))
		case 1:
			user(g.ask(fmt.Sprintf("Write a short email to %s about %s.", g.pick(people), g.pick(topics))))
		default:
			user(g.ask(fmt.Sprintf("Explain %s to a ten year old, with an example.", g.pick(terms))))
		}
	}
	if g.chance(0.15) {
		rec.Tools = g.between(1, 3)
	}
	// Occasional complex-sounding words in a standard request ("design a logo", "analyze my
	// week"): keywords are evidence, not proof.
	if g.chance(0.12) {
		last := &rec.Turns[len(rec.Turns)-1]
		last.Content += " " + g.pick([]string{"Keep the design simple.", "Briefly analyze the tone too.", "Explain why in one line.", "Optimize for readability."})
	}
	return "standard/" + task
}

func (g *gen) complex(task string, user func(string), rec *Record) string {
	switch task {
	case "code":
		user(g.ask(fmt.Sprintf("Refactor this %s code to remove the duplication, make it concurrent-safe, and explain why each change is needed:\n%s\nWhat are the trade-offs? Which tests would you add?", g.pick(codeLangs), g.code(g.between(4, 30)))))
		if g.chance(0.5) {
			rec.Tools = g.between(2, 8)
		}
	case "reasoning":
		if g.chance(0.6) {
			user(g.ask(fmt.Sprintf("Prove that %s. Show your reasoning step by step.", g.pick(claims))))
		} else {
			user(fmt.Sprintf("%s A says B lies; B says C lies; C says both lie. Who tells the truth? Derive it step by step and check every case.", g.sentence()))
		}
	case "summarization":
		rec.AttachmentTokens = int64(g.between(3_000, 30_000))
		user(g.ask(fmt.Sprintf("Analyze the %d attached reports, compare and contrast their conclusions, identify the root cause of the disagreement, and recommend a strategy.", g.between(2, 6))))
	case "extraction":
		user(g.ask("From these contracts, extract every obligation with its party, deadline and penalty, resolve cross-references between clauses, and flag contradictions:\n" + g.paragraph(g.between(10, 30))))
		rec.ResponseFormat = schemas.ResponseFormatJSONSchema
		if g.chance(0.4) {
			rec.Tools = g.between(1, 4)
		}
	case "translation":
		user(g.ask(fmt.Sprintf("Translate this legal agreement into %s, preserve the defined terms, and explain why each ambiguous clause was rendered the way it was:\n%s", g.pick(languages), g.paragraph(g.between(10, 25)))))
	case "classification":
		var b strings.Builder
		b.WriteString("Classify each support ticket below by product area and severity, then analyze the patterns, estimate the root cause of each cluster, and propose fixes in order of impact.\n")
		for i := range g.between(8, 25) {
			fmt.Fprintf(&b, "#%d %s\n", i+1, g.sentence())
		}
		user(b.String())
	default:
		user(g.ask(fmt.Sprintf("Design %s. Describe the architecture, the data model, failure modes and how it scales. What are the trade-offs between consistency and latency? How would you test it?", g.pick(systems))))
	}
	// Agent loops: tool calls and results in the history.
	if g.chance(0.2) {
		if rec.Tools == 0 {
			rec.Tools = g.between(1, 5)
		}
		calls := g.between(1, 6)
		rec.Turns = append(rec.Turns[:len(rec.Turns)-1], append([]Turn{{Role: "assistant", Content: "", ToolCalls: calls}, {Role: "tool", Content: g.paragraph(2)}}, rec.Turns[len(rec.Turns)-1])...)
	}
	// Some hard requests are short and plain: no keywords, no structure.
	if g.chance(0.15) {
		rec.Turns[len(rec.Turns)-1].Content = g.pick([]string{
			"Why does my service leak memory only under load?",
			"What would break if we switched the ledger to eventual consistency?",
			"Is P equal to NP, and what would a proof need?",
			"How should we shard this when one tenant is 40% of traffic?",
		})
	}
	return "complex/" + task
}

func (g *gen) long(task string, user func(string), rec *Record) string {
	rec.AttachmentTokens = int64(g.between(33_000, 200_000))
	// A few long-context labels sit just under the rule's threshold: labellers called the
	// prompt long even though the rule does not.
	if g.chance(0.08) {
		rec.AttachmentTokens = int64(g.between(24_000, 31_000))
	}
	switch task {
	case "code":
		user(g.ask("Here is the whole repository. Find where the request id is lost between the gateway and the worker."))
	case "summarization", "extraction":
		user(g.ask("Summarize the attached transcripts and list every decision with its owner."))
	default:
		user(g.ask("Answer questions about the attached book. First: who is the narrator?"))
	}
	return "long/" + task
}
