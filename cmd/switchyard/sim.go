package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/adapters/sim"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim", stderr)
	addr := fs.String("addr", "127.0.0.1:8400", "listen address (loopback)")
	latency := fs.Duration("latency", 20*time.Millisecond, "base latency of every answer")
	jitter := fs.Duration("jitter", 10*time.Millisecond, "uniform jitter added to the latency")
	tailProb := fs.Float64("tail-prob", 0, "probability (0..1) that an answer takes --tail instead, for a heavy p99")
	tail := fs.Duration("tail", 2*time.Second, "latency of the tail answers")
	tokenDelay := fs.Duration("token-delay", 0, "pause between stream chunks")
	firstToken := fs.Duration("first-token-delay", 2*time.Second, "how long sim-slow-first-token waits for its first token")
	apiKey := fs.String("require-key", "", "refuse calls without this key in the format's auth header (default: no check)")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprint(out, `Usage: switchyard sim [flags]

Serves the provider simulator (OpenAI, Anthropic and Gemini wire formats); the model name picks
a fault. Admin endpoints on the same address:
  GET    /_sim/stats[?request_id=ID]   counters as JSON (retry_after_violations included)
  POST   /_sim/reset                   clear the counters
  PUT    /_sim/fault                   {"model":"gpt-4o","fault":"sim-503"}: calls for model behave
                                       as that fault model (model "" = every call, fault "" = clear)
  GET    /_sim/fault                   list the overrides: {"faults":[{"model":"","fault":"sim-503"}]}
  DELETE /_sim/fault                   clear every override

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := sim.NewServer(sim.Config{
		Latency:    sim.Latency{Base: *latency, Jitter: *jitter, TailProb: *tailProb, Tail: *tail},
		TokenDelay: *tokenDelay, FirstTokenDelay: *firstToken, APIKey: *apiKey,
	})
	if err != nil {
		return err
	}
	url, err := srv.Start(*addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "provider simulator on %s\n", url)
	fmt.Fprintf(stdout, "  OpenAI     POST %s/v1/chat/completions          (base_url %s/v1)\n", url, url)
	fmt.Fprintf(stdout, "  Anthropic  POST %s/v1/messages                  (base_url %s)\n", url, url)
	fmt.Fprintf(stdout, "  Gemini     POST %s/v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse (base_url %s)\n", url, url)
	fmt.Fprintf(stdout, "  stats      GET  %s/_sim/stats[?request_id=ID]     (POST %s/_sim/reset clears the counters)\n", url, url)
	fmt.Fprintf(stdout, "  faults     PUT  %s/_sim/fault  {\"model\":\"gpt-4o\",\"fault\":\"sim-503\"}  (model \"\" = every call, fault \"\" = clear)\n", url)
	fmt.Fprintf(stdout, "             GET  %s/_sim/fault  lists the overrides; DELETE %s/_sim/fault clears them\n", url, url)
	var names []string
	for _, f := range sim.Faults() {
		names = append(names, f.Model)
	}
	fmt.Fprintf(stdout, "fault models (any other name answers normally): %s\n", strings.Join(names, " "))
	<-ctx.Done()
	return nil
}
