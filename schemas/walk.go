package schemas

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// maxNesting bounds how deep the walker follows nested records, arrays, maps and unions. Ours
// nest about ten deep; a recursive writer schema from a registry must not exhaust the stack.
const maxNesting = 64

// walker checks that buf is exactly one value of a schema, without building the value: lengths
// and counts must fit in both the bytes that are left and the limit, strings must be UTF-8,
// varints must be well formed, booleans 0 or 1, union and enum indexes in range. hamba checks
// little of this (it allocates what a length prefix asks for and returns nil on truncated input),
// so it only ever sees bytes the walker accepted.
type walker struct {
	buf   []byte
	pos   int
	limit int // max length of a string or bytes, and max items of one array or map
	depth int
}

// walkError is a walker failure; path is built on the way out, innermost element first.
type walkError struct {
	reason string
	msg    string
	offset int
	path   []string
}

func (e *walkError) in(elem string) *walkError {
	e.path = append(e.path, elem)
	return e
}

// field renders the path, e.g. "messages[0].content" or "metadata{}" (a map value).
func (e *walkError) field() string {
	var b strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		p := e.path[i]
		if b.Len() > 0 && p[0] != '[' && p[0] != '{' {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// detail renders "<field path>: <msg> at offset <n>", adding base to the offset (the length of
// the header before the body); base < 0 leaves the offset out.
func (e *walkError) detail(base int) string {
	d := e.msg
	if f := e.field(); f != "" {
		d = f + ": " + d
	}
	if base >= 0 {
		d += " at offset " + strconv.Itoa(base+e.offset)
	}
	return d
}

// walkBody checks that body is exactly one value of s.
func walkBody(s avro.Schema, body []byte, limit int) *walkError {
	w := walker{buf: body, limit: limit}
	if err := w.value(s); err != nil {
		return err
	}
	if w.pos != len(body) {
		return &walkError{reason: ReasonTrailingBytes,
			msg: strconv.Itoa(len(body)-w.pos) + " bytes after the record", offset: w.pos}
	}
	return nil
}

func (w *walker) fail(reason, msg string) *walkError {
	return &walkError{reason: reason, msg: msg, offset: w.pos}
}

func (w *walker) varint(maxBytes int) (int64, *walkError) {
	var v uint64
	for i := 0; ; i++ {
		if w.pos >= len(w.buf) {
			return 0, w.fail(ReasonTruncated, "input ends inside a varint")
		}
		if i == maxBytes {
			return 0, w.fail(ReasonDecodeError, "varint longer than "+strconv.Itoa(maxBytes)+" bytes")
		}
		b := w.buf[w.pos]
		w.pos++
		if i == 9 && b > 1 {
			return 0, w.fail(ReasonDecodeError, "varint overflows 64 bits")
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			break
		}
	}
	if maxBytes == 5 && v > math.MaxUint32 {
		return 0, w.fail(ReasonDecodeError, "int overflows 32 bits")
	}
	return int64(v>>1) ^ -int64(v&1), nil
}

func (w *walker) long() (int64, *walkError) { return w.varint(10) }

// length reads a string or bytes length and checks it against the limit and what is left.
func (w *walker) length(what string) (int, *walkError) {
	start := w.pos
	n, err := w.long()
	if err != nil {
		return 0, err
	}
	switch {
	case n < 0:
		return 0, &walkError{reason: ReasonDecodeError, msg: "negative " + what + " length", offset: start}
	case n > int64(w.limit):
		return 0, &walkError{reason: ReasonFieldTooLarge,
			msg: what + " length " + strconv.FormatInt(n, 10) + " over the limit of " + strconv.Itoa(w.limit), offset: start}
	case n > int64(len(w.buf)-w.pos):
		return 0, &walkError{reason: ReasonTruncated,
			msg: what + " length " + strconv.FormatInt(n, 10) + " but " + strconv.Itoa(len(w.buf)-w.pos) + " bytes left", offset: start}
	}
	return int(n), nil
}

func (w *walker) skip(n int) *walkError {
	if n > len(w.buf)-w.pos {
		return w.fail(ReasonTruncated, "input ends inside a "+strconv.Itoa(n)+"-byte value")
	}
	w.pos += n
	return nil
}

// blockCount reads an array or map block header. total is the items seen so far in earlier
// blocks; minItem is the fewest bytes one item can take.
func (w *walker) blockCount(total int64, minItem int) (int64, *walkError) {
	start := w.pos
	n, err := w.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, &walkError{reason: ReasonDecodeError, msg: "invalid block count", offset: start}
		}
		n = -n
		size, err := w.long() // the block's size in bytes, which lets readers skip it
		if err != nil {
			return 0, err
		}
		if size < 0 || size > int64(len(w.buf)-w.pos) {
			return 0, &walkError{reason: ReasonTruncated, msg: "block size beyond the input", offset: start}
		}
	}
	if n > int64(w.limit)-total {
		return 0, &walkError{reason: ReasonFieldTooLarge,
			msg: "block of " + strconv.FormatInt(n, 10) + " items over the limit of " + strconv.Itoa(w.limit), offset: start}
	}
	if minItem > 0 && n > int64((len(w.buf)-w.pos)/minItem) {
		return 0, &walkError{reason: ReasonTruncated,
			msg: "block of " + strconv.FormatInt(n, 10) + " items but " + strconv.Itoa(len(w.buf)-w.pos) + " bytes left", offset: start}
	}
	return n, nil
}

