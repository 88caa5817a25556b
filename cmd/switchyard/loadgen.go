package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/schemas"
)

// LoadConfig shapes the traffic a load generator sends.
type LoadConfig struct {
	RunID    string
	Requests int     // total records to send, poison included; 0 sends until ctx ends
	Rate     float64 // records per second; 0 sends as fast as Kafka acknowledges (bounded by MaxOutstanding)
	// MaxOutstanding bounds produces not yet acknowledged by Kafka. Default 4096.
	MaxOutstanding int
	// PoisonEvery makes every n-th record a poison record (0: none).
	PoisonEvery int
	// StreamEvery makes every n-th request a streaming one (0: none).
	StreamEvery int
	// ToolsEvery makes every n-th request offer tools and ask the model to call one (0: none).
	ToolsEvery int
	// Encodings cycles through input encodings: json, single-object, confluent.
	Encodings []string
	// Models, when set, makes every request name one of these models in turn (user choice).
	Models []string
	// TaskTypes cycles through task types. Default a realistic mix.
	TaskTypes []string
	Topic     string
}

var defaultTasks = []string{"chat", "chat", "chat", "summarization", "classification", "extraction", "code", "translation", "reasoning"}

var tenants = []string{"acme", "globex", "initech", "umbrella", "hooli"}

var prompts = []string{
	"Summarise the quarterly report in three bullet points.",
	"Classify this support ticket: my invoice shows the wrong VAT number.",
	"Extract the dates and amounts from: paid 120 EUR on 3 March, 80 EUR on 9 April.",
	"Write a Go function that reverses a slice in place.",
	"Translate to French: the train leaves at nine from platform four.",
	"Why does a Kafka consumer group rebalance when a member leaves?",
	"Hello! What can you help me with today?",
}

var cities = []string{"Paris", "Lagos", "Osaka", "Lima", "Oslo"}

// loadTools are offered by the tool-calling share of the traffic.
var loadTools = []schemas.Tool{
	{Name: "get_weather", Description: "Current weather for a city",
		Parameters: `{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","unit"]}`},
	{Name: "get_time", Description: "Current local time in a city",
		Parameters: `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`},
}

// generator builds request records.
type generator struct {
	cfg   LoadConfig
	codec *schemas.Codec
	// encoders per input encoding
	json, single, confluent *schemas.Codec
	rng                     *rand.Rand
}

func newGenerator(cfg LoadConfig, codecs map[string]*schemas.Codec) *generator {
	if len(cfg.TaskTypes) == 0 {
		cfg.TaskTypes = defaultTasks
	}
	if len(cfg.Encodings) == 0 {
		cfg.Encodings = []string{"json"}
	}
	return &generator{cfg: cfg, json: codecs["json"], single: codecs["single-object"], confluent: codecs["confluent"],
		rng: rand.New(rand.NewPCG(1, 2))}
}

// record returns the i-th record and whether it is poison.
func (g *generator) record(i int, now time.Time) (*kgo.Record, string, bool, error) {
	if g.cfg.PoisonEvery > 0 && i%g.cfg.PoisonEvery == g.cfg.PoisonEvery-1 {
		return g.poison(i), "", true, nil
	}
	id := g.cfg.RunID + "/" + strconv.Itoa(i)
	req := schemas.Request{
		RequestID: id,
		TenantID:  tenants[i%len(tenants)],
		UserID:    "user-" + strconv.Itoa(i%97),
		CreatedAt: now.UnixMilli(),
		TaskType:  g.cfg.TaskTypes[i%len(g.cfg.TaskTypes)],
		Priority:  []string{"interactive", "batch", "background"}[i%3],
		Messages: []schemas.Message{
			{Role: "system", Content: "You are a concise assistant."},
			{Role: "user", Content: prompts[i%len(prompts)]},
		},
		ResponseFormat: schemas.ResponseFormat{Type: "text"},
		MaxTokens:      int32(32 + i%64),
		Metadata:       map[string]string{"source": "loadgen"},
	}
	if len(g.cfg.Models) > 0 {
		req.Model = g.cfg.Models[i%len(g.cfg.Models)]
	}
	if g.cfg.StreamEvery > 0 && i%g.cfg.StreamEvery == 0 {
		req.Stream = true
	}
	if g.cfg.ToolsEvery > 0 && i%g.cfg.ToolsEvery == g.cfg.ToolsEvery/2 {
		req.Tools = loadTools
		req.Messages[1].Content = "Please call tool get_weather: what is the weather in " + cities[i%len(cities)] + "?"
		if i%2 == 0 {
			req.Messages[1].Content = "Please call all tools for " + cities[i%len(cities)] + "."
		}
	}
	enc := g.cfg.Encodings[i%len(g.cfg.Encodings)]
	var c *schemas.Codec
	switch enc {
	case "confluent":
		c = g.confluent
	case "single-object":
		c = g.single
	default:
		c = g.json
	}
	if c == nil {
		return nil, "", false, fmt.Errorf("no codec for input encoding %q", enc)
	}
	val, err := c.Encode(schemas.TypeRequest, &req)
	if err != nil {
		return nil, "", false, err
	}
	return &kgo.Record{Topic: g.cfg.Topic, Key: []byte(id), Value: val,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(c.ContentType())}}}, id, false, nil
}

// poison returns a record the pipeline must dead-letter, cycling through the kinds of bad input.
func (g *generator) poison(i int) *kgo.Record {
	var v []byte
	switch (i / g.cfg.PoisonEvery) % 5 {
	case 0: // random bytes
		v = make([]byte, 64)
		for j := range v {
			v[j] = byte(g.rng.IntN(256))
		}
		v[0] = 0x7f
	case 1: // JSON missing a required field
		v, _ = json.Marshal(map[string]any{"request_id": "poison-" + strconv.Itoa(i), "created_at": 1, "messages": []any{}})
	case 2: // single-object header with an unknown fingerprint
		v = []byte{0xC3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 2, 'x'}
	case 3: // truncated single-object body
		good, _ := g.single.Encode(schemas.TypeRequest, &schemas.Request{RequestID: "poison", TenantID: "t", CreatedAt: 1,
			Messages: []schemas.Message{{Role: "user", Content: "hello"}}, ResponseFormat: schemas.ResponseFormat{Type: "text"}})
		v = good[:len(good)-3]
	default: // empty value
		v = []byte{}
	}
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], uint64(i))
	return &kgo.Record{Topic: g.cfg.Topic, Key: key[:], Value: v}
}

// runLoad sends the configured traffic, recording each acknowledged record in the ledger.
func runLoad(ctx context.Context, cl *kgo.Client, g *generator, l *Ledger) error {
	maxOut := g.cfg.MaxOutstanding
	if maxOut <= 0 {
		maxOut = 4096
	}
	sem := make(chan struct{}, maxOut)
	start := time.Now()
	for i := 0; g.cfg.Requests == 0 || i < g.cfg.Requests; i++ {
		intended := time.Now()
		if g.cfg.Rate > 0 {
			// Open loop: the i-th record is due at start + i/rate, whether or not earlier ones
			// were answered; latency is measured from this intended time.
			intended = start.Add(time.Duration(float64(i) / g.cfg.Rate * float64(time.Second)))
			if d := time.Until(intended); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		rec, id, poison, err := g.record(i, intended)
		if err != nil {
			return err
		}
		if !poison {
			// Recorded before the produce: the answer can come back before the ack callback runs.
			l.Sent(id, intended)
		}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			switch {
			case err != nil:
				l.SendFailed(id)
			case poison:
				l.PoisonSent()
			}
			<-sem
		})
	}
	return cl.Flush(ctx)
}
