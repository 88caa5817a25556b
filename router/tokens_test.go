package router

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/schemas"
	"github.com/tiktoken-go/tokenizer"
)

// Counts documented by OpenAI's cookbook "How to count tokens with tiktoken"
// (examples/How_to_count_tokens_with_tiktoken.ipynb, compare_encodings).
func TestKnownCounts(t *testing.T) {
	e := NewEstimator()
	tests := []struct {
		text          string
		cl100k, o200k int
	}{
		{"hello world", 2, 2},
		{"tiktoken is great!", 6, 6},           // cookbook, cl100k_base: 6 tokens
		{"antidisestablishmentarianism", 6, 6}, // cookbook: 6 and 6
		{"2 + 2 = 4", 7, 7},                    // cookbook: 7 and 7
		{"お誕生日おめでとう", 9, 8},                    // cookbook: 9 and 8
		{"The quick brown fox jumps over the lazy dog", 9, 9},
		{"func main() {\n\tfmt.Println(\"hi\")\n}\n", 10, 10},
	}
	for _, tt := range tests {
		if got := e.cl100k.count(tt.text); got != tt.cl100k {
			t.Errorf("cl100k_base %q: %d tokens, want %d", tt.text, got, tt.cl100k)
		}
		if got := e.o200k.count(tt.text); got != tt.o200k {
			t.Errorf("o200k_base %q: %d tokens, want %d", tt.text, got, tt.o200k)
		}
	}
}

