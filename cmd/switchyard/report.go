package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/switchyard-llm/switchyard/analytics"
	"github.com/switchyard-llm/switchyard/internal/config"
	"github.com/switchyard-llm/switchyard/router"
)

// reportSection is one table of `switchyard report`: an analyst query and its title.
type reportSection struct {
	query, title string
}

var reportSections = []reportSection{
	{"cost_by_tenant_day", "Cost by day, tenant, provider and model"},
	{"latency_quantiles", "Latency and time to first token by provider and model (ms, exact quantiles)"},
	{"request_outcomes", "Request outcomes: errors, fallbacks, hedges"},
	{"attempt_outcomes", "Provider attempts: failures, hedges, retries"},
	{"error_kinds", "Failed attempts by kind"},
	{"degraded_share", "Degraded answers by reason"},
	{"budget_burn", "Budget burn: spend per tenant and day against the daily budget"},
	{"savings_vs_premium", "Savings from routing against always using the premium model"},
}

// runReport prints the analyst query pack as aligned terminal tables.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var since time.Duration
	var tenant string
	cfg, conn, err := clickhouseCommand(ctx, "report", args, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&since, "since", 24*time.Hour, "report on requests created within this long before now")
		fs.StringVar(&tenant, "tenant", "", "report on one tenant only (default every tenant)")
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	if since <= 0 {
		return fmt.Errorf("report: --since %v: must be > 0", since)
	}
	return writeReport(ctx, conn, cfg, time.Now().Add(-since), tenant, stdout)
}

// writeReport runs every section for requests created at or after from and prints them.
func writeReport(ctx context.Context, conn driver.Conn, cfg *config.Config, from time.Time, tenant string, w io.Writer) error {
	fmt.Fprintf(w, "Switchyard report: ClickHouse database %s, requests since %s UTC", cfg.ClickHouse.Database, from.UTC().Format("2006-01-02 15:04:05"))
	if tenant != "" {
		fmt.Fprintf(w, ", tenant %s", tenant)
	}
	fmt.Fprintln(w)
	base := analytics.Params{"since": from, "tenant": tenant}
	budgetTenants, budgetUSD, defaultUSD := reportBudgets(cfg.Routing)
	premiumName, premium, hasPremium := premiumModel(cfg.Routing, time.Now())
	for _, sec := range reportSections {
		p := analytics.Params{}
		for k, v := range base {
			p[k] = v
		}
		title := sec.title
		switch sec.query {
		case "budget_burn":
			p["budget_tenants"], p["budget_daily_usd"], p["default_daily_usd"] = budgetTenants, budgetUSD, defaultUSD
		case "savings_vs_premium":
			if !hasPremium {
				fmt.Fprintf(w, "\n%s\n  (skipped: the config has no priced models in routing.models)\n", title)
				continue
			}
			cached := premium.CachedInputPerMTok
			if cached == 0 {
				cached = premium.InputPerMTok
			}
			p["premium_input_per_mtok"], p["premium_cached_input_per_mtok"], p["premium_output_per_mtok"] = premium.InputPerMTok, cached, premium.OutputPerMTok
			title += fmt.Sprintf(" (%s: $%g in / $%g cached / $%g out per Mtok)", premiumName, premium.InputPerMTok, cached, premium.OutputPerMTok)
		}
		res, err := analytics.RunQuery(ctx, conn, sec.query, cfg.ClickHouse.Database, p)
		if err != nil {
			if strings.Contains(err.Error(), "doesn't exist") {
				return fmt.Errorf("%w\n(no analytics yet in database %s: run `switchyard migrate` and the analytics role, or the demo with SWITCHYARD_CLICKHOUSE_ADDR set)", err, cfg.ClickHouse.Database)
			}
			return err
		}
		fmt.Fprintf(w, "\n%s\n", title)
		printResult(w, res)
	}
	return nil
}

// reportBudgets lists the tenants that have a policy (their daily budgets, 0 when uncapped) and
// the daily budget of tenants without one (the "default" policy's).
func reportBudgets(t router.Table) (tenants []string, daily []float64, defaultDaily float64) {
	tenants, daily = []string{}, []float64{}
	for id := range t.Tenants {
		if id != "default" {
			tenants = append(tenants, id)
		}
	}
	sort.Strings(tenants)
	for _, id := range tenants {
		daily = append(daily, t.Tenants[id].Budget.DailyUSD)
	}
	if p, ok := t.Tenants["default"]; ok {
		defaultDaily = p.Budget.DailyUSD
	}
	return tenants, daily, defaultDaily
}

// premiumModel picks the configured model with the highest input plus output rate in force at now
// (the newest routing.prices entry not after now, else its inline price); ties go to the first
// name in order.
func premiumModel(t router.Table, now time.Time) (string, router.Price, bool) {
	best, bestName, found := router.Price{}, "", false
	for _, m := range t.Models {
		p, at := m.Price, time.Time{}
		for _, e := range t.Prices {
			if e.Model == m.Name && !e.EffectiveFrom.After(now) && !e.EffectiveFrom.Before(at) {
				p, at = e.Price, e.EffectiveFrom
			}
		}
		score := p.InputPerMTok + p.OutputPerMTok
		if score <= 0 {
			continue
		}
		if bs := best.InputPerMTok + best.OutputPerMTok; !found || score > bs || (score == bs && m.Name < bestName) {
			best, bestName, found = p, m.Name, true
		}
	}
	return bestName, best, found
}

// printResult prints res as an aligned table: text left, numbers right.
func printResult(w io.Writer, res *analytics.Result) {
	if len(res.Rows) == 0 {
		fmt.Fprintln(w, "  (no rows)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	cells := make([][]string, 0, len(res.Rows)+1)
	cells = append(cells, res.Columns)
	for _, row := range res.Rows {
		line := make([]string, len(row))
		for i, v := range row {
			line[i] = formatCell(res.Columns[i], v)
		}
		cells = append(cells, line)
	}
	// tabwriter aligns every column one way; pad text columns by hand so they read left-aligned.
	width := make([]int, len(res.Columns))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len(c))
		}
	}
	for _, line := range cells {
		var b strings.Builder // the padding (2) right-aligns the first column too: the indent
		for i, c := range line {
			if isText(res, i) {
				c += strings.Repeat(" ", width[i]-len(c))
			}
			b.WriteString(c + "\t")
		}
		fmt.Fprintln(tw, b.String())
	}
	tw.Flush()
}

func isText(res *analytics.Result, col int) bool {
	if len(res.Rows) == 0 {
		return true
	}
	switch res.Rows[0][col].(type) {
	case string, time.Time:
		return true
	}
	return false
}

// formatCell renders money with 6 decimals, milliseconds with 1, rates and shares as percentages,
// and everything else as analytics.FormatValue does.
func formatCell(column string, v any) string {
	f, ok := v.(float64)
	if !ok {
		return analytics.FormatValue(v)
	}
	if math.IsNaN(f) {
		return "-"
	}
	switch {
	case strings.HasSuffix(column, "_usd"):
		return strconv.FormatFloat(f, 'f', 6, 64)
	case strings.HasSuffix(column, "_ms"):
		return strconv.FormatFloat(f, 'f', 1, 64)
	case strings.HasSuffix(column, "rate"), strings.HasSuffix(column, "share"), column == "burn":
		return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
	}
	return analytics.FormatValue(f)
}
