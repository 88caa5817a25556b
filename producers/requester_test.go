package producers_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

var rqTopics = producers.RequesterTopics{Requests: "req", Responses: "resp", Stream: "stream", Cancels: "cancels"}

func newCodec(t testing.TB) *schemas.Codec {
	t.Helper()
	codec, err := schemas.NewCodec(schemas.CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return codec
}

func newRequester(t testing.TB, c *kfake.Cluster, partition int32, maxInFlight int) *producers.Requester {
	t.Helper()
	rq, err := producers.NewRequester(context.Background(), producers.RequesterConfig{Brokers: c.ListenAddrs(), Codec: newCodec(t),
		Topics: rqTopics, InstanceID: "test-" + strconv.Itoa(int(partition)), ReplyPartition: partition, MaxInFlight: maxInFlight,
		StreamGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rq.Close)
	return rq
}

func request(id string) *schemas.Request {
	return &schemas.Request{RequestID: id, TenantID: "t1", CreatedAt: time.Now().UnixMilli(), Priority: "interactive",
		TaskType: "chat", Messages: []schemas.Message{{Role: "user", Content: "hi"}}}
}

// pipeline stands in for the router and workers: it reads the requests and answers each on
// the reply topics with the request's reply headers copied, through a client partitioned the
// way the roles' clients are.
type pipeline struct {
	t     *testing.T
	codec *schemas.Codec
	in    *kgo.Client
	out   *kgo.Client
}

func newPipeline(t *testing.T, c *kfake.Cluster) *pipeline {
	in := newClient(t, c, kgo.ConsumeTopics(rqTopics.Requests), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	out := newClient(t, c, kgo.RecordPartitioner(producers.ReplyPartitioner(rqTopics.Responses, rqTopics.Stream)))
	return &pipeline{t: t, codec: newCodec(t), in: in, out: out}
}

// next returns the next request record.
func (p *pipeline) next() *kgo.Record {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		fs := p.in.PollRecords(ctx, 1)
		if ctx.Err() != nil {
			p.t.Fatal("no request arrived")
		}
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}

func (p *pipeline) send(in *kgo.Record, topic string, typ schemas.Type, v any) *kgo.Record {
	p.t.Helper()
	val, err := p.codec.Encode(typ, v)
	if err != nil {
		p.t.Fatal(err)
	}
	rec := &kgo.Record{Topic: topic, Key: in.Key, Value: val, Headers: append([]kgo.RecordHeader{{Key: "content-type", Value: []byte(p.codec.ContentType())}},
		producers.ReplyHeaders(in.Headers)...)}
	if err := producers.ProduceAll(context.Background(), p.out, rec); err != nil {
		p.t.Fatal(err)
	}
	return rec
}

func TestRequesterDoGetsItsResponseOnItsPartition(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(4, "req", "resp", "stream", "cancels"))
	rq := newRequester(t, c, 2, 8)
	other := newRequester(t, c, 1, 8)
	p := newPipeline(t, c)

	done := make(chan *schemas.Response, 1)
	go func() {
		resp, err := rq.Do(context.Background(), request("r-1"))
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	in := p.next()
	if v, ok := producers.ReplyPartitionOf(in.Headers); !ok || v != 2 {
		t.Fatalf("request headers %v: want reply partition 2", in.Headers)
	}
	out := p.send(in, rqTopics.Responses, schemas.TypeResponse, &schemas.Response{RequestID: "r-1", TenantID: "t1", Status: "ok", Content: "hello"})
	if out.Partition != 2 {
		t.Errorf("response written to partition %d, want the reply partition 2", out.Partition)
	}
	select {
	case resp := <-done:
		if resp == nil || resp.Content != "hello" {
			t.Errorf("response %+v", resp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no response")
	}
	if rq.InFlight() != 0 || other.InFlight() != 0 {
		t.Errorf("in flight after the answer: %d, %d", rq.InFlight(), other.InFlight())
	}
}

func TestRequesterStreamInOrderWithoutDuplicates(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(2, "req", "resp", "stream", "cancels"))
	rq := newRequester(t, c, 0, 8)
	p := newPipeline(t, c)
	ctx := context.Background()
	call, err := rq.Start(ctx, request("s-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	in := p.next()
	for _, seq := range []int32{0, 1, 1, 0, 2} { // a re-delivered hop repeats seqs 0 and 1
		p.send(in, rqTopics.Stream, schemas.TypeStreamChunk, &schemas.StreamChunk{RequestID: "s-1", Seq: seq, Kind: "delta", Delta: strconv.Itoa(int(seq))})
	}
	p.send(in, rqTopics.Stream, schemas.TypeStreamChunk, &schemas.StreamChunk{RequestID: "s-1", Seq: 3, Kind: "done"})
	p.send(in, rqTopics.Responses, schemas.TypeResponse, &schemas.Response{RequestID: "s-1", Status: "ok", Content: "012"})
	var got string
	for {
		ch, err := call.Next(ctx)
		if errors.Is(err, producers.ErrStreamEnded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got += ch.Kind + ":" + ch.Delta + " "
	}
	if want := "delta:0 delta:1 delta:2 done: "; got != want {
		t.Errorf("chunks %q, want %q", got, want)
	}
	resp, err := call.Response(ctx)
	if err != nil || resp.Content != "012" {
		t.Errorf("response %+v, %v", resp, err)
	}
}

func TestRequesterBoundsInFlightAndRefusesDuplicates(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "req", "resp", "stream", "cancels"))
	rq := newRequester(t, c, 0, 2)
	ctx := context.Background()
	a, err := rq.Start(ctx, request("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rq.Start(ctx, request("a")); !errors.Is(err, producers.ErrInProgress) {
		t.Errorf("same id again: %v, want ErrInProgress", err)
	}
	b, err := rq.Start(ctx, request("b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rq.Start(ctx, request("c")); !errors.Is(err, producers.ErrSaturated) {
		t.Errorf("third call: %v, want ErrSaturated", err)
	}
	a.Close()
	a.Close() // twice is harmless
	cc, err := rq.Start(ctx, request("c"))
	if err != nil {
		t.Errorf("after a slot freed: %v", err)
	} else {
		cc.Close()
	}
	b.Close()
	if n := rq.InFlight(); n != 0 {
		t.Errorf("in flight %d after every call closed", n)
	}
	// An invalid request is refused before it is published.
	bad := request("d")
	bad.Messages = nil
	if _, err := rq.Start(ctx, bad); err == nil {
		t.Error("a request without messages was published")
	}
}

func TestRequesterCancelPublishesACancelRecord(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "req", "resp", "stream", "cancels"))
	rq := newRequester(t, c, 0, 2)
	if err := rq.Cancel(context.Background(), "r-9", "t1", "client_disconnected"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c, kgo.ConsumeTopics("cancels"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := cl.PollRecords(ctx, 1)
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("cancel records: %d", len(recs))
	}
	var x schemas.Cancel
	if err := newCodec(t).Decode(schemas.TypeCancel, recs[0].Value, "", &x); err != nil {
		t.Fatal(err)
	}
	if x.RequestID != "r-9" || x.TenantID != "t1" || x.Reason != "client_disconnected" || x.Source != "test-0" || x.TS <= 0 {
		t.Errorf("cancel %+v", x)
	}
}

func TestReplyPartitionerLeavesOtherRecordsAlone(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(8, "resp", "audit"))
	plain := newClient(t, c)
	routed := newClient(t, c, kgo.RecordPartitioner(producers.ReplyPartitioner("resp")))
	hdr := []kgo.RecordHeader{{Key: producers.HeaderReplyPartition, Value: []byte("5")}}
	for i := range 20 {
		key := []byte("req-" + strconv.Itoa(i))
		a := &kgo.Record{Topic: "audit", Key: key, Headers: hdr}
		b := &kgo.Record{Topic: "audit", Key: key}
		r := &kgo.Record{Topic: "resp", Key: key, Headers: hdr}
		n := &kgo.Record{Topic: "resp", Key: key}
		m := &kgo.Record{Topic: "resp", Key: key}
		if err := producers.ProduceAll(context.Background(), routed, a, r, n); err != nil {
			t.Fatal(err)
		}
		if err := producers.ProduceAll(context.Background(), plain, b, m); err != nil {
			t.Fatal(err)
		}
		if a.Partition != b.Partition {
			t.Errorf("%s on audit: %d with the header, %d by the default partitioner", key, a.Partition, b.Partition)
		}
		if r.Partition != 5 {
			t.Errorf("%s on resp with the header: partition %d, want 5", key, r.Partition)
		}
		if n.Partition != m.Partition {
			t.Errorf("%s on resp without the header: %d, default partitioner %d", key, n.Partition, m.Partition)
		}
	}
}
