package router_test

import (
	"bytes"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/router/internal/complexity"
	"github.com/switchyard-llm/switchyard/schemas"
)

func user(text string) schemas.Message { return schemas.Message{Role: "user", Content: text} }

func TestRules(t *testing.T) {
	tool := schemas.Tool{Name: "search", Description: "Search.", Parameters: `{"type":"object"}`}
	calls := func(n int) []schemas.Message {
		var ms []schemas.Message
		for i := range n {
			ms = append(ms,
				schemas.Message{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: strconv.Itoa(i), Name: "search", Arguments: "{}"}}},
				schemas.Message{Role: "tool", ToolCallID: strconv.Itoa(i), Content: "result"})
		}
		return ms
	}
	tests := []struct {
		name   string
		req    *schemas.Request
		tokens int64
		tier   string
		source string // "" means: not a rule (the model decides)
	}{
		{"long context", &schemas.Request{Messages: []schemas.Message{user("summarize in one sentence")}}, router.LongContextTokens + 1, router.TierLongContext, "rule:long_context"},
		{"long context beats the simple rule", &schemas.Request{TaskType: "classification", Messages: []schemas.Message{user("yes or no?")}}, 100_000, router.TierLongContext, "rule:long_context"},
		{"at the threshold is not long", &schemas.Request{Messages: []schemas.Message{user("Design a ledger. Explain why.")}}, router.LongContextTokens, "", ""},
		{"empty", &schemas.Request{}, 3, router.TierSimple, "rule:empty"},
		{"system prompt only", &schemas.Request{Messages: []schemas.Message{{Role: "system", Content: "be brief"}}}, 10, router.TierSimple, "rule:empty"},
		{"agent loop", &schemas.Request{Tools: []schemas.Tool{tool}, Messages: append([]schemas.Message{user("find it")}, calls(2)...)}, 300, router.TierComplex, "rule:agent_loop"},
		{"one tool call is no loop", &schemas.Request{Tools: []schemas.Tool{tool}, Messages: append([]schemas.Message{user("find it")}, calls(1)...)}, 300, "", ""},
		{"short translation", &schemas.Request{TaskType: "translation", Messages: []schemas.Message{user("Translate to French: good morning")}}, 20, router.TierSimple, "rule:short_simple_task"},
		{"short classification by task type", &schemas.Request{TaskType: "classification", Messages: []schemas.Message{user("Billing or technical: my card was charged twice")}}, 25, router.TierSimple, "rule:short_simple_task"},
		{"short yes-or-no question", &schemas.Request{TaskType: "chat", Messages: []schemas.Message{user("Is Paris in France? Yes or no.")}}, 20, router.TierSimple, "rule:short_simple_task"},
		{"short but complex keyword", &schemas.Request{TaskType: "translation", Messages: []schemas.Message{user("Translate and explain why the idiom works")}}, 20, "", ""},
		{"short but a code block", &schemas.Request{TaskType: "classification", Messages: []schemas.Message{user("Classify:\n```\nx := 1\n```")}}, 30, "", ""},
		{"short but json_schema", &schemas.Request{TaskType: "classification", ResponseFormat: schemas.ResponseFormat{Type: schemas.ResponseFormatJSONSchema, Schema: "{}"}, Messages: []schemas.Message{user("classify: hi")}}, 30, "", ""},
		{"short but multi-turn", &schemas.Request{TaskType: "translation", Messages: []schemas.Message{user("Translate: hi"), {Role: "assistant", Content: "salut"}, user("Translate: bye")}}, 30, "", ""},
		{"short but too many words", &schemas.Request{TaskType: "translation", Messages: []schemas.Message{user("Translate: " + strings.Repeat("a b ", 25))}}, 60, "", ""},
		{"short chat without a simple signal", &schemas.Request{TaskType: "chat", Messages: []schemas.Message{user("Tell me about your day")}}, 15, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := router.Classify(tt.req, tt.tokens)
			if tt.source == "" {
				if c.Source != "model" || !slices.Contains(router.Tiers, c.Tier) || !(c.Confidence > 0 && c.Confidence <= 1) {
					t.Fatalf("want a model decision, got %+v", c)
				}
				return
			}
			if c.Tier != tt.tier || c.Source != tt.source || c.Confidence != 1 {
				t.Fatalf("got %s by %s (%.2f), want %s by %s", c.Tier, c.Source, c.Confidence, tt.tier, tt.source)
			}
			if c.Features.InputTokens != tt.tokens {
				t.Fatalf("features carry %d tokens, want %d", c.Features.InputTokens, tt.tokens)
			}
		})
	}
}

