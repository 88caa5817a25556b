package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

// verify reads the response and DLQ topics from the start, without a consumer group, and feeds
// every terminal outcome to the ledger. It runs until ctx ends.
func verify(ctx context.Context, brokers []string, opts []kgo.Opt, codec *schemas.Codec, responses, dlq string, l outcomeSink, log *slog.Logger) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(responses, dlq),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			log.Warn("verifier fetch", "topic", t, "partition", p, "err", err)
		})
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			ct := producers.Header(r, "content-type")
			switch r.Topic {
			case responses:
				var resp schemas.Response
				if err := codec.Decode(schemas.TypeResponse, r.Value, ct, &resp); err != nil {
					log.Error("verifier: undecodable response", "offset", r.Offset, "err", err)
					return
				}
				l.Response(&resp, now)
			case dlq:
				var d schemas.DeadLetter
				if err := codec.Decode(schemas.TypeDeadLetter, r.Value, ct, &d); err != nil {
					log.Error("verifier: undecodable dead letter", "offset", r.Offset, "err", err)
					return
				}
				l.DeadLetter(&d)
			}
		})
	}
}

// outcomeSink receives terminal outcomes.
type outcomeSink interface {
	Response(*schemas.Response, time.Time)
	DeadLetter(*schemas.DeadLetter)
}

// ledgers fans outcomes out to every ledger; each ignores requests it did not send.
type ledgers struct {
	mu   sync.Mutex
	list []*Ledger
}

func (ls *ledgers) add(l *Ledger) {
	ls.mu.Lock()
	ls.list = append(ls.list, l)
	ls.mu.Unlock()
}

func (ls *ledgers) each(f func(*Ledger)) {
	ls.mu.Lock()
	list := ls.list
	ls.mu.Unlock()
	for _, l := range list {
		f(l)
	}
}

func (ls *ledgers) Response(r *schemas.Response, seen time.Time) {
	ls.each(func(l *Ledger) { l.Response(r, seen) })
}

func (ls *ledgers) DeadLetter(d *schemas.DeadLetter) { ls.each(func(l *Ledger) { l.DeadLetter(d) }) }
