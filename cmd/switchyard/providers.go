package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/internal/config"
)

// matrixModels are the models shown per provider kind in the capability matrix: the ones each
// adapter's model table knows, plus "(other)" for the kind's default.
var matrixModels = map[string][]string{
	"openai":            {"gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-5", "o3", "o4-mini"},
	"anthropic":         {"claude-3-5-haiku-20241022", "claude-haiku-4-5", "claude-sonnet-4-20250514", "claude-opus-4-1"},
	"gemini":            {"gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro"},
	"groq":              {"llama-3.1-8b-instant", "llama-3.3-70b-versatile"},
	"xai":               {"grok-3-mini", "grok-4"},
	"mistral":           {"mistral-small-latest", "mistral-large-latest"},
	"deepseek":          {"deepseek-chat", "deepseek-reasoner"},
	"together":          {"meta-llama/Llama-3.3-70B-Instruct-Turbo"},
	"ollama":            {"llama3.1"},
	"vllm":              {},
	"openai-compatible": {},
}

// otherModel stands for a model the adapter's table does not know.
const otherModel = "(other)"

// capabilityMatrix renders what every provider kind and model supports, as a Markdown table.
// It builds each adapter exactly as a worker would (with a placeholder key, sending nothing),
// so the matrix is what the code declares, not a hand-kept list.
func capabilityMatrix() (string, error) {
	var b strings.Builder
	b.WriteString("| kind | model | streaming | tools | parallel tools | JSON mode | JSON schema | prefill | images | max context | max output |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	yes := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	num := func(n int) string {
		if n == 0 {
			return "?"
		}
		return strconv.Itoa(n)
	}
	for _, kind := range config.ProviderKinds {
		p := config.Provider{Name: strings.ReplaceAll(kind, "openai-compatible", "compat"), Kind: kind, BaseURL: placeholderBaseURL(kind)}
		a, err := buildAdapter(p, nil)
		if err != nil {
			return "", fmt.Errorf("kind %s: %w", kind, err)
		}
		for _, m := range append(append([]string(nil), matrixModels[kind]...), otherModel) {
			c := adapters.CapabilitiesFor(a, m)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", kind, m,
				yes(c.Streaming), yes(c.Tools), yes(c.ParallelTools), yes(c.JSONMode), yes(c.JSONSchema),
				yes(c.Prefill), yes(c.Images), num(c.MaxContext), num(c.MaxOutput))
		}
	}
	return b.String(), nil
}

func runProviders(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("providers", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := capabilityMatrix()
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, m)
	return err
}

// placeholderBaseURL is a loopback address in the shape each kind expects (Anthropic and Gemini
// take the API root, the Chat Completions kinds the /v1 root), for building adapters that send
// nothing.
func placeholderBaseURL(kind string) string {
	switch kind {
	case "anthropic", "gemini":
		return "http://127.0.0.1:1"
	}
	return "http://127.0.0.1:1/v1"
}

// simFaultTable renders the simulator's fault catalogue as a Markdown table.
func simFaultTable() string {
	var b strings.Builder
	b.WriteString("| model | behaviour |\n|---|---|\n")
	for _, f := range sim.Faults() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", f.Model, strings.ReplaceAll(f.Description, "|", "\\|"))
	}
	return b.String()
}
