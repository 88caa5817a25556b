package schemas

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// OutputFormat is the encoding a Codec writes.
type OutputFormat string

// Output formats.
const (
	// FormatAuto is Confluent framing when a registry is configured, else single-object.
	FormatAuto OutputFormat = "auto"
	// FormatConfluent is 0x00, a 4-byte big-endian schema id, the Avro body.
	FormatConfluent OutputFormat = "confluent"
	// FormatSingleObject is C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint, the body.
	FormatSingleObject OutputFormat = "single-object"
	// FormatJSON is JSON in the Avro record's field layout, for people who read topics with
	// plain tools.
	FormatJSON OutputFormat = "json"
)

// Content types a Codec writes (see [Codec.ContentType]); a reader can ignore them, since the
// first byte tells the encodings apart, except that "application/json" forces JSON decoding.
const (
	ContentTypeConfluent    = "application/vnd.switchyard.avro; framing=confluent"
	ContentTypeSingleObject = "application/vnd.switchyard.avro; framing=single-object"
	ContentTypeJSON         = "application/json"
)

// Defaults of CodecOptions.
const (
	DefaultMaxMessageBytes = 4 << 20 // 4 MiB
	DefaultRegistryTimeout = 10 * time.Second
)

// Framing bytes.
const (
	confluentMagic     = 0x00
	confluentHeaderLen = 5
	singleObjectMagic0 = 0xC3
	singleObjectMagic1 = 0x01
	singleObjectHdrLen = 10
)

// unknownIDTTL is how long a schema id the registry did not know is answered from memory, so a
// stream of garbage ids does not become a stream of registry requests.
const (
	unknownIDTTL  = time.Minute
	maxUnknownIDs = 10_000
)

// CodecOptions configures NewCodec. The zero value is valid: single-object output, no registry.
type CodecOptions struct {
	// Registry is the schema registry client. Optional; without it Confluent-framed input is
	// rejected with unknown_schema and the output cannot be Confluent-framed.
	Registry *sr.Client
	// OutputFormat is what Encode writes. Default FormatAuto.
	OutputFormat OutputFormat
	// MaxMessageBytes is the largest input Decode accepts (larger: too_large) and the largest
	// string, bytes value or item count inside it (larger: field_too_large); Encode refuses to
	// write more. Default DefaultMaxMessageBytes (4 MiB).
	MaxMessageBytes int
	// RegistryTimeout bounds one schema lookup made by Decode. Default DefaultRegistryTimeout.
	RegistryTimeout time.Duration
}

