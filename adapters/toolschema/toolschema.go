// Package toolschema is the one canonical tool definition compiled to each provider's format, and
// the validation of the tool calls a provider returns.
//
// A canonical tool (schemas.Tool) carries a name, a description and the JSON Schema of its
// arguments as JSON text. Providers differ in what they accept:
//
//   - OpenAI and compatible servers take the JSON Schema as is (ForOpenAI only fills in an
//     empty schema, which some servers reject).
//   - Anthropic needs an object schema as input_schema (ForAnthropic).
//   - Gemini's functionDeclarations.parameters is a subset of OpenAPI 3.0 (ForGemini rewrites
//     type unions into nullable, inlines $ref, turns const into enum and drops keywords Gemini
//     rejects).
//
// Returned calls are checked with Set.Check: the name must be a declared tool and the arguments
// a JSON object valid against its schema. The provider's raw text is kept beside the validated
// arguments, and an invalid call is flagged, never dropped, so that the caller can retry with a
// corrective prompt.
//
// This package imports only schemas and the JSON Schema validator.
package toolschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/switchyard-llm/switchyard/schemas"
)

// MaxNameLen is the longest tool name every provider accepts.
const MaxNameLen = 64

// CheckName reports whether name is accepted by every provider: a letter or underscore first,
// then letters, digits, '_' or '-', at most MaxNameLen bytes.
func CheckName(name string) error {
	if name == "" {
		return errors.New("tool name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("tool name is %d bytes, over %d", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '-')
		if !ok {
			return fmt.Errorf("tool name %q: use letters, digits, '_' and '-', starting with a letter or '_'", name)
		}
	}
	return nil
}

// emptyObject is the schema of a tool without arguments.
var emptyObject = json.RawMessage(`{"type":"object","properties":{}}`)

// parse reads a canonical parameters schema; empty text or an empty object mean "no arguments".
func parse(raw string) (map[string]any, error) { return parseSchema(raw, true) }

// parseSchema reads a schema; with object it must describe a JSON object.
func parseSchema(raw string, object bool) (map[string]any, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("parameters: not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("parameters: trailing data after the schema")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("parameters: the schema must be a JSON object")
	}
	if len(m) == 0 {
		return nil, nil
	}
	if t, ok := m["type"]; ok && t != "object" && object {
		return nil, fmt.Errorf("parameters: the schema's type must be \"object\", got %v", t)
	}
	return m, nil
}

// ForOpenAI returns the parameters for OpenAI's function tool: the schema as given (compacted),
// or an empty object schema.
func ForOpenAI(raw string) (json.RawMessage, error) {
	m, err := parse(raw)
	if err != nil || m == nil {
		return emptyObject, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(raw)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ForAnthropic returns Anthropic's input_schema: an object schema (type "object" is added when
// the schema leaves it out).
func ForAnthropic(raw string) (json.RawMessage, error) {
	m, err := parse(raw)
	if err != nil || m == nil {
		return emptyObject, err
	}
	if _, ok := m["type"]; !ok {
		m["type"] = "object"
	}
	return json.Marshal(m)
}

// geminiKeys are the Schema fields Gemini's OpenAPI subset accepts.
var geminiKeys = map[string]bool{
	"type": true, "format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "properties": true, "required": true, "minProperties": true,
	"maxProperties": true, "minLength": true, "maxLength": true, "pattern": true, "example": true,
	"anyOf": true, "propertyOrdering": true, "default": true, "items": true, "minimum": true, "maximum": true,
}

// ForGemini rewrites the schema into Gemini's OpenAPI 3.0 subset: local $ref are inlined (up to
// a depth, recursive schemas are rejected), a type list with "null" becomes nullable, const
// becomes a one-value enum, enum values become strings (Gemini's enums are strings only; a
// numeric enum keeps its type and loses the enum), allOf of one schema is unwrapped, and keywords
// Gemini rejects (additionalProperties, $schema, $id, examples, ...) are dropped.
func ForGemini(raw string) (json.RawMessage, error) { return forGemini(raw, true) }

// ForGeminiResponse is ForGemini for a responseSchema: the same rewriting, but the top level
// may be any type (an array or a string answer is fine there) and no type is added.
func ForGeminiResponse(raw string) (json.RawMessage, error) { return forGemini(raw, false) }

// forGemini rewrites a schema; object says it is a parameters schema, whose top level must be
// (and is made) an object.
func forGemini(raw string, object bool) (json.RawMessage, error) {
	m, err := parseSchema(raw, object)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return emptyObject, nil
	}
	g := geminiConv{root: m}
	out, err := g.convert(m, 0)
	if err != nil {
		return nil, err
	}
	if _, ok := out["type"]; !ok && object {
		out["type"] = "object"
	}
	return json.Marshal(out)
}

type geminiConv struct{ root map[string]any }

const maxGeminiDepth = 32

func (g *geminiConv) convert(s map[string]any, depth int) (map[string]any, error) {
	if depth > maxGeminiDepth {
		return nil, errors.New("parameters: schema nests too deep (or $ref is recursive) for Gemini")
	}
	if ref, ok := s["$ref"].(string); ok {
		target, err := g.resolve(ref)
		if err != nil {
			return nil, err
		}
		return g.convert(target, depth+1)
	}
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
		if sub, ok := all[0].(map[string]any); ok {
			return g.convert(sub, depth+1)
		}
	}
	out := make(map[string]any, len(s))
	for k, v := range s {
		switch k {
		case "type":
			switch t := v.(type) {
			case string:
				out["type"] = t
			case []any:
				var kept []string
				for _, x := range t {
					if xs, _ := x.(string); xs == "null" {
						out["nullable"] = true
					} else if xs != "" {
						kept = append(kept, xs)
					}
				}
				switch len(kept) {
				case 0:
				case 1:
					out["type"] = kept[0]
				default:
					var alts []any
					for _, k := range kept {
						alts = append(alts, map[string]any{"type": k})
					}
					out["anyOf"] = alts
				}
			}
		case "const":
			out["enum"] = []any{v}
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				continue
			}
			np := make(map[string]any, len(props))
			for name, ps := range props {
				sub, ok := ps.(map[string]any)
				if !ok {
					continue
				}
				c, err := g.convert(sub, depth+1)
				if err != nil {
					return nil, err
				}
				np[name] = c
			}
			out["properties"] = np
		case "items":
			if sub, ok := v.(map[string]any); ok {
				c, err := g.convert(sub, depth+1)
				if err != nil {
					return nil, err
				}
				out["items"] = c
			}
		case "anyOf", "oneOf":
			alts, ok := v.([]any)
			if !ok {
				continue
			}
			var na []any
			for _, a := range alts {
				sub, ok := a.(map[string]any)
				if !ok {
					continue
				}
				if t, _ := sub["type"].(string); t == "null" && len(sub) == 1 {
					out["nullable"] = true
					continue
				}
				c, err := g.convert(sub, depth+1)
				if err != nil {
					return nil, err
				}
				na = append(na, c)
			}
			if len(na) == 1 {
				for k2, v2 := range na[0].(map[string]any) {
					if _, set := out[k2]; !set {
						out[k2] = v2
					}
				}
			} else if len(na) > 1 {
				out["anyOf"] = na
			}
		default:
			if geminiKeys[k] {
				out[k] = v
			}
		}
	}
	if e, ok := out["enum"].([]any); ok {
		strs := make([]any, 0, len(e))
		for _, x := range e {
			switch x := x.(type) {
			case string:
				strs = append(strs, x)
			case json.Number, bool:
				strs = append(strs, fmt.Sprint(x))
			}
		}
		switch t, _ := out["type"].(string); t {
		case "", "string":
			out["enum"] = strs
			out["type"] = "string"
			if out["format"] == nil {
				out["format"] = "enum"
			}
		default:
			delete(out, "enum") // Gemini's enum is for strings only
		}
	}
	if req, ok := out["required"].([]any); ok {
		props, _ := out["properties"].(map[string]any)
		kept := req[:0:0]
		for _, r := range req {
			if name, _ := r.(string); props != nil && props[name] != nil {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			delete(out, "required")
		} else {
			out["required"] = kept
		}
	}
	return out, nil
}

// resolve follows a local JSON pointer ("#/$defs/x", "#/definitions/x").
func (g *geminiConv) resolve(ref string) (map[string]any, error) {
	if ref == "#" {
		return g.root, nil
	}
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("parameters: only local $ref (#/...) can be sent to Gemini, got %q", ref)
	}
	var cur any = g.root
	for _, part := range strings.Split(path, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("parameters: $ref %q does not resolve", ref)
		}
		cur = m[part]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parameters: $ref %q does not resolve to a schema", ref)
	}
	return m, nil
}