func TestModelSeparatesClearCases(t *testing.T) {
	tests := []struct {
		req  *schemas.Request
		want string
	}{
		{&schemas.Request{TaskType: "code", MaxTokens: 4000, Messages: []schemas.Message{user("Refactor this Go code to remove the duplication and explain why each change is needed:\n```\nfunc f() {}\nfunc g() {}\n```\nWhat are the trade-offs? Which tests would you add?")}}, router.TierComplex},
		{&schemas.Request{TaskType: "reasoning", Messages: []schemas.Message{user("Prove that there are infinitely many primes. Show your reasoning step by step.")}}, router.TierComplex},
		{&schemas.Request{TaskType: "chat", MaxTokens: 512, Messages: []schemas.Message{user("Write a short email to my manager about the office move.")}}, router.TierStandard},
	}
	for _, tt := range tests {
		tokens := router.NewEstimator().Count("gpt-4o", tt.req).Input
		if c := router.Classify(tt.req, tokens); c.Tier != tt.want || c.Source != "model" {
			t.Errorf("%q: %s by %s (%.2f), want %s", tt.req.Messages[0].Content[:30], c.Tier, c.Source, c.Confidence, tt.want)
		}
	}
}

func TestFeatures(t *testing.T) {
	req := &schemas.Request{
		TaskType:       "code",
		Tools:          []schemas.Tool{{Name: "a"}, {Name: "b"}},
		ResponseFormat: schemas.ResponseFormat{Type: schemas.ResponseFormatJSONSchema},
		MaxTokens:      900,
		Messages: []schemas.Message{
			{Role: "system", Content: "You are terse."},
			user("earlier question?"),
			{Role: "assistant", Content: "earlier answer", ToolCalls: []schemas.ToolCall{{Name: "a"}}},
			{Role: "tool", Content: "tool output"},
			{Role: "user", Parts: []schemas.ContentPart{
				{Type: schemas.PartText, Text: "Please REFACTOR this and Explain Why. Is it safe? Is it fast?\n```go\nx()\n```\nand improve it"},
				{Type: schemas.PartImage, URL: "https://example.com/a.png"},
			}},
		},
	}
	got := router.ExtractFeatures(req, 1234)
	want := router.Features{InputTokens: 1234, Turns: 4, UserTurns: 2, HasSystem: true, TaskType: "code", Tools: 2,
		ToolResults: 2, JSONSchema: true, Images: 1, CodeBlocks: 1, Questions: 2, ComplexHits: 2, SimpleHits: 0,
		LastUserWords: 17, MaxTokens: 900}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if v := got.Vector(); len(v) != len(router.FeatureNames) {
		t.Fatalf("vector of %d, names %d", len(v), len(router.FeatureNames))
	}
	// "improve" must not count as "prove": keywords match at word starts.
	if f := router.ExtractFeatures(&schemas.Request{Messages: []schemas.Message{user("improve the approval")}}, 5); f.ComplexHits != 0 {
		t.Fatalf("substring matched inside a word: %+v", f)
	}
}

func TestEmbeddedModelLoads(t *testing.T) {
	m, err := router.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Features, router.FeatureNames) || m.Training.HeldOut == 0 {
		t.Fatalf("model %+v", m.Training)
	}
	if _, err := router.NewClassifier([]byte(`{"kind":"multinomial_logistic_regression","classes":["simple","bogus"]}`)); err == nil ||
		!strings.Contains(err.Error(), `unknown class "bogus"`) || !strings.Contains(err.Error(), "features") {
		t.Fatalf("bad model accepted or badly reported: %v", err)
	}
}

