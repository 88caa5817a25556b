package router

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"image"
	_ "image/gif" // image headers for the image-token estimate
	_ "image/jpeg"
	_ "image/png"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/schemas"
	"github.com/tiktoken-go/tokenizer"
)

// TokenCount is an estimate of a request's input tokens for one model.
type TokenCount struct {
	// Input is the estimated prompt size in tokens, message framing, tools and images included.
	Input int64
	// Method says how Input was obtained: "o200k_base" or "cl100k_base" for OpenAI models
	// (tiktoken-compatible BPE), "approx:<family>" for other families (a BPE count times a
	// documented per-family factor, see docs/classifier.md).
	Method string
	// Extrapolated is true when some text was too long to count exactly within the byte budget
	// and its tokens were extrapolated from sampled windows (see Estimator).
	Extrapolated bool
}

// EstimateError is the signed relative error of an estimate against the provider's reported
// usage: (estimated-actual)/actual; 0.1 means the router guessed 10% high. The worker's attempt
// carries the actual input tokens (schemas.Attempt.InputTokens), and the decision carries the
// estimate (Decision.EstInputTokens), so the audit trail can record both. It returns NaN when
// actual is not positive.
func EstimateError(estimated, actual int64) float64 {
	if actual <= 0 {
		return math.NaN()
	}
	return float64(estimated-actual) / float64(actual)
}

// Defaults of the Estimator's long-text strategy.
const (
	// DefaultExactBytes is how many bytes of a request's text are counted exactly. Beyond it,
	// text is counted from DefaultSampleWindows evenly spaced windows and extrapolated.
	DefaultExactBytes = 256 << 10
	// DefaultSampleWindows is how many windows of a long text are counted.
	DefaultSampleWindows = 8
	// sampleWindowBytes is the size of each sampled window.
	sampleWindowBytes = 4 << 10
	// longTextBytes is the length from which one string is sampled rather than counted whole.
	longTextBytes = 64 << 10
)

// Estimator counts a request's input tokens the way the providers bill them. It is safe for
// concurrent use; the zero value is not usable, call NewEstimator. The BPE vocabularies load on
// first use (about 35 ms each on the 2-core dev machine); call Warm at start-up to pay that early.
//
// Long prompts: a single string longer than 64 KiB is not tokenized whole; 8 evenly spaced 4 KiB
// windows are counted and their tokens-per-byte ratio is applied to the whole string. Once a
// request has had 256 KiB counted exactly, the rest of its text is extrapolated the same way.
// The error bound of that extrapolation is tested (TestExtrapolationErrorBound).
type Estimator struct {
	o200k  *bpe
	cl100k *bpe
	// ExactBytes is the per-request exact-count budget in bytes. Default DefaultExactBytes; set
	// it before the Estimator is shared.
	ExactBytes int
}

// NewEstimator returns an Estimator with the default long-text budget.
func NewEstimator() *Estimator {
	return &Estimator{
		o200k:      newBPE(tokenizer.O200kBase, splitO200k),
		cl100k:     newBPE(tokenizer.Cl100kBase, splitCl100k),
		ExactBytes: DefaultExactBytes,
	}
}

// Warm loads both vocabularies now instead of on the first request.
func (e *Estimator) Warm() {
	e.o200k.load()
	e.cl100k.load()
}

// defaultEstimator backs EstimateTokens and Router.Decide.
var defaultEstimator = NewEstimator()

// family describes how one model family's tokens are estimated.
type family struct {
	name   string  // "openai" for exact counts, else the approximated family
	enc    string  // base encoding: "o200k_base" or "cl100k_base"
	factor float64 // multiplier on the base count; 1 for exact
	// funcInit is the cookbook's per-tool framing constant (7 for o200k models, 10 for cl100k).
	funcInit int
	// image estimates one image's tokens from its size; w, h are 0 when unknown.
	image func(w, h int) int64
}

