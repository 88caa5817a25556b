package adaptertest

import (
	"testing"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/openai"
	"github.com/switchyard-llm/switchyard/adapters/sim"
)

// TestRunLiveAgainstSimulator runs the live suite with the simulator standing in for a real API,
// so that the suite's own checks are known to pass on a correct provider (and would fail on a
// wrong one: the simulator refuses the wrong key and the unknown model).
func TestRunLiveAgainstSimulator(t *testing.T) {
	liveFlag = func() bool { return true }
	t.Cleanup(func() { liveFlag = func() bool { return *live } })
	srv := newSim(t, sim.Config{APIKey: "sk-live-sim"})
	t.Setenv("SWITCHYARD_TEST_LIVE_KEY", "sk-live-sim")
	RunLive(t, Live{
		KeyEnv:       "SWITCHYARD_TEST_LIVE_KEY",
		Model:        sim.ModelOK,
		UnknownModel: sim.Model404,
		New: func(t testing.TB, key adapters.Secret) adapters.Adapter {
			a, err := openai.New(openai.Config{Flavor: openai.FlavorGeneric, BaseURL: srv.OpenAIBaseURL(), APIKey: key})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
	})
}
