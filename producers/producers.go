package producers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults used by [ProducerOpts]. They are exported so that tests and docs
// can refer to them instead of repeating numbers.
const (
	// DefaultLinger is how long a partition's batch waits for more records
	// before it is sent. [ProduceAll] ends the linger of the partitions it
	// wrote to as soon as its records are buffered, so a handler that awaits
	// its outputs never pays the linger; only fire-and-forget produces do,
	// and those gain larger batches. BenchmarkProduceAll (kfake, 2 cores,
	// 96 awaiting goroutines, 1 KiB records) measured 0, 1 ms and 5 ms
	// within noise (~230k records/s with lz4); 1 ms keeps async latency
	// negligible.
	DefaultLinger = time.Millisecond

	// DefaultMaxBufferedRecords bounds the records buffered in the client
	// (not yet acknowledged). When it is reached, Produce blocks until
	// space frees or the produce context ends, which is the backpressure a
	// consumer needs: a handler cannot outrun Kafka.
	DefaultMaxBufferedRecords = 20_000

	// DefaultMaxBufferedBytes bounds the bytes buffered in the client.
	DefaultMaxBufferedBytes = 256 << 20

	// DefaultUnknownTopicRetries bounds how many times a record may fail
	// with UNKNOWN_TOPIC_OR_PARTITION before it is failed, so that a
	// missing or deleted topic surfaces as an error instead of blocking a
	// handler forever. Each retry is one metadata refresh, which leaves
	// room for a freshly created topic to propagate.
	DefaultUnknownTopicRetries = 4

	// DefaultMetadataMinAge is the shortest time between two metadata
	// refreshes of the client. franz-go (v1.22.3) paces unknown-topic
	// retries either by its retry backoff (~250 ms) or, depending on which
	// refresh path wins a race, by this age (default 5 s): a produce to a
	// missing topic then failed after 1 s or after 20 s. With 1 s the
	// worst case measured 4 s. It also speeds up recovery from leader
	// moves; the cost is at most one metadata request per second.
	DefaultMetadataMinAge = time.Second

	// DefaultRecordDeliveryTimeout bounds how long a record may wait for
	// its acknowledgement (when franz-go can fail it without breaking
	// idempotent sequence numbers).
	DefaultRecordDeliveryTimeout = 30 * time.Second

	// DefaultProduceRequestTimeout bounds how long a broker may take to
	// answer one produce request.
	DefaultProduceRequestTimeout = 10 * time.Second
)

// ProducerOpts returns the producer options every Switchyard client uses:
//
//   - idempotent writes (franz-go's default; kept on so retries never
//     duplicate or reorder records within a partition),
//   - acks from all in-sync replicas ([kgo.AllISRAcks]),
//   - a [DefaultLinger] linger,
//   - lz4 batch compression, falling back to none when the broker lacks it
//     (a batch is only sent compressed when that makes it smaller). LLM
//     text compresses well; BenchmarkProduceAll measured lz4 and snappy
//     alike (~230k records/s), zstd ~10% and no compression ~30% slower
//     (more bytes to move); lz4 usually compresses better than snappy.
//   - bounded buffering ([DefaultMaxBufferedRecords], [DefaultMaxBufferedBytes]),
//   - bounded waiting on missing topics ([DefaultUnknownTopicRetries],
//     [DefaultMetadataMinAge]; this one is a client-wide option) and on
//     acknowledgements ([DefaultRecordDeliveryTimeout],
//     [DefaultProduceRequestTimeout]).
//
// Options appended after these override them.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(DefaultLinger),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.MaxBufferedRecords(DefaultMaxBufferedRecords),
		kgo.MaxBufferedBytes(DefaultMaxBufferedBytes),
		kgo.UnknownTopicRetries(DefaultUnknownTopicRetries),
		kgo.MetadataMinAge(DefaultMetadataMinAge),
		kgo.RecordDeliveryTimeout(DefaultRecordDeliveryTimeout),
		kgo.ProduceRequestTimeout(DefaultProduceRequestTimeout),
	}
}

// ProduceError reports that records for one topic were not acknowledged.
type ProduceError struct {
	// Topic is the topic the records were produced to.
	Topic string
	// Failed is how many of the records given to [ProduceAll] for this
	// topic failed.
	Failed int
	// Err is the first error seen for this topic.
	Err error
}

func (e *ProduceError) Error() string {
	if e.Failed == 1 {
		return fmt.Sprintf("produce to %q: %v", e.Topic, e.Err)
	}
	return fmt.Sprintf("produce to %q: %d records failed, first: %v", e.Topic, e.Failed, e.Err)
}

func (e *ProduceError) Unwrap() error { return e.Err }

// ProduceAll produces recs asynchronously and returns once Kafka has
// answered for every one of them: nil means every record was acknowledged
// (with the client's acks setting, all in-sync replicas by default) and each
// record's Partition and Offset are set.
//
// On failure it returns one *[ProduceError] per failing topic, joined with
// [errors.Join]; errors.Is and errors.As see through it (for example
// errors.Is(err, kerr.UnknownTopicOrPartition)). Some records may have been
// written even when an error is returned: the caller retries the whole set
// and relies on request_id idempotency downstream.
//
// Cancelling ctx fails the records that are still safe to fail (not yet
// sent); records already sent are awaited, so that idempotent sequence
// numbers stay valid, within the client's delivery timeout. ProduceAll never
// returns before every record's promise ran, so it leaves nothing behind.
//
// The partitions written to stop lingering as soon as the records are
// buffered (franz-go's ProduceSync), so awaiting costs one round trip.
func ProduceAll(ctx context.Context, cl *kgo.Client, recs ...*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if cl == nil {
		return errors.New("producers: nil client")
	}
	results := cl.ProduceSync(ctx, recs...)
	if results.FirstErr() == nil {
		return nil
	}
	var (
		order   []string
		byTopic = make(map[string]*ProduceError)
	)
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		pe := byTopic[r.Record.Topic]
		if pe == nil {
			pe = &ProduceError{Topic: r.Record.Topic, Err: r.Err}
			byTopic[r.Record.Topic] = pe
			order = append(order, r.Record.Topic)
		}
		pe.Failed++
	}
	errs := make([]error, 0, len(order))
	for _, t := range order {
		errs = append(errs, byTopic[t])
	}
	return errors.Join(errs...)
}
