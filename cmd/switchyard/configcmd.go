package main

import (
	"context"
	"fmt"
	"io"

	"github.com/switchyard-llm/switchyard/internal/config"
)

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("usage: switchyard config check [--config FILE]")
	}
	fs := newFlags("config check", stderr)
	path := fs.String("config", "switchyard.yaml", "config file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d providers, %d models, kafka %v, clickhouse %q)\n",
		*path, len(c.Providers), len(c.Routing.Models), c.Kafka.Brokers, c.ClickHouse.Addr)
	return nil
}
