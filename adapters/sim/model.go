package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/internal/jsonw"
)

// The simulated model, independent of the wire format: each format's handler reduces its request
// to a prompt, asks answerFor what the model says, and writes the answer in its own shapes.

// prompt is a request reduced to what the simulated model looks at.
type prompt struct {
	model       string
	user        string // text of the last user message
	promptChars int    // size of everything sent, for usage
	fault       string // the effective fault model: the requested one, or its SetFault override
	tools       []toolDef
	toolChoice  string // "", "auto", "none", "required" or "tool" (then toolName)
	toolName    string
	json        bool            // any JSON object
	schema      json.RawMessage // JSON Schema of the answer, with json
	maxTokens   int
	stream      bool
}

type toolDef struct {
	name   string
	params json.RawMessage
}

func (p *prompt) reset() {
	clear(p.tools[:cap(p.tools)])
	*p = prompt{tools: p.tools[:0]}
}

// Neutral finish reasons; each format names them its own way.
const (
	finishStop          = "stop"
	finishLength        = "length"
	finishToolCalls     = "tool_calls"
	finishContentFilter = "content_filter"
)

// answer is what the simulated model says.
type answer struct {
	content string
	tools   []toolAnswer // tool calls, in order
	finish  string
	prompt  int64 // input tokens
	output  int64
	cached  int64 // input tokens read from the prompt cache
}

type toolAnswer struct {
	id, name, args string
}

// maxParallelTools bounds the calls of a "call all tools" answer.
const maxParallelTools = 4

// chosenTools returns the indexes of the tools the model calls: none, one, or (when the last user
// message asks to "call all tools") up to maxParallelTools in parallel.
func chosenTools(p *prompt, dst []int) []int {
	if len(p.tools) == 0 {
		return dst
	}
	all := strings.Contains(strings.ToLower(p.user), "call all tools")
	switch p.toolChoice {
	case "none":
		return dst
	case "tool":
		for i := range p.tools {
			if p.tools[i].name == p.toolName {
				return append(dst, i)
			}
		}
		return append(dst, 0)
	case "required":
		if !all {
			return append(dst, 0)
		}
	default:
		if !all && !strings.Contains(strings.ToLower(p.user), "call tool") {
			return dst
		}
		if !all {
			return append(dst, 0)
		}
	}
	for i := 0; i < len(p.tools) && i < maxParallelTools; i++ {
		dst = append(dst, i)
	}
	return dst
}

var filler = strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua")

// answerFor computes the deterministic answer and usage for a prompt. idPrefix starts each tool
// call id ("call_" for OpenAI, "toolu_" for Anthropic, ...); body is the raw request for sim-echo.
func (s *Server) answerFor(p *prompt, r *http.Request, body []byte, idPrefix string) answer {
	var a answer
	a.prompt = max(1, int64(p.promptChars/4))
	if a.prompt >= 1024 {
		a.cached = a.prompt / 2 / 128 * 128 // OpenAI caches prompt prefixes in 128-token steps
	}
	a.finish = finishStop

	if p.fault == ModelEcho {
		a.content = echo(r, body)
		a.output = max(1, int64(len(a.content)/4))
		return a
	}
	var idx [maxParallelTools]int
	if chosen := chosenTools(p, idx[:0]); len(chosen) > 0 {
		a.tools = make([]toolAnswer, len(chosen))
		n := 0
		for i, ti := range chosen {
			t := &p.tools[ti]
			args := string(valueFromSchema(nil, t.params, 0, true))
			a.tools[i] = toolAnswer{id: idPrefix + s.idPfx + strconv.FormatUint(s.seq.Add(1), 36), name: t.name, args: args}
			n += len(t.name) + len(args)
		}
		a.finish = finishToolCalls
		a.output = max(1, int64(n/4))
		return a
	}

	var sb strings.Builder
	if p.json {
		if len(p.schema) > 0 {
			sb.Write(valueFromSchema(nil, p.schema, 0, true))
		} else {
			sb.Write(jsonw.String([]byte(`{"answer":`), "Simulated answer to: "+prefixRunes(p.user, 40)))
			sb.WriteByte('}')
		}
		a.content = sb.String()
		a.output = max(1, int64(len(a.content)/4))
		return a
	}

	target := s.cfg.OutputTokens
	if p.maxTokens > 0 && p.maxTokens < target {
		target = p.maxTokens
		a.finish = finishLength
	}
	sb.Grow(target*4 + 8)
	sb.WriteString("Simulated answer to: ")
	sb.WriteString(prefixRunes(p.user, 40))
	for i := len(p.user); sb.Len() < target*4; i++ {
		sb.WriteByte(' ')
		sb.WriteString(filler[i%len(filler)])
	}
	a.content = sb.String()
	if len(a.content) > target*4 {
		a.content = cutRunes(a.content, target*4)
	}
	if p.fault == ModelContentFilterFinal {
		a.content = cutRunes(a.content, len(a.content)/2)
		a.finish = finishContentFilter
	}
	a.output = max(1, int64((len(a.content)+3)/4))
	return a
}

func prefixRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func cutRunes(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// piece is one streamed fragment: content text (tool -1) or a fragment of the arguments of
// tool call number tool; first marks the first fragment of a tool call.
type piece struct {
	tool  int
	first bool
	text  string
}

// streamPieces cuts an answer into the fragments a stream sends: content every `words` words,
// each tool call's arguments in three.
func streamPieces(dst []piece, a *answer, words int, scratch []string) ([]piece, []string) {
	if len(a.tools) == 0 {
		scratch = splitWords(scratch[:0], a.content, words)
		for _, t := range scratch {
			dst = append(dst, piece{tool: -1, text: t})
		}
		return dst, scratch
	}
	for i := range a.tools {
		scratch = splitN(scratch[:0], a.tools[i].args, 3)
		for j, t := range scratch {
			dst = append(dst, piece{tool: i, first: j == 0, text: t})
		}
	}
	return dst, scratch
}

// splitWords cuts s after every n-th space, keeping the spaces, so that the pieces join to s.
func splitWords(dst []string, s string, n int) []string {
	start, words := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			words++
			if words == n {
				dst = append(dst, s[start:i+1])
				start, words = i+1, 0
			}
		}
	}
	if start < len(s) {
		dst = append(dst, s[start:])
	}
	return dst
}

// splitN cuts s into up to n pieces on rune boundaries.
func splitN(dst []string, s string, n int) []string {
	size := max(1, (len(s)+n-1)/n)
	for len(s) > 0 {
		cut := size
		if cut >= len(s) {
			dst = append(dst, s)
			break
		}
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		dst = append(dst, s[:cut])
		s = s[cut:]
	}
	return dst
}

// Where a stream fault strikes, as an index into the pieces.
func stallAt(n int) int     { return min(3, n/2) }
func cutAt(n int) int       { return n / 2 }
func malformedAt(n int) int { return min(2, n/2) }
