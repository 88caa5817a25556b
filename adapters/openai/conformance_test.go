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
