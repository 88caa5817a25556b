package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/adapters/sim"
	"github.com/switchyard-llm/switchyard/gateway"
	"github.com/switchyard-llm/switchyard/internal/config"
	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

// slowChat is a routing-table model whose simulated provider never answers: calls to it stay
// in flight until they are cancelled.
const slowChat = "    - {name: slow-chat, provider: openai, version: sim-hang, allow_floating: true, context_window: 128000, max_output_tokens: 1000, price: {input_per_mtok: 0.15, output_per_mtok: 0.60}}\n"

// replies records, per request id, the partitions and reply-to headers of its responses.
type replies struct {
	mu   sync.Mutex
	seen map[string][]reply
}

type reply struct {
	partition int32
	replyTo   string
	resp      schemas.Response
}

func watchReplies(t *testing.T, ctx context.Context, brokers []string, codec *schemas.Codec, topic string) *replies {
	r := &replies{seen: map[string][]reply{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer cl.Close()
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
				var resp schemas.Response
				if err := codec.Decode(schemas.TypeResponse, rec.Value, producers.Header(rec, "content-type"), &resp); err != nil {
					t.Errorf("undecodable response: %v", err)
					return
				}
				r.mu.Lock()
				r.seen[resp.RequestID] = append(r.seen[resp.RequestID], reply{rec.Partition, producers.Header(rec, producers.HeaderReplyTo), resp})
				r.mu.Unlock()
			})
		}
	}()
	return r
}

func (r *replies) of(id string) []reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen[id])
}

// gatewayRig is the pipeline on the real broker with two gateway instances in front: one in
// the process of the router and workers (reply partition 0), one on its own (reply partition
// 3, at most one call in flight).
type gatewayRig struct {
	cfg        *config.Config
	url1, url2 string
	keyA, keyB string
	replies    *replies
	codec      *schemas.Codec
	brokers    []string
	simServer  *sim.Server
	simURL     string
}

func startGatewayRig(t *testing.T, ctx context.Context) *gatewayRig {
	kafka, ch := realServices(t)
	brokers := strings.Split(kafka, ",")
	srv, simURL := startSim(t, sim.Config{Latency: sim.Latency{Base: 2 * time.Millisecond}})
	cfg := itConfig(t, simURL, kafka, ch, slowChat)
	cfg.ClickHouse.Addr = "" // analytics is not under test here
	keyA, keyB := fmt.Sprintf("sk-acme-%d", time.Now().UnixNano()), fmt.Sprintf("sk-globex-%d", time.Now().UnixNano())
	cfg.Gateway.Keys = []config.GatewayKey{{Name: "acme-ci", SHA256: gateway.HashKey(keyA), Tenant: "acme"},
		{Name: "globex-ci", SHA256: gateway.HashKey(keyB), Tenant: "globex"}}
	cfg.Gateway.Addr = "127.0.0.1:0"
	p0 := 0
	cfg.Gateway.ReplyPartition = &p0

	app, err := NewApp(cfg, AppOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctx, []string{RoleRouter, RoleWorker, RoleGateway}, nil); err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Run(ctx) }()

	cfg2 := *cfg
	p3 := 3
	cfg2.Gateway.ReplyPartition = &p3
	cfg2.Gateway.MaxInFlight = 1
	app2, err := NewApp(&cfg2, AppOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := app2.Start(ctx, []string{RoleGateway}, nil); err != nil {
		t.Fatal(err)
	}
	go func() { _ = app2.Run(ctx) }()
	rig := &gatewayRig{cfg: cfg, url1: "http://" + app.gatewayAddr, url2: "http://" + app2.gatewayAddr, keyA: keyA, keyB: keyB,
		codec: app.Codec(), brokers: brokers, simServer: srv, simURL: simURL}
	rig.replies = watchReplies(t, ctx, brokers, app.Codec(), cfg.Topics().Responses)
	t.Logf("gateways at %s (reply partition 0) and %s (reply partition 3, max 1 in flight)", rig.url1, rig.url2)
	return rig
}

func (g *gatewayRig) client(url, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0),
		option.WithRequestTimeout(60*time.Second))
}

