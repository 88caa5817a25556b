package adaptertest

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/schemas"
)

var live = flag.Bool("live", false, "run the live conformance tests against the real provider APIs; each needs its API key in the environment")

// Live describes a real provider for RunLive.
type Live struct {
	// KeyEnv names the environment variable that holds the API key; without it the test skips.
	KeyEnv string
	// Model is a small, cheap model of the provider, e.g. "gpt-4o-mini".
	Model string
	// New returns the adapter for the real API with key.
	New func(t testing.TB, key adapters.Secret) adapters.Adapter
	// UnknownModel is a model name the provider refuses. Default "switchyard-no-such-model".
	UnknownModel string
}

// liveFlag reports whether -live was given; tests of this package set it.
var liveFlag = func() bool { return *live }

// RunLive runs a short suite against the real API when the test binary gets -live and the key is
// set (go test ./adapters/openai -run Live -live). It sends a handful of small calls: a plain
// answer, a stream, a forced tool call, JSON mode where declared, an unknown model and a wrong key.
func RunLive(t *testing.T, l Live) {
	if !liveFlag() {
		t.Skip("live tests run with -live")
	}
	key := os.Getenv(l.KeyEnv)
	if key == "" {
		t.Skipf("%s is not set", l.KeyEnv)
	}
	a := l.New(t, adapters.Secret(key))
	liveCall := func(prompt string) *adapters.Call {
		return &adapters.Call{
			RequestID: "live-" + strings.ReplaceAll(t.Name(), "/", "-"),
			Model:     l.Model,
			MaxTokens: 200,
			Messages: []schemas.Message{
				{Role: "system", Content: "You are terse."},
				{Role: "user", Content: prompt},
			},
		}
	}
	for _, m := range (&env{a: a}).modes() {
		t.Run("Answer/"+m.name, func(t *testing.T) {
			res, st, err := do(ctxTimeout(t, time.Minute), a, liveCall("Reply with the single word pong."), m.stream)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.ToLower(res.Content), "pong") || res.FinishReason != adapters.FinishStop {
				t.Errorf("content %q, finish %q", res.Content, res.FinishReason)
			}
			if res.Usage.InputTokens <= 0 || res.Usage.OutputTokens <= 0 || res.Model == "" {
				t.Errorf("usage %+v, model %q", res.Usage, res.Model)
			}
			if m.stream && st.content != res.Content {
				t.Errorf("deltas add up to %q, result %q", st.content, res.Content)
			}
		})
	}
	t.Run("ToolCall", func(t *testing.T) {
		if !a.Capabilities().Tools {
			t.Skip("no tools")
		}
		c := liveCall("What is the weather in Paris, in celsius, for 2 days?")
		c.Tools, c.ToolChoice = []schemas.Tool{weatherTool}, "get_weather"
		res, err := a.Complete(ctxTimeout(t, time.Minute), c)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.ToolCalls) != 1 || res.ToolCalls[0].Name != "get_weather" || res.ToolCalls[0].ID == "" {
			t.Fatalf("tool calls %+v", res.ToolCalls)
		}
		var args map[string]any
		if err := json.Unmarshal([]byte(res.ToolCalls[0].Arguments), &args); err != nil || args["city"] == nil {
			t.Errorf("arguments %q: %v", res.ToolCalls[0].Arguments, err)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		if !a.Capabilities().JSONMode {
			t.Skip("no JSON mode")
		}
		c := liveCall(`Answer in JSON as {"answer": "<the capital of France>"}.`)
		c.ResponseFormat = schemas.ResponseFormat{Type: "json"}
		res, err := a.Complete(ctxTimeout(t, time.Minute), c)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(res.Content), &v); err != nil {
			t.Errorf("content %q: %v", res.Content, err)
		}
	})
	t.Run("UnknownModel", func(t *testing.T) {
		c := liveCall("hi")
		c.Model = l.UnknownModel
		if c.Model == "" {
			c.Model = "switchyard-no-such-model"
		}
		_, err := a.Complete(ctxTimeout(t, time.Minute), c)
		if k := adapters.KindOf(err); k != adapters.InvalidRequest {
			t.Errorf("kind %v: %v", k, err)
		}
	})
	t.Run("WrongKey", func(t *testing.T) {
		bad := l.New(t, adapters.Secret("sk-switchyard-wrong-key-000000000000"))
		_, err := bad.Complete(ctxTimeout(t, time.Minute), liveCall("hi"))
		if k := adapters.KindOf(err); k != adapters.Auth {
			t.Errorf("kind %v: %v", k, err)
		}
		if strings.Contains(err.Error(), key) {
			t.Error("the real key leaked into an error")
		}
	})
}