// Set is a compiled list of tools, for checking returned calls. It is safe for concurrent use.
type Set struct {
	tools map[string]*jsonschema.Schema // nil schema: no arguments declared, any object passes
}

// Compile checks every tool's name and schema and compiles the schemas. The error names the
// first bad tool.
func Compile(tools []schemas.Tool) (*Set, error) {
	s := &Set{tools: make(map[string]*jsonschema.Schema, len(tools))}
	for i, t := range tools {
		at := "tools[" + strconv.Itoa(i) + "]"
		if err := CheckName(t.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if _, dup := s.tools[t.Name]; dup {
			return nil, fmt.Errorf("%s: tool %q declared twice", at, t.Name)
		}
		m, err := parse(t.Parameters)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", at, t.Name, err)
		}
		if m == nil {
			s.tools[t.Name] = nil
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(t.Parameters))
		if err != nil {
			return nil, fmt.Errorf("%s (%s): parameters: %w", at, t.Name, err)
		}
		c := jsonschema.NewCompiler()
		c.UseLoader(noLoader{})
		url := "tool:///" + t.Name + ".json"
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("%s (%s): parameters: %w", at, t.Name, err)
		}
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): parameters are not a valid JSON Schema: %s", at, t.Name, firstLine(err.Error()))
		}
		s.tools[t.Name] = sch
	}
	return s, nil
}