// TestEmbeddedModelHeldOutAccuracy re-scores the embedded model on the held-out split of the
// shipped data set and checks the figures that the model file and docs/classifier.md report.
func TestEmbeddedModelHeldOutAccuracy(t *testing.T) {
	m, err := router.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := complexity.Load("testdata/complexity.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	confusion := make([][]int, len(router.Tiers))
	for i := range confusion {
		confusion[i] = make([]int, len(router.Tiers))
	}
	var n, correct int
	for i := range recs {
		r := &recs[i]
		if !complexity.HeldOut(r.ID, m.Training.Seed, 20) {
			continue
		}
		c := router.Classify(r.Request(), r.InputTokens)
		n++
		if c.Tier == r.Label {
			correct++
		}
		confusion[slices.Index(router.Tiers, r.Label)][slices.Index(router.Tiers, c.Tier)]++
	}
	acc := float64(correct) / float64(n)
	if n != m.Training.HeldOut || math.Abs(acc-m.Training.Accuracy) > 0.00005 {
		t.Fatalf("held-out accuracy %.4f on %d, model file says %.4f on %d", acc, n, m.Training.Accuracy, m.Training.HeldOut)
	}
	if !reflect.DeepEqual(confusion, m.Training.Confusion) {
		t.Fatalf("confusion %v, model file says %v", confusion, m.Training.Confusion)
	}
	doc, err := os.ReadFile("../docs/classifier.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "held-out accuracy (rules + model): " + strconv.FormatFloat(m.Training.Accuracy, 'f', 4, 64); !bytes.Contains(doc, []byte(want)) {
		t.Fatalf("docs/classifier.md does not quote %q: retrain and update the docs together", want)
	}
}

// TestTrainingDeterministic retrains from the shipped data set with the model's seed: the bytes
// must equal the embedded model file, so the file is what the documented command makes.
func TestTrainingDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	m, err := router.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := complexity.TrainFile("testdata/complexity.jsonl", m.Training.Seed)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("classifier_model.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("retraining with seed %d gave a different model (%d bytes vs %d): run %s", m.Training.Seed, len(got), len(want), m.Training.Command)
	}
}

func TestClassifierWithoutModelFallsBackToSize(t *testing.T) {
	c, err := router.NewClassifier([]byte("not json"))
	if err == nil {
		t.Fatal("bad model accepted")
	}
	// The rules still decide their cases; the rest get the size-only cut.
	if got := c.Classify(&schemas.Request{Messages: []schemas.Message{user("hi")}}, 40_000); got.Tier != router.TierLongContext || got.Source != "rule:long_context" {
		t.Fatalf("rule without model: %+v", got)
	}
	got := c.Classify(&schemas.Request{Messages: []schemas.Message{user("Tell me about your day")}}, 2_500)
	if got.Tier != router.TierComplex || got.Source != "fallback:size" || got.Confidence != 0 {
		t.Fatalf("fallback: %+v", got)
	}
}

// TestDecideUsesEstimatorAndClassifier: the decision's token estimate comes from the primary
// model's tokenizer family and its tier from Classify.
func TestDecideUsesEstimatorAndClassifier(t *testing.T) {
	r, err := router.New(benchTable())
	if err != nil {
		t.Fatal(err)
	}
	e := router.NewEstimator()
	short := &schemas.Request{TaskType: "translation", Messages: []schemas.Message{user("Translate to French: good morning")}}
	d, err := r.Decide(short)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.Count("gpt-4o-mini-2024-07-18", short); d.EstInputTokens != want.Input || d.Tier != router.TierSimple {
		t.Fatalf("decision %d tokens tier %s, want %d (%s) and simple", d.EstInputTokens, d.Tier, want.Input, want.Method)
	}
	// The code rule's primary is a Claude model: the Claude approximation applies.
	code := &schemas.Request{TaskType: "code", Messages: []schemas.Message{user("Refactor this and explain why:\n```\nfunc f() {}\n```")}}
	d, err = r.Decide(code)
	if err != nil {
		t.Fatal(err)
	}
	want := e.Count("claude-sonnet-4-5-20250929", code)
	if want.Method != "approx:claude" || d.EstInputTokens != want.Input || d.Provider != "anthropic" {
		t.Fatalf("decision %+v, want %d tokens by %s", d, want.Input, want.Method)
	}
	if c := router.Classify(code, d.EstInputTokens); d.Tier != c.Tier {
		t.Fatalf("tier %s, Classify says %s", d.Tier, c.Tier)
	}
	long := &schemas.Request{TaskType: "chat", Messages: []schemas.Message{user(strings.Repeat("lorem ipsum dolor ", 12_000))}}
	if d, err = r.Decide(long); err != nil || d.Tier != router.TierLongContext {
		t.Fatalf("long prompt: tier %s, err %v", d.Tier, err)
	}
	if router.EstimateTokens(short) != e.Count("", short).Input {
		t.Fatal("EstimateTokens does not use the estimator")
	}
}
