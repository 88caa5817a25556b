package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

func runConsume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("consume", stderr)
	path := fs.String("config", "switchyard.yaml", "config file (without one: defaults and SWITCHYARD_* env)")
	topic := fs.String("topic", "responses", "requests, responses, stream, audit, dlq, work.<provider>, or a full topic name")
	fromStart := fs.Bool("from-beginning", false, "read from the start of the topic (default: only new records)")
	n := fs.Int("n", 0, "stop after this many records (0: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadOrDefault(*path)
	if err != nil {
		return err
	}
	name, typ := resolveTopic(cfg.Topics().Work, cfg.Kafka.TopicPrefix, *topic)
	opts := schemas.CodecOptions{}
	if cfg.SchemaRegistry.URL != "" {
		if opts.Registry, err = sr.NewClient(sr.URLs(cfg.SchemaRegistry.URL)); err != nil {
			return err
		}
	}
	codec, err := schemas.NewCodec(opts)
	if err != nil {
		return err
	}
	offset := kgo.NewOffset().AtEnd()
	if *fromStart {
		offset = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ConsumeTopics(name), kgo.ConsumeResetOffset(offset))
	if err != nil {
		return err
	}
	defer cl.Close()
	enc := json.NewEncoder(stdout)
	seen := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fs.Err0(); err != nil {
			fmt.Fprintln(stderr, "fetch:", err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			v := newOf(typ)
			if err := codec.Decode(typ, r.Value, producers.Header(r, "content-type"), v); err != nil {
				fmt.Fprintf(stderr, "%s/%d@%d: %v\n", r.Topic, r.Partition, r.Offset, err)
				continue
			}
			if err := enc.Encode(v); err != nil {
				return err
			}
			if seen++; *n > 0 && seen >= *n {
				return nil
			}
		}
	}
}

func resolveTopic(work func(string) string, prefix, t string) (string, schemas.Type) {
	switch {
	case t == "requests":
		return prefix + "llm.requests", schemas.TypeRequest
	case t == "responses":
		return prefix + "llm.responses", schemas.TypeResponse
	case t == "stream":
		return prefix + "llm.responses.stream", schemas.TypeStreamChunk
	case t == "audit":
		return prefix + "llm.audit", schemas.TypeAuditEvent
	case t == "dlq":
		return prefix + "llm.dlq", schemas.TypeDeadLetter
	case strings.HasPrefix(t, "work."):
		return work(strings.TrimPrefix(t, "work.")), schemas.TypeWorkItem
	case strings.Contains(t, "llm.work."):
		return t, schemas.TypeWorkItem
	case strings.HasSuffix(t, "llm.responses.stream"):
		return t, schemas.TypeStreamChunk
	case strings.HasSuffix(t, "llm.responses"):
		return t, schemas.TypeResponse
	case strings.HasSuffix(t, "llm.audit"):
		return t, schemas.TypeAuditEvent
	case strings.HasSuffix(t, "llm.dlq"):
		return t, schemas.TypeDeadLetter
	}
	return t, schemas.TypeRequest
}

func newOf(t schemas.Type) any {
	switch t {
	case schemas.TypeResponse:
		return new(schemas.Response)
	case schemas.TypeStreamChunk:
		return new(schemas.StreamChunk)
	case schemas.TypeAuditEvent:
		return new(schemas.AuditEvent)
	case schemas.TypeDeadLetter:
		return new(schemas.DeadLetter)
	case schemas.TypeWorkItem:
		return new(schemas.WorkItem)
	}
	return new(schemas.Request)
}
