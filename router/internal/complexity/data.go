// Package complexity makes, loads and learns from the router's complexity data set: a
// synthetic, labelled set of requests generated from templates and vocabulary lists with a
// seeded generator, and the training of the router's classifier on it. It is tooling for
// router/internal/gendata and router/internal/train and for the router's tests; the router
// itself never imports it.
package complexity

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// Record is one labelled example, stored as one JSON line.
type Record struct {
	ID       string `json:"id"`
	Template string `json:"template"` // the generator template that made it
	TaskType string `json:"task_type"`
	System   string `json:"system,omitempty"`
	Turns    []Turn `json:"turns"`
	// Tools is the number of tool definitions; they are generated (tool_0, tool_1, ...).
	Tools          int    `json:"tools,omitempty"`
	ResponseFormat string `json:"response_format,omitempty"`
	MaxTokens      int32  `json:"max_tokens,omitempty"`
	// AttachmentTokens stands for a pasted document that is not stored, only counted: it keeps
	// the file small while the set still has long prompts.
	AttachmentTokens int64 `json:"attachment_tokens,omitempty"`
	// InputTokens is the o200k_base estimate of the request plus AttachmentTokens.
	InputTokens int64  `json:"input_tokens"`
	Label       string `json:"label"`
	// Noise marks a label the generator deliberately moved to a neighbouring tier.
	Noise bool `json:"label_noise,omitempty"`
}

// Turn is one message of a record.
type Turn struct {
	Role      string `json:"role"`
	Content   string `json:"content"`
	Images    int    `json:"images,omitempty"`
	ToolCalls int    `json:"tool_calls,omitempty"`
}

// Request builds the schemas.Request the record describes.
func (r *Record) Request() *schemas.Request {
	req := &schemas.Request{RequestID: r.ID, TenantID: "dataset", TaskType: r.TaskType, MaxTokens: r.MaxTokens}
	if r.System != "" {
		req.Messages = append(req.Messages, schemas.Message{Role: "system", Content: r.System})
	}
	for _, t := range r.Turns {
		m := schemas.Message{Role: t.Role, Content: t.Content}
		if t.Images > 0 {
			m.Parts = []schemas.ContentPart{{Type: schemas.PartText, Text: t.Content}}
			m.Content = ""
			for i := range t.Images {
				m.Parts = append(m.Parts, schemas.ContentPart{Type: schemas.PartImage, URL: "https://example.com/img" + strconv.Itoa(i) + ".png"})
			}
		}
		for i := range t.ToolCalls {
			m.ToolCalls = append(m.ToolCalls, schemas.ToolCall{ID: "call_" + strconv.Itoa(i), Name: "tool_" + strconv.Itoa(i%max(r.Tools, 1)), Arguments: `{"query":"q"}`})
		}
		req.Messages = append(req.Messages, m)
	}
	for i := range r.Tools {
		req.Tools = append(req.Tools, schemas.Tool{
			Name:        "tool_" + strconv.Itoa(i),
			Description: "Look something up in system " + strconv.Itoa(i) + ".",
			Parameters:  `{"type":"object","properties":{"query":{"type":"string","description":"What to look up."}},"required":["query"]}`,
		})
	}
	switch r.ResponseFormat {
	case schemas.ResponseFormatJSONSchema:
		req.ResponseFormat = schemas.ResponseFormat{Type: schemas.ResponseFormatJSONSchema, Name: "result", Schema: `{"type":"object","properties":{"answer":{"type":"string"}}}`}
	case schemas.ResponseFormatJSON:
		req.ResponseFormat = schemas.ResponseFormat{Type: schemas.ResponseFormatJSON}
	default:
		req.ResponseFormat = schemas.ResponseFormat{Type: schemas.ResponseFormatText}
	}
	return req
}

// Features computes the router's features of the record, from its stored token estimate.
func (r *Record) Features() router.Features {
	return router.ExtractFeatures(r.Request(), r.InputTokens)
}

// Load reads a JSON-lines data set.
func Load(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}

// Read reads JSON-lines records.
func Read(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// Write writes records as JSON lines.
func Write(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
