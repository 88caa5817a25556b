package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

type ev struct {
	Type, Data, ID string
	Retry          time.Duration
}

func readAll(r *Reader) ([]ev, error) {
	var out []ev
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.Type, string(e.Data), e.ID, e.Retry})
	}
}

func TestReader(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name    string
		in      string
		max     int
		want    []ev
		wantErr error
	}{
		{name: "empty input", in: "", wantErr: io.EOF},
		{name: "single event LF", in: "data: hello\n\n", want: []ev{{Data: "hello"}}, wantErr: io.EOF},
		{name: "CRLF", in: "event: a\r\ndata: x\r\n\r\ndata: y\r\n\r\n", want: []ev{{Type: "a", Data: "x"}, {Data: "y"}}, wantErr: io.EOF},
		{name: "CR only", in: "data: x\rdata: y\r\rdata: z\r\r", want: []ev{{Data: "x\ny"}, {Data: "z"}}, wantErr: io.EOF},
		{name: "mixed endings", in: "data: a\r\ndata: b\rdata: c\n\r\n", want: []ev{{Data: "a\nb\nc"}}, wantErr: io.EOF},
		{name: "comments and keep-alives", in: ": ping\n\n:\n\ndata: x\n: inside\n\n: trailing\n", want: []ev{{Data: "x"}}, wantErr: io.EOF},
		{name: "multi-line data", in: "data: {\"a\":\ndata: 1}\n\n", want: []ev{{Data: "{\"a\":\n1}"}}, wantErr: io.EOF},
		{name: "only one leading space stripped", in: "data:  two\ndata:none\n\n", want: []ev{{Data: " two\nnone"}}, wantErr: io.EOF},
		{name: "event type resets, id persists", in: "event: start\nid: 7\ndata: a\n\ndata: b\n\nid: 8\ndata: c\n\n",
			want: []ev{{Type: "start", ID: "7", Data: "a"}, {ID: "7", Data: "b"}, {ID: "8", Data: "c"}}, wantErr: io.EOF},
		{name: "id with NUL ignored", in: "id: a\x00b\ndata: x\n\n", want: []ev{{Data: "x"}}, wantErr: io.EOF},
		{name: "retry", in: "retry: 1500\ndata: x\n\nretry: x1\ndata: y\n\n", want: []ev{{Data: "x", Retry: 1500 * time.Millisecond}, {Data: "y"}}, wantErr: io.EOF},
		{name: "field without colon", in: "data\n\n", want: []ev{{Data: ""}}, wantErr: io.EOF},
		{name: "empty data dispatches", in: "data:\n\n", want: []ev{{Data: ""}}, wantErr: io.EOF},
		{name: "event without data not dispatched", in: "event: x\n\ndata: y\n\n", want: []ev{{Data: "y"}}, wantErr: io.EOF},
		{name: "unknown field ignored", in: "foo: bar\ndata: y\n\n", want: []ev{{Data: "y"}}, wantErr: io.EOF},
		{name: "BOM stripped", in: "\xef\xbb\xbfdata: x\n\n", want: []ev{{Data: "x"}}, wantErr: io.EOF},
		{name: "colon in value kept", in: "data: a: b\n\n", want: []ev{{Data: "a: b"}}, wantErr: io.EOF},
		{name: "EOF after data line", in: "data: x\n\ndata: y\n", want: []ev{{Data: "x"}}, wantErr: ErrTruncated},
		{name: "EOF mid line", in: "data: x\n\ndata: {\"a\"", want: []ev{{Data: "x"}}, wantErr: ErrTruncated},
		{name: "EOF after event field", in: "event: x\n", wantErr: ErrTruncated},
		{name: "EOF after partial comment", in: ": keep", wantErr: ErrTruncated},
		{name: "EOF after CR terminated event", in: "data: x\r\r", want: []ev{{Data: "x"}}, wantErr: io.EOF},
		{name: "long line within cap", in: "data: " + big + "\n\n", max: 2 << 20, want: []ev{{Data: big}}, wantErr: io.EOF},
		{name: "line exactly at cap", in: "data:" + strings.Repeat("y", 59) + "\r\n\r\n", max: 64, want: []ev{{Data: strings.Repeat("y", 59)}}, wantErr: io.EOF},
		{name: "line over cap", in: "data: " + big + "\n\n", max: 64 << 10, wantErr: ErrTooLarge},
		{name: "line over cap without terminator", in: "data: " + big, max: 64 << 10, wantErr: ErrTooLarge},
		{name: "event data over cap", in: strings.Repeat("data: "+strings.Repeat("z", 1000)+"\n", 100) + "\n", max: 64 << 10, wantErr: ErrTooLarge},
		{name: "comment over cap", in: ":" + big + "\n", max: 1 << 10, wantErr: ErrTooLarge},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data err", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			if rd.name == "one byte" && len(tt.in) > 1<<16 {
				continue // slow and adds nothing the other readers do not cover
			}
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				r := NewReaderSize(rd.wrap(strings.NewReader(tt.in)), tt.max)
				got, err := readAll(r)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d events %q, want %d %q", len(got), got, len(tt.want), tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("event %d = %+q, want %+q", i, got[i], tt.want[i])
					}
				}
				if _, err2 := r.Next(); !errors.Is(err2, tt.wantErr) {
					t.Errorf("error not sticky: second Next = %v", err2)
				}
			})
		}
	}
}

func TestTruncatedIsDistinguishable(t *testing.T) {
	_, err := NewReader(strings.NewReader("data: x")).Next()
	if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		t.Fatalf("err = %v: want ErrTruncated wrapping io.ErrUnexpectedEOF and not io.EOF", err)
	}
}

func TestReadErrorPassesThrough(t *testing.T) {
	boom := errors.New("connection reset")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)))
	e, err := r.Next()
	if err != nil || string(e.Data) != "a" {
		t.Fatalf("first = %q, %v", e.Data, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestNoProgress(t *testing.T) {
	r := NewReader(zeroReader{})
	if _, err := r.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// endless never ends and never sends a line terminator.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestBoundedMemoryOnEndlessLine(t *testing.T) {
	src := &endless{}
	r := NewReaderSize(src, 1<<20)
	if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if c := cap(r.buf); c > 1<<20+2 {
		t.Fatalf("buffer grew to %d bytes", c)
	}
	if src.n > 2<<20 {
		t.Fatalf("read %d bytes before giving up", src.n)
	}
}

func TestDataValidUntilNext(t *testing.T) {
	r := NewReader(strings.NewReader("data: one\n\ndata: two\n\n"))
	a, _ := r.Next()
	keep := bytes.Clone(a.Data)
	b, _ := r.Next()
	if string(keep) != "one" || string(b.Data) != "two" {
		t.Fatalf("got %q, %q", keep, b.Data)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{"data: x\n\n", "event: a\r\ndata: b\r\n\r\n", ": c\rdata\r\r", "data: x", "id: 1\nretry: 5\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReaderSize(bytes.NewReader(in), 256)
		var events int
		for {
			e, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(e.Data) > 256 {
				t.Fatalf("event data %d bytes over the cap", len(e.Data))
			}
			events++
			if events > len(in) {
				t.Fatalf("more events than input bytes")
			}
		}
	})
}
