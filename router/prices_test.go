package router

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// priceTable: "m" has an inline price (from the zero time) and two dated entries; "n" has only
// dated entries.
func priceTable() Table {
	return Table{
		Models: []Model{
			{Name: "m", Provider: "p", Version: "m-2024-01-01", ContextWindow: 100000, MaxOutputTokens: 1000, Price: Price{InputPerMTok: 1, OutputPerMTok: 2}},
			{Name: "n", Provider: "p", Version: "n-2024-01-01", ContextWindow: 100000, MaxOutputTokens: 1000},
		},
		Default: Rule{Model: "m", Fallbacks: []string{"n"}},
		Prices: []PriceEntry{
			// Out of order on purpose: the book sorts by date.
			{Model: "m", EffectiveFrom: day("2025-06-01"), Price: Price{InputPerMTok: 3, OutputPerMTok: 6}},
			{Model: "m", EffectiveFrom: day("2025-01-01"), Price: Price{InputPerMTok: 2, OutputPerMTok: 4, BatchInputPerMTok: 1, BatchOutputPerMTok: 2}},
			{Model: "n", EffectiveFrom: day("2025-03-01"), Price: Price{InputPerMTok: 5, OutputPerMTok: 10}},
			{Model: "n", EffectiveFrom: day("2025-04-01"), Price: Price{InputPerMTok: 7, OutputPerMTok: 14}},
		},
	}
}

func TestPriceVersionsByDate(t *testing.T) {
	r, err := New(priceTable())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		model string
		at    time.Time
		input float64
	}{
		{"m-2024-01-01", day("2024-12-31"), 1},                       // inline price, in force from the zero time
		{"m-2024-01-01", day("2025-01-01").Add(-time.Nanosecond), 1}, // the instant before an entry
		{"m-2024-01-01", day("2025-01-01"), 2},                       // effective_from is inclusive
		{"m-2024-01-01", day("2025-05-31"), 2},
		{"m-2024-01-01", day("2025-06-01"), 3},
		{"m-2024-01-01", day("2030-01-01"), 3},
		{"m", day("2025-02-01"), 2},            // by alias too
		{"n-2024-01-01", day("2020-01-01"), 5}, // before the first entry: the first entry, never $0
		{"n-2024-01-01", day("2025-03-31"), 5},
		{"n-2024-01-01", day("2025-04-01"), 7},
	} {
		p, ok := r.PriceAt("p", tt.model, tt.at)
		if !ok || p.InputPerMTok != tt.input {
			t.Errorf("PriceAt(%s, %s) = %+v %v, want input %v", tt.model, tt.at, p, ok, tt.input)
		}
	}
	if _, ok := r.PriceAt("other", "m-2024-01-01", day("2025-01-01")); ok {
		t.Error("a model of another provider must not be found")
	}
	if p, ok := r.PriceOf("p", "m-2024-01-01"); !ok || p.InputPerMTok != 3 {
		t.Errorf("PriceOf (now) = %+v", p)
	}
}

func TestBatchPrices(t *testing.T) {
	r, err := New(priceTable())
	if err != nil {
		t.Fatal(err)
	}
	u := schemas.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}
	at := day("2025-02-01")
	for _, tt := range []struct {
		priority string
		model    string
		want     float64
	}{
		{schemas.PriorityInteractive, "m-2024-01-01", 2 + 4},
		{schemas.PriorityBackground, "m-2024-01-01", 2 + 4},
		{schemas.PriorityBatch, "m-2024-01-01", 1 + 2},
		{schemas.PriorityBatch, "n-2024-01-01", 5 + 10}, // no batch rates: the regular ones
	} {
		got, ok := r.CostAt("p", tt.model, at, tt.priority, u)
		if !ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s %s: cost %v %v, want %v", tt.model, tt.priority, got, ok, tt.want)
		}
	}
	if _, ok := r.CostAt("p", "ghost", at, "", u); ok {
		t.Error("unknown model must report ok=false")
	}
	// Batch replaces only the input and output rates.
	p := Price{InputPerMTok: 4, OutputPerMTok: 8, CachedInputPerMTok: 0.4, BatchInputPerMTok: 2}.ForPriority(schemas.PriorityBatch)
	if p.InputPerMTok != 2 || p.OutputPerMTok != 8 || p.CachedInputPerMTok != 0.4 {
		t.Errorf("ForPriority(batch) = %+v", p)
	}
}

