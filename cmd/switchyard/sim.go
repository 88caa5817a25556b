package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/switchyard-llm/switchyard/adapters/sim"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim", stderr)
	addr := fs.String("addr", "127.0.0.1:8400", "listen address (loopback)")
	latency := fs.Duration("latency", 20*time.Millisecond, "base latency of every answer")
	jitter := fs.Duration("jitter", 10*time.Millisecond, "uniform jitter added to the latency")
	apiKey := fs.String("require-key", "", "answer 401 unless this bearer key is sent (default: no check)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := sim.NewServer(sim.Config{Latency: sim.Latency{Base: *latency, Jitter: *jitter}, APIKey: *apiKey})
	if err != nil {
		return err
	}
	url, err := srv.Start(*addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "provider simulator on %s (OpenAI: %s/v1/chat/completions; stats: %s/_sim/stats)\n", url, url, url)
	fmt.Fprintln(stdout, "fault models: sim-429-retry-after sim-429 sim-500-once sim-503 sim-reset sim-hang sim-slow-first-token")
	fmt.Fprintln(stdout, "              sim-stream-cut sim-stall sim-malformed-chunk sim-no-done sim-context-length")
	fmt.Fprintln(stdout, "              sim-content-filter sim-flap sim-huge sim-401 sim-echo; any other model answers normally")
	<-ctx.Done()
	return nil
}
