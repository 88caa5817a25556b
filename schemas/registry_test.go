package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func newRegistry(t *testing.T) (*srfake.Registry, *sr.Client) {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return reg, cl
}

func confluent(id int, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0x00}, uint32(id)), body...)
}

func TestConfluentRoundTrip(t *testing.T) {
	reg, cl := newRegistry(t)
	c := mustCodec(t, CodecOptions{Registry: cl})
	if c.OutputFormat() != FormatConfluent || c.ContentType() != ContentTypeConfluent {
		t.Fatalf("auto with a registry: %s %s", c.OutputFormat(), c.ContentType())
	}
	if _, err := c.Encode(TypeRequest, sampleRequest()); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("encode before Register: %v", err)
	}
	ctx := context.Background()
	if err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	ids := map[int]Type{}
	for _, typ := range Types() {
		id := c.SchemaID(typ)
		if id == 0 {
			t.Fatalf("%s: no id", typ)
		}
		ids[id] = typ
		ss, ok := reg.GetSchema(Subject(typ), 1)
		if !ok || ss.ID != id {
			t.Fatalf("%s: subject %s holds %+v", typ, Subject(typ), ss)
		}
		if _, err := avro.ParseWithCache(ss.Schema.Schema, "", &avro.SchemaCache{}); err != nil {
			t.Fatalf("%s: registered schema is not self-contained: %v", typ, err)
		}
	}
	if len(ids) != len(Types()) {
		t.Fatalf("ids %v are not distinct", ids)
	}
	// Registering again is idempotent.
	if err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}

	// A second codec knows no ids yet: it looks them up in the registry.
	reader := mustCodec(t, CodecOptions{Registry: cl})
	for typ, v := range samples() {
		data, err := c.Encode(typ, v)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != 0 || int(binary.BigEndian.Uint32(data[1:5])) != c.SchemaID(typ) {
			t.Fatalf("%s: header % X", typ, data[:5])
		}
		for _, dec := range []*Codec{c, reader} {
			got := newValue(typ)
			if err := dec.Decode(typ, data, c.ContentType(), got); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Fatalf("%s: got %+v", typ, got)
			}
		}
	}

	// A codec with a registry still reads single-object and JSON input.
	for _, format := range []OutputFormat{FormatSingleObject, FormatJSON} {
		data, err := mustCodec(t, CodecOptions{OutputFormat: format}).Encode(TypeRequest, sampleRequest())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reader.DecodeRequest(data, ""); err != nil {
			t.Fatalf("%s into a registry codec: %v", format, err)
		}
	}
}

// requestV2 is an upstream producer's evolved Request: user_id dropped (ours has a default),
// trace_id added (with a default, so it is compatible).
type requestV2 struct {
	RequestID        string            `avro:"request_id"`
	TenantID         string            `avro:"tenant_id"`
	TraceID          string            `avro:"trace_id"`
	CreatedAt        int64             `avro:"created_at"`
	TaskType         string            `avro:"task_type"`
	Priority         string            `avro:"priority"`
	Messages         []Message         `avro:"messages"`
	Tools            []Tool            `avro:"tools"`
	ToolChoice       string            `avro:"tool_choice"`
	ResponseFormat   ResponseFormat    `avro:"response_format"`
	Model            string            `avro:"model"`
	AllowedProviders []string          `avro:"allowed_providers"`
	MaxTokens        int32             `avro:"max_tokens"`
	Temperature      *float64          `avro:"temperature"`
	Stream           bool              `avro:"stream"`
	BudgetUSD        *float64          `avro:"budget_usd"`
	DeadlineMS       int64             `avro:"deadline_ms"`
	Metadata         map[string]string `avro:"metadata"`
}

// evolve rewrites the Request schema text: drop removes a field, the rest of the edits are
// plain text replacements.
func evolve(t *testing.T, replacements ...string) string {
	t.Helper()
	s := SchemaJSON(TypeRequest)
	r := strings.NewReplacer(replacements...)
	out := r.Replace(s)
	if out == s {
		t.Fatal("evolve changed nothing")
	}
	if _, err := avro.ParseWithCache(out, "", &avro.SchemaCache{}); err != nil {
		t.Fatalf("evolved schema: %v\n%s", err, out)
	}
	return out
}

