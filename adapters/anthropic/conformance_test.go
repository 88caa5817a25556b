package anthropic_test

import (
	"testing"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/adapters/anthropic"
)

func TestConformance(t *testing.T) {
	cfg := func(root string, key adapters.Secret) anthropic.Config {
		return anthropic.Config{Name: "sim", BaseURL: root, APIKey: key, Beta: []string{"test-beta-2025-01-01"}, Headers: map[string]string{"X-Test": "1"}}
	}
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t testing.TB, root string, key adapters.Secret) adapters.Adapter {
			a, err := anthropic.New(cfg(root, key))
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Printables: func(key adapters.Secret) []any {
			c := cfg("http://127.0.0.1:1", key)
			return []any{c, &c}
		},
	})
}

// TestLive runs the short live suite against the real Anthropic API:
// ANTHROPIC_API_KEY=... go test ./adapters/anthropic -run Live -live
func TestLive(t *testing.T) {
	adaptertest.RunLive(t, adaptertest.Live{
		KeyEnv: "ANTHROPIC_API_KEY",
		Model:  "claude-3-5-haiku-20241022",
		New: func(t testing.TB, key adapters.Secret) adapters.Adapter {
			a, err := anthropic.New(anthropic.Config{APIKey: key})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
	})
}
