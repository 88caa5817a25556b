package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// A typical OpenAI-style stream chunk.
const benchChunk = `data: {"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" three words here"},"logprobs":null,"finish_reason":null}]}` + "\n\n"

func BenchmarkReader(b *testing.B) {
	for _, tc := range []struct{ name, sep string }{{"LF", "\n"}, {"CRLF", "\r\n"}} {
		payload := []byte(strings.Repeat(strings.ReplaceAll(benchChunk, "\n", tc.sep)+": keep-alive"+tc.sep, 1000))
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			rd := bytes.NewReader(payload)
			for b.Loop() {
				rd.Reset(payload)
				r := NewReader(rd)
				n := 0
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != 1000 {
					b.Fatalf("%d events", n)
				}
			}
		})
	}
}
