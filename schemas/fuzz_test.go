package schemas

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeRequest: no input panics the decoder, and whatever decodes (and validates)
// re-encodes, in every format, to bytes that decode to the same value.
func FuzzDecodeRequest(f *testing.F) {
	for name := range goldenFiles {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false)
		f.Add(data, true)
		f.Add(data[:len(data)/2], false)
	}
	f.Add(singleObject(TypeRequest, craftRequest(nil)), false)
	f.Add([]byte(`{"request_id":"r","tenant_id":"t","created_at":1,"messages":[{"role":"user"}]}`), true)
	f.Add([]byte{0x00, 0, 0, 0, 1}, false)

	reader := mustCodec(f, CodecOptions{MaxMessageBytes: 1 << 16})
	writers := []*Codec{mustCodec(f, CodecOptions{OutputFormat: FormatSingleObject}), mustCodec(f, CodecOptions{OutputFormat: FormatJSON})}
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		contentType := ""
		if asJSON {
			contentType = ContentTypeJSON
		}
		r, err := reader.DecodeRequest(data, contentType)
		if err != nil {
			if r != nil {
				t.Fatal("a value came back with an error")
			}
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		for _, w := range writers {
			enc, err := w.Encode(TypeRequest, r)
			if err != nil {
				t.Fatalf("%s: re-encoding a decoded request: %v", w.OutputFormat(), err)
			}
			r2, err := reader.DecodeRequest(enc, w.ContentType())
			if err != nil {
				t.Fatalf("%s: decoding our own encoding: %v", w.OutputFormat(), err)
			}
			if !reflect.DeepEqual(r, r2) {
				t.Fatalf("%s: round trip changed the value:\n got %+v\nwant %+v", w.OutputFormat(), r2, r)
			}
			if len(r.Metadata) <= 1 {
				enc2, err := w.Encode(TypeRequest, r2)
				if err != nil || !bytes.Equal(enc, enc2) {
					t.Fatalf("%s: encoding is not stable: %v", w.OutputFormat(), err)
				}
			}
		}
	})
}
