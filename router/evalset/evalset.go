// Package evalset holds what both ends of the offline routing evaluation share: the generator
// that writes the labelled request file (router/internal/gendata) and `switchyard eval`, which
// replays it. Long prompts are stored in the file as a token count and expanded here, the same
// way on both ends, so that the labels and the replay see the same text.
//
// It imports only schemas.
package evalset

import (
	"strings"

	"github.com/switchyard-llm/switchyard/schemas"
)

// WithAttachment puts a document of n " lorem" tokens in front of the last user message's text.
func WithAttachment(req *schemas.Request, n int64) {
	if n <= 0 {
		return
	}
	doc := "<document>\n" + strings.Repeat(" lorem", int(n)) + "\n</document>\n\n"
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := &req.Messages[i]
		if m.Role != "user" {
			continue
		}
		if len(m.Parts) > 0 && m.Parts[0].Type == schemas.PartText {
			m.Parts[0].Text = doc + m.Parts[0].Text
		} else {
			m.Content = doc + m.Content
		}
		return
	}
}
