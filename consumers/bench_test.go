package consumers_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/consumers"
	"github.com/switchyard-llm/switchyard/producers"
)

// BenchmarkConsumeProduce measures the consume → handle → produce-and-await
// → mark loop end to end on kfake (in process, so the broker shares the
// CPUs): 12 partitions, Concurrency 8, one 512-byte output record per input,
// acks awaited in the handler, production settings otherwise. The clock
// includes joining the group. It reports records/s and the time to the first
// completed record; run with a fixed count, e.g.
//
//	go test -run '^$' -bench ConsumeProduce -benchtime 50000x ./consumers/
func BenchmarkConsumeProduce(b *testing.B) {
	const partitions = 12
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "in", "out"))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	e := &env{t: b, cluster: cluster}
	e.cl, err = kgo.NewClient(append(producers.ProducerOpts(),
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		b.Fatal(err)
	}
	defer e.cl.Close()
	e.produce("in", partitions, (b.N+partitions-1)/partitions)
	total := int64((b.N + partitions - 1) / partitions * partitions)

	var (
		done  atomic.Int64
		first atomic.Int64
		c     *consumers.Consumer
		fin   = make(chan struct{})
	)
	payload := make([]byte, 512)
	cfg := e.config("bench", []string{"in"}, func(ctx context.Context, r *kgo.Record) error {
		out := &kgo.Record{Topic: "out", Key: r.Value, Value: payload}
		if err := producers.ProduceAll(ctx, c.Client(), out); err != nil {
			return err
		}
		n := done.Add(1)
		if n == 1 {
			first.Store(time.Now().UnixNano())
		}
		if n == total {
			close(fin)
		}
		return nil
	})
	cfg.Concurrency = 8
	cfg.CommitInterval = time.Second
	cfg.ExtraOpts = nil // production settings
	c, err = consumers.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)

	b.ResetTimer()
	start := time.Now()
	go func() { runErr <- c.Run(ctx) }()
	select {
	case <-fin:
	case <-time.After(10 * time.Minute):
		b.Fatal("timeout")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(first.Load()-start.UnixNano())/1e6, "ms-to-first")
	cancel()
	if err := <-runErr; err != nil {
		b.Fatal(err)
	}
}
