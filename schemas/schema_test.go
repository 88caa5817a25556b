package schemas

import (
	"encoding/binary"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hamba/avro/v2"
)

func TestEveryAvscFileIsAType(t *testing.T) {
	files, err := fs.Glob(avscFS, "*.avsc")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(Types()) {
		t.Fatalf("%d .avsc files, %d types: add the new file's Type", len(files), len(Types()))
	}
	for _, typ := range Types() {
		s, ok := Schema(typ).(*avro.RecordSchema)
		if !ok || s.FullName() != typ.FullName() || Subject(typ) != typ.FullName() {
			t.Errorf("%s: schema %v", typ, Schema(typ))
		}
	}
	if Schema(0) != nil || SchemaJSON(99) != "" || Type(99).Valid() || Type(99).String() != "Type(99)" {
		t.Error("an invalid Type is not handled")
	}
}

func TestSchemaJSONIsSelfContained(t *testing.T) {
	for _, typ := range Types() {
		s, err := avro.ParseWithCache(SchemaJSON(typ), "", &avro.SchemaCache{})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if s.String() != Schema(typ).String() {
			t.Errorf("%s: reparsed schema differs", typ)
		}
		// Docs and defaults are kept: a registry checks compatibility with them.
		if !strings.Contains(SchemaJSON(typ), `"doc"`) || !strings.Contains(SchemaJSON(typ), `"default"`) {
			t.Errorf("%s: docs or defaults lost", typ)
		}
	}
	if !strings.Contains(SchemaJSON(TypeWorkItem), `"name":"switchyard.Request"`) ||
		!strings.Contains(SchemaJSON(TypeWorkItem), `"name":"switchyard.Attempt"`) {
		t.Error("WorkItem does not inline Request and Attempt")
	}
}

func TestParseInDependencyOrder(t *testing.T) {
	// File order must not matter: work.avsc names types the other two define.
	fsys := fstest.MapFS{}
	for name, as := range map[string]string{"work.avsc": "a_work.avsc", "response.avsc": "b_response.avsc", "request.avsc": "z_request.avsc"} {
		data, err := avscFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[as] = &fstest.MapFile{Data: data}
	}
	got, err := parseInDependencyOrder(fsys, []string{"a_work.avsc", "b_response.avsc", "z_request.avsc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["switchyard.WorkItem"] == nil {
		t.Fatalf("got %v", got)
	}
	// A reference nothing defines is reported, not looped on.
	fsys["bad.avsc"] = &fstest.MapFile{Data: []byte(`{"type":"record","name":"X","fields":[{"name":"a","type":"nowhere.Y"}]}`)}
	if _, err := parseInDependencyOrder(fsys, []string{"bad.avsc", "z_request.avsc"}); err == nil || !strings.Contains(err.Error(), "bad.avsc") {
		t.Fatalf("undefined reference: %v", err)
	}
}

// TestTimestampLogicalTypesDecodeIntoInt64 verifies that hamba reads a long with a
// timestamp-millis or timestamp-micros logical type into our int64 fields unchanged (it would
// also accept time.Time; int64 keeps the exact value in every encoding).
func TestTimestampLogicalTypesDecodeIntoInt64(t *testing.T) {
	c := mustCodec(t, CodecOptions{})
	in := &Response{RequestID: "r", TenantID: "t", Status: "ok", CreatedAt: 1_700_000_000_123, CompletedAt: -5,
		Attempts: []Attempt{{AttemptID: "a", StartedAt: 1_700_000_000_123_456}}, ToolCalls: []ResponseToolCall{}}
	data, err := c.Encode(TypeResponse, in)
	if err != nil {
		t.Fatal(err)
	}
	var out Response
	if err := c.Decode(TypeResponse, data, "", &out); err != nil {
		t.Fatal(err)
	}
	if out.CreatedAt != in.CreatedAt || out.CompletedAt != -5 || out.Attempts[0].StartedAt != in.Attempts[0].StartedAt {
		t.Fatalf("got %d %d %d", out.CreatedAt, out.CompletedAt, out.Attempts[0].StartedAt)
	}
}

func TestCanonicalFormAndFingerprint(t *testing.T) {
	// Test vectors of the Avro specification's CRC-64-AVRO.
	for in, want := range map[string]uint64{`"null"`: 7195948357588979594, `"int"`: 8247732601305521295} {
		if got := crc64Avro([]byte(in)); got != want {
			t.Errorf("crc64Avro(%s) = %d, want %d", in, got, want)
		}
	}
	// Without logical types the specification's canonical form and hamba's agree.
	plain := avro.MustParse(`{"type":"record","name":"R","namespace":"n","doc":"d","fields":[
		{"name":"a","type":{"type":"array","items":{"type":"enum","name":"E","symbols":["X","Y"]}},"default":[]},
		{"name":"b","type":["null",{"type":"map","values":{"type":"fixed","name":"F","size":4}}]},
		{"name":"c","type":"n.E"}]}`)
	if canonicalForm(plain) != plain.String() {
		t.Fatalf("canonical form\n got %s\nwant %s", canonicalForm(plain), plain.String())
	}
	hfp, err := plain.FingerprintUsing(avro.CRC64AvroLE)
	if err != nil {
		t.Fatal(err)
	}
	if crc64Avro([]byte(canonicalForm(plain))) != binary.LittleEndian.Uint64(hfp) {
		t.Error("fingerprint differs from hamba's")
	}
	// Ours strip logicalType, as the specification says and Java's SchemaNormalization does.
	for _, typ := range Types() {
		pcf := CanonicalForm(typ)
		if strings.Contains(pcf, "logicalType") || strings.Contains(pcf, "doc") || strings.Contains(pcf, "default") {
			t.Errorf("%s: canonical form keeps non-parsing attributes: %s", typ, pcf)
		}
		if Fingerprint(typ) != crc64Avro([]byte(pcf)) {
			t.Errorf("%s: fingerprint", typ)
		}
	}
	// A named type is written in full once, then by name.
	if n := strings.Count(CanonicalForm(TypeResponse), `{"name":"switchyard.Attempt"`); n != 1 {
		t.Errorf("Attempt defined %d times in the Response canonical form", n)
	}
}
