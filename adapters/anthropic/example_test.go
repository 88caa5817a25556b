package anthropic_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/adapters/anthropic"
	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/schemas"
)

// The adapter against the simulator, which serves Anthropic's Messages format on loopback: a
// streamed answer, then a tool call.
func Example() {
	srv, _ := sim.NewServer(sim.Config{})
	root, _ := srv.Start("127.0.0.1:0")
	defer srv.Close()

	a, err := anthropic.New(anthropic.Config{BaseURL: root, APIKey: "sk-ant-example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	call := &adapters.Call{
		RequestID: "req-1",
		Model:     sim.ModelOK,
		MaxTokens: 20,
		Messages: []schemas.Message{
			{Role: "system", Content: "You are terse."},
			{Role: "user", Content: "What is the capital of France?"},
		},
	}
	var deltas int
	res, err := a.Stream(context.Background(), call, func(d adapters.Delta) error {
		deltas++
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.HasPrefix(res.Content, "Simulated answer to: What is the capital of France?"), deltas > 1)
	fmt.Println(res.FinishReason, res.Usage.OutputTokens)

	call.Messages[1].Content = "Please call tool get_weather for Paris"
	call.Tools = []schemas.Tool{{Name: "get_weather", Parameters: `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`}}
	res, err = a.Complete(context.Background(), call)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.FinishReason, res.ToolCalls[0].Name, res.ToolCalls[0].Arguments)
	fmt.Println(a.Name(), a.Capabilities().JSONSchema, a.ModelCapabilities("claude-opus-4-6").MaxOutput)
	// Output:
	// true true
	// length 20
	// tool_calls get_weather {"city":"sim"}
	// anthropic true 128000
}
