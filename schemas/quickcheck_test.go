package schemas

import (
	"reflect"
	"strings"
	"testing"
)

// Encode refuses invalid UTF-8 in every string of the records it checks field by field
// instead of walking the encoded body: each string field (and map entry, and nested struct
// field) in turn holds an invalid byte, and Encode must fail naming no other problem. A field
// added to these types later is covered without touching this test.
func TestQuickUTF8CheckCoversEveryString(t *testing.T) {
	codec, err := NewCodec(CodecOptions{OutputFormat: FormatSingleObject})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ  Type
		make func() any
	}{
		{TypeAuditEvent, func() any {
			return &AuditEvent{EventID: "e", RequestID: "r", TenantID: "t", TS: 1, Type: "x", Stage: "s", Attrs: map[string]string{"k": "v"}}
		}},
		{TypeStreamChunk, func() any {
			return &StreamChunk{RequestID: "r", Kind: "delta", Delta: "d", ToolCall: &ToolCallDelta{ID: "i", Name: "n", Arguments: "{}"}}
		}},
	} {
		if _, err := codec.Encode(c.typ, c.make()); err != nil {
			t.Fatalf("%s: valid value refused: %v", c.typ, err)
		}
		n := 0
		for path := range stringPaths(reflect.TypeOf(c.make()).Elem(), "") {
			v := c.make()
			setString(reflect.ValueOf(v).Elem(), strings.Split(path, "."), "bad \xff")
			if _, err := codec.Encode(c.typ, v); err == nil || !strings.Contains(err.Error(), "UTF-8") {
				t.Errorf("%s: invalid UTF-8 in %s: err %v", c.typ, path, err)
			}
			n++
		}
		if n < 5 {
			t.Errorf("%s: only %d string fields found", c.typ, n)
		}
	}
}

// stringPaths yields the dotted paths of the string fields of t (a map[string]string field
// counts once, for its values; a pointer to a struct is followed).
func stringPaths(t reflect.Type, prefix string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.String, ft.Kind() == reflect.Map:
				if !yield(prefix + f.Name) {
					return
				}
			case ft.Kind() == reflect.Struct:
				for p := range stringPaths(ft, prefix+f.Name+".") {
					if !yield(p) {
						return
					}
				}
			}
		}
	}
}

func setString(v reflect.Value, path []string, s string) {
	f := v.FieldByName(path[0])
	if f.Kind() == reflect.Pointer {
		f = f.Elem()
	}
	switch {
	case len(path) > 1:
		setString(f, path[1:], s)
	case f.Kind() == reflect.Map:
		f.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf(s))
	default:
		f.SetString(s)
	}
}
