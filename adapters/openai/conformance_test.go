package openai_test

import (
	"testing"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/adaptertest"
	"github.com/switchyard-llm/switchyard/adapters/openai"
)

func TestConformance(t *testing.T) {
	cfg := func(root string, key adapters.Secret) openai.Config {
		return openai.Config{Name: "sim", BaseURL: root + "/v1", APIKey: key, Headers: map[string]string{"OpenAI-Organization": "org-test"}}
	}
	adaptertest.Run(t, adaptertest.Harness{
		New: func(t testing.TB, root string, key adapters.Secret) adapters.Adapter {
			a, err := openai.New(cfg(root, key))
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

// TestConformanceFlavors runs the suite for the flavors with distinct request quirks against the
// simulator (BaseURL pointed at it), so that each quirk still produces a request the reference
// wire format accepts and answers that decode. Ollama and Together send what vLLM and generic
// send. Mistral leaves out stream_options (the simulator then sends no stream usage, as OpenAI
// does) and rewrites tool-call ids; the harness says so. Runs are sequential: the suite measures
// allocations process-wide.
func TestConformanceFlavors(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for _, f := range []openai.Flavor{openai.FlavorGroq, openai.FlavorXAI, openai.FlavorMistral, openai.FlavorDeepSeek, openai.FlavorVLLM, openai.FlavorGeneric} {
		t.Run(string(f), func(t *testing.T) {
			adaptertest.Run(t, adaptertest.Harness{
				NoStreamUsage:       f == openai.FlavorMistral,
				RewritesToolCallIDs: f == openai.FlavorMistral,
				New: func(t testing.TB, root string, key adapters.Secret) adapters.Adapter {
					a, err := openai.New(openai.Config{Name: "sim", Flavor: f, BaseURL: root + "/v1", APIKey: key})
					if err != nil {
						t.Fatal(err)
					}
					return a
				},
			})
		})
	}
}

// TestLive runs the short live suite against the real APIs of OpenAI and the compatible
// providers whose keys are set, e.g.
// OPENAI_API_KEY=... GROQ_API_KEY=... go test ./adapters/openai -run Live -live
func TestLive(t *testing.T) {
	for _, l := range []struct {
		flavor openai.Flavor
		env    string
		model  string
	}{
		{openai.FlavorOpenAI, "OPENAI_API_KEY", "gpt-4o-mini"},
		{openai.FlavorGroq, "GROQ_API_KEY", "llama-3.1-8b-instant"},
		{openai.FlavorXAI, "XAI_API_KEY", "grok-3-mini"},
		{openai.FlavorMistral, "MISTRAL_API_KEY", "mistral-small-latest"},
		{openai.FlavorDeepSeek, "DEEPSEEK_API_KEY", "deepseek-chat"},
		{openai.FlavorTogether, "TOGETHER_API_KEY", "meta-llama/Llama-3.3-70B-Instruct-Turbo"},
	} {
		t.Run(string(l.flavor), func(t *testing.T) {
			adaptertest.RunLive(t, adaptertest.Live{
				KeyEnv: l.env,
				Model:  l.model,
				New: func(t testing.TB, key adapters.Secret) adapters.Adapter {
					a, err := openai.New(openai.Config{Flavor: l.flavor, APIKey: key})
					if err != nil {
						t.Fatal(err)
					}
					return a
				},
			})
		})
	}
}
