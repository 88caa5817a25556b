package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/schemas"
)

func runProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("produce", stderr)
	path := fs.String("config", "switchyard.yaml", "config file (without one: defaults and SWITCHYARD_* env)")
	in := fs.String("file", "-", "JSON lines of requests to publish (- for stdin)")
	format := fs.String("format", "json", "encoding to publish: json, single-object or confluent")
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
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(req.RequestID), Value: val,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(codec.ContentType())}}})
		fmt.Fprintln(stdout, req.RequestID)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("nothing published; %d invalid lines:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	if err := producers.ProduceAll(ctx, cl, recs...); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "published %d requests to %s\n", len(recs), topic)
	return nil
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
