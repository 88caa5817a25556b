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

// Line is one line of the labelled request file:
//
//	{"request": <schemas.Request>, "attachment_tokens": N, "label": {"tier", "model", "reject", "expected_output_tokens"}}
type Line struct {
	Request *schemas.Request `json:"request"`
	// AttachmentTokens stands for a pasted document of about that many tokens that the file does
	// not store (it keeps the file small): WithAttachment expands it before routing.
	AttachmentTokens int64 `json:"attachment_tokens,omitempty"`
	Label            Label `json:"label"`
}

// Label is what a careful operator would do with a request.
type Label struct {
	// Tier is the right complexity tier.
	Tier string `json:"tier"`
	// Model is the alias to route to; empty means "judge the tier only".
	Model string `json:"model,omitempty"`
	// Reject is the reason code the router should refuse the request with, when it should.
	Reject string `json:"reject,omitempty"`
	// ExpectedOutputTokens is the answer's expected length, for projected costs; 0 means the
	// request's max_tokens, else a typical length (switchyard eval).
	ExpectedOutputTokens int64 `json:"expected_output_tokens"`
}

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