// Families and their factors. The factors and their sources are documented in
// docs/classifier.md ("Token estimation").
var (
	famO200k    = family{name: "openai", enc: "o200k_base", factor: 1, funcInit: 7, image: openAIImageTokens}
	famCl100k   = family{name: "openai", enc: "cl100k_base", factor: 1, funcInit: 10, image: openAIImageTokens}
	famClaude   = family{name: "claude", enc: "o200k_base", factor: 1.20, funcInit: 7, image: claudeImageTokens}
	famGemini   = family{name: "gemini", enc: "o200k_base", factor: 1.00, funcInit: 7, image: geminiImageTokens}
	famLlama    = family{name: "llama", enc: "cl100k_base", factor: 1.00, funcInit: 10, image: openAIImageTokens}
	famMistral  = family{name: "mistral", enc: "cl100k_base", factor: 1.10, funcInit: 10, image: openAIImageTokens}
	famGrok     = family{name: "grok", enc: "o200k_base", factor: 1.10, funcInit: 7, image: openAIImageTokens}
	famDeepSeek = family{name: "deepseek", enc: "cl100k_base", factor: 1.10, funcInit: 10, image: openAIImageTokens}
	famDefault  = family{name: "default", enc: "o200k_base", factor: 1.00, funcInit: 7, image: openAIImageTokens}
)

// familyOf maps a model name (alias or pinned version, with or without a "vendor/" prefix) to
// its token family.
func familyOf(model string) family {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	has := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(m, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "o1", "o3", "o4"):
		return famO200k
	case has("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada"):
		return famCl100k
	case has("claude"):
		return famClaude
	case has("gemini", "gemma"):
		return famGemini
	case has("llama", "meta-llama"):
		return famLlama
	case has("mistral", "mixtral", "codestral", "ministral", "magistral", "devstral", "pixtral", "open-mistral"):
		return famMistral
	case has("grok"):
		return famGrok
	case has("deepseek"):
		return famDeepSeek
	}
	return famDefault
}

// Method returns the counting method Count uses for model, without counting anything.
func (e *Estimator) Method(model string) string {
	f := familyOf(model)
	if f.name == "openai" {
		return f.enc
	}
	return "approx:" + f.name
}

// Count estimates the input tokens of req when sent to model. Framing follows OpenAI's cookbook
// ("How to count tokens with tiktoken"): 3 tokens per message plus its role and content, 1 more
// for a name, 3 to prime the reply; tool definitions by the cookbook's num_tokens_for_tools rule;
// assistant tool calls as name + arguments + 3; images by the family's image rule.
func (e *Estimator) Count(model string, req *schemas.Request) TokenCount {
	f := familyOf(model)
	c := counter{b: e.o200k, budget: e.ExactBytes}
	if f.enc == "cl100k_base" {
		c.b = e.cl100k
	}
	if c.budget <= 0 {
		c.budget = DefaultExactBytes
	}
	var n, img int64
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 3 + c.text(m.Role)
		if m.Name != "" {
			n += 1 + c.text(m.Name)
		}
		if len(m.Parts) == 0 {
			if i < len(req.Messages)-1 {
				// System prompts and earlier turns repeat from request to request.
				n += c.repeated(m.Content)
			} else {
				n += c.text(m.Content)
			}
		}
		for j := range m.Parts {
			p := &m.Parts[j]
			switch p.Type {
			case schemas.PartImage:
				w, h := imageSize(p)
				img += f.image(w, h)
			default:
				n += c.text(p.Text)
			}
		}
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			n += 3 + c.text(tc.Name) + c.text(tc.Arguments)
		}
	}
	n += 3 // every reply is primed with <|start|>assistant<|message|>
	if len(req.Tools) > 0 {
		n += c.tools(req.Tools, int64(f.funcInit))
	}
	if req.ResponseFormat.Type == schemas.ResponseFormatJSONSchema {
		// The schema is sent to the model; no published framing rule, so its text plus a few.
		n += 3 + c.text(req.ResponseFormat.Name) + c.text(req.ResponseFormat.Schema)
	}
	tc := TokenCount{Input: n + img, Method: f.enc, Extrapolated: c.extrapolated}
	if f.name != "openai" {
		tc.Method = "approx:" + f.name
		tc.Input = int64(math.Ceil(float64(n)*f.factor)) + img
	}
	return tc
}

// counter is the state of one Count call: the exact-count budget left and the running
// tokens-per-byte ratio used once it is spent.
type counter struct {
	b            *bpe
	budget       int
	bytes        int64 // bytes counted exactly so far
	tokens       int64 // their tokens
	extrapolated bool
}

func (c *counter) text(s string) int64 {
	if s == "" {
		return 0
	}
	if len(s) <= c.budget && len(s) <= longTextBytes {
		return c.exact(s)
	}
	if c.budget <= 0 && c.bytes >= sampleWindowBytes {
		// Budget spent: the request's own ratio so far.
		c.extrapolated = true
		return int64(math.Ceil(float64(len(s)) * float64(c.tokens) / float64(c.bytes)))
	}
	if len(s) <= DefaultSampleWindows*sampleWindowBytes {
		// Sampling would read as much as counting it whole.
		return c.exact(s)
	}
	c.extrapolated = true
	sb, st := c.b.sample(s)
	c.budget -= sb
	return int64(math.Ceil(float64(len(s)) * float64(st) / float64(sb)))
}