// TestGatewayWithOpenAISDKsOnRealKafka points the official OpenAI SDKs (openai-go, and the
// Python openai package) at the gateway, unchanged but for the base URL, in front of the real
// pipeline on the real broker: plain and streamed answers, tool calls in both, JSON mode, the
// models list, OpenAI error bodies, reply routing between two gateway instances, idempotent
// retries, 429 when saturated, and a client disconnect that cancels the request downstream.
func TestGatewayWithOpenAISDKsOnRealKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	g := startGatewayRig(t, ctx)
	cl := g.client(g.url1, g.keyA)
	msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Answer briefly."), openai.UserMessage("What is a switchyard?")}

	t.Run("models", func(t *testing.T) {
		page, err := cl.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		for _, want := range []string{"auto", "gpt-4o-mini", "claude-haiku", "slow-chat"} {
			if !slices.Contains(ids, want) {
				t.Errorf("models %v: %s missing", ids, want)
			}
		}
		m, err := cl.Models.Get(ctx, "gemini-flash")
		if err != nil || m.OwnedBy != "gemini" {
			t.Errorf("models.get: %+v, %v", m, err)
		}
	})

	t.Run("plain", func(t *testing.T) {
		var httpResp *http.Response
		resp, err := cl.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs, MaxTokens: openai.Int(64)},
			option.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Choices[0].FinishReason != "stop" {
			t.Fatalf("choices %+v", resp.Choices)
		}
		if resp.Model != "gpt-4o-mini-2024-07-18" || resp.Object != "chat.completion" || resp.Usage.TotalTokens == 0 {
			t.Errorf("model %q object %q usage %+v: want the pinned version and usage", resp.Model, resp.Object, resp.Usage)
		}
		id := httpResp.Header.Get("X-Switchyard-Request-Id")
		if httpResp.Header.Get("X-Switchyard-Provider") != "openai" || httpResp.Header.Get("X-Switchyard-Degraded") != "false" || id == "" {
			t.Errorf("headers %v", httpResp.Header)
		}
		var ext struct {
			Switchyard struct {
				Provider, Status string
				Degraded         bool
			} `json:"switchyard"`
		}
		if err := json.Unmarshal([]byte(resp.RawJSON()), &ext); err != nil || ext.Switchyard.Provider != "openai" || ext.Switchyard.Status != "ok" {
			t.Errorf("switchyard extension %+v (%v)", ext, err)
		}
		// The answer is the pipeline's response on llm.responses, in the asking instance's partition.
		waitFor(t, 20*time.Second, "the response on the topic", func() (bool, string) { return len(g.replies.of(id)) > 0, id })
		r := g.replies.of(id)[0]
		if r.resp.Content != resp.Choices[0].Message.Content || r.resp.TenantID != "acme" || r.partition != 0 {
			t.Errorf("topic has %q for tenant %s in partition %d; the SDK got %q", r.resp.Content, r.resp.TenantID, r.partition, resp.Choices[0].Message.Content)
		}
	})

	t.Run("stream", func(t *testing.T) {
		var httpResp *http.Response
		stream := cl.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs,
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}, option.WithResponseInto(&httpResp))
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" || acc.Choices[0].FinishReason != "stop" || acc.Usage.TotalTokens == 0 {
			t.Fatalf("accumulated %+v after %d chunks", acc.ChatCompletion, chunks)
		}
		if chunks < 3 {
			t.Errorf("%d chunks: the answer did not come as a stream", chunks)
		}
		id := httpResp.Header.Get("X-Switchyard-Request-Id")
		waitFor(t, 20*time.Second, "the response on the topic", func() (bool, string) { return len(g.replies.of(id)) > 0, id })
		if got := g.replies.of(id)[0].resp.Content; got != acc.Choices[0].Message.Content {
			t.Errorf("streamed %q, the response says %q", acc.Choices[0].Message.Content, got)
		}
	})

	weather := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Description: openai.String("Current weather in a city"),
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}})
	toolParams := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Tools: []openai.ChatCompletionToolUnionParam{weather},
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
		Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")}}
	checkCall := func(t *testing.T, calls []openai.ChatCompletionMessageToolCallUnion) {
		t.Helper()
		if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].ID == "" {
			t.Fatalf("tool calls %+v", calls)
		}
		var args map[string]any
		if err := json.Unmarshal([]byte(calls[0].Function.Arguments), &args); err != nil || args["city"] == nil {
			t.Errorf("arguments %q: %v", calls[0].Function.Arguments, err)
		}
	}
	t.Run("tools", func(t *testing.T) {
		resp, err := cl.Chat.Completions.New(ctx, toolParams)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("finish %q", resp.Choices[0].FinishReason)
		}
		checkCall(t, resp.Choices[0].Message.ToolCalls)
		// The second turn sends the call and its result back, as an agent loop would.
		next := toolParams
		next.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")}
		next.Messages = append(slices.Clone(toolParams.Messages), resp.Choices[0].Message.ToParam(),
			openai.ToolMessage(`{"temp_c": 18}`, resp.Choices[0].Message.ToolCalls[0].ID))
		resp2, err := cl.Chat.Completions.New(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp2.Choices) != 1 || (resp2.Choices[0].Message.Content == "" && len(resp2.Choices[0].Message.ToolCalls) == 0) {
			t.Errorf("second turn %+v", resp2.Choices)
		}
	})
	t.Run("tools-stream", func(t *testing.T) {
		stream := cl.Chat.Completions.NewStreaming(ctx, toolParams)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("finish %q", acc.Choices[0].FinishReason)
		}
		checkCall(t, acc.Choices[0].Message.ToolCalls)
	})

	t.Run("json-mode", func(t *testing.T) {
		resp, err := cl.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages:       []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Give me a JSON object describing a cat.")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}})
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid([]byte(resp.Choices[0].Message.Content)) {
			t.Errorf("json mode answered %q", resp.Choices[0].Message.Content)
		}
	})

	t.Run("errors", func(t *testing.T) {
		wrong := g.client(g.url1, "sk-wrong")
		_, err := wrong.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
			t.Errorf("wrong key: %v", err)
		}
		_, err = cl.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "no-such-model", Messages: msgs})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Errorf("unknown model: %v", err)
		}
		_, err = cl.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini"})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type != "invalid_request_error" || apiErr.Param != "messages" {
			t.Errorf("no messages: %v", err)
		}
	})

	t.Run("two-instances-route-replies", func(t *testing.T) {
		clB := g.client(g.url2, g.keyB)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids := map[string]int32{} // request id → the asking instance's reply partition
		ask := func(c openai.Client, partition int32) {
			defer wg.Done()
			var httpResp *http.Response
			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs}, option.WithResponseInto(&httpResp))
			if err != nil {
				t.Error(err)
				return
			}
			if resp.Choices[0].Message.Content == "" {
				t.Error("empty answer")
			}
			mu.Lock()
			ids[httpResp.Header.Get("X-Switchyard-Request-Id")] = partition
			mu.Unlock()
		}
		for range 8 {
			wg.Add(1)
			go ask(cl, 0)
		}
		for range 4 { // the second instance takes one call at a time
			wg.Add(1)
			ask(clB, 3)
		}
		wg.Wait()
		for id, p := range ids {
			waitFor(t, 20*time.Second, "response of "+id, func() (bool, string) { return len(g.replies.of(id)) > 0, id })
			for _, r := range g.replies.of(id) {
				if r.partition != p || !strings.HasPrefix(r.replyTo, "gateway/") {
					t.Errorf("%s: response in partition %d (reply-to %q), the asking instance reads %d", id, r.partition, r.replyTo, p)
				}
			}
		}
		if len(ids) != 12 {
			t.Errorf("%d distinct request ids for 12 calls", len(ids))
		}
	})

	t.Run("idempotency-key", func(t *testing.T) {
		body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"say hi"}]}`
		post := func() (*http.Response, []byte) {
			req, _ := http.NewRequestWithContext(ctx, "POST", g.url1+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+g.keyA)
			req.Header.Set("Idempotency-Key", "order-42")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, b
		}
		r1, b1 := post()
		r2, b2 := post()
		if r1.StatusCode != 200 || r2.StatusCode != 200 || !bytes.Equal(completionID(b1), completionID(b2)) || r2.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry with the same key: %d %s / %d %s replayed=%q", r1.StatusCode, b1, r2.StatusCode, b2, r2.Header.Get("Idempotent-Replayed"))
		}
		id := r1.Header.Get("X-Switchyard-Request-Id")
		if id != "acme:order-42" {
			t.Errorf("request id %q, want the tenant-scoped key", id)
		}
		time.Sleep(500 * time.Millisecond)
		if n := len(g.replies.of(id)); n != 1 {
			t.Errorf("%d responses for the key: the retry was published again", n)
		}
	})

	t.Run("saturated-then-disconnect-cancels", func(t *testing.T) {
		// The second instance takes one call at a time: a call to the hanging model holds its
		// slot, the next call gets 429 with Retry-After.
		slowCtx, hangUp := context.WithCancel(ctx)
		slowDone := make(chan error, 1)
		started := time.Now()
		slow := g.client(g.url2, g.keyB)
		go func() {
			_, err := slow.Chat.Completions.New(slowCtx, openai.ChatCompletionNewParams{Model: "slow-chat", Messages: msgs},
				option.WithHeader("Idempotency-Key", "slow-1"))
			slowDone <- err
		}()
		waitFor(t, 10*time.Second, "the slow call in flight", func() (bool, string) {
			n := inFlight(t, g.url2)
			return n == 1, fmt.Sprintf("in flight %d", n)
		})
		req, _ := http.NewRequestWithContext(ctx, "POST", g.url2+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+g.keyB)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error struct{ Type, Code string } }
		_ = json.Unmarshal(b, &e)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || e.Error.Type != "rate_limit_error" {
			t.Errorf("saturated: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
		// The client hangs up: the gateway cancels the request, and the worker abandons the
		// hanging provider call and ends it with an error response of code cancelled.
		time.Sleep(300 * time.Millisecond)
		hungUp := time.Now()
		hangUp()
		<-slowDone
		id := "globex:slow-1"
		waitFor(t, 20*time.Second, "the cancelled response", func() (bool, string) { return len(g.replies.of(id)) > 0, id })
		r := g.replies.of(id)[0].resp
		if r.Error == nil || r.Error.Code != "cancelled" {
			t.Errorf("after the disconnect: %+v", r)
		}
		t.Logf("the call began %s before the client hung up; its cancelled response was completed %s after the hang-up",
			hungUp.Sub(started).Round(time.Millisecond), time.UnixMilli(r.CompletedAt).Sub(hungUp).Round(time.Millisecond))
		waitFor(t, 10*time.Second, "the slot freed", func() (bool, string) {
			n := inFlight(t, g.url2)
			return n == 0, fmt.Sprintf("in flight %d", n)
		})
	})

	t.Run("produce-wait", func(t *testing.T) {
		// switchyard produce --wait: the producer client publishes and prints each response.
		path := writeConfig(t, g.cfg, g.simURL)
		in := `{"tenant_id":"acme","request_id":"cli-a","task_type":"chat","priority":"batch","messages":[{"role":"user","content":"one"}]}
{"tenant_id":"acme","request_id":"cli-b","task_type":"chat","priority":"batch","messages":[{"role":"user","content":"two"}]}
`
		file := filepath.Join(t.TempDir(), "in.jsonl")
		if err := os.WriteFile(file, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if err := runProduce(ctx, []string{"--config", path, "--file", file, "--wait", "--timeout", "60s"}, &stdout, &stderr); err != nil {
			t.Fatalf("produce --wait: %v\n%s", err, stderr.String())
		}
		got := map[string]string{}
		dec := json.NewDecoder(&stdout)
		for dec.More() {
			var r schemas.Response
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			got[r.RequestID] = r.Status
		}
		if len(got) != 2 || got["cli-a"] != "ok" || got["cli-b"] != "ok" {
			t.Errorf("produce --wait printed %v (stderr %s)", got, stderr.String())
		}
	})

	t.Run("python-openai", func(t *testing.T) {
		python := os.Getenv("SWITCHYARD_TEST_PYTHON")
		if python == "" {
			python = "python3"
		}
		if err := exec.Command(python, "-c", "import openai").Run(); err != nil {
			if os.Getenv("SWITCHYARD_REQUIRE_SERVICES") == "1" {
				t.Fatalf("%s cannot import openai (deploy/test-deps.sh installs it): %v", python, err)
			}
			t.Skipf("%s cannot import openai: %v", python, err)
		}
		cmd := exec.CommandContext(ctx, python, "testdata/openai_client.py", g.url1+"/v1", g.keyA)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("python client: %v\n%s", err, ee.Stderr)
			}
			t.Fatal(err)
		}
		var res map[string]any
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("python client printed %q: %v", out, err)
		}
		t.Logf("python openai %v: %s", res["version"], out)
		for _, k := range []string{"plain", "stream", "tool_name", "stream_tool_name"} {
			if s, _ := res[k].(string); s == "" {
				t.Errorf("python client: %s empty", k)
			}
		}
		if res["plain_model"] != "gpt-4o-mini-2024-07-18" || res["tool_name"] != "get_weather" || res["stream_tool_name"] != "get_weather" {
			t.Errorf("python client: %s", out)
		}
		if res["bad_key_status"] != float64(401) {
			t.Errorf("python client: wrong key gave %v", res["bad_key_status"])
		}
	})
}

func completionID(body []byte) []byte {
	var c struct{ ID string }
	_ = json.Unmarshal(body, &c)
	return []byte(c.ID)
}

func inFlight(t *testing.T, url string) int {
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		InFlight int `json:"in_flight"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&h)
	return h.InFlight
}
