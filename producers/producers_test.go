package producers_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
)

func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newClient(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append(producers.ProducerOpts(), kgo.SeedBrokers(c.ListenAddrs()...))
	cl, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestProduceAllAcked(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(3, "out"), kfake.SeedTopics(1, "audit"))
	cl := newClient(t, c)
	ctx := context.Background()

	var recs []*kgo.Record
	for i := range 200 {
		topic := "out"
		if i%4 == 0 {
			topic = "audit"
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte("v")})
	}
	if err := producers.ProduceAll(ctx, cl, recs...); err != nil {
		t.Fatalf("ProduceAll: %v", err)
	}
	// Every record carries the offset Kafka assigned; no two share one.
	seen := make(map[string]bool)
	for _, r := range recs {
		id := fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
		if r.Offset < 0 || seen[id] {
			t.Fatalf("record %s not acknowledged or duplicated", id)
		}
		seen[id] = true
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "out", "audit")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != int64(len(recs)) {
		t.Fatalf("end offsets sum to %d, want %d", total, len(recs))
	}

	if err := producers.ProduceAll(ctx, cl); err != nil {
		t.Fatalf("ProduceAll with no records: %v", err)
	}
}

func TestProduceAllUnknownTopicFailsWithinBound(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "known"))
	cl := newClient(t, c)

	// The bound: DefaultUnknownTopicRetries metadata refreshes, at most
	// DefaultMetadataMinAge apart, take 1 s to 5 s; without a bound the
	// produce would block until the context ends.
	const bound = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*bound)
	defer cancel()

	start := time.Now()
	err := producers.ProduceAll(ctx, cl,
		&kgo.Record{Topic: "known", Value: []byte("a")},
		&kgo.Record{Topic: "missing", Value: []byte("b")},
		&kgo.Record{Topic: "missing", Value: []byte("c")},
	)
	took := time.Since(start)
	t.Logf("unknown topic failed after %v", took)
	if err == nil {
		t.Fatal("ProduceAll to a missing topic returned nil")
	}
	if took > bound {
		t.Fatalf("error took %v, want < %v", took, bound)
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("error %v does not wrap UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	var pe *producers.ProduceError
	if !errors.As(err, &pe) || pe.Topic != "missing" || pe.Failed != 2 {
		t.Fatalf("error %#v: want ProduceError for topic missing with 2 failures", pe)
	}
}

func TestProduceAllCanceledContext(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "out"))
	cl := newClient(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := producers.ProduceAll(ctx, cl, &kgo.Record{Topic: "out", Value: []byte("x")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestEnsureTopics(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(2, "small"))
	cl := newClient(t, c)
	adm := kadm.NewClient(cl)
	ctx := context.Background()

	specs := []producers.TopicSpec{
		{Name: "llm.requests", Partitions: 12, ReplicationFactor: 1},
		{Name: "llm.provider.health", Partitions: 3, ReplicationFactor: 1,
			Configs: map[string]string{"cleanup.policy": "compact"}},
	}
	// Idempotent: the second and the concurrent runs find the topics.
	for i := range 2 {
		if err := producers.EnsureTopics(ctx, adm, specs...); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = producers.EnsureTopics(ctx, adm, specs...) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent runs: %v", err)
	}

	details, err := adm.ListTopics(ctx, "llm.requests", "llm.provider.health")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details["llm.requests"].Partitions); n != 12 {
		t.Fatalf("llm.requests has %d partitions, want 12", n)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "llm.provider.health")
	if err != nil {
		t.Fatal(err)
	}
	var policy string
	for _, cfg := range rcs[0].Configs {
		if cfg.Key == "cleanup.policy" {
			policy = cfg.MaybeValue()
		}
	}
	if policy != "compact" {
		t.Fatalf("cleanup.policy = %q, want compact", policy)
	}

	// An existing topic that is too small, or configured differently, is
	// reported and left alone.
	err = producers.EnsureTopics(ctx, adm,
		producers.TopicSpec{Name: "small", Partitions: 6},
		producers.TopicSpec{Name: "llm.provider.health", Partitions: 3,
			Configs: map[string]string{"cleanup.policy": "delete"}},
	)
	if !errors.Is(err, producers.ErrTopicMismatch) {
		t.Fatalf("got %v, want ErrTopicMismatch", err)
	}
	for _, want := range []string{`"small" has 2 partitions`, `cleanup.policy="compact"`} {
		if !containsErr(err, want) {
			t.Fatalf("error %q does not mention %s", err, want)
		}
	}
	details, err = adm.ListTopics(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details["small"].Partitions); n != 2 {
		t.Fatalf("small was altered to %d partitions", n)
	}

	// Bad specs are all reported.
	err = producers.EnsureTopics(ctx, adm, producers.TopicSpec{}, producers.TopicSpec{Name: "a"}, producers.TopicSpec{Name: "a"})
	if !containsErr(err, "empty name") || !containsErr(err, `duplicate topic "a"`) {
		t.Fatalf("got %v, want both spec problems", err)
	}
}

func containsErr(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}
