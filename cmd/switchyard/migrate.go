package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ClickHouse/clickhouse-go/v2"

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

// clickhouseCommand parses the flags shared by migrate and report (plus those extra registers) and
// connects to ClickHouse.
func clickhouseCommand(ctx context.Context, name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*config.Config, clickhouse.Conn, error) {
	fs := newFlags(name, stderr)
	if extra != nil {
		extra(fs)
	}
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
	cfg, conn, err := clickhouseCommand(ctx, "migrate", args, stderr, nil)
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
