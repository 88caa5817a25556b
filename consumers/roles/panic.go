package roles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/schemas"
)

// ReasonPanic is the DLQ reason of a record whose handler panicked.
const ReasonPanic = "panic"

// deadLetterPanic dead-letters a record whose handler panicked, with a hash of the stack so that
// the same crash is recognisable across records. The panic value itself is not written: it may
// hold request content.
func deadLetterPanic(ctx context.Context, cl *kgo.Client, codec *schemas.Codec, topics Topics, log *slog.Logger, m *Metrics,
	rec *kgo.Record, v any, stack []byte, stage string) error {
	sum := sha256.Sum256(stack)
	hash := hex.EncodeToString(sum[:6])
	if log != nil {
		log.Error("handler panic: record dead-lettered", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "panic_type", fmt.Sprintf("%T", v), "stack_hash", hash)
	}
	out := newOutputs(codec, topics.Audit)
	if err := deadLetter(out, topics, rec, nil, ReasonPanic, "handler panicked; stack hash "+hash, stage, time.Now()); err != nil {
		return err
	}
	return out.produce(ctx, cl, m, nil)
}

// OnPanic dead-letters a request record whose handling panicked.
func (r *RouterRole) OnPanic(ctx context.Context, rec *kgo.Record, v any, stack []byte) error {
	return deadLetterPanic(ctx, r.Client, r.Codec, r.Topics, r.Logger, r.Metrics, rec, v, stack, schemas.StageIngest)
}

// OnPanic dead-letters a work record whose handling panicked.
func (w *WorkerRole) OnPanic(ctx context.Context, rec *kgo.Record, v any, stack []byte) error {
	return deadLetterPanic(ctx, w.Client, w.Codec, w.Topics, w.Logger, w.Metrics, rec, v, stack, schemas.StageDispatch)
}