// The cookbook's num_tokens_from_messages example: 129 prompt tokens for gpt-3.5-turbo and
// gpt-4 (cl100k_base), 124 for gpt-4o and gpt-4o-mini (o200k_base), each confirmed there
// against the OpenAI API's usage.prompt_tokens.
func cookbookMessages() []schemas.Message {
	return []schemas.Message{
		{Role: "system", Content: "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
		{Role: "system", Name: "example_user", Content: "New synergies will help drive top-line growth."},
		{Role: "system", Name: "example_assistant", Content: "Things working well together will increase revenue."},
		{Role: "system", Name: "example_user", Content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
		{Role: "system", Name: "example_assistant", Content: "Let's talk later when we're less busy about how to do better."},
		{Role: "user", Content: "This late pivot means we don't have time to boil the ocean for the client deliverable."},
	}
}

func TestCountChatMatchesCookbook(t *testing.T) {
	e := NewEstimator()
	req := &schemas.Request{Messages: cookbookMessages()}
	for model, want := range map[string]TokenCount{
		"gpt-3.5-turbo":          {Input: 129, Method: "cl100k_base"},
		"gpt-4-0613":             {Input: 129, Method: "cl100k_base"},
		"gpt-4":                  {Input: 129, Method: "cl100k_base"},
		"gpt-4o":                 {Input: 124, Method: "o200k_base"},
		"gpt-4o-mini-2024-07-18": {Input: 124, Method: "o200k_base"},
		"openai/gpt-4o":          {Input: 124, Method: "o200k_base"},
	} {
		if got := e.Count(model, req); got != want {
			t.Errorf("%s: %+v, want %+v", model, got, want)
		}
	}
}

// The cookbook's num_tokens_for_tools example: 105 (gpt-3.5-turbo, gpt-4), 101 (gpt-4o).
func TestCountToolsMatchesCookbook(t *testing.T) {
	e := NewEstimator()
	req := &schemas.Request{
		Messages: []schemas.Message{
			{Role: "system", Content: "You are a helpful assistant that can answer to questions about the weather."},
			{Role: "user", Content: "What's the weather like in San Francisco?"},
		},
		Tools: []schemas.Tool{{
			Name:        "get_current_weather",
			Description: "Get the current weather in a given location",
			Parameters: `{"type":"object","properties":{
				"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},
				"unit":{"type":"string","description":"The unit of temperature to return","enum":["celsius","fahrenheit"]}},
				"required":["location"]}`,
		}},
	}
	for model, want := range map[string]int64{"gpt-3.5-turbo": 105, "gpt-4": 105, "gpt-4o": 101, "gpt-4o-mini": 101} {
		if got := e.Count(model, req).Input; got != want {
			t.Errorf("%s: %d tokens, want %d", model, got, want)
		}
	}
}

func TestFamilies(t *testing.T) {
	e := NewEstimator()
	req := &schemas.Request{Messages: cookbookMessages()}
	base := e.Count("gpt-4o", req).Input // 124
	baseCl := e.Count("gpt-4", req).Input
	tests := []struct {
		model, method string
		want          int64
	}{
		{"gpt-5-mini", "o200k_base", base},
		{"gpt-4.1-nano-2025-04-14", "o200k_base", base},
		{"o3-mini", "o200k_base", base},
		{"o1", "o200k_base", base},
		{"o4-mini", "o200k_base", base},
		{"gpt-4-turbo", "cl100k_base", baseCl},
		{"claude-sonnet-4-5", "approx:claude", int64(math.Ceil(float64(base) * 1.2))},
		{"anthropic/claude-3-5-haiku-latest", "approx:claude", int64(math.Ceil(float64(base) * 1.2))},
		{"gemini-2.5-flash", "approx:gemini", base},
		{"meta-llama/Llama-3.3-70B-Instruct", "approx:llama", baseCl},
		{"mistral-large-latest", "approx:mistral", int64(math.Ceil(float64(baseCl) * 1.1))},
		{"grok-4", "approx:grok", int64(math.Ceil(float64(base) * 1.1))},
		{"deepseek-chat", "approx:deepseek", int64(math.Ceil(float64(baseCl) * 1.1))},
		{"sim-ok", "approx:default", base},
	}
	for _, tt := range tests {
		got := e.Count(tt.model, req)
		if got.Method != tt.method || got.Input != tt.want || e.Method(tt.model) != tt.method {
			t.Errorf("%s: %+v (Method %q), want %d by %s", tt.model, got, e.Method(tt.model), tt.want, tt.method)
		}
	}
}

func pngData(t *testing.T, w, h int) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestImageTokens(t *testing.T) {
	e := NewEstimator()
	text := &schemas.Request{Messages: []schemas.Message{{Role: "user", Parts: []schemas.ContentPart{{Type: schemas.PartText, Text: "what is in this picture?"}}}}}
	withImage := func(p schemas.ContentPart) *schemas.Request {
		r := &schemas.Request{Messages: []schemas.Message{{Role: "user", Parts: append([]schemas.ContentPart{}, text.Messages[0].Parts...)}}}
		r.Messages[0].Parts = append(r.Messages[0].Parts, p)
		return r
	}
	tests := []struct {
		model string
		part  schemas.ContentPart
		want  int64 // image tokens
	}{
		{"gpt-4o", schemas.ContentPart{Type: schemas.PartImage, URL: "https://example.com/cat.jpg"}, 765},
		{"gpt-4o", schemas.ContentPart{Type: schemas.PartImage, MediaType: "image/png", Data: pngData(t, 1024, 1024)}, 765},
		{"gpt-4o", schemas.ContentPart{Type: schemas.PartImage, MediaType: "image/png", Data: pngData(t, 512, 512)}, 255},
		// OpenAI's documented example: 2048x4096 → 768x1536 → 6 tiles → 1105.
		{"gpt-4o", schemas.ContentPart{Type: schemas.PartImage, MediaType: "image/png", Data: pngData(t, 2048, 4096)}, 1105},
		{"claude-sonnet-4-5", schemas.ContentPart{Type: schemas.PartImage, MediaType: "image/png", Data: pngData(t, 1000, 1000)}, 1334},
		{"claude-sonnet-4-5", schemas.ContentPart{Type: schemas.PartImage, URL: "https://example.com/cat.jpg"}, 1600},
		{"gemini-2.5-pro", schemas.ContentPart{Type: schemas.PartImage, MediaType: "image/png", Data: pngData(t, 300, 200)}, 258},
		{"gemini-2.5-pro", schemas.ContentPart{Type: schemas.PartImage, MediaType: "image/png", Data: pngData(t, 1024, 1024)}, 1032},
		{"gpt-4o", schemas.ContentPart{Type: schemas.PartImage, MediaType: "image/png", Data: "bm90IGFuIGltYWdl"}, 765},
	}
	for _, tt := range tests {
		got := e.Count(tt.model, withImage(tt.part)).Input - e.Count(tt.model, text).Input
		if got != tt.want {
			t.Errorf("%s %dB image: %d tokens, want %d", tt.model, len(tt.part.Data), got, tt.want)
		}
	}
}

func TestToolCallsAndSchemaCounted(t *testing.T) {
	e := NewEstimator()
	base := &schemas.Request{Messages: []schemas.Message{{Role: "user", Content: "weather in Paris?"}}}
	withCall := &schemas.Request{Messages: []schemas.Message{
		{Role: "user", Content: "weather in Paris?"},
		{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "c1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
	}}
	b, c := e.Count("gpt-4o", base).Input, e.Count("gpt-4o", withCall).Input
	// 3 (message) + 1 ("assistant") + 3 (call framing) + "get_weather" + {"city":"Paris"}.
	want := b + 3 + 1 + 3 + int64(e.o200k.count("get_weather")) + int64(e.o200k.count(`{"city":"Paris"}`))
	if c != want {
		t.Fatalf("with tool call %d, want %d", c, want)
	}
	js := *base
	js.ResponseFormat = schemas.ResponseFormat{Type: schemas.ResponseFormatJSONSchema, Name: "answer", Schema: `{"type":"object"}`}
	if got := e.Count("gpt-4o", &js).Input; got <= b+3 {
		t.Fatalf("json_schema not counted: %d vs %d", got, b)
	}
}

func TestEstimateError(t *testing.T) {
	if got := EstimateError(110, 100); math.Abs(got-0.1) > 1e-12 {
		t.Fatalf("got %v", got)
	}
	if got := EstimateError(90, 100); math.Abs(got+0.1) > 1e-12 {
		t.Fatalf("got %v", got)
	}
	if !math.IsNaN(EstimateError(5, 0)) {
		t.Fatal("want NaN for no actual usage")
	}
}

// corpusRunes mixes every character class the split expressions distinguish.
var corpusRunes = []rune("aeiouxyzAEIOUXYZ0123456789     \t\n\n\r.,;:!?'\"/\\()[]{}<>-_=+*&^%$#@~`" +
	"éÉñßøÆçЖжЯяαβΓΔ日本語中文お誕生日ひらがなカタカナ한국어العربيةहिन्दी" +
	"\u0301\u0308\u094d" + // combining marks (M)
	"ʰʲˈ" + // Lm
	"ǅǈ" + // Lt
	"٣٤Ⅻ²½" + // Nd (Arabic-Indic), Nl, No
	"\u00a0\u3000\u2028\u0085" + // non-ASCII white space
	"😀🚀€£©ſ")

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		switch r.IntN(10) {
		case 0:
			b.WriteString([]string{"'s", "'T", "'re", "'VE", "'m", "'LL", "'d", "'x", "'ſ", " 's", "don't", "I'M"}[r.IntN(12)])
		case 1:
			b.WriteString([]string{" the", " HTTPServer", " camelCase", "ALLCAPS", " 12345", "\n\n", "  \n ", "   x", "//", "http://a/b/", "\r\n"}[r.IntN(11)])
		default:
			b.WriteRune(corpusRunes[r.IntN(len(corpusRunes))])
		}
	}
	return b.String()
}

// TestSplitMatchesLibrary checks the hand-compiled pre-tokenizers against the library's
// regexp: every count must be equal, on random text of every character class and on real text.
func TestSplitMatchesLibrary(t *testing.T) {
	e := NewEstimator()
	libs := map[*bpe]tokenizer.Codec{}
	for _, b := range []*bpe{e.o200k, e.cl100k} {
		c, err := tokenizer.Get(b.enc)
		if err != nil {
			t.Fatal(err)
		}
		libs[b] = c
	}
	var texts []string
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		texts = append(texts, randomText(r, 1+r.IntN(40)))
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
	}
	for b, lib := range libs {
		bad := 0
		for _, s := range texts {
			want, _ := lib.Count(s)
			if got := b.count(s); got != want {
				bad++
				if bad <= 5 {
					t.Errorf("%s %q: %d tokens, library %d", b.enc, s, got, want)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d texts differ", b.enc, bad, len(texts))
		}
	}
}

// longText is prose and code mixed, like a long prompt with a pasted document.
func longText(n int) string {
	r := rand.New(rand.NewPCG(7, 7))
	words := strings.Fields("the a of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three")
	var b strings.Builder
	for b.Len() < n {
		if r.IntN(20) == 0 {
			b.WriteString("\n```go\nfunc f(x int) (int, error) {\n\tif x < 0 {\n\t\treturn 0, fmt.Errorf(\"negative: %d\", x)\n\t}\n\treturn x * 2, nil\n}\n```\n")
		}
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(". ")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// TestExtrapolationErrorBound checks the long-prompt strategy: a 1 MiB prompt counted from
// sampled windows stays within 3% of the exact count.
func TestExtrapolationErrorBound(t *testing.T) {
	e := NewEstimator()
	s := longText(1 << 20)
	lib, _ := tokenizer.Get(tokenizer.O200kBase)
	exact, _ := lib.Count(s)
	req := &schemas.Request{Messages: []schemas.Message{{Role: "user", Content: s}}}
	got := e.Count("gpt-4o", req)
	if !got.Extrapolated {
		t.Fatal("a 1 MiB prompt should be extrapolated")
	}
	want := int64(exact) + 3 + 1 + 3
	if rel := math.Abs(EstimateError(got.Input, want)); rel > 0.03 {
		t.Fatalf("extrapolated %d, exact %d: error %.2f%% > 3%%", got.Input, want, 100*rel)
	} else {
		t.Logf("extrapolated %d, exact %d: error %.3f%%", got.Input, want, 100*rel)
	}
	// Many medium messages: the request budget runs out and the running ratio takes over.
	var msgs []schemas.Message
	var exactSum int64 = 3
	for i := range 40 {
		m := longText(20<<10 + i*97)
		n, _ := lib.Count(m)
		exactSum += int64(n) + 3 + 1
		msgs = append(msgs, schemas.Message{Role: "user", Content: m})
	}
	got = e.Count("gpt-4o", &schemas.Request{Messages: msgs})
	if !got.Extrapolated {
		t.Fatal("800 KiB over 40 messages should exceed the exact budget")
	}
	if rel := math.Abs(EstimateError(got.Input, exactSum)); rel > 0.03 {
		t.Fatalf("budgeted %d, exact %d: error %.2f%%", got.Input, exactSum, 100*rel)
	}
}

func TestCountConcurrent(t *testing.T) {
	e := NewEstimator()
	req := &schemas.Request{Messages: cookbookMessages()}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for range 200 {
				if got := e.Count("gpt-4o", req).Input; got != 124 {
					t.Errorf("concurrent count %d", got)
					return
				}
				_ = e.Count("gpt-4", &schemas.Request{Messages: []schemas.Message{{Role: "user", Content: randomText(r, 30)}}})
			}
		})
	}
	wg.Wait()
}

func ExampleEstimator_Count() {
	e := NewEstimator()
	req := &schemas.Request{Messages: []schemas.Message{{Role: "user", Content: "hello world"}}}
	fmt.Println(e.Count("gpt-4o", req))
	fmt.Println(e.Count("claude-sonnet-4-5", req))
	// Output:
	// {9 o200k_base false}
	// {11 approx:claude false}
}

// A text that overruns a small remaining budget but is shorter than the sampled windows is
// counted whole: sampling it would read as much.
func TestShortTextBeyondBudgetCountedWhole(t *testing.T) {
	e := NewEstimator()
	e.ExactBytes = 1000
	s := longText(5000)
	lib, _ := tokenizer.Get(tokenizer.O200kBase)
	want, _ := lib.Count(s)
	got := e.Count("gpt-4o", &schemas.Request{Messages: []schemas.Message{{Role: "user", Content: s}}})
	if got.Extrapolated || got.Input != int64(want)+3+1+3 {
		t.Fatalf("got %+v, want %d exact", got, want+7)
	}
}

// FuzzSplitMatchesLibrary: for any valid UTF-8 text, both pre-tokenizers give the library's
// count. Left out: invalid UTF-8 (the library's regexp replaces it with U+FFFD first) and DEL
// (U+007F), which the library's compiled regexp never matches, so it silently drops it (tiktoken
// counts it as a token, and so do we).
func FuzzSplitMatchesLibrary(f *testing.F) {
	for _, s := range []string{"hello world", "I'M don'T", "  \n\n x", "日本語のテキスト", "a\u0301b\u0308", "ǅungla", "Ⅻ²½٣", "x\u00a0\u3000y", "http://a/b/"} {
		f.Add(s)
	}
	e := NewEstimator()
	o200k, _ := tokenizer.Get(tokenizer.O200kBase)
	cl100k, _ := tokenizer.Get(tokenizer.Cl100kBase)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0x7f) {
			t.Skip()
		}
		if want, _ := o200k.Count(s); e.o200k.count(s) != want {
			t.Fatalf("o200k_base %q: %d, library %d", s, e.o200k.count(s), want)
		}
		if want, _ := cl100k.Count(s); e.cl100k.count(s) != want {
			t.Fatalf("cl100k_base %q: %d, library %d", s, e.cl100k.count(s), want)
		}
	})
}
