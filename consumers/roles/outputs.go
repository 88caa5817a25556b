package roles

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Topics names the topics the roles read and write.
type Topics struct {
	Requests  string
	Responses string
	Stream    string
	Audit     string
	DLQ       string
	// Work returns the work topic of a provider.
	Work func(provider string) string
}

// outputs collects every record one input causes, so that they are produced together and
// awaited together before the input is marked.
type outputs struct {
	mu         sync.Mutex // a hedged pair's attempts audit from two goroutines
	codec      *schemas.Codec
	auditTopic string
	recs       []*kgo.Record
	// audit context
	requestID, tenantID string
	hop                 int32
	seq                 map[string]int
	// dlq lists the dead letters among recs, counted once they are acknowledged.
	dlq []dlqKey
	// headers go on every record: the content type, then the input's reply-routing headers
	// (producers.HeaderReplyPartition), which route the response and stream to the instance
	// that awaits them.
	headers []kgo.RecordHeader
}

func newOutputs(codec *schemas.Codec, auditTopic string) *outputs {
	return &outputs{codec: codec, auditTopic: auditTopic, recs: make([]*kgo.Record, 0, 8),
		headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(codec.ContentType())}}}
}

// replyTo copies the input record's reply-routing headers onto every output.
func (o *outputs) replyTo(in *kgo.Record) {
	if reply := producers.ReplyHeaders(in.Headers); len(reply) > 0 {
		o.headers = append(o.headers[:1:1], reply...)
	}
}

// audit adds an audit event for the current request (see event) to the audit topic.
func (o *outputs) audit(typ, stage, provider, model string, dur time.Duration, attrs ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev := o.event(typ, stage, provider, model, dur, attrs...)
	if err := o.add(o.auditTopic, ev.RequestID, schemas.TypeAuditEvent, &ev); err != nil {
		// An audit event is built from our own values; failing to encode it is a bug.
		panic(fmt.Sprintf("encode audit event %s: %v", ev.Type, err))
	}
}

func (o *outputs) forRequest(requestID, tenantID string, hop int32) {
	o.requestID, o.tenantID, o.hop = requestID, tenantID, hop
}

// add encodes v as a record on topic, keyed by key.
func (o *outputs) add(topic, key string, t schemas.Type, v any) error {
	val, err := o.codec.Encode(t, v)
	if err != nil {
		return err
	}
	o.recs = append(o.recs, &kgo.Record{
		Topic:   topic,
		Key:     []byte(key),
		Value:   val,
		Headers: o.headers,
	})
	return nil
}

// event builds an audit event with a deterministic, readable id, so a re-delivered input yields
// the same ids and ClickHouse collapses the copies: "<request_id>/h<hop>/<type>/<n>", n counting
// the events of that type within the hop (request ids are unique, so the id is too).
func (o *outputs) event(typ, stage, provider, model string, dur time.Duration, attrs ...string) schemas.AuditEvent {
	if o.seq == nil {
		o.seq = make(map[string]int, 8)
	}
	n := o.seq[typ]
	o.seq[typ] = n + 1
	ev := schemas.AuditEvent{
		EventID:    eventID(o.requestID, o.hop, typ, n),
		RequestID:  o.requestID,
		TenantID:   o.tenantID,
		TS:         time.Now().UnixMicro(),
		Type:       typ,
		Stage:      stage,
		Provider:   provider,
		Model:      model,
		DurationUS: dur.Microseconds(),
	}
	if len(attrs) > 0 {
		ev.Attrs = make(map[string]string, len(attrs)/2)
		for i := 0; i+1 < len(attrs); i += 2 {
			ev.Attrs[attrs[i]] = attrs[i+1]
		}
	}
	return ev
}

func eventID(requestID string, hop int32, typ string, n int) string {
	b := make([]byte, 0, len(requestID)+len(typ)+16)
	b = append(b, requestID...)
	b = append(b, "/h"...)
	b = strconv.AppendInt(b, int64(hop), 10)
	b = append(b, '/')
	b = append(b, typ...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(n), 10)
	return string(b)
}

// clock is now from f, the roles' replaceable clock, or time.Now when f is nil.
func clock(f func() time.Time) time.Time {
	if f != nil {
		return f()
	}
	return time.Now()
}
