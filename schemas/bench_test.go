package schemas

import "testing"

// BenchmarkRequest measures encoding and strict decoding of the golden Request. Compare runs
// with benchstat; there are no timing asserts.
func BenchmarkRequest(b *testing.B) {
	for _, format := range []OutputFormat{FormatSingleObject, FormatJSON} {
		c := mustCodec(b, CodecOptions{OutputFormat: format})
		r := sampleRequest()
		data, err := c.Encode(TypeRequest, r)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+string(format), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := c.Encode(TypeRequest, r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/"+string(format), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := c.DecodeRequest(data, c.ContentType()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
