package schemas

import (
	"embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

//go:embed *.avsc
var avscFS embed.FS

//go:embed compat
var compatFS embed.FS

// Type names one of the record types of the wire contract.
type Type uint8

// The record types, one per top-level .avsc file.
const (
	TypeRequest     Type = iota + 1 // switchyard.Request, on llm.requests
	TypeResponse                    // switchyard.Response, on llm.responses
	TypeStreamChunk                 // switchyard.StreamChunk, on llm.responses.stream
	TypeAuditEvent                  // switchyard.AuditEvent, on llm.audit
	TypeDeadLetter                  // switchyard.DeadLetter, on llm.dlq
	TypeWorkItem                    // switchyard.WorkItem, on llm.work.<provider>
	TypeSpend                       // switchyard.SpendState, on llm.spend (compacted)
	TypeHealth                      // switchyard.ProviderHealth, on llm.provider.health (compacted)
	TypeCancel                      // switchyard.Cancel, on llm.cancels

	typeLast = TypeCancel
)

// typeInfo ties a Type to its record name and Go type.
var typeInfo = [...]struct {
	name   string
	goType reflect.Type
}{
	TypeRequest:     {"switchyard.Request", reflect.TypeFor[Request]()},
	TypeResponse:    {"switchyard.Response", reflect.TypeFor[Response]()},
	TypeStreamChunk: {"switchyard.StreamChunk", reflect.TypeFor[StreamChunk]()},
	TypeAuditEvent:  {"switchyard.AuditEvent", reflect.TypeFor[AuditEvent]()},
	TypeDeadLetter:  {"switchyard.DeadLetter", reflect.TypeFor[DeadLetter]()},
	TypeWorkItem:    {"switchyard.WorkItem", reflect.TypeFor[WorkItem]()},
	TypeSpend:       {"switchyard.SpendState", reflect.TypeFor[SpendState]()},
	TypeHealth:      {"switchyard.ProviderHealth", reflect.TypeFor[ProviderHealth]()},
	TypeCancel:      {"switchyard.Cancel", reflect.TypeFor[Cancel]()},
}

// Types returns every Type in declaration order.
func Types() []Type {
	return []Type{TypeRequest, TypeResponse, TypeStreamChunk, TypeAuditEvent, TypeDeadLetter, TypeWorkItem, TypeSpend, TypeHealth, TypeCancel}
}

// Valid reports whether t is one of the declared types.
func (t Type) Valid() bool { return t >= TypeRequest && t <= typeLast }

// String returns the record's short name, e.g. "Request".
func (t Type) String() string {
	if !t.Valid() {
		return "Type(" + strconv.Itoa(int(t)) + ")"
	}
	return strings.TrimPrefix(typeInfo[t].name, "switchyard.")
}

// FullName returns the record's full Avro name, e.g. "switchyard.Request".
func (t Type) FullName() string {
	if !t.Valid() {
		return ""
	}
	return typeInfo[t].name
}

// Subject returns the schema registry subject the type is registered under: its full record name
// (RecordNameStrategy), e.g. "switchyard.Request". See the package documentation for why.
func Subject(t Type) string { return t.FullName() }

// Schema returns the parsed Avro schema of t, or nil if t is not valid. It is parsed from
// [SchemaJSON], so it is self-contained.
func Schema(t Type) avro.Schema {
	if !t.Valid() {
		return nil
	}
	return current.byType[t].schema
}

// SchemaJSON returns the self-contained schema text of t, with every named type it uses defined
// inline, docs and defaults kept: the text registered in a schema registry. "" if t is not valid.
func SchemaJSON(t Type) string {
	if !t.Valid() {
		return ""
	}
	return current.byType[t].json
}

// CanonicalForm returns the Parsing Canonical Form of t's schema as the Avro specification
// defines it (logical types and every other non-parsing attribute stripped).
func CanonicalForm(t Type) string {
	if !t.Valid() {
		return ""
	}
	return current.byType[t].pcf
}

// Fingerprint returns the CRC-64-AVRO fingerprint of [CanonicalForm]; single-object encoded
// data carries it in little-endian byte order after the C3 01 marker.
func Fingerprint(t Type) uint64 {
	if !t.Valid() {
		return 0
	}
	return current.byType[t].fp
}

// schemaVersion is one parsed set of schemas: the current one, or a compat snapshot.
type schemaVersion struct {
	name   string                     // "current" or the snapshot folder, e.g. "v1"
	byType [typeLast + 1]*typedSchema // nil in a snapshot released before the type existed
}

type typedSchema struct {
	t      Type
	schema avro.Schema // parsed standalone from json
	json   string      // self-contained schema text
	pcf    string      // Parsing Canonical Form per the Avro specification
	fp     uint64      // CRC-64-AVRO of pcf
	// hambaFP is the fingerprint hamba's soe package computes: hamba keeps logicalType in its
	// canonical form, which the specification strips, so Go producers using soe send this one.
	hambaFP uint64
	// jsonWriter is the writer of JSON input, which is transcoded with this schema.
	jsonWriter *writerSchema
}

// firstUnsnapshotted is the first type added after compat/v1: older snapshots may lack it.
const firstUnsnapshotted = TypeSpend

var (
	current   *schemaVersion
	snapshots []*schemaVersion // compat/v1, compat/v2, ... in version order
)

func init() {
	var err error
	current, err = loadVersion("current", avscFS, ".")
	if err != nil {
		panic("schemas: embedded schemas: " + err.Error())
	}
	snapshots, err = loadSnapshots(compatFS)
	if err != nil {
		panic("schemas: embedded compat snapshots: " + err.Error())
	}
}

// loadSnapshots loads every compat/vN folder, in version order.
func loadSnapshots(fsys fs.FS) ([]*schemaVersion, error) {
	entries, err := fs.ReadDir(fsys, "compat")
	if err != nil {
		return nil, err
	}
	type dir struct {
		n    int
		name string
	}
	var dirs []dir
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "v"))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "v") || err != nil {
			return nil, fmt.Errorf("compat/%s: want folders named v1, v2, ...", e.Name())
		}
		dirs = append(dirs, dir{n, e.Name()})
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].n < dirs[j].n })
	var out []*schemaVersion
	for _, d := range dirs {
		v, err := loadVersion(d.name, fsys, path.Join("compat", d.name))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// loadVersion parses every .avsc file of dir with one schema cache, in dependency order, then
// builds each type's self-contained text and parses that again on its own.
func loadVersion(name string, fsys fs.FS, dir string) (*schemaVersion, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.avsc"))
	if err != nil {
		return nil, err
	}
	parsed, err := parseInDependencyOrder(fsys, files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	v := &schemaVersion{name: name}
	for _, t := range Types() {
		s, ok := parsed[t.FullName()]
		if !ok {
			// A snapshot holds the types of its release; a type added since has none there.
			if name != "current" && t >= firstUnsnapshotted {
				continue
			}
			return nil, fmt.Errorf("%s: no .avsc file defines %s", name, t.FullName())
		}
		ts, err := newTypedSchema(t, s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		v.byType[t] = ts
	}
	return v, nil
}

// parseInDependencyOrder parses files with one hamba schema cache. A file that names a type
// defined in a file not parsed yet fails with "unknown type"; it is retried after the others, so
// the order of the files on disk does not matter. It returns the top-level schemas by full name.
func parseInDependencyOrder(fsys fs.FS, files []string) (map[string]avro.Schema, error) {
	cache := &avro.SchemaCache{}
	out := make(map[string]avro.Schema, len(files))
	pending := slices.Clone(files)
	for len(pending) > 0 {
		var retry []string
		var lastErr error
		for _, f := range pending {
			data, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, err
			}
			s, err := avro.ParseBytesWithCache(data, "", cache)
			if err != nil {
				if strings.Contains(err.Error(), "unknown type") {
					retry = append(retry, f)
					lastErr = fmt.Errorf("%s: %w", f, err)
					continue
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			named, ok := s.(avro.NamedSchema)
			if !ok {
				return nil, fmt.Errorf("%s: top-level schema is a %s, want a record", f, s.Type())
			}
			if _, dup := out[named.FullName()]; dup {
				return nil, fmt.Errorf("%s: %s defined twice", f, named.FullName())
			}
			out[named.FullName()] = s
		}
		if len(retry) == len(pending) {
			return nil, lastErr // no progress: a reference that nothing defines
		}
		pending = retry
	}
	return out, nil
}

func newTypedSchema(t Type, cached avro.Schema) (*typedSchema, error) {
	// hamba's JSON of a schema parsed with a cache inlines the named types taken from the cache
	// at the place they are used, so it is self-contained; parsing it with a fresh cache proves it.
	// (encoding/json.Marshal would escape the '<' in docs such as llm.work.<provider>.)
	m, ok := cached.(json.Marshaler)
	if !ok {
		return nil, fmt.Errorf("%s: schema cannot be marshalled", t)
	}
	js, err := m.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%s: marshal schema: %w", t, err)
	}
	standalone, err := avro.ParseBytesWithCache(js, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("%s: inlined schema is not self-contained: %w", t, err)
	}
	if standalone.String() != cached.String() {
		return nil, fmt.Errorf("%s: inlined schema differs from the parsed one", t)
	}
	pcf := canonicalForm(standalone)
	hfp, err := standalone.FingerprintUsing(avro.CRC64AvroLE)
	if err != nil {
		return nil, err
	}
	return &typedSchema{
		t:          t,
		schema:     standalone,
		json:       string(js),
		pcf:        pcf,
		fp:         crc64Avro([]byte(pcf)),
		hambaFP:    binary.LittleEndian.Uint64(hfp),
		jsonWriter: &writerSchema{schema: standalone, desc: "JSON"},
	}, nil
}

// canonicalForm returns the Parsing Canonical Form of s as the Avro specification defines it:
// only name, type, fields, symbols, items, values and size, in that order; full names; a named
// type is defined at its first occurrence and referred to by name afterwards. hamba's own
// canonical form keeps logicalType, which would change the fingerprint that producers in other
// languages compute.
func canonicalForm(s avro.Schema) string {
	var b strings.Builder
	writeCanonical(&b, s, map[string]bool{})
	return b.String()
}

func writeCanonical(b *strings.Builder, s avro.Schema, seen map[string]bool) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		if seen[n.FullName()] {
			b.WriteString(strconv.Quote(n.FullName()))
			return
		}
		seen[n.FullName()] = true
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		typ := "record"
		if s.IsError() {
			typ = "error"
		}
		b.WriteString(`{"name":` + strconv.Quote(s.FullName()) + `,"type":"` + typ + `","fields":[`)
		for i, f := range s.Fields() {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"name":` + strconv.Quote(f.Name()) + `,"type":`)
			writeCanonical(b, f.Type(), seen)
			b.WriteByte('}')
		}
		b.WriteString("]}")
	case *avro.EnumSchema:
		b.WriteString(`{"name":` + strconv.Quote(s.FullName()) + `,"type":"enum","symbols":[`)
		for i, sym := range s.Symbols() {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(sym))
		}
		b.WriteString("]}")
	case *avro.FixedSchema:
		b.WriteString(`{"name":` + strconv.Quote(s.FullName()) + `,"type":"fixed","size":` + strconv.Itoa(s.Size()) + `}`)
	case *avro.ArraySchema:
		b.WriteString(`{"type":"array","items":`)
		writeCanonical(b, s.Items(), seen)
		b.WriteByte('}')
	case *avro.MapSchema:
		b.WriteString(`{"type":"map","values":`)
		writeCanonical(b, s.Values(), seen)
		b.WriteByte('}')
	case *avro.UnionSchema:
		b.WriteByte('[')
		for i, u := range s.Types() {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, u, seen)
		}
		b.WriteByte(']')
	default:
		b.WriteString(strconv.Quote(string(s.Type())))
	}
}

// crc64Avro is the CRC-64-AVRO fingerprint of the Avro specification.
func crc64Avro(buf []byte) uint64 {
	fp := crcEmpty
	for _, c := range buf {
		fp = (fp >> 8) ^ crcTable[byte(fp)^c]
	}
	return fp
}

const crcEmpty uint64 = 0xc15d213aa4d7a795

var crcTable = func() (t [256]uint64) {
	for i := range t {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (crcEmpty & -(fp & 1))
		}
		t[i] = fp
	}
	return t
}()
