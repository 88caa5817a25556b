package schemas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRoundTripEveryTypeEveryFormat(t *testing.T) {
	for _, format := range []OutputFormat{FormatSingleObject, FormatJSON} {
		c := mustCodec(t, CodecOptions{OutputFormat: format})
		for typ, v := range samples() {
			t.Run(string(format)+"/"+typ.String(), func(t *testing.T) {
				data, err := c.Encode(typ, v)
				if err != nil {
					t.Fatal(err)
				}
				got := newValue(typ)
				if err := c.Decode(typ, data, c.ContentType(), got); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !reflect.DeepEqual(got, v) {
					t.Fatalf("round trip changed the value:\n got %+v\nwant %+v", got, v)
				}
				// A value, not a pointer, encodes too (byte order of map entries may differ).
				again, err := c.Encode(typ, reflect.ValueOf(v).Elem().Interface())
				if err != nil {
					t.Fatal(err)
				}
				got = newValue(typ)
				if err := c.Decode(typ, again, "", got); err != nil || !reflect.DeepEqual(got, v) {
					t.Fatalf("encoding a value, not a pointer: %v", err)
				}
			})
		}
	}
}

func TestContentTypeAndFormat(t *testing.T) {
	tests := []struct {
		format     OutputFormat
		wantFormat OutputFormat
		wantCT     string
	}{
		{"", FormatSingleObject, ContentTypeSingleObject},
		{FormatAuto, FormatSingleObject, ContentTypeSingleObject},
		{FormatSingleObject, FormatSingleObject, ContentTypeSingleObject},
		{FormatJSON, FormatJSON, ContentTypeJSON},
	}
	for _, tt := range tests {
		c := mustCodec(t, CodecOptions{OutputFormat: tt.format})
		if c.OutputFormat() != tt.wantFormat || c.ContentType() != tt.wantCT {
			t.Errorf("%q: format %q content type %q, want %q %q", tt.format, c.OutputFormat(), c.ContentType(), tt.wantFormat, tt.wantCT)
		}
	}
}

func TestNewCodecListsEveryProblem(t *testing.T) {
	_, err := NewCodec(CodecOptions{OutputFormat: "xml", MaxMessageBytes: -1, RegistryTimeout: -1})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"output format", "MaxMessageBytes", "RegistryTimeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := NewCodec(CodecOptions{OutputFormat: FormatConfluent}); err == nil {
		t.Error("confluent output without a registry: want an error")
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, format := range []OutputFormat{FormatSingleObject, FormatJSON} {
		c := mustCodec(t, CodecOptions{OutputFormat: format})
		bad := sampleRequest()
		bad.Messages[1].Content = "ok \xff"
		if _, err := c.Encode(TypeRequest, bad); err == nil || !strings.Contains(err.Error(), "messages[1].content") {
			t.Errorf("%s: invalid UTF-8: got %v", format, err)
		}
		if _, err := c.Encode(TypeRequest, &Response{}); err == nil {
			t.Errorf("%s: wrong Go type: want an error", format)
		}
		small := mustCodec(t, CodecOptions{OutputFormat: format, MaxMessageBytes: 64})
		if _, err := small.Encode(TypeRequest, sampleRequest()); err == nil {
			t.Errorf("%s: over MaxMessageBytes: want an error", format)
		}
	}
	c := mustCodec(t, CodecOptions{})
	if err := c.Decode(TypeRequest, []byte("{}"), "", Request{}); err == nil || ReasonOf(err) != "" {
		t.Errorf("decode into a non-pointer: got %v", err)
	}
}

// goldenFiles maps each golden file to the output format that writes it.
var goldenFiles = map[string]OutputFormat{
	"request.single-object.avro": FormatSingleObject,
	"request.json":               FormatJSON,
}

func TestGolden(t *testing.T) {
	for name, format := range goldenFiles {
		t.Run(name, func(t *testing.T) {
			c := mustCodec(t, CodecOptions{OutputFormat: format})
			data, err := c.Encode(TypeRequest, sampleRequest())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./schemas/ -run TestGolden -update)", err)
			}
			if !bytes.Equal(data, golden) {
				t.Errorf("encoding changed; if intended, run go test ./schemas/ -run TestGolden -update\n got %q\nwant %q", data, golden)
			}
			// The golden bytes decode to the fixed value with a codec of any output format.
			for _, reader := range []*Codec{mustCodec(t, CodecOptions{}), mustCodec(t, CodecOptions{OutputFormat: FormatJSON})} {
				got, err := reader.DecodeRequest(golden, "")
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, sampleRequest()) {
					t.Errorf("golden decodes to %+v", got)
				}
			}
		})
	}
}

