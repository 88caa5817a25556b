package schemas

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// JSON input is transcoded to the Avro binary encoding of the reader schema and then decoded
// like any Avro body, so both paths share one set of checks and produce identical values. The
// transcoder applies the schema's defaults to fields the JSON leaves out and reports a missing
// field without a default as "validation:<top-level field>".

// reasonMissing marks a walkError for a missing required field until the top-level field that
// contains it is known.
const reasonMissing = "missing"

// maxJSONNesting bounds the depth of the JSON document; ours nest about ten deep.
const maxJSONNesting = 64

// jsonToAvro parses data as one JSON object and returns the Avro binary encoding of it under s.
func jsonToAvro(s avro.Schema, data []byte) ([]byte, *DecodeError) {
	if !utf8.Valid(data) {
		return nil, decodeErr(ReasonInvalidUTF8, "invalid UTF-8 at offset "+strconv.Itoa(firstInvalidUTF8(data)), nil)
	}
	v, derr := parseJSONObject(data)
	if derr != nil {
		return nil, derr
	}
	enc := jsonEncoder{buf: make([]byte, 0, len(data))}
	if werr := enc.value(s, v, false); werr != nil {
		reason := werr.reason
		if reason == reasonMissing {
			reason = ValidationReason(werr.path[len(werr.path)-1])
		}
		return nil, decodeErr(reason, werr.detail(-1), nil)
	}
	return enc.buf, nil
}

// parseJSONObject parses data as exactly one JSON object. encoding/json's Decode is the fast
// path; it lets a duplicate member name silently overwrite the first (a second tenant_id, say),
// so the members are counted in the raw text too, and on a mismatch the slow token-by-token
// parser finds and reports the duplicate.
func parseJSONObject(data []byte) (map[string]any, *DecodeError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonSyntaxErr(err, dec)
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, decodeErr(ReasonTrailingBytes, strconv.Itoa(len(rest))+" bytes after the JSON object at offset "+strconv.Itoa(len(data)-len(rest)), nil)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, decodeErr(ReasonDecodeError, "the JSON value is not an object", nil)
	}
	if countMembers(m) == countColons(data) {
		return m, nil
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening '{'
		return nil, jsonSyntaxErr(err, dec)
	}
	return readJSONObject(dec, 1)
}

// countMembers counts the members of every object in v.
func countMembers(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := len(v)
		for _, e := range v {
			n += countMembers(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range v {
			n += countMembers(e)
		}
		return n
	}
	return 0
}

// countColons counts the ':' outside strings of valid JSON text: one per object member.
func countColons(data []byte) int {
	n, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == ':':
			n++
		}
	}
	return n
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// jsonSyntaxErr maps an encoding/json error to a DecodeError without quoting the input
// (a SyntaxError's text quotes the offending character).
func jsonSyntaxErr(err error, dec *json.Decoder) *DecodeError {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return decodeErr(ReasonTruncated, "JSON ends at offset "+strconv.FormatInt(dec.InputOffset(), 10)+" inside the object", err)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return decodeErr(ReasonDecodeError, "invalid JSON at offset "+strconv.FormatInt(se.Offset, 10), err)
	}
	return decodeErr(ReasonDecodeError, "invalid JSON at offset "+strconv.FormatInt(dec.InputOffset(), 10), err)
}

// readJSONObject reads the members of an object whose '{' was read, rejecting duplicate names
// (with encoding/json the last one would silently win, e.g. a second tenant_id).
func readJSONObject(dec *json.Decoder, depth int) (map[string]any, *DecodeError) {
	m := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonSyntaxErr(err, dec)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, decodeErr(ReasonDecodeError, "invalid JSON at offset "+strconv.FormatInt(dec.InputOffset(), 10), nil)
		}
		if _, dup := m[key]; dup {
			return nil, decodeErr(ReasonDecodeError, "duplicate field "+quoteName(key)+" at offset "+strconv.FormatInt(dec.InputOffset(), 10), nil)
		}
		v, derr := readJSONValue(dec, depth)
		if derr != nil {
			return nil, derr
		}
		m[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonSyntaxErr(err, dec)
	}
	return m, nil
}

func readJSONValue(dec *json.Decoder, depth int) (any, *DecodeError) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonSyntaxErr(err, dec)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= maxJSONNesting {
		return nil, decodeErr(ReasonDecodeError, "JSON nested deeper than "+strconv.Itoa(maxJSONNesting), nil)
	}
	if d == '{' {
		return readJSONObject(dec, depth+1)
	}
	arr := []any{}
	for dec.More() {
		v, derr := readJSONValue(dec, depth+1)
		if derr != nil {
			return nil, derr
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, jsonSyntaxErr(err, dec)
	}
	return arr, nil
}