// noLoader refuses remote $ref: a tool schema must be self-contained (and a worker never fetches
// URLs named by request data).
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("remote $ref %q is not allowed", url)
}

// Len returns the number of tools.
func (s *Set) Len() int { return len(s.tools) }

// Check validates returned calls against the set. Every call is returned, in order, with the
// provider's raw arguments in Raw; Arguments holds the arguments in compact form when they parse
// as a JSON object ("{}" for empty text), and Valid and ValidationError say whether the call is
// usable as is.
func (s *Set) Check(calls []schemas.ToolCall) []schemas.ResponseToolCall {
	out := make([]schemas.ResponseToolCall, len(calls))
	for i, c := range calls {
		out[i] = s.check(c)
	}
	return out
}

func (s *Set) check(c schemas.ToolCall) schemas.ResponseToolCall {
	r := schemas.ResponseToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments, Raw: c.Arguments, Signature: c.Signature}
	fail := func(msg string) schemas.ResponseToolCall {
		r.Valid, r.ValidationError = false, msg
		return r
	}
	sch, known := s.tools[c.Name]
	if !known {
		return fail("unknown tool " + strconv.Quote(truncate(c.Name, 64)))
	}
	text := strings.TrimSpace(c.Arguments)
	if text == "" {
		text = "{}"
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return fail("arguments are not valid JSON")
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return fail("arguments are not a JSON object")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(text)) == nil {
		r.Arguments = buf.String()
	}
	if sch != nil {
		if err := sch.Validate(obj); err != nil {
			return fail(validationMessage(err))
		}
	}
	r.Valid = true
	return r
}

// validationMessage renders the validator's error as one line that names each failing location
// and keyword, e.g. "/unit: enum; /: required city". It never quotes an argument value (they
// may hold personal data, and the message goes into audit events); it names property names and
// JSON types only.
func validationMessage(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "arguments do not match the schema"
	}
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		loc := "/" + strings.Join(e.InstanceLocation, "/")
		var what string
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			what = "required " + strings.Join(k.Missing, ", ")
		case *kind.AdditionalProperties:
			what = "additional properties " + strings.Join(k.Properties, ", ")
		case *kind.Type:
			what = "type: got " + k.Got + ", want " + strings.Join(k.Want, " or ")
		default:
			path := e.ErrorKind.KeywordPath()
			if len(path) == 0 {
				what = "invalid"
			} else {
				what = path[len(path)-1]
			}
		}
		parts = append(parts, loc+": "+what)
	}
	walk(ve)
	return truncate(strings.Join(parts, "; "), 512)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
