package sim

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// discardWriter is a minimal http.ResponseWriter, so that the benchmark measures the handler only.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

func BenchmarkHandler(b *testing.B) {
	s, err := NewServer(Config{})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, tc := range []struct{ name, body string }{
		{"complete", `{"model":"sim-ok","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What is the capital of France?"}]}`},
		{"stream", `{"model":"sim-ok","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What is the capital of France?"}]}`},
		{"tool-call", `{"model":"sim-ok","tool_choice":"required","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}}],"messages":[{"role":"user","content":"x"}]}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body := []byte(tc.body)
			rd := bytes.NewReader(body)
			req, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", io.NopCloser(rd))
			req.Header.Set(requestIDHeader, "bench")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			if !strings.HasPrefix(tc.name, "stream") && w.n == 0 {
				b.Fatal("no output")
			}
		})
	}
}