// quoteName quotes a JSON member name for an error detail, cut to 64 bytes: a name is not
// message content, but nothing stops a client from sending a prompt as one.
func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return strconv.Quote(s) + "..."
	}
	return strconv.Quote(s)
}

// jsonEncoder writes the Avro binary encoding of a JSON value (or of a schema default, which
// hamba hands over as Go values: int, int64, float64, []byte, []any, map[string]any).
type jsonEncoder struct{ buf []byte }

func typeErr(want string, v any) *walkError {
	return &walkError{reason: ReasonDecodeError, msg: "expected " + want + ", got " + jsonKind(v)}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number, int, int32, int64, float32, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case []byte:
		return "bytes"
	}
	return "unsupported value"
}

// isNullable reports whether s accepts null, so that a JSON null is a value and not "not set".
func isNullable(s avro.Schema) bool {
	switch s := s.(type) {
	case *avro.NullSchema:
		return true
	case *avro.UnionSchema:
		return slices.ContainsFunc(s.Types(), func(t avro.Schema) bool { return t.Type() == avro.Null })
	}
	return false
}

func (e *jsonEncoder) long(n int64) {
	e.buf = binary.AppendVarint(e.buf, n) // zig-zag varint, as Avro encodes int and long
}

func (e *jsonEncoder) str(s string) {
	e.long(int64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *jsonEncoder) value(s avro.Schema, v any, isDefault bool) *walkError {
	switch s := s.(type) {
	case *avro.RefSchema:
		return e.value(s.Schema(), v, isDefault)
	case *avro.NullSchema:
		if v != nil {
			return typeErr("null", v)
		}
		return nil
	case *avro.PrimitiveSchema:
		return e.primitive(s.Type(), v, isDefault)
	case *avro.RecordSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return typeErr("object", v)
		}
		if !isDefault && len(m) > 0 {
			if err := unknownField(s, m); err != nil {
				return err
			}
		}
		for _, f := range s.Fields() {
			fv, present := m[f.Name()]
			if present && fv == nil && !isNullable(f.Type()) {
				present = false // null means "not set"
			}
			if !present {
				if !f.HasDefault() {
					return (&walkError{reason: reasonMissing, msg: "missing"}).in(f.Name())
				}
				if err := e.value(f.Type(), f.Default(), true); err != nil {
					return err.in(f.Name())
				}
				continue
			}
			if err := e.value(f.Type(), fv, isDefault); err != nil {
				return err.in(f.Name())
			}
		}
		return nil
	case *avro.ArraySchema:
		arr, ok := v.([]any)
		if !ok {
			return typeErr("array", v)
		}
		if len(arr) > 0 {
			e.long(int64(len(arr)))
			for i, item := range arr {
				if err := e.value(s.Items(), item, isDefault); err != nil {
					return err.in("[" + strconv.Itoa(i) + "]")
				}
			}
		}
		e.long(0)
		return nil
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return typeErr("object", v)
		}
		if len(m) > 0 {
			e.long(int64(len(m)))
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys) // deterministic output
			for _, k := range keys {
				e.str(k)
				if err := e.value(s.Values(), m[k], isDefault); err != nil {
					return err.in("{}")
				}
			}
		}
		e.long(0)
		return nil
	case *avro.UnionSchema:
		for i, t := range s.Types() {
			if unionBranchMatches(t, v) {
				e.long(int64(i))
				return e.value(t, v, isDefault)
			}
		}
		return &walkError{reason: ReasonDecodeError, msg: "no branch of the union takes a " + jsonKind(v)}
	case *avro.EnumSchema:
		sym, ok := v.(string)
		if !ok {
			return typeErr("string", v)
		}
		i := slices.Index(s.Symbols(), sym)
		if i < 0 {
			return &walkError{reason: ReasonDecodeError, msg: "not a symbol of the enum"}
		}
		e.long(int64(i))
		return nil
	case *avro.FixedSchema:
		b, err := bytesValue(v, isDefault)
		if err != nil {
			return err
		}
		if len(b) != s.Size() {
			return &walkError{reason: ReasonDecodeError, msg: "fixed value of " + strconv.Itoa(len(b)) + " bytes, want " + strconv.Itoa(s.Size())}
		}
		e.buf = append(e.buf, b...)
		return nil
	}
	return &walkError{reason: ReasonDecodeError, msg: "unsupported schema type " + string(s.Type())}
}

