package router

import (
	"math"
	"math/bits"
	"strings"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Features are the cheap signals the complexity classifier reads from a request. Computing them
// is a single pass over the text of the last user message (at most featureScanBytes of it) plus
// counts over the request's structure; nothing calls out.
type Features struct {
	InputTokens   int64  // estimated prompt tokens (from the Estimator)
	Turns         int    // messages other than system messages: the conversation's depth
	UserTurns     int    // user messages
	HasSystem     bool   // a system prompt is present
	TaskType      string // the request's task_type metadata
	Tools         int    // tool definitions
	ToolResults   int    // tool-result messages and assistant tool calls: an agent loop in progress
	JSONSchema    bool   // response_format json_schema
	JSONMode      bool   // response_format json
	Images        int    // image parts
	CodeBlocks    int    // fenced code blocks (```) in the last user message
	Questions     int    // question marks in the last user message
	ComplexHits   int    // complex-task keywords in the last user message ("prove", "refactor", ...)
	SimpleHits    int    // simple-task keywords in the last user message ("translate", "yes or no", ...)
	LastUserWords int    // words (runs of letters and digits) in the last user message
	MaxTokens     int32  // requested max_tokens (0: the model's default)
}

// featureScanBytes bounds the keyword and question scan of the last user message: the intent of
// a prompt is in its instructions, which precede or follow a pasted document, so the scan reads
// the first and the last half of this budget.
const featureScanBytes = 4 << 10

// Keywords: lower-case ASCII phrases matched at word starts in the last user message.
var (
	complexKeywords = []string{
		"prove", "proof", "step by step", "step-by-step", "refactor", "analyze", "analyse",
		"design", "explain why", "architecture", "derive", "optimize", "optimise", "trade-off",
		"tradeoff", "debug", "root cause", "algorithm", "theorem", "compare and contrast",
		"implement", "evaluate", "critique", "strategy", "in depth", "in-depth",
	}
	simpleKeywords = []string{
		"translate", "classify", "yes or no", "summarize in one sentence",
		"summarise in one sentence", "one word", "true or false", "sentiment", "capital of",
		"define ", "spell", "rephrase", "tl;dr", "fix the typo", "which category",
		"positive or negative", "extract the",
	}
)

// TaskTypes are the task_type values the classifier has a feature for; any other value maps to
// "other".
var TaskTypes = []string{"chat", "summarization", "extraction", "classification", "translation", "code", "reasoning"}

// ExtractFeatures computes the classifier's features of req; inputTokens is the estimate the
// router already made (see Estimator.Count).
func ExtractFeatures(req *schemas.Request, inputTokens int64) Features {
	f := Features{
		InputTokens: inputTokens,
		TaskType:    req.TaskType,
		Tools:       len(req.Tools),
		JSONSchema:  req.ResponseFormat.Type == schemas.ResponseFormatJSONSchema,
		JSONMode:    req.ResponseFormat.Type == schemas.ResponseFormatJSON,
		MaxTokens:   req.MaxTokens,
	}
	last := -1
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case "system", "developer":
			f.HasSystem = true
			continue
		case "user":
			f.UserTurns++
			last = i
		case "tool":
			f.ToolResults++
		}
		f.Turns++
		f.ToolResults += len(m.ToolCalls)
		for j := range m.Parts {
			if m.Parts[j].Type == schemas.PartImage {
				f.Images++
			}
		}
	}
	if last < 0 {
		return f
	}
	m := &req.Messages[last]
	text := m.Content
	if len(m.Parts) > 0 {
		text = m.Text()
	}
	f.CodeBlocks = strings.Count(text, "```") / 2
	if len(text) > featureScanBytes {
		head, tail := text[:featureScanBytes/2], text[len(text)-featureScanBytes/2:]
		f.Questions = strings.Count(head, "?") + strings.Count(tail, "?")
		w1, seen1 := scanWords(head)
		w2, seen2 := scanWords(tail)
		// Words of the unscanned middle, extrapolated from the scanned part.
		f.LastUserWords = int(float64(w1+w2) * float64(len(text)) / float64(featureScanBytes))
		f.ComplexHits, f.SimpleHits = keywordCounts(seen1 | seen2)
	} else {
		f.Questions = strings.Count(text, "?")
		var seen uint64
		f.LastUserWords, seen = scanWords(text)
		f.ComplexHits, f.SimpleHits = keywordCounts(seen)
	}
	return f
}