func TestConfluentEvolvedWriter(t *testing.T) {
	reg, cl := newRegistry(t)
	c := mustCodec(t, CodecOptions{Registry: cl})
	const userID = `{"name":"user_id","type":"string","default":""},`
	if !strings.Contains(SchemaJSON(TypeRequest), userID) {
		t.Fatalf("schema text changed; update this test: %s", SchemaJSON(TypeRequest)[:300])
	}
	v2 := evolve(t, userID, `{"name":"trace_id","type":"string","default":""},`)
	// Upstream registered it under its topic's subject (TopicNameStrategy); the subject does not
	// matter to the decoder.
	id, _, err := reg.RegisterSchema("llm.requests-value", sr.Schema{Schema: v2, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	want := sampleRequest()
	in := requestV2{RequestID: want.RequestID, TenantID: want.TenantID, TraceID: "trace-9", CreatedAt: want.CreatedAt,
		TaskType: want.TaskType, Priority: want.Priority, Messages: want.Messages, Tools: want.Tools,
		ToolChoice: want.ToolChoice, ResponseFormat: want.ResponseFormat, Model: want.Model,
		AllowedProviders: want.AllowedProviders, MaxTokens: want.MaxTokens, Temperature: want.Temperature,
		Stream: want.Stream, BudgetUSD: want.BudgetUSD, DeadlineMS: want.DeadlineMS, Metadata: want.Metadata}
	body, err := avro.Marshal(avro.MustParse(v2), in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeRequest(confluent(id, body), "")
	if err != nil {
		t.Fatal(err)
	}
	want.UserID = "" // the writer had no user_id: our default
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// The evolved writer's data is still walked strictly.
	if r := ReasonOf(c.Decode(TypeRequest, confluent(id, body[:len(body)-3]), "", &Request{})); r != ReasonTruncated {
		t.Fatalf("truncated evolved data: %q", r)
	}
	if r := ReasonOf(c.Decode(TypeRequest, confluent(id, append(body, 1)), "", &Request{})); r != ReasonTrailingBytes {
		t.Fatalf("evolved data with a trailing byte: %q", r)
	}
}

func TestConfluentIncompatibleWriter(t *testing.T) {
	reg, cl := newRegistry(t)
	c := mustCodec(t, CodecOptions{Registry: cl})
	bad := evolve(t, `{"name":"request_id","doc":"Idempotency key, unique per logical request.","type":"string"}`,
		`{"name":"request_id","type":"int"}`)
	id, _, err := reg.RegisterSchema("llm.requests-value", sr.Schema{Schema: bad, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Decode(TypeRequest, confluent(id, []byte{0x02}), "", &Request{})
	if ReasonOf(err) != ReasonSchemaIncompatible {
		t.Fatalf("got %v, want schema_incompatible", err)
	}
	if !strings.Contains(err.Error(), "schema id") {
		t.Errorf("detail %q does not name the schema id", err)
	}
	// A schema that is not Avro.
	pid, _, err := reg.RegisterSchema("proto-value", sr.Schema{Schema: `syntax = "proto3"; message M { string a = 1; }`, Type: sr.TypeProtobuf})
	if err != nil {
		t.Skipf("srfake refused a protobuf schema: %v", err)
	}
	if r := ReasonOf(c.Decode(TypeRequest, confluent(pid, []byte{0x02}), "", &Request{})); r != ReasonSchemaIncompatible {
		t.Fatalf("protobuf writer: %q", r)
	}
}

func TestConfluentReferences(t *testing.T) {
	reg, cl := newRegistry(t)
	c := mustCodec(t, CodecOptions{Registry: cl})
	if err := c.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The WorkItem as written in work.avsc names Request and Attempt; a producer that
	// registers it as is declares where they are defined.
	raw, err := avscFS.ReadFile("work.avsc")
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := reg.RegisterSchema("llm.work.openai-value", sr.Schema{Schema: string(raw), Type: sr.TypeAvro,
		References: []sr.SchemaReference{
			{Name: "switchyard.Request", Subject: Subject(TypeRequest), Version: 1},
			{Name: "switchyard.Attempt", Subject: Subject(TypeResponse), Version: 1},
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := samples()[TypeWorkItem].(*WorkItem)
	var got WorkItem
	if err := mustCodec(t, CodecOptions{Registry: cl}).Decode(TypeWorkItem, confluent(id, rawBody(t, TypeWorkItem, want)), "", &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("got %+v", got)
	}
}

func TestConfluentFramingErrors(t *testing.T) {
	reg, cl := newRegistry(t)
	var lookups atomic.Int32
	reg.Intercept(func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			lookups.Add(1)
		}
		return false
	})
	c := mustCodec(t, CodecOptions{Registry: cl})
	if r := ReasonOf(c.Decode(TypeRequest, []byte{0x00, 0x00, 0x01}, "", &Request{})); r != ReasonBadHeader {
		t.Fatalf("short header: %q", r)
	}
	for range 3 {
		err := c.Decode(TypeRequest, confluent(9999, []byte{0x02}), "", &Request{})
		if ReasonOf(err) != ReasonUnknownSchema || errors.Is(err, ErrRegistryUnavailable) {
			t.Fatalf("unknown id: %v", err)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("an unknown id was looked up %d times, want once (then cached)", n)
	}
}

func TestRegistryUnavailableIsNotADecodeError(t *testing.T) {
	reg, cl := newRegistry(t)
	reg.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, `{"error_code":50001,"message":"store down"}`, http.StatusInternalServerError)
		return true
	})
	down := srfake.New()
	downURL := down.URL()
	down.Close()
	closed, err := sr.NewClient(sr.URLs(downURL))
	if err != nil {
		t.Fatal(err)
	}
	codecs := map[string]*Codec{}
	for name, client := range map[string]*sr.Client{"500": cl, "closed": closed} {
		c := mustCodec(t, CodecOptions{Registry: client})
		codecs[name] = c
		err := c.Decode(TypeRequest, confluent(1, []byte{0x02}), "", &Request{})
		if !errors.Is(err, ErrRegistryUnavailable) || ReasonOf(err) != "" {
			t.Errorf("%s: decode: %v (reason %q), want ErrRegistryUnavailable and no reason", name, err, ReasonOf(err))
		}
		if err := c.Register(context.Background()); !errors.Is(err, ErrRegistryUnavailable) {
			t.Errorf("%s: register: %v, want ErrRegistryUnavailable", name, err)
		}
	}
	// Once the registry is back the same codec decodes: an outage is not remembered.
	reg.ClearInterceptors()
	writer := mustCodec(t, CodecOptions{Registry: cl})
	if err := writer.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := writer.Encode(TypeRequest, sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codecs["500"].DecodeRequest(data, ""); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

func TestRegisterConflictIsNotAnOutage(t *testing.T) {
	reg, cl := newRegistry(t)
	// The registry refuses our schema as incompatible with what the subject holds (srfake does
	// not check compatibility itself, so the answer is injected).
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema"}`))
		return true
	})
	err := mustCodec(t, CodecOptions{Registry: cl}).Register(context.Background())
	if err == nil || errors.Is(err, ErrRegistryUnavailable) {
		t.Fatalf("a compatibility conflict: got %v, want an error that is not ErrRegistryUnavailable", err)
	}
}

func TestConcurrentRegistryLookups(t *testing.T) {
	_, cl := newRegistry(t)
	writer := mustCodec(t, CodecOptions{Registry: cl})
	if err := writer.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	reader := mustCodec(t, CodecOptions{Registry: cl})
	data := map[Type][]byte{}
	for typ, v := range samples() {
		b, err := writer.Encode(typ, v)
		if err != nil {
			t.Fatal(err)
		}
		data[typ] = b
	}
	errs := make(chan error)
	for range 8 {
		go func() {
			for typ, b := range data {
				if err := reader.Decode(typ, b, "", newValue(typ)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