// unknownField reports the first (in sorted order, so the report is stable) member of m that is
// not a field of s.
func unknownField(s *avro.RecordSchema, m map[string]any) *walkError {
	var unknown []string
	for k := range m {
		if !slices.ContainsFunc(s.Fields(), func(f *avro.Field) bool { return f.Name() == k }) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return &walkError{reason: ReasonDecodeError, msg: "unknown field " + quoteName(unknown[0])}
}

func (e *jsonEncoder) primitive(t avro.Type, v any, isDefault bool) *walkError {
	switch t {
	case avro.String:
		s, ok := v.(string)
		if !ok {
			return typeErr("string", v)
		}
		e.str(s)
	case avro.Bytes:
		b, err := bytesValue(v, isDefault)
		if err != nil {
			return err
		}
		e.long(int64(len(b)))
		e.buf = append(e.buf, b...)
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return typeErr("boolean", v)
		}
		if b {
			e.buf = append(e.buf, 1)
		} else {
			e.buf = append(e.buf, 0)
		}
	case avro.Int, avro.Long:
		n, err := intValue(v)
		if err != nil {
			return err
		}
		if t == avro.Int && (n < math.MinInt32 || n > math.MaxInt32) {
			return &walkError{reason: ReasonDecodeError, msg: "number out of range for int"}
		}
		e.long(n)
	case avro.Float:
		f, err := floatValue(v)
		if err != nil {
			return err
		}
		if f32 := float32(f); math.IsInf(float64(f32), 0) {
			return &walkError{reason: ReasonDecodeError, msg: "number out of range for float"}
		}
		e.buf = binary.LittleEndian.AppendUint32(e.buf, math.Float32bits(float32(f)))
	case avro.Double:
		f, err := floatValue(v)
		if err != nil {
			return err
		}
		e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(f))
	default:
		return &walkError{reason: ReasonDecodeError, msg: "unsupported schema type " + string(t)}
	}
	return nil
}

// bytesValue reads a bytes or fixed value: base64 text in JSON input (as encoding/json writes a
// []byte); in an Avro default, []byte from hamba or text whose code points are the bytes.
func bytesValue(v any, isDefault bool) ([]byte, *walkError) {
	switch v := v.(type) {
	case []byte:
		return v, nil
	case string:
		if isDefault {
			b := make([]byte, 0, len(v))
			for _, r := range v {
				if r > 0xff {
					return nil, &walkError{reason: ReasonDecodeError, msg: "bytes default beyond U+00FF"}
				}
				b = append(b, byte(r))
			}
			return b, nil
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, &walkError{reason: ReasonDecodeError, msg: "bytes value is not base64"}
		}
		return b, nil
	}
	return nil, typeErr("base64 string", v)
}

// maxExactFloat is 2^53: every integer up to it has an exact float64.
const maxExactFloat = 1 << 53

func intValue(v any) (int64, *walkError) {
	switch v := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n, nil
		}
		// 1e3 or 5.0 is an integer too, as long as float64 holds it exactly.
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > maxExactFloat {
			return 0, &walkError{reason: ReasonDecodeError, msg: "number is not an integer in range"}
		}
		return int64(f), nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case int64:
		return v, nil
	case float64: // an Avro default written as 0.0
		if v != math.Trunc(v) || math.Abs(v) > maxExactFloat {
			return 0, &walkError{reason: ReasonDecodeError, msg: "number is not an integer in range"}
		}
		return int64(v), nil
	}
	return 0, typeErr("integer", v)
}

func floatValue(v any) (float64, *walkError) {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return 0, &walkError{reason: ReasonDecodeError, msg: "number out of range for double"}
		}
		return f, nil
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	}
	return 0, typeErr("number", v)
}

// unionBranchMatches reports whether a union branch of type t takes the JSON value v; the first
// branch that does is used, so ["null","double"] takes null and numbers.
func unionBranchMatches(t avro.Schema, v any) bool {
	if ref, ok := t.(*avro.RefSchema); ok {
		t = ref.Schema()
	}
	switch v := v.(type) {
	case nil:
		return t.Type() == avro.Null
	case bool:
		return t.Type() == avro.Boolean
	case string:
		switch t.Type() {
		case avro.String, avro.Bytes, avro.Fixed:
			return true
		case avro.Enum:
			return slices.Contains(t.(*avro.EnumSchema).Symbols(), v)
		}
	case json.Number:
		switch t.Type() {
		case avro.Int, avro.Long:
			_, err := intValue(v)
			return err == nil
		case avro.Float, avro.Double:
			return true
		}
	case int, int32, int64, float32, float64:
		switch t.Type() {
		case avro.Int, avro.Long, avro.Float, avro.Double:
			return true
		}
	case []byte:
		return t.Type() == avro.Bytes || t.Type() == avro.Fixed
	case []any:
		return t.Type() == avro.Array
	case map[string]any:
		return t.Type() == avro.Record || t.Type() == avro.Map
	}
	return false
}