func (c *counter) exact(s string) int64 {
	c.budget -= len(s)
	n := int64(c.b.count(s))
	c.bytes += int64(len(s))
	c.tokens += n
	return n
}

// repeated counts a text that is likely to recur in later requests (a system prompt, an
// earlier turn of the conversation) through the whole-text cache.
func (c *counter) repeated(s string) int64 {
	if len(s) < minCachedText || len(s) > maxCachedText || len(s) > c.budget {
		return c.text(s)
	}
	if n, ok := c.b.cachedText(s); ok {
		c.budget -= len(s)
		c.bytes += int64(len(s))
		c.tokens += int64(n)
		return int64(n)
	}
	n := c.text(s)
	c.b.storeText(s, int32(n))
	return n
}

// tools counts tool definitions by the cookbook's num_tokens_for_tools rule: per tool funcInit
// plus "name:description"; per parameter property 3 plus "key:type:description"; enums -3 plus
// 3 and the value per item; 3 once if a tool has properties; 12 once for the block.
func (c *counter) tools(tools []schemas.Tool, funcInit int64) int64 {
	var n int64
	for i := range tools {
		t := &tools[i]
		n += funcInit + c.text(t.Name+":"+strings.TrimSuffix(t.Description, "."))
		var params struct {
			Properties map[string]struct {
				Type        any    `json:"type"`
				Description string `json:"description"`
				Enum        []any  `json:"enum"`
			} `json:"properties"`
		}
		if t.Parameters == "" || json.Unmarshal([]byte(t.Parameters), &params) != nil {
			// Unparseable schema: count its text, which is what the provider receives.
			n += c.text(t.Parameters)
			continue
		}
		if len(params.Properties) == 0 {
			continue
		}
		n += 3
		for key, p := range params.Properties {
			n += 3
			if p.Enum != nil {
				n -= 3
				for _, v := range p.Enum {
					n += 3 + c.text(fmt.Sprint(v))
				}
			}
			typ, ok := p.Type.(string)
			if !ok && p.Type != nil {
				b, _ := json.Marshal(p.Type)
				typ = string(b)
			}
			n += c.text(key + ":" + typ + ":" + strings.TrimSuffix(p.Description, "."))
		}
	}
	return n + 12
}

// imageSize reads an inline image's dimensions from its header; 0, 0 when unknown (URL
// images, unknown formats).
func imageSize(p *schemas.ContentPart) (int, int) {
	if p.Data == "" {
		return 0, 0
	}
	cfg, _, err := image.DecodeConfig(base64.NewDecoder(base64.StdEncoding, strings.NewReader(p.Data)))
	if err != nil {
		return 0, 0
	}
	return cfg.Width, cfg.Height
}

