package evalset

import (
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/schemas"
)

func TestWithAttachment(t *testing.T) {
	req := &schemas.Request{Messages: []schemas.Message{
		{Role: "user", Content: "first"}, {Role: "assistant", Content: "x"}, {Role: "user", Content: "question"}}}
	WithAttachment(req, 3)
	if got := req.Messages[2].Content; got != "<document>\n lorem lorem lorem\n</document>\n\nquestion" {
		t.Errorf("content %q", got)
	}
	if req.Messages[0].Content != "first" {
		t.Error("an earlier user message changed")
	}
	parts := &schemas.Request{Messages: []schemas.Message{{Role: "user", Parts: []schemas.ContentPart{{Type: schemas.PartText, Text: "q"}}}}}
	WithAttachment(parts, 1)
	if !strings.HasPrefix(parts.Messages[0].Parts[0].Text, "<document>\n lorem\n") {
		t.Errorf("parts %q", parts.Messages[0].Parts[0].Text)
	}
	none := &schemas.Request{Messages: []schemas.Message{{Role: "user", Content: "q"}}}
	WithAttachment(none, 0)
	if none.Messages[0].Content != "q" {
		t.Error("n=0 changed the request")
	}
}
