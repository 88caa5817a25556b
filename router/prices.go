package router

import (
	"slices"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// priceBook is a model's price history, oldest first. An inline Model.Price is the entry in
// force from the zero time.
type priceBook []PriceEntry

func newPriceBook(m *Model, entries []PriceEntry) priceBook {
	var b priceBook
	if m.Price.set() {
		b = append(b, PriceEntry{Model: m.Name, Price: m.Price})
	}
	for _, e := range entries {
		if e.Model == m.Name {
			b = append(b, e)
		}
	}
	slices.SortStableFunc(b, func(x, y PriceEntry) int { return x.EffectiveFrom.Compare(y.EffectiveFrom) })
	return b
}

// at returns the price in force at t: the latest entry whose EffectiveFrom <= t. Before the
// first entry, the first entry applies (a model never costs $0 because a clock is early).
func (b priceBook) at(t time.Time) Price {
	for i := len(b) - 1; i > 0; i-- {
		if !b[i].EffectiveFrom.After(t) {
			return b[i].Price
		}
	}
	if len(b) == 0 {
		return Price{}
	}
	return b[0].Price
}

// PriceOf returns the price in force now of a pinned model version served by provider.
func (r *Router) PriceOf(provider, version string) (Price, bool) {
	return r.PriceAt(provider, version, time.Now())
}

// PriceAt returns the price in force at t of a pinned model version served by provider (or of
// a model alias). Batch rates are not applied; see CostAt.
func (r *Router) PriceAt(provider, version string, t time.Time) (Price, bool) {
	for i := range r.table.Models {
		m := &r.table.Models[i]
		if m.Provider == provider && (m.Version == version || m.Name == version) {
			return r.books[m.Name].at(t), true
		}
	}
	return Price{}, false
}

// CostAt is the actual cost of a usage report: the price in force at t (the request's creation
// time), with batch rates when priority is batch (Price.ForPriority). ok is false for a model
// the table does not know.
func (r *Router) CostAt(provider, version string, t time.Time, priority string, u schemas.Usage) (usd float64, ok bool) {
	p, ok := r.PriceAt(provider, version, t)
	if !ok {
		return 0, false
	}
	return p.ForPriority(priority).Cost(u), true
}