// ParseOutputFormat parses a --output-format value: auto, confluent, single-object or json.
func ParseOutputFormat(s string) (OutputFormat, error) {
	switch f := OutputFormat(strings.ToLower(strings.TrimSpace(s))); f {
	case "", FormatAuto:
		return FormatAuto, nil
	case FormatConfluent, FormatSingleObject, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("schemas: output format %q: want auto, confluent, single-object or json", s)
}

// Codec encodes and strictly decodes the record types. It is safe for concurrent use.
type Codec struct {
	reg      *sr.Client
	format   OutputFormat // never FormatAuto
	maxBytes int
	timeout  time.Duration
	api      avro.API
	compat   *avro.SchemaCompatibility
	readers  sync.Pool // *avro.Reader

	byFP map[uint64]*writerSchema // single-object fingerprints; read-only after NewCodec

	mu        sync.RWMutex
	ownIDs    [typeLast + 1]int // registry ids of our schemas, 0 until Register
	byID      map[int]*writerSchema
	unknownID map[int]time.Time // ids the registry did not know, and when it said so
}

// writerSchema is a schema some producer wrote with, and its resolution to each reader type.
type writerSchema struct {
	schema   avro.Schema
	desc     string // "schema id 7" or "fingerprint 0x...", for error details
	resolved [typeLast + 1]atomic.Pointer[resolution]
}

type resolution struct {
	schema avro.Schema // what hamba decodes with: ours, or a writer-to-reader composite
	err    *DecodeError
}

// NewCodec validates opts and returns a Codec. It does not contact the registry; call
// [Codec.Register] before encoding with Confluent framing.
func NewCodec(opts CodecOptions) (*Codec, error) {
	var problems []error
	format, err := ParseOutputFormat(string(opts.OutputFormat))
	if err != nil {
		problems = append(problems, err)
	}
	if format == FormatAuto {
		format = FormatSingleObject
		if opts.Registry != nil {
			format = FormatConfluent
		}
	}
	if format == FormatConfluent && opts.Registry == nil {
		problems = append(problems, errors.New("schemas: output format confluent needs a schema registry"))
	}
	maxBytes := opts.MaxMessageBytes
	switch {
	case maxBytes == 0:
		maxBytes = DefaultMaxMessageBytes
	case maxBytes < 0:
		problems = append(problems, fmt.Errorf("schemas: MaxMessageBytes %d is negative", maxBytes))
	}
	timeout := opts.RegistryTimeout
	switch {
	case timeout == 0:
		timeout = DefaultRegistryTimeout
	case timeout < 0:
		problems = append(problems, fmt.Errorf("schemas: RegistryTimeout %v is negative", timeout))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	c := &Codec{
		reg:      opts.Registry,
		format:   format,
		maxBytes: maxBytes,
		timeout:  timeout,
		api: avro.Config{
			TagKey:                 "avro",
			DisableBlockSizeHeader: true, // count-only blocks: the form every Avro reader expects
			UnionResolutionError:   true,
			// Backstops: the walker rejects such lengths before hamba sees them.
			MaxByteSliceSize:  maxBytes,
			MaxSliceAllocSize: maxBytes,
		}.Freeze(),
		compat:    avro.NewSchemaCompatibility(),
		byFP:      map[uint64]*writerSchema{},
		byID:      map[int]*writerSchema{},
		unknownID: map[int]time.Time{},
	}
	c.readers.New = func() any { return avro.NewReader(nil, 0, avro.WithReaderConfig(c.api)) }
	// Single-object data may be written with the current schemas or any released snapshot, and
	// with either the specification's fingerprint or hamba's (which keeps logical types).
	for _, v := range append([]*schemaVersion{current}, snapshots...) {
		for _, t := range Types() {
			ts := v.byType[t]
			if ts == nil {
				continue // the snapshot predates the type
			}
			for _, fp := range []uint64{ts.fp, ts.hambaFP} {
				if _, ok := c.byFP[fp]; !ok {
					c.byFP[fp] = &writerSchema{schema: ts.schema, desc: fmt.Sprintf("fingerprint 0x%016x (%s %s)", fp, v.name, t)}
				}
			}
		}
	}
	return c, nil
}

// OutputFormat returns the format Encode writes (never FormatAuto).
func (c *Codec) OutputFormat() OutputFormat { return c.format }

// ContentType returns the content-type header value for what Encode writes.
func (c *Codec) ContentType() string {
	switch c.format {
	case FormatConfluent:
		return ContentTypeConfluent
	case FormatJSON:
		return ContentTypeJSON
	}
	return ContentTypeSingleObject
}

// SchemaID returns the registry id of t's schema, or 0 before Register.
func (c *Codec) SchemaID(t Type) int {
	if !t.Valid() {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ownIDs[t]
}

// Register registers every type's schema ([SchemaJSON]) under its [Subject] and remembers the
// ids. Without a registry it does nothing. Registering a schema the registry already holds
// returns its existing id, so every instance calls Register at start.
func (c *Codec) Register(ctx context.Context) error {
	if c.reg == nil {
		return nil
	}
	for _, t := range Types() {
		ss, err := c.reg.CreateSchema(ctx, Subject(t), sr.Schema{Schema: SchemaJSON(t), Type: sr.TypeAvro})
		if err != nil {
			var re *sr.ResponseError
			if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 &&
				re.StatusCode != http.StatusUnauthorized && re.StatusCode != http.StatusForbidden &&
				re.StatusCode != http.StatusTooManyRequests {
				// e.g. 409: incompatible with what the subject holds. Retrying will not help.
				return fmt.Errorf("schemas: register %s: %w", Subject(t), err)
			}
			return fmt.Errorf("%w: register %s: %w", ErrRegistryUnavailable, Subject(t), err)
		}
		c.mu.Lock()
		c.ownIDs[t] = ss.ID
		if _, ok := c.byID[ss.ID]; !ok {
			c.byID[ss.ID] = &writerSchema{schema: Schema(t), desc: "schema id " + strconv.Itoa(ss.ID)}
		}
		c.mu.Unlock()
	}
	return nil
}

// checkTarget checks that v is what t decodes into or encodes from.
func checkTarget(op string, t Type, v any, wantPtr bool) (reflect.Value, error) {
	if !t.Valid() {
		return reflect.Value{}, fmt.Errorf("schemas: %s: invalid %v", op, t)
	}
	want := typeInfo[t].goType
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Type() == want {
		return rv, nil
	}
	if !wantPtr && rv.IsValid() && rv.Type() == want {
		return rv, nil
	}
	return reflect.Value{}, fmt.Errorf("schemas: %s %s: got %T, want *%s", op, t, v, want)
}

// Encode returns v (a T or *T for t's Go type) in the codec's output format.
func (c *Codec) Encode(t Type, v any) ([]byte, error) {
	rv, err := checkTarget("encode", t, v, false)
	if err != nil {
		return nil, err
	}
	var out []byte
	switch c.format {
	case FormatJSON:
		if field := invalidUTF8Field(rv, ""); field != "" {
			return nil, fmt.Errorf("schemas: encode %s: %s: invalid UTF-8", t, field)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("schemas: encode %s: %w", t, err)
		}
		out = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	default:
		var hdr [singleObjectHdrLen]byte
		var h []byte
		if c.format == FormatConfluent {
			id := c.SchemaID(t)
			if id == 0 {
				return nil, ErrNotRegistered
			}
			hdr[0] = confluentMagic
			binary.BigEndian.PutUint32(hdr[1:5], uint32(id))
			h = hdr[:confluentHeaderLen]
		} else {
			hdr[0], hdr[1] = singleObjectMagic0, singleObjectMagic1
			binary.LittleEndian.PutUint64(hdr[2:], Fingerprint(t))
			h = hdr[:]
		}
		body, err := c.api.Marshal(Schema(t), v)
		if err != nil {
			return nil, fmt.Errorf("schemas: encode %s: %w", t, err)
		}
		// What we write must pass our own decoder; this catches invalid UTF-8 before a
		// consumer dead-letters it. The two most frequent records (about fifteen audit events
		// per request, a chunk per streamed delta) are checked field by field instead, which
		// costs a fraction of walking the encoded body; invalid UTF-8 is all a walk could find
		// in them.
		if field, checked := quickUTF8Check(v); checked {
			if field != "" {
				return nil, fmt.Errorf("schemas: encode %s: %s: invalid UTF-8", t, field)
			}
		} else if werr := walkBody(Schema(t), body, c.maxBytes); werr != nil {
			return nil, fmt.Errorf("schemas: encode %s: %s: %s", t, werr.reason, werr.detail(-1))
		}
		out = make([]byte, 0, len(h)+len(body))
		out = append(append(out, h...), body...)
	}
	if len(out) > c.maxBytes {
		return nil, fmt.Errorf("schemas: encode %s: %d bytes, over MaxMessageBytes %d", t, len(out), c.maxBytes)
	}
	return out, nil
}

// Decode decodes data into v, which must be a pointer to t's Go type (e.g. *Request for
// TypeRequest). The encoding is chosen by contentType ("application/json" or any "+json" type
// forces JSON) or else by the first byte: 0x00 Confluent framing, 0xC3 single-object, '{' (after
// white space) JSON. Registry lookups use a background context bounded by RegistryTimeout; see
// [Codec.DecodeContext]. Errors are a [*DecodeError], an error matching
// [ErrRegistryUnavailable], or (for a v of the wrong type) a plain error.
func (c *Codec) Decode(t Type, data []byte, contentType string, v any) error {
	return c.DecodeContext(context.Background(), t, data, contentType, v)
}

// DecodeContext is Decode with a context for the registry lookup of an unknown schema id.
func (c *Codec) DecodeContext(ctx context.Context, t Type, data []byte, contentType string, v any) error {
	rv, err := checkTarget("decode", t, v, true)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return decodeErr(ReasonBadHeader, "empty value", nil)
	}
	if len(data) > c.maxBytes {
		return decodeErr(ReasonTooLarge, strconv.Itoa(len(data))+" bytes, over the limit of "+strconv.Itoa(c.maxBytes), nil)
	}
	if isJSON(contentType, data) {
		body, derr := jsonToAvro(Schema(t), data)
		if derr != nil {
			return derr
		}
		// Offsets in the transcoded body mean nothing to the sender; leave them out.
		return c.decodeBody(t, current.byType[t].jsonWriter, body, -1, rv)
	}
	switch data[0] {
	case singleObjectMagic0:
		if len(data) < singleObjectHdrLen {
			return decodeErr(ReasonBadHeader, "single-object header needs 10 bytes, got "+strconv.Itoa(len(data)), nil)
		}
		if data[1] != singleObjectMagic1 {
			return decodeErr(ReasonBadHeader, fmt.Sprintf("single-object marker C3 %02X, want C3 01", data[1]), nil)
		}
		fp := binary.LittleEndian.Uint64(data[2:singleObjectHdrLen])
		w := c.byFP[fp]
		if w == nil {
			return decodeErr(ReasonUnknownSchema, fmt.Sprintf("no known schema has fingerprint 0x%016x", fp), nil)
		}
		return c.decodeBody(t, w, data[singleObjectHdrLen:], singleObjectHdrLen, rv)
	case confluentMagic:
		if c.reg == nil {
			return decodeErr(ReasonUnknownSchema, "Confluent-framed value but no schema registry is configured", nil)
		}
		if len(data) < confluentHeaderLen {
			return decodeErr(ReasonBadHeader, "Confluent header needs 5 bytes, got "+strconv.Itoa(len(data)), nil)
		}
		w, err := c.writerByID(ctx, int(binary.BigEndian.Uint32(data[1:confluentHeaderLen])))
		if err != nil {
			return err
		}
		return c.decodeBody(t, w, data[confluentHeaderLen:], confluentHeaderLen, rv)
	}
	return decodeErr(ReasonBadHeader, fmt.Sprintf("first byte 0x%02X is none of 0x00 (Confluent), 0xC3 (single-object), '{' (JSON)", data[0]), nil)
}

// DecodeRequest decodes a Request and validates it with [ValidateRequest].
func (c *Codec) DecodeRequest(data []byte, contentType string) (*Request, error) {
	return c.DecodeRequestContext(context.Background(), data, contentType)
}

// DecodeRequestContext is DecodeRequest with a context for registry lookups.
func (c *Codec) DecodeRequestContext(ctx context.Context, data []byte, contentType string) (*Request, error) {
	var r Request
	if err := c.DecodeContext(ctx, TypeRequest, data, contentType, &r); err != nil {
		return nil, err
	}
	if err := ValidateRequest(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

func isJSON(contentType string, data []byte) bool {
	if contentType != "" {
		mt, _, _ := strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt == "application/json" || strings.HasSuffix(mt, "+json") {
			return true
		}
	}
	for _, b := range data {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// resolve returns the schema to decode w's data into t with.
func (c *Codec) resolve(t Type, w *writerSchema) *resolution {
	if r := w.resolved[t].Load(); r != nil {
		return r
	}
	reader := Schema(t)
	r := &resolution{schema: reader}
	if w.schema.Fingerprint() != reader.Fingerprint() {
		s, err := c.compat.Resolve(reader, w.schema)
		if err != nil {
			// hamba's message names fields and types, never data.
			r = &resolution{err: decodeErr(ReasonSchemaIncompatible,
				w.desc+" cannot be read as "+t.FullName()+": "+err.Error(), err)}
		} else {
			r.schema = s
		}
	}
	w.resolved[t].Store(r) // a racing resolution computes the same answer
	return r
}

// decodeBody walks body against the writer schema, then decodes it with the resolved schema.
// hdrLen is added to offsets in error details; -1 leaves them out.
func (c *Codec) decodeBody(t Type, w *writerSchema, body []byte, hdrLen int, rv reflect.Value) error {
	res := c.resolve(t, w)
	if res.err != nil {
		return res.err
	}
	if werr := walkBody(w.schema, body, c.maxBytes); werr != nil {
		return decodeErr(werr.reason, werr.detail(hdrLen), nil)
	}
	rv.Elem().SetZero() // hamba merges into maps and slices that are already there
	if err := c.read(res.schema, body, rv.Interface()); err != nil {
		return err
	}
	if dl, ok := rv.Interface().(*DeadLetter); ok {
		// hamba hands out small []byte values from a shared slab; clip so that an append
		// cannot write into memory owned by another value.
		dl.Payload = dl.Payload[:len(dl.Payload):len(dl.Payload)]
	}
	return nil
}

// read decodes body with hamba's Reader. The walker has accepted body, so an error here is
// a disagreement between the walker and hamba; it is still classified, never ignored.
func (c *Codec) read(s avro.Schema, body []byte, v any) (err error) {
	r := c.readers.Get().(*avro.Reader)
	r.Reset(body)
	r.Error = nil
	defer func() {
		if p := recover(); p != nil {
			err = decodeErr(ReasonDecodeError, "decoder panicked", fmt.Errorf("%v", p))
		}
		r.Reset(nil)
		r.Error = nil
		c.readers.Put(r)
	}()
	r.ReadVal(s, v)
	if r.Error == nil {
		return nil
	}
	msg := r.Error.Error()
	switch {
	case errors.Is(r.Error, io.EOF) || errors.Is(r.Error, io.ErrUnexpectedEOF):
		return decodeErr(ReasonTruncated, "input ends inside the record", r.Error)
	case strings.Contains(msg, "MaxByteSliceSize") || strings.Contains(msg, "MaxSliceAllocSize"):
		return decodeErr(ReasonFieldTooLarge, "a length or count over the limit of "+strconv.Itoa(c.maxBytes), r.Error)
	}
	return decodeErr(ReasonDecodeError, "avro: "+msg, r.Error)
}

// writerByID returns the writer schema of a Confluent schema id, asking the registry once.
func (c *Codec) writerByID(ctx context.Context, id int) (*writerSchema, error) {
	c.mu.RLock()
	w, seen := c.byID[id], c.unknownID[id]
	c.mu.RUnlock()
	if w != nil {
		return w, nil
	}
	desc := "schema id " + strconv.Itoa(id)
	if !seen.IsZero() && time.Since(seen) < unknownIDTTL {
		return nil, decodeErr(ReasonUnknownSchema, desc+" is not in the registry", nil)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, err := c.reg.SchemaByID(ctx, id)
	if err != nil {
		if isNotFound(err) {
			c.mu.Lock()
			if len(c.unknownID) >= maxUnknownIDs {
				clear(c.unknownID) // garbage ids must not grow memory without bound
			}
			c.unknownID[id] = time.Now()
			c.mu.Unlock()
			return nil, decodeErr(ReasonUnknownSchema, desc+" is not in the registry", err)
		}
		return nil, fmt.Errorf("%w: look up %s: %w", ErrRegistryUnavailable, desc, err)
	}
	schema, err := c.parseRegistrySchema(ctx, desc, s)
	if err != nil {
		return nil, err
	}
	w = &writerSchema{schema: schema, desc: desc}
	c.mu.Lock()
	if prev := c.byID[id]; prev != nil {
		w = prev
	} else {
		c.byID[id] = w
	}
	delete(c.unknownID, id)
	c.mu.Unlock()
	return w, nil
}

// parseRegistrySchema parses a registry schema after the schemas it references.
func (c *Codec) parseRegistrySchema(ctx context.Context, desc string, s sr.Schema) (avro.Schema, error) {
	if s.Type != sr.TypeAvro {
		return nil, decodeErr(ReasonSchemaIncompatible, desc+" is a "+s.Type.String()+" schema, not Avro", nil)
	}
	cache := &avro.SchemaCache{}
	if err := c.loadReferences(ctx, desc, cache, s.References, map[string]bool{}, 0); err != nil {
		return nil, err
	}
	schema, err := avro.ParseWithCache(s.Schema, "", cache)
	if err != nil {
		return nil, decodeErr(ReasonSchemaIncompatible, desc+" does not parse as Avro", err)
	}
	return schema, nil
}

// maxReferenceDepth bounds the chain of schema references followed for one schema.
const maxReferenceDepth = 16

func (c *Codec) loadReferences(ctx context.Context, desc string, cache *avro.SchemaCache, refs []sr.SchemaReference, done map[string]bool, depth int) error {
	if depth > maxReferenceDepth {
		return decodeErr(ReasonSchemaIncompatible, desc+": schema references nested too deep", nil)
	}
	for _, ref := range refs {
		key := ref.Subject + "/" + strconv.Itoa(ref.Version)
		if done[key] {
			continue
		}
		done[key] = true
		ss, err := c.reg.SchemaByVersion(ctx, ref.Subject, ref.Version)
		if err != nil {
			if isNotFound(err) {
				return decodeErr(ReasonUnknownSchema, desc+": referenced schema "+key+" is not in the registry", err)
			}
			return fmt.Errorf("%w: look up %s reference %s: %w", ErrRegistryUnavailable, desc, key, err)
		}
		if err := c.loadReferences(ctx, desc, cache, ss.References, done, depth+1); err != nil {
			return err
		}
		if ss.Type != sr.TypeAvro {
			return decodeErr(ReasonSchemaIncompatible, desc+": referenced schema "+key+" is not Avro", nil)
		}
		if _, err := avro.ParseWithCache(ss.Schema.Schema, "", cache); err != nil {
			return decodeErr(ReasonSchemaIncompatible, desc+": referenced schema "+key+" does not parse as Avro", err)
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// invalidUTF8Field returns the path of the first string in v that is not valid UTF-8, or "".
// encoding/json would silently replace such bytes; Encode refuses them as the Avro path does.
func invalidUTF8Field(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ""
		}
		return invalidUTF8Field(v.Elem(), path)
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			return path
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if path != "" {
				name = path + "." + name
			}
			if p := invalidUTF8Field(v.Field(i), name); p != "" {
				return p
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "" // bytes: base64 in JSON
		}
		for i := range v.Len() {
			if p := invalidUTF8Field(v.Index(i), path+"["+strconv.Itoa(i)+"]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if !utf8.ValidString(it.Key().String()) {
				return path + "{}"
			}
			if p := invalidUTF8Field(it.Value(), path+"{}"); p != "" {
				return p
			}
		}
	}
	return ""
}

// quickUTF8Check checks the strings of an AuditEvent or a StreamChunk directly: checked says
// whether v is one of them, field names the first invalid one.
func quickUTF8Check(v any) (field string, checked bool) {
	switch x := v.(type) {
	case *AuditEvent:
		for _, f := range [...]struct{ name, v string }{{"event_id", x.EventID}, {"request_id", x.RequestID},
			{"tenant_id", x.TenantID}, {"type", x.Type}, {"stage", x.Stage}, {"provider", x.Provider}, {"model", x.Model}} {
			if !utf8.ValidString(f.v) {
				return f.name, true
			}
		}
		for k, a := range x.Attrs {
			if !utf8.ValidString(k) || !utf8.ValidString(a) {
				return "attrs", true
			}
		}
		return "", true
	case *StreamChunk:
		for _, f := range [...]struct{ name, v string }{{"request_id", x.RequestID}, {"kind", x.Kind}, {"provider", x.Provider},
			{"model", x.Model}, {"attempt_id", x.AttemptID}, {"delta", x.Delta}, {"finish_reason", x.FinishReason}, {"mode", x.Mode}} {
			if !utf8.ValidString(f.v) {
				return f.name, true
			}
		}
		if tc := x.ToolCall; tc != nil && !(utf8.ValidString(tc.ID) && utf8.ValidString(tc.Name) && utf8.ValidString(tc.Arguments)) {
			return "tool_call", true
		}
		return "", true
	}
	return "", false
}
