// Package sse reads server-sent events (text/event-stream) as providers stream them.
//
// It follows the WHATWG parsing rules: lines end in CRLF, LF or CR; lines starting with ':' are
// comments (keep-alives); "event", "data", "id" and "retry" are the fields, one optional space
// after the colon is stripped, several data lines join with "\n", and a blank line dispatches the
// event. Two things are stricter than a browser, because a cut stream must never look like a
// complete one: the end of input in the middle of an event (or of a line) is ErrTruncated, not a
// silent drop, and a line or an event larger than the configured limit is ErrTooLarge instead of
// unbounded growth.
//
// The package imports nothing from the project.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultMaxEventSize bounds a line and the data of one event unless NewReaderSize says otherwise.
const DefaultMaxEventSize = 4 << 20

var (
	// ErrTruncated means the input ended inside an event or a line. It wraps io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("sse: stream ended in the middle of an event: %w", io.ErrUnexpectedEOF)
	// ErrTooLarge means a line or an event's data exceeded the limit.
	ErrTooLarge = errors.New("sse: line or event exceeds the size limit")
)

// Event is one dispatched event.
type Event struct {
	// Type is the "event" field, "" when absent (the spec's default type "message").
	Type string
	// Data is the event's data lines joined by "\n". It is only valid until the next call to
	// Next: copy it to keep it.
	Data []byte
	// ID is the last event id seen on the stream so far (ids persist across events).
	ID string
	// Retry is the reconnection delay the event set, 0 if it set none.
	Retry time.Duration
}

const (
	initialBuffer = 32 << 10
	maxEmptyReads = 100
)

// Reader returns the events of a stream one by one. It is not safe for concurrent use.
type Reader struct {
	src io.Reader
	max int

	buf        []byte // buf[start:end] holds unread input
	start, end int
	eof        bool
	skipLF     bool // the previous line ended with CR: a following LF belongs to it
	bomChecked bool

	data      []byte
	hasData   bool
	pending   bool // a field line was seen since the last dispatch
	eventType string
	lastID    string
	retry     time.Duration

	err error // sticky
}

// NewReader returns a Reader with DefaultMaxEventSize.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxEventSize) }

// NewReaderSize returns a Reader that fails with ErrTooLarge on a line or event data larger than
// maxEventSize bytes (DefaultMaxEventSize if maxEventSize <= 0). Memory stays within about twice
// that bound, whatever the input.
func NewReaderSize(r io.Reader, maxEventSize int) *Reader {
	if maxEventSize <= 0 {
		maxEventSize = DefaultMaxEventSize
	}
	return &Reader{src: r, max: maxEventSize}
}

// Next returns the next event. At a clean end of input (after a complete event, or with only
// comments pending) it returns io.EOF; at an end in the middle of an event or line it returns
// ErrTruncated; a read error from the underlying reader is returned as is. After an error every
// call returns the same error.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && (r.pending || r.hasData) {
				err = ErrTruncated
			}
			r.err = err
			return Event{}, err
		}
		if len(line) == 0 {
			if r.hasData {
				ev := Event{Type: r.eventType, Data: r.data, ID: r.lastID, Retry: r.retry}
				r.resetEvent()
				return ev, nil
			}
			r.resetEvent()
			continue
		}
		if line[0] == ':' {
			continue
		}
		if err := r.field(line); err != nil {
			r.err = err
			return Event{}, err
		}
	}
}

func (r *Reader) resetEvent() {
	r.data = r.data[:0]
	r.hasData = false
	r.pending = false
	r.eventType = ""
	r.retry = 0
}

func (r *Reader) field(line []byte) error {
	r.pending = true
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		n := len(r.data) + len(value)
		if r.hasData {
			n++
		}
		if n > r.max {
			return ErrTooLarge
		}
		if r.hasData {
			r.data = append(r.data, '\n')
		}
		r.data = append(r.data, value...)
		r.hasData = true
	case "event":
		if string(value) != r.eventType {
			r.eventType = string(value)
		}
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != r.lastID {
			r.lastID = string(value)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			r.retry = time.Duration(ms) * time.Millisecond
		}
	}
	return nil
}

func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// readLine returns the next line without its terminator. The slice is valid until the next call.
// It returns io.EOF at the end of input on a line boundary and ErrTruncated for a final line that
// has no terminator.
func (r *Reader) readLine() ([]byte, error) {
	for {
		if r.skipLF && r.start < r.end {
			if r.buf[r.start] == '\n' {
				r.start++
			}
			r.skipLF = false
		}
		if r.start < r.end || r.eof {
			b := r.buf[r.start:r.end]
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				n := i + 1
				if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
					i = j
					n = j + 1
					if j+1 < len(b) && b[j+1] == '\n' {
						n++
					}
				}
				if i > r.max {
					return nil, ErrTooLarge
				}
				r.start += n
				return b[:i], nil
			}
			if j := bytes.IndexByte(b, '\r'); j >= 0 {
				// A CR with no LF anywhere after it ends the line; if it is the last byte we have,
				// an LF may still arrive and is then skipped.
				if j > r.max {
					return nil, ErrTooLarge
				}
				r.start += j + 1
				r.skipLF = r.start == r.end
				return b[:j], nil
			}
			if len(b) > r.max {
				return nil, ErrTooLarge
			}
			if r.eof {
				if len(b) > 0 {
					return nil, ErrTruncated
				}
				return nil, io.EOF
			}
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more input, compacting or growing the buffer as needed.
func (r *Reader) fill() error {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.start, r.end = 0, n
	}
	if r.end == len(r.buf) {
		limit := r.max + 2 // a maximal line plus CRLF
		if len(r.buf) >= limit {
			return ErrTooLarge
		}
		size := max(2*len(r.buf), initialBuffer)
		size = min(size, limit)
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range maxEmptyReads {
		n, err := r.src.Read(r.buf[r.end:])
		r.end += n
		if !r.bomChecked && (r.end >= 3 || err != nil) {
			r.bomChecked = true
			if bytes.HasPrefix(r.buf[:r.end], []byte("\xef\xbb\xbf")) {
				r.start = 3
			}
		}
		if err == io.EOF {
			r.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if n > 0 {
			if !r.bomChecked && r.end < 3 {
				continue // need three bytes to rule out a BOM
			}
			return nil
		}
	}
	return io.ErrNoProgress
}