func TestDecideCostsAtTheRequestsPrices(t *testing.T) {
	r, err := New(priceTable())
	if err != nil {
		t.Fatal(err)
	}
	q := &schemas.Request{RequestID: "r", TenantID: "t", TaskType: "chat", MaxTokens: 1000, Priority: schemas.PriorityInteractive,
		Messages: []schemas.Message{{Role: "user", Content: "hello there"}}}
	cost := func(created time.Time, priority string) float64 {
		q.CreatedAt, q.Priority = created.UnixMilli(), priority
		d, err := r.Decide(q)
		if err != nil {
			t.Fatal(err)
		}
		return d.EstCostUSD
	}
	in := func(rate, outRate float64) float64 {
		d, _ := r.Decide(q)
		return (float64(d.EstInputTokens)*rate + 1000*outRate) / 1e6
	}
	if got, want := cost(day("2024-06-01"), schemas.PriorityInteractive), in(1, 2); math.Abs(got-want) > 1e-12 {
		t.Errorf("2024: %v, want %v", got, want)
	}
	if got, want := cost(day("2025-07-01"), schemas.PriorityInteractive), in(3, 6); math.Abs(got-want) > 1e-12 {
		t.Errorf("2025-07: %v, want %v", got, want)
	}
	if got, want := cost(day("2025-02-01"), schemas.PriorityBatch), in(1, 2); math.Abs(got-want) > 1e-12 {
		t.Errorf("batch: %v, want %v", got, want)
	}
	// Without created_at, the router's clock picks the prices.
	r.SetClock(func() time.Time { return day("2025-02-02") })
	q.CreatedAt, q.Priority = 0, schemas.PriorityInteractive
	d, _ := r.Decide(q)
	if want := in(2, 4); math.Abs(d.EstCostUSD-want) > 1e-12 {
		t.Errorf("clock: %v, want %v", d.EstCostUSD, want)
	}
}

func TestPriceValidation(t *testing.T) {
	tb := priceTable()
	tb.Models = append(tb.Models, Model{Name: "free", Provider: "p", Version: "free-2024-01-01", ContextWindow: 10, MaxOutputTokens: 5})
	tb.Prices = append(tb.Prices,
		PriceEntry{Model: "ghost", EffectiveFrom: day("2025-01-01"), Price: Price{InputPerMTok: 1, OutputPerMTok: 1}},
		PriceEntry{Model: "m", Price: Price{InputPerMTok: 1, OutputPerMTok: 1}},
		PriceEntry{Model: "m", EffectiveFrom: day("2025-06-01"), Price: Price{InputPerMTok: 1, OutputPerMTok: 1}},
		PriceEntry{Model: "n", EffectiveFrom: day("2026-01-01"), Price: Price{InputPerMTok: 1, BatchOutputPerMTok: -1}},
	)
	err := tb.Validate(nil)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"routing.models[2].price: required: an inline price or a routing.prices entry",
		`routing.prices[4].model: unknown model "ghost"`,
		"routing.prices[5].effective_from: required",
		"routing.prices[6]: same model and effective_from as routing.prices[0]",
		"routing.prices[7]: input_per_mtok and output_per_mtok must be > 0",
		"routing.prices[7].batch_output_per_mtok: must be >= 0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "routing.models[1]") {
		t.Errorf("a model priced only by routing.prices is valid:\n%v", err)
	}
}
