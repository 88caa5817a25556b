package main

import (
	"log/slog"
	"os"
	"testing"

	"github.com/switchyard-llm/switchyard/adapters/sim"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

func routerRule(model string, fallbacks ...string) router.Rule {
	return router.Rule{Model: model, Fallbacks: fallbacks}
}

// testLogger logs warnings to stderr (not t.Log: the pipeline's goroutines may outlive a test).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("test", t.Name())
}

// inputCodecs returns a codec per input encoding; confluent shares the app's registry.
func inputCodecs(t *testing.T, confluent *schemas.Codec) map[string]*schemas.Codec {
	t.Helper()
	out := map[string]*schemas.Codec{"confluent": confluent}
	for _, f := range []string{"json", "single-object"} {
		c, err := schemas.NewCodec(schemas.CodecOptions{OutputFormat: schemas.OutputFormat(f)})
		if err != nil {
			t.Fatal(err)
		}
		out[f] = c
	}
	return out
}

// startSim starts a provider simulator on a free loopback port, closed when the test ends.
func startSim(t *testing.T, cfg sim.Config) (*sim.Server, string) {
	t.Helper()
	srv, err := sim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, url
}
