package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/switchyard-llm/switchyard/internal/config"
	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

func runProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("produce", stderr)
	path := fs.String("config", "switchyard.yaml", "config file (without one: defaults and SWITCHYARD_* env)")
	in := fs.String("file", "-", "JSON lines of requests to publish (- for stdin)")
	format := fs.String("format", "json", "encoding to publish: json, single-object or confluent")
	wait := fs.Bool("wait", false, "await each request's terminal response and print it as a JSON line (reply routing: docs/gateway.md)")
	timeout := fs.Duration("timeout", 2*time.Minute, "with --wait: how long to wait for the responses")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadOrDefault(*path)
	if err != nil {
		return err
	}
	opts := schemas.CodecOptions{OutputFormat: schemas.OutputFormat(*format)}
	if *format == "confluent" {
		if cfg.SchemaRegistry.URL == "" {
			return fmt.Errorf("--format confluent needs a schema registry (schema_registry.url or SWITCHYARD_SCHEMA_REGISTRY_URL)")
		}
		if opts.Registry, err = sr.NewClient(sr.URLs(cfg.SchemaRegistry.URL)); err != nil {
			return err
		}
	}
	codec, err := schemas.NewCodec(opts)
	if err != nil {
		return err
	}
	if err := codec.Register(ctx); err != nil {
		return err
	}
	r := os.Stdin
	if *in != "-" {
		if r, err = os.Open(*in); err != nil {
			return err
		}
		defer r.Close()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...)}, producers.ProducerOpts()...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	topic := cfg.Topics().Requests
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var recs []*kgo.Record
	var reqs []*schemas.Request
	var bad []string
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		req, err := requestFromLine([]byte(text), codec)
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		val, err := codec.Encode(schemas.TypeRequest, req)
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		reqs = append(reqs, req)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(req.RequestID), Value: val,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(codec.ContentType())}}})
		if !*wait {
			fmt.Fprintln(stdout, req.RequestID)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("nothing published; %d invalid lines:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	if *wait {
		return awaitResponses(ctx, cfg, codec, reqs, *timeout, stdout, stderr)
	}
	if err := producers.ProduceAll(ctx, cl, recs...); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "published %d requests to %s\n", len(recs), topic)
	return nil
}

// awaitResponses publishes the requests through a Requester on a reply partition of its own
// and prints each terminal response as a JSON line as it arrives.
func awaitResponses(ctx context.Context, cfg *config.Config, codec *schemas.Codec, reqs []*schemas.Request, timeout time.Duration, stdout, stderr io.Writer) error {
	t := cfg.Topics()
	rq, err := producers.NewRequester(ctx, producers.RequesterConfig{Brokers: cfg.Kafka.Brokers, Codec: codec,
		Topics:         producers.RequesterTopics{Requests: t.Requests, Responses: t.Responses, Stream: t.Stream, Cancels: t.Cancels},
		ReplyPartition: -1, MaxInFlight: max(len(reqs), 1), InstanceID: "produce/" + producers.DefaultInstanceID()})
	if err != nil {
		return err
	}
	defer rq.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	calls := make([]*producers.Call, 0, len(reqs))
	for _, req := range reqs {
		c, err := rq.Start(ctx, req)
		if err != nil {
			return fmt.Errorf("%s: %w", req.RequestID, err)
		}
		defer c.Close()
		calls = append(calls, c)
	}
	fmt.Fprintf(stderr, "published %d requests to %s; awaiting their responses on partition %d\n", len(calls), t.Requests, rq.Partition())
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	errs := make(chan error, len(calls))
	for _, c := range calls {
		go func() {
			resp, err := c.Response(ctx)
			if err == nil {
				mu.Lock()
				err = enc.Encode(resp)
				mu.Unlock()
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", c.RequestID, err)
			}
			errs <- err
		}()
	}
	var failed []error
	for range calls {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// requestFromLine fills request_id and created_at when a line leaves them out, then decodes the
// line strictly, as the router would.
func requestFromLine(line []byte, codec *schemas.Codec) (*schemas.Request, error) {
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, ok := m["request_id"]; !ok {
		m["request_id"] = fmt.Sprintf("cli-%d", time.Now().UnixNano())
	}
	if _, ok := m["created_at"]; !ok {
		m["created_at"] = time.Now().UnixMilli()
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return codec.DecodeRequest(data, "application/json")
}