func (w *walker) value(s avro.Schema) *walkError {
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > maxNesting {
		return w.fail(ReasonDecodeError, "nested deeper than "+strconv.Itoa(maxNesting))
	}
	switch s := s.(type) {
	case *avro.RefSchema:
		return w.value(s.Schema())
	case *avro.NullSchema:
		return nil
	case *avro.PrimitiveSchema:
		switch s.Type() {
		case avro.Boolean:
			if w.pos >= len(w.buf) {
				return w.fail(ReasonTruncated, "input ends inside a boolean")
			}
			if w.buf[w.pos] > 1 {
				return w.fail(ReasonDecodeError, "boolean is neither 0 nor 1")
			}
			w.pos++
			return nil
		case avro.Int:
			_, err := w.varint(5)
			return err
		case avro.Long:
			_, err := w.long()
			return err
		case avro.Float:
			return w.skip(4)
		case avro.Double:
			return w.skip(8)
		case avro.String:
			n, err := w.length("string")
			if err != nil {
				return err
			}
			if s := w.buf[w.pos : w.pos+n]; !utf8.Valid(s) {
				return w.fail(ReasonInvalidUTF8, "invalid UTF-8 in a "+strconv.Itoa(n)+"-byte string")
			}
			w.pos += n
			return nil
		case avro.Bytes:
			n, err := w.length("bytes")
			if err != nil {
				return err
			}
			w.pos += n
			return nil
		}
	case *avro.RecordSchema:
		for _, f := range s.Fields() {
			if err := w.value(f.Type()); err != nil {
				return err.in(f.Name())
			}
		}
		return nil
	case *avro.ArraySchema:
		minItem := minEncodedSize(s.Items())
		var total int64
		for {
			n, err := w.blockCount(total, minItem)
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			for i := range n {
				if err := w.value(s.Items()); err != nil {
					return err.in("[" + strconv.FormatInt(total+i, 10) + "]")
				}
			}
			total += n
		}
	case *avro.MapSchema:
		minItem := 1 + minEncodedSize(s.Values())
		var total int64
		for {
			n, err := w.blockCount(total, minItem)
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			for range n {
				n, err := w.length("map key")
				if err != nil {
					return err
				}
				if !utf8.Valid(w.buf[w.pos : w.pos+n]) {
					return w.fail(ReasonInvalidUTF8, "invalid UTF-8 in a "+strconv.Itoa(n)+"-byte map key")
				}
				w.pos += n
				// The key may be message content: the path names the map, not the key.
				if err := w.value(s.Values()); err != nil {
					return err.in("{}")
				}
			}
			total += n
		}
	case *avro.UnionSchema:
		start := w.pos
		i, err := w.long()
		if err != nil {
			return err
		}
		types := s.Types()
		if i < 0 || i >= int64(len(types)) {
			return &walkError{reason: ReasonDecodeError,
				msg: "union branch " + strconv.FormatInt(i, 10) + " of " + strconv.Itoa(len(types)), offset: start}
		}
		return w.value(types[i])
	case *avro.EnumSchema:
		start := w.pos
		i, err := w.varint(5)
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(s.Symbols())) {
			return &walkError{reason: ReasonDecodeError,
				msg: "enum index " + strconv.FormatInt(i, 10) + " of " + strconv.Itoa(len(s.Symbols())), offset: start}
		}
		return nil
	case *avro.FixedSchema:
		return w.skip(s.Size())
	}
	return w.fail(ReasonDecodeError, "unsupported schema type "+string(s.Type()))
}

// minSizes caches minEncodedSize per schema; schemas are immutable once parsed.
var minSizes sync.Map // avro.Schema -> int

// minEncodedSize is the fewest bytes a value of s takes, used to reject an item count that the
// bytes left cannot hold before anything is allocated for it.
func minEncodedSize(s avro.Schema) int {
	if v, ok := minSizes.Load(s); ok {
		return v.(int)
	}
	n := minSize(s, 0)
	minSizes.Store(s, n)
	return n
}

func minSize(s avro.Schema, depth int) int {
	if depth > maxNesting {
		return 0 // recursive type: 0 is a safe lower bound
	}
	switch s := s.(type) {
	case *avro.RefSchema:
		return minSize(s.Schema(), depth+1)
	case *avro.NullSchema:
		return 0
	case *avro.PrimitiveSchema:
		switch s.Type() {
		case avro.Float:
			return 4
		case avro.Double:
			return 8
		default:
			return 1
		}
	case *avro.RecordSchema:
		n := 0
		for _, f := range s.Fields() {
			n += minSize(f.Type(), depth+1)
		}
		return n
	case *avro.UnionSchema:
		least := -1
		for _, t := range s.Types() {
			if m := minSize(t, depth+1); least < 0 || m < least {
				least = m
			}
		}
		return 1 + max(least, 0)
	case *avro.FixedSchema:
		return s.Size()
	default: // arrays, maps, enums
		return 1
	}
}