func TestSingleObjectHeader(t *testing.T) {
	c := mustCodec(t, CodecOptions{})
	data, err := c.Encode(TypeRequest, sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != 0xC3 || data[1] != 0x01 || binary.LittleEndian.Uint64(data[2:10]) != Fingerprint(TypeRequest) {
		t.Fatalf("header % X", data[:10])
	}
	// hamba's soe package fingerprints its own canonical form, which keeps logicalType; data
	// from Go producers that use it decodes too.
	hamba := append([]byte{0xC3, 0x01}, binary.LittleEndian.AppendUint64(nil, current.byType[TypeRequest].hambaFP)...)
	if _, err := c.DecodeRequest(append(hamba, data[10:]...), ""); err != nil {
		t.Fatalf("hamba fingerprint: %v", err)
	}
}

func TestDecodeReasons(t *testing.T) {
	c := mustCodec(t, CodecOptions{})
	golden, err := c.Encode(TypeRequest, sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	badUTF8 := sampleRequest()
	badUTF8.Messages[1].Content = "caf\xc3"
	badKey := sampleRequest()
	badKey.Metadata = map[string]string{"\xff": "v"}
	response, err := c.Encode(TypeResponse, samples()[TypeResponse])
	if err != nil {
		t.Fatal(err)
	}
	const okJSON = `{"request_id":"r1","tenant_id":"t1","created_at":1700000000000,"messages":[{"role":"user","content":"hi"}]}`
	withField := func(extra string) []byte { return []byte(strings.Replace(okJSON, `{`, `{`+extra+`,`, 1)) }

	tests := []struct {
		name        string
		data        []byte
		contentType string
		reason      string
		detail      string // a substring of the detail, if set
	}{
		// Framing.
		{"empty", nil, "", ReasonBadHeader, "empty"},
		{"unknown first byte", []byte{0x01, 0x02, 0x03}, "", ReasonBadHeader, "0x01"},
		{"random text", []byte("hello world"), "", ReasonBadHeader, ""},
		{"white space only", []byte("   "), "", ReasonBadHeader, ""},
		{"short single-object header", []byte{0xC3, 0x01, 0x00}, "", ReasonBadHeader, "10 bytes"},
		{"bad single-object marker", append([]byte{0xC3, 0x02}, golden[2:]...), "", ReasonBadHeader, "C3 02"},
		{"unknown fingerprint", append([]byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, golden[10:]...), "", ReasonUnknownSchema, "fingerprint"},
		{"confluent without registry", []byte{0x00, 0, 0, 0, 1, 2}, "", ReasonUnknownSchema, "registry"},
		{"other type's schema", response, "", ReasonSchemaIncompatible, "switchyard.Request"},
		// Avro body.
		{"header only", golden[:10], "", ReasonTruncated, ""},
		{"truncated by one byte", golden[:len(golden)-1], "", ReasonTruncated, ""},
		{"truncated in half", golden[:len(golden)/2], "", ReasonTruncated, ""},
		{"trailing byte", append(bytes.Clone(golden), 0), "", ReasonTrailingBytes, "1 bytes after"},
		{"invalid UTF-8 in content", singleObject(TypeRequest, rawBody(t, TypeRequest, badUTF8)), "", ReasonInvalidUTF8, "messages[1].content"},
		{"invalid UTF-8 in a map key", singleObject(TypeRequest, rawBody(t, TypeRequest, badKey)), "", ReasonInvalidUTF8, "map key"},
		{"string length 2^31", singleObject(TypeRequest, avroLong(nil, 1<<31)), "", ReasonFieldTooLarge, "request_id"},
		{"string length beyond the input", singleObject(TypeRequest, avroLong(nil, 100)), "", ReasonTruncated, "request_id"},
		{"negative string length", singleObject(TypeRequest, avroLong(nil, -1)), "", ReasonDecodeError, "negative"},
		{"array count 2^31", singleObject(TypeRequest, craftRequest(map[string][]byte{"messages": avroLong(nil, 1<<31)})), "", ReasonFieldTooLarge, "messages"},
		{"array count beyond the input", singleObject(TypeRequest, craftRequest(map[string][]byte{"messages": avroLong(nil, 1000)})), "", ReasonTruncated, "messages"},
		{"map count 2^40", singleObject(TypeRequest, craftRequest(map[string][]byte{"metadata": avroLong(nil, 1<<40)})), "", ReasonFieldTooLarge, "metadata"},
		{"boolean 2", singleObject(TypeRequest, craftRequest(map[string][]byte{"stream": {2}})), "", ReasonDecodeError, "stream"},
		{"union branch 5", singleObject(TypeRequest, craftRequest(map[string][]byte{"temperature": avroLong(nil, 5)})), "", ReasonDecodeError, "temperature"},
		{"varint of 11 bytes", singleObject(TypeRequest, craftRequest(map[string][]byte{"created_at": bytes.Repeat([]byte{0xFF}, 11)})), "", ReasonDecodeError, "created_at"},
		{"int over 32 bits", singleObject(TypeRequest, craftRequest(map[string][]byte{"max_tokens": {0xFF, 0xFF, 0xFF, 0xFF, 0x7F}})), "", ReasonDecodeError, "max_tokens"},
		// JSON.
		{"invalid JSON", []byte(`{"request_id":}`), "", ReasonDecodeError, "offset"},
		{"invalid JSON by content type", []byte("\xC3\x01"), "application/json", ReasonInvalidUTF8, ""},
		{"not an object", []byte(`[1]`), "application/json; charset=utf-8", ReasonDecodeError, "not an object"},
		{"truncated JSON", []byte(okJSON[:40]), "", ReasonTruncated, ""},
		{"unknown field", withField(`"color":"red"`), "", ReasonDecodeError, `unknown field "color"`},
		{"unknown nested field", []byte(strings.Replace(okJSON, `"role"`, `"rol":"x","role"`, 1)), "", ReasonDecodeError, `messages[0]: unknown field "rol"`},
		{"duplicate field", withField(`"tenant_id":"t2"`), "", ReasonDecodeError, `duplicate field "tenant_id"`},
		{"duplicate nested field", []byte(strings.Replace(okJSON, `"role":"user"`, `"role":"user","role":"tool"`, 1)), "", ReasonDecodeError, `duplicate field "role"`},
		{"trailing object", []byte(okJSON + ` {}`), "", ReasonTrailingBytes, ""},
		{"trailing garbage", []byte(okJSON + `x`), "", ReasonTrailingBytes, ""},
		{"invalid UTF-8 in JSON", []byte(strings.Replace(okJSON, `"hi"`, "\"h\xffi\"", 1)), "", ReasonInvalidUTF8, "offset"},
		{"wrong JSON type", withField(`"stream":"yes"`), "", ReasonDecodeError, "stream: expected boolean, got string"},
		{"int out of range", withField(`"max_tokens":3000000000`), "", ReasonDecodeError, "max_tokens"},
		{"fraction for an int", withField(`"max_tokens":1.5`), "", ReasonDecodeError, "max_tokens"},
		{"missing request_id", []byte(strings.Replace(okJSON, `"request_id":"r1",`, ``, 1)), "", ValidationReason("request_id"), "request_id: missing"},
		{"missing created_at", []byte(strings.Replace(okJSON, `"created_at":1700000000000,`, ``, 1)), "", ValidationReason("created_at"), ""},
		{"null tenant_id", []byte(strings.Replace(okJSON, `"t1"`, `null`, 1)), "", ValidationReason("tenant_id"), ""},
		{"missing role", []byte(strings.Replace(okJSON, `"role":"user",`, ``, 1)), "", ValidationReason("messages"), "messages[0].role: missing"},
		{"missing messages", []byte(strings.Replace(okJSON, `,"messages":[{"role":"user","content":"hi"}]`, ``, 1)), "", ValidationReason("messages"), ""},
		// Validation after decoding.
		{"empty messages", []byte(strings.Replace(okJSON, `[{"role":"user","content":"hi"}]`, `[]`, 1)), "", ValidationReason("messages"), "at least one"},
		{"bad role", []byte(strings.Replace(okJSON, `"user"`, `"bot"`, 1)), "", ValidationReason("messages"), "messages[0].role"},
		{"bad priority (Avro)", singleObject(TypeRequest, craftRequest(map[string][]byte{"priority": avroString(nil, "urgent")})), "", ValidationReason("priority"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.DecodeRequest(tt.data, tt.contentType)
			if err == nil {
				t.Fatalf("decoded %+v, want %s", r, tt.reason)
			}
			if r != nil {
				t.Error("a value came back with the error")
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
			if de.Reason != tt.reason || ReasonOf(err) != tt.reason {
				t.Fatalf("reason %q (%v), want %q", de.Reason, err, tt.reason)
			}
			if !strings.Contains(de.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", de.Detail, tt.detail)
			}
			// Details carry positions and names, never content.
			for _, secret := range []string{"hi", "caf", "Wie sp", "東京"} {
				if strings.Contains(err.Error(), `"`+secret) || strings.Contains(err.Error(), secret+`"`) {
					t.Errorf("error %q quotes content", err)
				}
			}
		})
	}
}

func TestDecodeCraftedRequestIsValid(t *testing.T) {
	// The baseline of craftRequest decodes, so each override above is what fails.
	c := mustCodec(t, CodecOptions{})
	r, err := c.DecodeRequest(singleObject(TypeRequest, craftRequest(nil)), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.RequestID != "r1" || len(r.Messages) != 1 || r.Messages[0].Content != "hi" {
		t.Fatalf("got %+v", r)
	}
	// Blocks with a negative count carry their size in bytes; that form is valid Avro too.
	msg := avroString(avroString(nil, "user"), "hi")
	msg = append(msg, 0, 0) // no parts, no tool calls
	msg = avroString(avroString(msg, ""), "")
	block := avroLong(avroLong(nil, -1), int64(len(msg)))
	r, err = c.DecodeRequest(singleObject(TypeRequest, craftRequest(map[string][]byte{"messages": append(append(block, msg...), 0)})), "")
	if err != nil || r.Messages[0].Role != "user" {
		t.Fatalf("negative block count: %v %+v", err, r)
	}
}

func TestJSONColonsInStrings(t *testing.T) {
	// Colons and escaped quotes inside strings do not look like members to the duplicate check.
	c := mustCodec(t, CodecOptions{})
	in := `{"request_id":"r:1","tenant_id":"t\":x","created_at":1,"messages":[{"role":"user","content":"a: \"b\": c\\"}]}`
	r, err := c.DecodeRequest([]byte(in), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.TenantID != `t":x` || r.Messages[0].Content != `a: "b": c\` {
		t.Fatalf("got %q %q", r.TenantID, r.Messages[0].Content)
	}
}

func TestConcurrentDecode(t *testing.T) {
	c := mustCodec(t, CodecOptions{})
	data := map[Type][]byte{}
	for typ, v := range samples() {
		b, err := c.Encode(typ, v)
		if err != nil {
			t.Fatal(err)
		}
		data[typ] = b
	}
	done := make(chan error)
	for range 8 {
		go func() {
			for range 50 {
				for typ, b := range data {
					if err := c.Decode(typ, b, "", newValue(typ)); err != nil {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestTooLarge(t *testing.T) {
	c := mustCodec(t, CodecOptions{MaxMessageBytes: 100})
	if r := ReasonOf(c.Decode(TypeRequest, make([]byte, 101), "", &Request{})); r != ReasonTooLarge {
		t.Fatalf("reason %q, want too_large", r)
	}
	// A string may not be longer than the limit even if the input is not.
	if r := ReasonOf(c.Decode(TypeRequest, singleObject(TypeRequest, avroLong(nil, 101)), "", &Request{})); r != ReasonFieldTooLarge {
		t.Fatalf("reason %q, want field_too_large", r)
	}
}

// TestHugeLengthPrefixDoesNotAllocate: a 2^31 length prefix must be rejected before anything
// the size of the prefix is allocated, both by the walker and by hamba's own limits behind it.
func TestHugeLengthPrefixDoesNotAllocate(t *testing.T) {
	c := mustCodec(t, CodecOptions{})
	inputs := map[string][]byte{
		"string": singleObject(TypeRequest, avroLong(nil, 1<<31)),
		"array":  singleObject(TypeRequest, craftRequest(map[string][]byte{"messages": avroLong(nil, 1<<31)})),
	}
	for name, data := range inputs {
		allocated := allocatedBytes(func() {
			if r := ReasonOf(c.Decode(TypeRequest, data, "", &Request{})); r != ReasonFieldTooLarge {
				t.Errorf("%s: reason %q, want field_too_large", name, r)
			}
		})
		if allocated > 1<<20 {
			t.Errorf("%s: decoding allocated %d bytes", name, allocated)
		}
	}
	// Behind the walker: hamba with the codec's config refuses the same prefixes.
	for name, body := range map[string][]byte{"string": avroLong(nil, 1<<31), "array": inputs["array"][10:]} {
		allocated := allocatedBytes(func() {
			err := c.read(Schema(TypeRequest), body, &Request{})
			if r := ReasonOf(err); r != ReasonFieldTooLarge {
				t.Errorf("hamba %s: reason %q (%v), want field_too_large", name, r, err)
			}
		})
		if allocated > 1<<20 {
			t.Errorf("hamba %s: decoding allocated %d bytes", name, allocated)
		}
	}
}

func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestJSONDefaults(t *testing.T) {
	c := mustCodec(t, CodecOptions{})
	in := `  {"request_id":"r1","tenant_id":"t1","created_at":1700000000000,
		"messages":[{"role":"user","content":"hi"}],
		"tools":[{"name":"clock"}], "user_id":null, "temperature":null, "metadata":null}`
	got, err := c.DecodeRequest([]byte(in), "")
	if err != nil {
		t.Fatal(err)
	}
	want := &Request{
		RequestID: "r1", TenantID: "t1", CreatedAt: 1_700_000_000_000, TaskType: "chat", Priority: PriorityInteractive,
		Messages:         []Message{{Role: RoleUser, Content: "hi", Parts: []ContentPart{}, ToolCalls: []ToolCall{}}},
		Tools:            []Tool{{Name: "clock", Parameters: "{ }"}},
		ResponseFormat:   ResponseFormat{Type: ResponseFormatText},
		AllowedProviders: []string{}, Metadata: map[string]string{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// A partial nested record gets the defaults of its missing fields.
	got, err = c.DecodeRequest([]byte(strings.Replace(in, `"user_id":null`, `"response_format":{"name":"x"}`, 1)), "")
	if err != nil {
		t.Fatal(err)
	}
	if got.ResponseFormat != (ResponseFormat{Type: "text", Name: "x"}) {
		t.Fatalf("response_format %+v", got.ResponseFormat)
	}
	// Numbers: integral floats are integers; a base64 bytes field; a double union branch.
	dl := `{"dlq_id":"d","reason":"truncated","source_topic":"llm.requests","source_partition":2,
		"source_offset":1e3,"ts":1700000000000,"payload":"wwH/AA=="}`
	var d DeadLetter
	if err := c.Decode(TypeDeadLetter, []byte(dl), "", &d); err != nil {
		t.Fatal(err)
	}
	if d.SourceOffset != 1000 || !bytes.Equal(d.Payload, []byte{0xC3, 0x01, 0xFF, 0x00}) || d.Detail != "" {
		t.Fatalf("got %+v", d)
	}
	if err := c.Decode(TypeDeadLetter, []byte(strings.Replace(dl, `"wwH/AA=="`, `"***"`, 1)), "", &d); ReasonOf(err) != ReasonDecodeError {
		t.Fatalf("bad base64: %v", err)
	}
}

func TestValidateRequest(t *testing.T) {
	if err := ValidateRequest(sampleRequest()); err != nil {
		t.Fatalf("sample: %v", err)
	}
	tests := []struct {
		field  string
		mutate func(r *Request)
	}{
		{"request_id", func(r *Request) { r.RequestID = "" }},
		{"request_id", func(r *Request) { r.RequestID = strings.Repeat("x", MaxIDBytes+1) }},
		{"tenant_id", func(r *Request) { r.TenantID = "" }},
		{"tenant_id", func(r *Request) { r.TenantID = strings.Repeat("x", MaxIDBytes+1) }},
		{"created_at", func(r *Request) { r.CreatedAt = 0 }},
		{"priority", func(r *Request) { r.Priority = "urgent" }},
		{"messages", func(r *Request) { r.Messages = nil }},
		{"messages", func(r *Request) { r.Messages[3].Role = "function" }},
		{"messages", func(r *Request) { r.Messages[1].Parts = []ContentPart{{Type: PartText, Text: "x"}} }},
		{"messages", func(r *Request) { r.Messages[2].Parts = []ContentPart{{Type: "audio"}} }},
		{"messages", func(r *Request) { r.Messages[2].Parts = []ContentPart{{Type: PartImage}} }},
		{"messages", func(r *Request) {
			r.Messages[2].Parts = []ContentPart{{Type: PartImage, URL: "https://x/a.png", Data: "AAAA", MediaType: "image/png"}}
		}},
		{"messages", func(r *Request) {
			r.Messages[2].Parts = []ContentPart{{Type: PartImage, Data: "AAAA", MediaType: "image/tiff"}}
		}},
		{"messages", func(r *Request) {
			r.Messages[2].Parts = []ContentPart{{Type: PartImage, Data: "AA*A", MediaType: "image/png"}}
		}},
		{"messages", func(r *Request) { r.Messages[2].Parts = []ContentPart{{Type: PartImage, URL: "file:///etc/passwd"}} }},
		{"messages", func(r *Request) { r.Messages[2].Parts = []ContentPart{{Type: PartText, Text: "x", URL: "https://x"}} }},
		{"tools", func(r *Request) { r.Tools[0].Name = "" }},
		{"tools", func(r *Request) { r.Tools[0].Parameters = "{" }},
		{"response_format", func(r *Request) { r.ResponseFormat.Type = "xml" }},
		{"response_format", func(r *Request) { r.ResponseFormat.Schema = "" }},
		{"max_tokens", func(r *Request) { r.MaxTokens = -1 }},
		{"temperature", func(r *Request) { r.Temperature = ptr(math.NaN()) }},
		{"temperature", func(r *Request) { r.Temperature = ptr(-0.5) }},
		{"budget_usd", func(r *Request) { r.BudgetUSD = ptr(math.Inf(1)) }},
		{"deadline_ms", func(r *Request) { r.DeadlineMS = -1 }},
	}
	for _, tt := range tests {
		r := sampleRequest()
		tt.mutate(r)
		err := ValidateRequest(r)
		if got := ReasonOf(err); got != ValidationReason(tt.field) {
			t.Errorf("%s: reason %q (%v)", tt.field, got, err)
		}
	}
	// At the edges: exactly MaxIDBytes, temperature 0, max_tokens 0 are fine.
	r := sampleRequest()
	r.Messages[2].Parts = []ContentPart{
		{Type: PartText, Text: "what is in this picture?"},
		{Type: PartImage, Data: "iVBORw0KGgo=", MediaType: "image/png"},
		{Type: PartImage, URL: "https://example.com/cat.jpg"},
	}
	r.RequestID, r.Temperature, r.MaxTokens = strings.Repeat("x", MaxIDBytes), ptr(0.0), 0
	if err := ValidateRequest(r); err != nil {
		t.Errorf("edge values: %v", err)
	}
}

func TestDecodeResetsTarget(t *testing.T) {
	c := mustCodec(t, CodecOptions{})
	data, err := c.Encode(TypeRequest, sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Metadata: map[string]string{"stale": "x"}, Messages: make([]Message, 9)}
	if err := c.Decode(TypeRequest, data, "", &r); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&r, sampleRequest()) {
		t.Fatalf("decoding into a used value kept old data: %+v", r)
	}
}

func TestDeadLetterPayloadIsClipped(t *testing.T) {
	c := mustCodec(t, CodecOptions{})
	data, err := c.Encode(TypeDeadLetter, samples()[TypeDeadLetter])
	if err != nil {
		t.Fatal(err)
	}
	var d DeadLetter
	if err := c.Decode(TypeDeadLetter, data, "", &d); err != nil {
		t.Fatal(err)
	}
	if cap(d.Payload) != len(d.Payload) {
		t.Fatalf("payload cap %d > len %d: an append would overwrite other decoded strings", cap(d.Payload), len(d.Payload))
	}
}

func TestDecodeErrorFormat(t *testing.T) {
	inner := errors.New("inner text with a prompt")
	err := error(&DecodeError{Reason: ReasonTruncated, Detail: "at offset 3", Err: inner})
	if err.Error() != "schemas: truncated: at offset 3" {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errors.Is(err, inner) {
		t.Error("Unwrap does not reach Err")
	}
	if ReasonOf(errors.Join(errors.New("x"), err)) != ReasonTruncated || ReasonOf(errors.New("x")) != "" || ReasonOf(nil) != "" {
		t.Error("ReasonOf")
	}
	if !IsValidationReason(ValidationReason("messages")) || IsValidationReason(ReasonTruncated) {
		t.Error("IsValidationReason")
	}
}

func TestMessageText(t *testing.T) {
	m := Message{Content: "plain"}
	if got := m.Text(); got != "plain" {
		t.Errorf("content: %q", got)
	}
	m = Message{Parts: []ContentPart{{Type: PartText, Text: "a"}, {Type: PartImage, URL: "https://x"}, {Type: PartText, Text: "b"}}}
	if got := m.Text(); got != "a\nb" {
		t.Errorf("parts: %q", got)
	}
}
