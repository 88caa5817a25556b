package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

var testTopics = producers.RequesterTopics{Requests: "req", Responses: "resp", Stream: "stream", Cancels: "cancels"}

const testKey = "sk-test-key"

// script answers one request: the stream chunks, then the response (nil: no answer).
type script func(req *schemas.Request) ([]schemas.StreamChunk, *schemas.Response)

// rig is a gateway on kfake with a scripted pipeline behind it: a goroutine that reads
// llm.requests and answers each request on the reply topics as the workers would.
type rig struct {
	t       *testing.T
	url     string
	codec   *schemas.Codec
	cancels chan schemas.Cancel
	srv     *Server
}

func newRig(t *testing.T, maxInFlight int, answer script) *rig {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "req", "resp", "stream", "cancels"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	codec, err := schemas.NewCodec(schemas.CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rq, err := producers.NewRequester(context.Background(), producers.RequesterConfig{Brokers: cluster.ListenAddrs(), Codec: codec,
		Topics: testTopics, InstanceID: "gw-test", ReplyPartition: 1, MaxInFlight: maxInFlight, StreamGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rq.Close)
	srv, err := New(Config{Requester: rq, Keys: []Key{{SHA256: HashKey(testKey), Tenant: "acme", Name: "test"}},
		Models: []Model{{ID: "fast", OwnedBy: "openai"}}, MaxBodyBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	r := &rig{t: t, url: hs.URL, codec: codec, cancels: make(chan schemas.Cancel, 16), srv: srv}

	ctx, stop := context.WithCancel(context.Background())
	in, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("req", "cancels"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	out, err := kgo.NewClient(append(producers.ProducerOpts(), kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.RecordPartitioner(producers.ReplyPartitioner("resp", "stream")))...)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			in.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
				if rec.Topic == "cancels" {
					var x schemas.Cancel
					if err := codec.Decode(schemas.TypeCancel, rec.Value, "", &x); err == nil {
						r.cancels <- x
					}
					return
				}
				req, err := codec.DecodeRequest(rec.Value, "")
				if err != nil {
					t.Errorf("pipeline: %v", err)
					return
				}
				chunks, resp := answer(req)
				hdrs := producers.ReplyHeaders(rec.Headers)
				for i := range chunks {
					chunks[i].RequestID, chunks[i].Seq = req.RequestID, int32(i)
					v, _ := codec.Encode(schemas.TypeStreamChunk, &chunks[i])
					_ = producers.ProduceAll(ctx, out, &kgo.Record{Topic: "stream", Key: rec.Key, Value: v, Headers: hdrs})
				}
				if resp != nil {
					resp.RequestID, resp.TenantID = req.RequestID, req.TenantID
					v, _ := codec.Encode(schemas.TypeResponse, resp)
					_ = producers.ProduceAll(ctx, out, &kgo.Record{Topic: "resp", Key: rec.Key, Value: v, Headers: hdrs})
				}
			})
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait(); in.Close(); out.Close() })
	return r
}

func (r *rig) post(ctx context.Context, body string, headers ...string) (*http.Response, string) {
	r.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", r.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func okAnswer(content string) script {
	return func(req *schemas.Request) ([]schemas.StreamChunk, *schemas.Response) {
		resp := &schemas.Response{Status: "ok", Provider: "openai", Model: "fast-2024", Content: content, FinishReason: "stop",
			Usage: schemas.Usage{InputTokens: 3, OutputTokens: 2}}
		if !req.Stream {
			return nil, resp
		}
		return []schemas.StreamChunk{{Kind: "delta", Delta: content, Provider: "openai", Model: "fast-2024"},
			{Kind: "done", FinishReason: "stop", Provider: "openai", Model: "fast-2024"}}, resp
	}
}

const chatBody = `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`

func errCode(t *testing.T, body string) (typ, code, param string) {
	t.Helper()
	var e struct {
		Error struct {
			Type  string  `json:"type"`
			Code  *string `json:"code"`
			Param *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Error.Code != nil {
		code = *e.Error.Code
	}
	if e.Error.Param != nil {
		param = *e.Error.Param
	}
	return e.Error.Type, code, param
}

func TestServerRefusesBadCallsWithOpenAIErrors(t *testing.T) {
	r := newRig(t, 4, okAnswer("fine"))
	ctx := context.Background()
	cases := []struct {
		name, body string
		headers    []string
		status     int
		code       string
		param      string
	}{
		{"too large", `{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, nil, 413, "", ""},
		{"not json", `{"model":`, nil, 400, "", ""},
		{"bad deadline header", chatBody, []string{"X-Switchyard-Deadline-Ms", "soon"}, 400, "", "X-Switchyard-Deadline-Ms"},
		{"bad budget header", chatBody, []string{"X-Switchyard-Budget-Usd", "-1"}, 400, "", "X-Switchyard-Budget-Usd"},
		{"bad priority header", chatBody, []string{"X-Switchyard-Priority", "urgent"}, 400, "", ""},
		{"idempotency key with spaces", chatBody, []string{"Idempotency-Key", "a b"}, 400, "", "Idempotency-Key"},
	}
	for _, c := range cases {
		resp, body := r.post(ctx, c.body, c.headers...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
			continue
		}
		typ, code, param := errCode(t, body)
		if typ != "invalid_request_error" || (c.code != "" && code != c.code) || (c.param != "" && param != c.param) {
			t.Errorf("%s: type %q code %q param %q: %s", c.name, typ, code, param, body)
		}
	}
	// No key, a wrong key, an unknown path.
	for _, c := range []struct {
		auth, path string
		status     int
		code       string
	}{{"", "/v1/chat/completions", 401, "missing_api_key"}, {"Bearer nope", "/v1/chat/completions", 401, "invalid_api_key"},
		{"Bearer " + testKey, "/v1/embeddings", 404, "unknown_url"}} {
		req, _ := http.NewRequest("POST", r.url+c.path, strings.NewReader(chatBody))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, code, _ := errCode(t, string(b)); resp.StatusCode != c.status || code != c.code {
			t.Errorf("%s %s: %d %s", c.auth, c.path, resp.StatusCode, b)
		}
	}
}

func TestServerPipelineErrorBeforeStreamIsAnHTTPError(t *testing.T) {
	r := newRig(t, 4, func(req *schemas.Request) ([]schemas.StreamChunk, *schemas.Response) {
		return nil, &schemas.Response{Status: "error", Error: &schemas.ErrorInfo{Code: "budget_exceeded", Message: "the tenant's daily budget is spent"}}
	})
	resp, body := r.post(context.Background(), `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if typ, code, _ := errCode(t, body); resp.StatusCode != 429 || code != "insufficient_quota" || typ == "" {
		t.Errorf("refused stream: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q: an error before the stream is plain JSON", ct)
	}
	// The same when the stream's first chunk is its error chunk.
	r = newRig(t, 4, func(req *schemas.Request) ([]schemas.StreamChunk, *schemas.Response) {
		return []schemas.StreamChunk{{Kind: "error", Provider: "p1", Model: "m1"}},
			&schemas.Response{Status: "error", Error: &schemas.ErrorInfo{Code: "deadline_exceeded", Message: "too slow"}}
	})
	resp, body = r.post(context.Background(), `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if _, code, _ := errCode(t, body); resp.StatusCode != 504 || code != "deadline_exceeded" {
		t.Errorf("error chunk first: %d %s", resp.StatusCode, body)
	}
}

// A restarted answer that repeats what the client already has is swallowed; one that
// differs cannot be taken back: the stream ends in an error frame and the request is
// cancelled downstream.
func TestServerStreamRestart(t *testing.T) {
	for _, tc := range []struct {
		name, again string
		wantErr     bool
	}{{"same prefix", "Hello, world", false}, {"diverged", "Goodbye", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 4, func(req *schemas.Request) ([]schemas.StreamChunk, *schemas.Response) {
				return []schemas.StreamChunk{
					{Kind: "delta", Delta: "Hello, ", Provider: "p1", Model: "m1"},
					{Kind: "provider_switch", Mode: "restart", Provider: "p2", Model: "m2"},
					{Kind: "delta", Delta: tc.again, Provider: "p2", Model: "m2"},
					{Kind: "done", FinishReason: "stop", Provider: "p2", Model: "m2"},
				}, &schemas.Response{Status: "degraded", Provider: "p2", Model: "m2", Content: tc.again, FinishReason: "stop"}
			})
			resp, body := r.post(context.Background(), `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			text, errFrame, done := readSSE(t, body)
			if tc.wantErr {
				if !strings.Contains(errFrame, "stream_restarted") || done {
					t.Errorf("diverged restart: text %q error %q done %v", text, errFrame, done)
				}
				select {
				case x := <-r.cancels:
					if x.Reason != "stream_diverged" || x.TenantID != "acme" {
						t.Errorf("cancel %+v", x)
					}
				case <-time.After(5 * time.Second):
					t.Error("the diverged request was not cancelled downstream")
				}
				return
			}
			if text != "Hello, world" || errFrame != "" || !done {
				t.Errorf("text %q error %q done %v", text, errFrame, done)
			}
		})
	}
}

// readSSE returns the streamed text, the first error frame and whether [DONE] came.
func readSSE(t *testing.T, body string) (text, errFrame string, done bool) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var f struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		if len(f.Error) > 0 && errFrame == "" {
			errFrame = string(f.Error)
		}
		for _, c := range f.Choices {
			text += c.Delta.Content
		}
	}
	return text, errFrame, done
}

// A streamed call retried with its Idempotency-Key gets the same answer replayed as a
// stream, without a second request.
func TestServerReplaysIdempotentStream(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	answer := okAnswer("once only")
	r := newRig(t, 4, func(req *schemas.Request) ([]schemas.StreamChunk, *schemas.Response) {
		mu.Lock()
		seen++
		mu.Unlock()
		return answer(req)
	})
	body := `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	_, first := r.post(context.Background(), body, "Idempotency-Key", "k-1")
	resp, second := r.post(context.Background(), body, "Idempotency-Key", "k-1")
	t1, _, d1 := readSSE(t, first)
	t2, _, d2 := readSSE(t, second)
	if t1 != "once only" || t2 != t1 || !d1 || !d2 || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("first %q (%v), replay %q (%v), replayed header %q", t1, d1, t2, d2, resp.Header.Get("Idempotent-Replayed"))
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if seen != 1 {
		t.Errorf("the pipeline saw %d requests for one key", seen)
	}
}

// A call whose answer does not come before its deadline gets 504, and the request is
// cancelled downstream.
func TestServerDeadlineCancelsDownstream(t *testing.T) {
	r := newRig(t, 4, func(*schemas.Request) ([]schemas.StreamChunk, *schemas.Response) { return nil, nil })
	resp, body := r.post(context.Background(), chatBody, "X-Switchyard-Deadline-Ms", "100")
	if _, code, _ := errCode(t, body); resp.StatusCode != 504 || code != "deadline_exceeded" {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	select {
	case x := <-r.cancels:
		if x.Reason != "deadline" {
			t.Errorf("cancel %+v", x)
		}
	case <-time.After(5 * time.Second):
		t.Error("no cancel after the deadline")
	}
}