// scanWords counts the words of text (runs of ASCII letters and digits, or non-ASCII bytes) and
// finds the keywords in it in the same pass: keywords match at the start of a word, ASCII
// case-insensitively ("Refactor", "refactoring"; not "improve" for "prove"), and at each word
// start only the keywords beginning with that letter are compared. seen has a bit per keyword.
func scanWords(text string) (words int, seen uint64) {
	n := len(text)
	for i := 0; i < n; {
		// Skip to the next word, then look up keywords there and skip the word.
		for i < n && !wordByte[text[i]] {
			i++
		}
		if i == n {
			break
		}
		words++
		if i+1 < n && keywordPairs.has(lowerTab[text[i]], lowerTab[text[i+1]]) {
			for _, k := range keywordIndex[lowerTab[text[i]]] {
				if hasPrefixFold(text[i:], k.text) {
					seen |= k.bit
				}
			}
		}
		for i++; i < n && wordByte[text[i]]; i++ {
		}
	}
	return words, seen
}

func keywordCounts(seen uint64) (complexHits, simpleHits int) {
	return bits.OnesCount64(seen & complexMask), bits.OnesCount64(seen &^ complexMask)
}

// pairSet is a set of byte pairs: the first two bytes of every keyword. Most words start with
// a pair no keyword starts with and are skipped after one bit test.
type pairSet [1024]uint64

func (s *pairSet) has(a, b byte) bool {
	k := uint(a)<<8 | uint(b)
	return s[k>>6]&(1<<(k&63)) != 0
}

var keywordPairs = func() (s pairSet) {
	for _, k := range append(append([]string{}, complexKeywords...), simpleKeywords...) {
		i := uint(k[0])<<8 | uint(k[1])
		s[i>>6] |= 1 << (i & 63)
	}
	return s
}()

type keyword struct {
	text string
	bit  uint64
}

// keywordIndex lists the keywords by their first byte; complexMask has the bits of the complex
// keywords (the complex list comes first).
var keywordIndex, complexMask = func() (idx [256][]keyword, mask uint64) {
	all := append(append([]string{}, complexKeywords...), simpleKeywords...)
	if len(all) > 64 {
		panic("router: more than 64 keywords")
	}
	for i, k := range all {
		idx[k[0]] = append(idx[k[0]], keyword{text: k, bit: 1 << i})
		if i < len(complexKeywords) {
			mask |= 1 << i
		}
	}
	return idx, mask
}()

var wordByte, lowerTab = func() (w [256]bool, l [256]byte) {
	for c := range 256 {
		w[c] = c >= 0x80 || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		l[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			l[c] = byte(c + 'a' - 'A')
		}
	}
	return w, l
}()

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lowerTab[s[i]] != prefix[i] {
			return false
		}
	}
	return true
}

// FeatureNames names the entries of Features.Vector, in order. The trained model stores them
// and refuses to load when they differ.
var FeatureNames = func() []string {
	names := []string{
		"log_input_tokens", "log_turns", "log_user_turns", "has_system", "log_tools", "log_tool_results",
		"json_schema", "json_mode", "log_images", "log_code_blocks", "log_questions",
		"complex_hits", "simple_hits", "log_last_user_words", "log_max_tokens",
		// Indicators that let the linear model bend: size buckets, a single turn, keyword counts.
		"tokens_le_64", "tokens_le_256", "tokens_le_1k", "tokens_le_4k", "tokens_le_16k", "tokens_gt_16k",
		"single_turn", "complex_hits_ge_2", "complex_and_short", "simple_and_short",
	}
	for _, t := range TaskTypes {
		names = append(names, "task_"+t)
	}
	return append(names, "task_other")
}()

// Vector is the numeric form of the features the model reads, in FeatureNames order. Counts
// are log-scaled (log1p) so that a 100k-token prompt does not swamp every other signal.
func (f Features) Vector() []float64 {
	v := make([]float64, 0, len(FeatureNames))
	return f.appendVector(v)
}

func (f Features) appendVector(v []float64) []float64 {
	l := func(x int64) float64 { return math.Log1p(float64(max(x, 0))) }
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	v = append(v,
		l(f.InputTokens), l(int64(f.Turns)), l(int64(f.UserTurns)), b(f.HasSystem), l(int64(f.Tools)),
		l(int64(f.ToolResults)), b(f.JSONSchema), b(f.JSONMode), l(int64(f.Images)),
		l(int64(f.CodeBlocks)), l(int64(f.Questions)), float64(min(f.ComplexHits, 3)),
		float64(min(f.SimpleHits, 3)), l(int64(f.LastUserWords)), l(int64(f.MaxTokens)),
	)
	t := f.InputTokens
	short := t <= 256
	v = append(v,
		b(t <= 64), b(t > 64 && t <= 256), b(t > 256 && t <= 1024), b(t > 1024 && t <= 4096),
		b(t > 4096 && t <= 16384), b(t > 16384),
		b(f.Turns == 1), b(f.ComplexHits >= 2), b(f.ComplexHits > 0 && short), b(f.SimpleHits > 0 && short),
	)
	other := 1.0
	for _, t := range TaskTypes {
		hit := b(f.TaskType == t)
		other -= hit
		v = append(v, hit)
	}
	return append(v, other)
}
