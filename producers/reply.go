package producers

import (
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// HeaderReplyPartition is the record header that routes a request's replies: a request
// published with it gets its response on llm.responses, and its stream chunks on
// llm.responses.stream, in that partition, where the instance that asked reads them. The
// router and the workers copy it from a request to everything the request causes; only the
// reply topics are partitioned by it.
const HeaderReplyPartition = "switchyard-reply-partition"

// HeaderReplyTo names the instance that asked (for people reading the topics).
const HeaderReplyTo = "switchyard-reply-to"

// ReplyPartitioner partitions records of the given reply topics by their
// [HeaderReplyPartition] header when they carry a valid one, and every other record as
// franz-go's default partitioner does: records with keys by the key's murmur2 hash (the same
// partition Kafka's Java client picks), records without keys spread by batch.
func ReplyPartitioner(replyTopics ...string) kgo.Partitioner {
	p := replyPartitioner{base: kgo.UniformBytesPartitioner(64<<10, true, true, nil),
		keyed: kgo.StickyKeyPartitioner(nil), topics: make(map[string]bool, len(replyTopics))}
	for _, t := range replyTopics {
		p.topics[t] = true
	}
	return p
}

type replyPartitioner struct {
	base, keyed kgo.Partitioner
	topics      map[string]bool
}

func (p replyPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	if !p.topics[t] {
		return p.base.ForTopic(t)
	}
	return replyTopic{keyed: p.keyed.ForTopic(t)}
}

// replyTopic honours the header, else hashes the key (reply records are keyed by request id).
type replyTopic struct{ keyed kgo.TopicPartitioner }

func (p replyTopic) RequiresConsistency(r *kgo.Record) bool { return true }

func (p replyTopic) Partition(r *kgo.Record, n int) int {
	if v, ok := ReplyPartitionOf(r.Headers); ok && int(v) < n {
		return int(v)
	}
	return p.keyed.Partition(r, n)
}

// Header returns the value of a record's header, matching its key case-insensitively ("" when
// absent).
func Header(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value)
		}
	}
	return ""
}

// ReplyPartitionOf returns the partition a [HeaderReplyPartition] header names.
func ReplyPartitionOf(headers []kgo.RecordHeader) (int32, bool) {
	for _, h := range headers {
		if h.Key == HeaderReplyPartition {
			v, err := strconv.ParseInt(string(h.Value), 10, 32)
			return int32(v), err == nil && v >= 0
		}
	}
	return 0, false
}

// ReplyHeaders returns the reply-routing headers among headers, to copy onto the records a
// request causes; nil when there are none.
func ReplyHeaders(headers []kgo.RecordHeader) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range headers {
		if h.Key == HeaderReplyPartition || h.Key == HeaderReplyTo {
			out = append(out, h)
		}
	}
	return out
}
