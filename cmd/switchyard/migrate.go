package main

import (
	"context"
	"fmt"
	"github.com/ClickHouse/clickhouse-go/v2"
	"io"
	"os"
	"strings"

	"github.com/switchyard-llm/switchyard/analytics"
	"github.com/switchyard-llm/switchyard/internal/config"
)

// loadOrDefault reads the config file, or with no file, the defaults plus environment overrides
// (enough for commands that only need Kafka or ClickHouse addresses).
func loadOrDefault(path string) (*config.Config, error) {
	if _, err := os.Stat(path); err == nil {
		return config.Load(path)
	}
	return config.ParsePartial(os.LookupEnv)
}

// clickhouseCommand parses the flags shared by migrate and report and connects to ClickHouse.
func clickhouseCommand(ctx context.Context, name string, args []string, stderr io.Writer) (*config.Config, clickhouse.Conn, error) {
	fs := newFlags(name, stderr)
	path := fs.String("config", "switchyard.yaml", "config file (without one: defaults and SWITCHYARD_* env)")
	addr := fs.String("clickhouse", "", "ClickHouse native address, overrides the config (default 127.0.0.1:9000)")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	cfg, err := loadOrDefault(*path)
	if err != nil {
		return nil, nil, err
	}
	if *addr != "" {
		cfg.ClickHouse.Addr = *addr
	}
	if cfg.ClickHouse.Addr == "" {
		cfg.ClickHouse.Addr = "127.0.0.1:9000"
	}
	conn, err := openClickHouse(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, conn, nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, conn, err := clickhouseCommand(ctx, "migrate", args, stderr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := analytics.Migrate(ctx, conn, cfg.ClickHouse.Database); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clickhouse %s: database %s is up to date\n", cfg.ClickHouse.Addr, cfg.ClickHouse.Database)
	return nil
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, conn, err := clickhouseCommand(ctx, "report", args, stderr)
	if err != nil {
		return err
	}
	defer conn.Close()
	costs, err := analytics.CostByProvider(ctx, conn, cfg.ClickHouse.Database)
	if err != nil {
		if strings.Contains(err.Error(), "doesn't exist") {
			return fmt.Errorf("%w\n(no analytics yet in database %s: run `switchyard migrate` and the analytics role, or the demo with SWITCHYARD_CLICKHOUSE_ADDR set)", err, cfg.ClickHouse.Database)
		}
		return err
	}
	fmt.Fprintln(stdout, "Cost by provider and model")
	fmt.Fprintf(stdout, "  %-10s %-26s %10s %12s\n", "provider", "model", "requests", "cost USD")
	for _, r := range costs {
		fmt.Fprintf(stdout, "  %-10s %-26s %10d %12.6f\n", r.Provider, r.Model, r.Requests, r.CostUSD)
	}
	lat, err := analytics.LatencyByProvider(ctx, conn, cfg.ClickHouse.Database)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nLatency by provider and model (ms)")
	fmt.Fprintf(stdout, "  %-10s %-26s %10s %9s %9s %9s %9s %9s\n", "provider", "model", "requests", "p50", "p99", "ttft p50", "ttft p99", "queue p50")
	for _, r := range lat {
		fmt.Fprintf(stdout, "  %-10s %-26s %10d %9.1f %9.1f %9.1f %9.1f %9.1f\n", r.Provider, r.Model, r.Requests,
			r.P50TotalMS, r.P99TotalMS, r.P50TTFTMS, r.P99TTFTMS, r.P50QueueMS)
	}
	return nil
}