// openAIImageTokens is OpenAI's high-detail rule for GPT-4o-class models: fit within
// 2048x2048, scale the short side to 768, then 170 per 512px tile plus 85. Unknown size: 765,
// the cost of a 1024x1024 image (4 tiles), since the schema carries no detail level.
func openAIImageTokens(w, h int) int64 {
	if w <= 0 || h <= 0 {
		return 765
	}
	fw, fh := float64(w), float64(h)
	if s := 2048 / max(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	if s := 768 / min(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	tiles := math.Ceil(fw/512) * math.Ceil(fh/512)
	return int64(170*tiles + 85)
}

// claudeImageTokens is Anthropic's rule: about width*height/750 after scaling the long edge
// to at most 1568px. Unknown size: 1600 (a 1092x1092 image, their documented maximum).
func claudeImageTokens(w, h int) int64 {
	if w <= 0 || h <= 0 {
		return 1600
	}
	fw, fh := float64(w), float64(h)
	if s := 1568 / max(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	return int64(math.Ceil(fw * fh / 750))
}

// geminiImageTokens is Google's rule: 258 tokens for an image with both sides at most 384px,
// else 258 per 768x768 tile. Unknown size: 1032 (a 1024x1024 image, 4 tiles).
func geminiImageTokens(w, h int) int64 {
	if w <= 0 || h <= 0 {
		return 1032
	}
	if w <= 384 && h <= 384 {
		return 258
	}
	return int64(258 * math.Ceil(float64(w)/768) * math.Ceil(float64(h)/768))
}

// bpe is one encoding: the library's codec for exact BPE, our own pre-tokenizer (the split
// regular expression, hand-compiled) and a cache of piece counts. The cache is what makes
// counting fast: natural text repeats its pieces (words with their leading space), so most
// pieces are a map lookup instead of a regexp match and a BPE merge.
type bpe struct {
	enc   tokenizer.Encoding
	split func(s string, i int) int
	once  sync.Once
	codec tokenizer.Codec

	mu    sync.RWMutex
	cache pieceTable

	// texts caches whole repeated texts (system prompts, history) by content.
	textMu    sync.RWMutex
	texts     map[string]int32
	textBytes int
}

const (
	maxCachedPiece = 32      // longer pieces are rare and counted directly
	maxCacheSize   = 1 << 16 // entries (in 128K slots, 3 MiB); the cache is reset when full
	minCachedText  = 128     // shorter texts are cheap to count
	maxCachedText  = 16 << 10
	maxTextBytes   = 8 << 20 // the text cache is reset when it holds this many bytes
)

func newBPE(enc tokenizer.Encoding, split func(string, int) int) *bpe {
	return &bpe{enc: enc, split: split}
}

func (b *bpe) cachedText(s string) (int, bool) {
	b.load()
	b.textMu.RLock()
	n, ok := b.texts[s]
	b.textMu.RUnlock()
	return int(n), ok
}

func (b *bpe) storeText(s string, n int32) {
	b.textMu.Lock()
	defer b.textMu.Unlock()
	if _, ok := b.texts[s]; ok {
		return
	}
	if b.textBytes+len(s) > maxTextBytes {
		clear(b.texts)
		b.textBytes = 0
	}
	b.texts[strings.Clone(s)] = n
	b.textBytes += len(s)
}

func (b *bpe) load() {
	b.once.Do(func() {
		c, err := tokenizer.Get(b.enc)
		if err != nil {
			// Both encodings are compiled into the module; this cannot fail at run time.
			panic(fmt.Sprintf("router: tokenizer %s: %v", b.enc, err))
		}
		b.codec = c
		// Allocated here rather than in NewEstimator, so that an estimator that never counts
		// (or a process that never routes) does not hold them.
		b.cache = newPieceTable(maxCacheSize)
		b.texts = make(map[string]int32, 256)
	})
}

// count returns the exact number of tokens of s.
func (b *bpe) count(s string) int {
	b.load()
	var missBuf [16]string
	miss := missBuf[:0]
	n := 0
	b.mu.RLock()
	for i := 0; i < len(s); {
		j := b.split(s, i)
		p := s[i:j]
		if len(p) == 1 {
			n++ // every byte is a token of its own
		} else if c, ok := b.cache.get(p); ok {
			n += int(c)
		} else {
			miss = append(miss, p)
		}
		i = j
	}
	b.mu.RUnlock()
	if len(miss) == 0 {
		return n
	}
	var countBuf [16]int32
	counts := countBuf[:0]
	for _, p := range miss {
		c, _ := b.codec.Count(p) // errors only in strict UTF-8 mode, which we do not set
		n += c
		counts = append(counts, int32(c))
	}
	b.mu.Lock()
	if b.cache.n+len(miss) > maxCacheSize {
		b.cache.reset()
	}
	for k, p := range miss {
		if len(p) <= maxCachedPiece {
			b.cache.put(p, counts[k])
		}
	}
	b.mu.Unlock()
	return n
}

// pieceTable is the piece-count cache: open addressing with linear probing over a power-of-two
// array at most half full. It does less per lookup than a map (no tombstones, no groups, one
// hash), which matters at a few hundred lookups per request. Not safe for concurrent use: bpe
// guards it with its RWMutex.
type pieceTable struct {
	slots []pieceSlot
	mask  uint64
	n     int
}

type pieceSlot struct {
	key   string // "" marks an empty slot; pieces are never empty
	count int32
}

var pieceSeed = maphash.MakeSeed()

func newPieceTable(capacity int) pieceTable {
	size := 1
	for size < 2*capacity {
		size <<= 1
	}
	return pieceTable{slots: make([]pieceSlot, size), mask: uint64(size - 1)}
}

func (t *pieceTable) get(p string) (int32, bool) {
	for i := maphash.String(pieceSeed, p) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.key == "" {
			return 0, false
		}
		if s.key == p {
			return s.count, true
		}
	}
}

// put inserts p (copied) unless present; the caller keeps n at most half the table.
func (t *pieceTable) put(p string, count int32) {
	for i := maphash.String(pieceSeed, p) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.key == p {
			return
		}
		if s.key == "" {
			*s = pieceSlot{key: strings.Clone(p), count: count}
			t.n++
			return
		}
	}
}

func (t *pieceTable) reset() {
	clear(t.slots)
	t.n = 0
}

// sample counts evenly spaced windows of a long s and returns the bytes and tokens counted.
// Windows start and end at a space or newline where one is near, so words are not cut.
func (b *bpe) sample(s string) (bytes, tokens int) {
	k := DefaultSampleWindows
	stride := len(s) / k
	for w := range k {
		lo := boundary(s, w*stride)
		hi := boundary(s, min(lo+sampleWindowBytes, len(s)))
		if hi <= lo {
			continue
		}
		bytes += hi - lo
		tokens += b.count(s[lo:hi])
	}
	if bytes == 0 {
		return len(s), b.count(s)
	}
	return bytes, tokens
}

// boundary moves i forward to the next space or newline within 64 bytes (else to a rune start).
func boundary(s string, i int) int {
	if i <= 0 || i >= len(s) {
		return min(max(i, 0), len(s))
	}
	for j := i; j < len(s) && j < i+64; j++ {
		if s[j] == ' ' || s[j] == '\n' {
			return j
		}
	}
	for i < len(s) && s[i]&0xC0 == 0x80 {
		i++
	}
	return i
}

// The pre-tokenizers below reproduce the split regular expressions of cl100k_base and
// o200k_base (tiktoken's pat_str) without a regexp engine. Each returns the end of the piece
// that starts at i. The alternatives are tried in the regexp's order, and where a greedy
// quantifier would backtrack the code computes where the backtracking stops. They are checked
// against the library's own regexp on a randomized corpus (TestSplitMatchesLibrary).
//
// cl100k_base: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//              ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// o200k_base:  [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//              [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//              \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+

func splitCl100k(s string, i int) int {
	r0, w0 := decodeRune(s, i)
	if r0 == '\'' {
		if k := contraction(s, i); k > 0 {
			return i + k
		}
	}
	if isLetter(r0) {
		return letterRun(s, i+w0)
	}
	if r0 != '\r' && r0 != '\n' && !isNumber(r0) && i+w0 < len(s) {
		if r1, _ := decodeRune(s, i+w0); isLetter(r1) {
			return letterRun(s, i+w0)
		}
	}
	if isNumber(r0) {
		return numberRun(s, i+w0)
	}
	if j := punctRun(s, i, r0, false); j > i {
		return j
	}
	return spaceRun(s, i, w0)
}

func splitO200k(s string, i int) int {
	r0, w0 := decodeRune(s, i)
	prefix := r0 != '\r' && r0 != '\n' && !isLetter(r0) && !isNumber(r0)
	if prefix {
		if e := upperLowerWord(s, i+w0); e > 0 {
			return e
		}
	}
	if e := upperLowerWord(s, i); e > 0 {
		return e
	}
	if prefix {
		if e := upperWord(s, i+w0); e > 0 {
			return e
		}
	}
	if e := upperWord(s, i); e > 0 {
		return e
	}
	if isNumber(r0) {
		return numberRun(s, i+w0)
	}
	if j := punctRun(s, i, r0, true); j > i {
		return j
	}
	return spaceRun(s, i, w0)
}

// upperLowerWord matches [U]*[L]+ contraction? at p (U = Lu Lt Lm Lo M, L = Ll Lm Lo M), or
// returns -1. When the greedy [U]* leaves no [L] after it, the regexp gives back characters
// of the [U] run until one of them is in [L]: the match then ends right after that character.
func upperLowerWord(s string, p int) int {
	q, last, lastW := p, -1, 0
	for q < len(s) {
		if c := s[q]; c < utf8.RuneSelf { // ASCII fast path: only A-Z is in [U], none is in [L]
			if asciiClass[c]&asciiUpper == 0 {
				break
			}
			q++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[q:])
		if !isUpperSet(r) {
			break
		}
		if isLowerSet(r) {
			last, lastW = q, w
		}
		q += w
	}
	end := -1
	if q < len(s) {
		if r, w := decodeRune(s, q); isLowerSet(r) {
			end = lowerRun(s, q+w)
		}
	}
	if end < 0 {
		if last < 0 {
			return -1
		}
		end = last + lastW
	}
	return end + contraction(s, end)
}

// lowerRun returns the end of the run of [L] characters from j.
func lowerRun(s string, j int) int {
	for j < len(s) {
		if c := s[j]; c < utf8.RuneSelf {
			if asciiClass[c]&asciiLower == 0 {
				return j
			}
			j++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[j:])
		if !isLowerSet(r) {
			return j
		}
		j += w
	}
	return j
}

// upperWord matches [U]+[L]* contraction? at p, or returns -1.
func upperWord(s string, p int) int {
	q := p
	for q < len(s) {
		r, w := decodeRune(s, q)
		if !isUpperSet(r) {
			break
		}
		q += w
	}
	if q == p {
		return -1
	}
	q = lowerRun(s, q)
	return q + contraction(s, q)
}

// contraction returns the length of (?i:'s|'t|'re|'ve|'m|'ll|'d) at i, or 0.
func contraction(s string, i int) int {
	if i >= len(s) || s[i] != '\'' || i+1 >= len(s) {
		return 0
	}
	c := s[i+1] | 0x20 // ASCII lower case
	switch c {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v', 'l':
		if i+2 < len(s) {
			want := byte('e')
			if c == 'l' {
				want = 'l'
			}
			if s[i+2]|0x20 == want {
				return 3
			}
		}
	}
	// U+017F (long s) folds to s in the regexp's case-insensitive match.
	if strings.HasPrefix(s[i+1:], "ſ") {
		return 1 + len("ſ")
	}
	return 0
}

func letterRun(s string, j int) int {
	for j < len(s) {
		if c := s[j]; c < utf8.RuneSelf {
			if asciiClass[c]&(asciiLower|asciiUpper) == 0 {
				return j
			}
			j++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[j:])
		if !isLetter(r) {
			break
		}
		j += w
	}
	return j
}

func numberRun(s string, j int) int {
	for k := 1; k < 3 && j < len(s); k++ {
		r, w := decodeRune(s, j)
		if !isNumber(r) {
			break
		}
		j += w
	}
	return j
}

// punctRun matches " ?[^\s\p{L}\p{N}]+[\r\n]*" (o200k: "[\r\n/]*") at i, or returns i.
func punctRun(s string, i int, r0 rune, slash bool) int {
	p := i
	if r0 == ' ' {
		p++
	}
	j := p
	for j < len(s) {
		r, w := decodeRune(s, j)
		if isSpace(r) || isLetter(r) || isNumber(r) {
			break
		}
		j += w
	}
	if j == p {
		return i
	}
	for j < len(s) && (s[j] == '\r' || s[j] == '\n' || slash && s[j] == '/') {
		j++
	}
	return j
}

// spaceRun matches \s*[\r\n]+ | \s+(?!\S) | \s+ at i: up to the last newline of the whitespace
// run if it has one; else the whole run at the end of the text or when it is one character;
// else the run minus its last character (which then prefixes the next word).
func spaceRun(s string, i, w0 int) int {
	e, lastNL, last, n := i, -1, i, 0
	for e < len(s) {
		r, w := decodeRune(s, e)
		if !isSpace(r) {
			break
		}
		if r == '\r' || r == '\n' {
			lastNL = e
		}
		last = e
		e += w
		n++
	}
	switch {
	case n == 0:
		return i + w0 // not reached for valid input; never return an empty piece
	case lastNL >= 0:
		return lastNL + 1
	case e == len(s) || n == 1:
		return e
	}
	return last
}

func decodeRune(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

const (
	asciiLower = 1 << iota
	asciiUpper
	asciiDigit
	asciiSpace
)

var asciiClass = func() (t [128]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = asciiLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = asciiUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = asciiDigit
	}
	for _, c := range "\t\n\v\f\r " {
		t[c] = asciiSpace
	}
	return t
}()

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&(asciiLower|asciiUpper) != 0
	}
	return unicode.IsLetter(r)
}

func isNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&asciiDigit != 0
	}
	return unicode.IsNumber(r)
}

func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&asciiSpace != 0
	}
	return unicode.IsSpace(r)
}

// isUpperSet is [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}].
func isUpperSet(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&asciiUpper != 0
	}
	return unicode.IsOneOf(upperSet, r)
}

// isLowerSet is [\p{Ll}\p{Lm}\p{Lo}\p{M}].
func isLowerSet(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&asciiLower != 0
	}
	return unicode.IsOneOf(lowerSet, r)
}

var (
	upperSet = []*unicode.RangeTable{unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo, unicode.M}
	lowerSet = []*unicode.RangeTable{unicode.Ll, unicode.Lm, unicode.Lo, unicode.M}
)
