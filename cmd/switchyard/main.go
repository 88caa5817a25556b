// Command switchyard is the one Switchyard binary. It only wires: it reads the config, builds
// the Kafka, registry, ClickHouse and provider clients, names the concrete adapters, and starts
// the roles the other packages implement.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run everything in one process: in-process Kafka and registry, simulator, all roles, load", runDemo},
		{"run", "run roles against real Kafka: --roles router,worker,analytics,gateway", runRoles},
		{"gateway", "gateway hash-key: print the sha256 of a bearer key (stdin) for gateway.keys", runGatewayCmd},
		{"sim", "serve the provider simulator on loopback", runSim},
		{"produce", "publish JSON-lines requests to llm.requests", runProduce},
		{"consume", "print a topic's records as JSON lines", runConsume},
		{"migrate", "create or upgrade the ClickHouse tables", runMigrate},
		{"report", "print cost and latency from ClickHouse", runReport},
		{"bench", "end-to-end benchmark on in-process and real Kafka", runBench},
		{"bench-gateways", "OpenAI-compatible gateways side by side in front of one simulated provider", runBenchGateways},
		{"eval", "replay a labelled request file through the router: accuracy and projected cost", runEval},
		{"config", "config check: validate a config file and list every problem", runConfig},
		{"providers", "print the capability matrix of every provider kind and known model", runProviders},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "switchyard:", err)
		}
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "switchyard: a Kafka-native orchestration pipeline for LLM requests")
	fmt.Fprintln(w, "\nUsage: switchyard <command> [flags]  (switchyard <command> -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, "switchyard", version)
	return nil
}

// newFlags makes a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("switchyard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
