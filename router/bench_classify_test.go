package router_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
	"github.com/tiktoken-go/tokenizer"
)

const benchSystem = "You are a helpful assistant for an online electronics shop. Answer politely and briefly, " +
	"quote prices in euros, never promise delivery dates, and hand over to a human agent when the customer is angry."

var benchWords = strings.Fields(`the order arrived yesterday but the charger is missing and the box was damaged
could you please check whether my refund was processed I paid with a credit card on Monday and the tracking
number says delivered although nobody rang the bell I would like to exchange the headphones for a larger size
what is your return policy for opened items and do you cover shipping costs when the product is faulty thanks`)

// benchRequests returns n distinct typical chat requests: a fixed system prompt (which every
// request of a deployment repeats) and a unique user message; about 300 o200k tokens each.
func benchRequests(n int) []*schemas.Request {
	r := rand.New(rand.NewPCG(42, 42))
	out := make([]*schemas.Request, n)
	for i := range out {
		var b strings.Builder
		for w := 0; b.Len() < 1150; w++ {
			if w > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(benchWords[r.IntN(len(benchWords))])
			if r.IntN(14) == 0 {
				b.WriteString(". ")
				b.WriteString(strings.ToUpper(benchWords[r.IntN(len(benchWords))][:1]))
			}
		}
		b.WriteString("?")
		out[i] = &schemas.Request{RequestID: "r", TenantID: "t", TaskType: "chat", MaxTokens: 400,
			Messages: []schemas.Message{{Role: "system", Content: benchSystem}, {Role: "user", Content: b.String()}}}
	}
	return out
}

func BenchmarkEstimatorCount300(b *testing.B) {
	e := router.NewEstimator()
	e.Warm()
	reqs := benchRequests(4096)
	var tokens int64
	for _, q := range reqs {
		tokens += e.Count("gpt-4o", q).Input // warms the piece cache, as steady traffic does
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Count("gpt-4o", reqs[i%len(reqs)])
		i++
	}
	b.ReportMetric(float64(tokens)/float64(len(reqs)), "tokens/req")
}

// BenchmarkLibraryCount300 counts the same texts with the library's own Count (its regexp
// pre-tokenizer, no cache): what Estimator.Count would cost without its pre-tokenizer and cache.
func BenchmarkLibraryCount300(b *testing.B) {
	reqs := benchRequests(512)
	c, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := reqs[i%len(reqs)]
		n1, _ := c.Count(q.Messages[0].Content)
		n2, _ := c.Count(q.Messages[1].Content)
		_ = n1 + n2
		i++
	}
}

func BenchmarkClassify(b *testing.B) {
	reqs := benchRequests(1024)
	e := router.NewEstimator()
	tokens := make([]int64, len(reqs))
	for i, q := range reqs {
		tokens[i] = e.Count("gpt-4o", q).Input
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		router.Classify(reqs[i%len(reqs)], tokens[i%len(reqs)])
		i++
	}
}

func benchTable() router.Table {
	return router.Table{
		Models: []router.Model{
			{Name: "fast", Provider: "openai", Version: "gpt-4o-mini-2024-07-18", ContextWindow: 128000, MaxOutputTokens: 16384, Price: router.Price{InputPerMTok: 0.15, OutputPerMTok: 0.6}},
			{Name: "smart", Provider: "anthropic", Version: "claude-sonnet-4-5-20250929", ContextWindow: 200000, MaxOutputTokens: 64000, Price: router.Price{InputPerMTok: 3, OutputPerMTok: 15}},
			{Name: "backup", Provider: "gemini", Version: "gemini-2.5-flash", ContextWindow: 1000000, MaxOutputTokens: 65536, Price: router.Price{InputPerMTok: 0.3, OutputPerMTok: 2.5}},
		},
		Default: router.Rule{Model: "fast", Fallbacks: []string{"backup", "smart"}},
		Tasks:   map[string]router.Rule{"code": {Model: "smart", Fallbacks: []string{"fast"}}},
	}
}

// BenchmarkDecide300 is a whole routing decision for a typical 300-token chat request: token
// count, features, rules, model, policy and chain. It reports the median and 99th percentile
// of single decisions beside the mean.
func BenchmarkDecide300(b *testing.B) {
	r, err := router.New(benchTable())
	if err != nil {
		b.Fatal(err)
	}
	reqs := benchRequests(4096)
	for _, q := range reqs {
		if _, err := r.Decide(q); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t0 := time.Now()
		if _, err := r.Decide(reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkCountLong: a 48 KiB prompt is counted exactly; a 1 MiB prompt is sampled and
// extrapolated (see Estimator).
func BenchmarkCountLong(b *testing.B) {
	for _, size := range []int{48 << 10, 1 << 20} {
		var sb strings.Builder
		r := rand.New(rand.NewPCG(1, uint64(size)))
		for sb.Len() < size {
			sb.WriteString(benchWords[r.IntN(len(benchWords))])
			sb.WriteByte(' ')
		}
		req := &schemas.Request{Messages: []schemas.Message{{Role: "user", Content: sb.String()}}}
		e := router.NewEstimator()
		e.Count("gpt-4o", req)
		b.Run(map[int]string{48 << 10: "48KiB-exact", 1 << 20: "1MiB-extrapolated"}[size], func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				e.Count("gpt-4o", req)
			}
		})
	}
}
