package gemini_test

import (
	"testing"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/adapters/gemini"
)

func TestConformance(t *testing.T) {
	cfg := func(root string, key adapters.Secret) gemini.Config {
		return gemini.Config{Name: "sim", BaseURL: root, APIKey: key, Headers: map[string]string{"X-Goog-User-Project": "switchyard-test"}}
	}
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t testing.TB, root string, key adapters.Secret) adapters.Adapter {
			a, err := gemini.New(cfg(root, key))
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

// TestLive runs the short live suite against the real Gemini API:
// GEMINI_API_KEY=... go test ./adapters/gemini -run Live -live
func TestLive(t *testing.T) {
	adaptertest.RunLive(t, adaptertest.Live{
		KeyEnv: "GEMINI_API_KEY",
		Model:  "gemini-2.5-flash-lite",
		New: func(t testing.TB, key adapters.Secret) adapters.Adapter {
			a, err := gemini.New(gemini.Config{APIKey: key})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
	})
}
