package producers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
)

// BenchmarkProduceAll measures awaited produces the way handlers issue them
// (96 goroutines, each producing one ~1 KiB text record and waiting for its
// ack) on kfake, across the linger and compression settings ProducerOpts
// chooses between. It reports records/s.
func BenchmarkProduceAll(b *testing.B) {
	value := []byte(strings.Repeat("The model answered the question about invoices in three short paragraphs. ", 14))
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"snappy", kgo.SnappyCompression()},
		{"zstd", kgo.ZstdCompression()},
	}
	for _, linger := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond} {
		for _, cc := range codecs {
			b.Run(fmt.Sprintf("linger=%v/codec=%s", linger, cc.name), func(b *testing.B) {
				c := newCluster(b, kfake.SeedTopics(12, "out"))
				cl := newClient(b, c, kgo.ProducerLinger(linger), kgo.ProducerBatchCompression(cc.codec))
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for range 96 {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := producers.ProduceAll(ctx, cl, &kgo.Record{Topic: "out", Value: value}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			})
		}
	}
}
