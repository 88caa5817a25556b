package toolschema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/schemas"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"get_weather", "a", "_x", "Tool-2", strings.Repeat("a", 64)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "2fast", "-x", "has space", "dot.name", "ümlaut", strings.Repeat("a", 65)} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func jsonEq(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestForOpenAIAndAnthropic(t *testing.T) {
	for _, empty := range []string{"", "{ }", "{}", "  "} {
		got, err := ForOpenAI(empty)
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, got, `{"type":"object","properties":{}}`)
		got, err = ForAnthropic(empty)
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, got, `{"type":"object","properties":{}}`)
	}
	s := `{ "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"] }`
	got, err := ForOpenAI(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}` {
		t.Errorf("openai: %s", got)
	}
	got, err = ForAnthropic(`{"properties": {"n": {"type": "integer"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, got, `{"type":"object","properties":{"n":{"type":"integer"}}}`)

	for _, bad := range []string{`[1]`, `{"type":"string"}`, `{`, `{"a":1} x`} {
		if _, err := ForOpenAI(bad); err == nil {
			t.Errorf("ForOpenAI(%s) accepted", bad)
		}
		if _, err := ForAnthropic(bad); err == nil {
			t.Errorf("ForAnthropic(%s) accepted", bad)
		}
		if _, err := ForGemini(bad); err == nil {
			t.Errorf("ForGemini(%s) accepted", bad)
		}
	}
}

func TestForGemini(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", `{ }`, `{"type":"object","properties":{}}`},
		{"plain", `{"type":"object","properties":{"city":{"type":"string","description":"City"}},"required":["city"]}`,
			`{"type":"object","properties":{"city":{"type":"string","description":"City"}},"required":["city"]}`},
		{"drops unsupported keywords", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,"properties":{"a":{"type":"string","examples":["x"],"$comment":"c"}}}`,
			`{"type":"object","properties":{"a":{"type":"string"}}}`},
		{"nullable from type list", `{"type":"object","properties":{"a":{"type":["string","null"]}}}`,
			`{"type":"object","properties":{"a":{"type":"string","nullable":true}}}`},
		{"nullable from anyOf", `{"type":"object","properties":{"a":{"anyOf":[{"type":"integer"},{"type":"null"}]}}}`,
			`{"type":"object","properties":{"a":{"type":"integer","nullable":true}}}`},
		{"type union to anyOf", `{"type":"object","properties":{"a":{"type":["string","integer"]}}}`,
			`{"type":"object","properties":{"a":{"anyOf":[{"type":"string"},{"type":"integer"}]}}}`},
		{"const to enum", `{"type":"object","properties":{"unit":{"const":"celsius"}}}`,
			`{"type":"object","properties":{"unit":{"type":"string","format":"enum","enum":["celsius"]}}}`},
		{"string enum", `{"type":"object","properties":{"unit":{"type":"string","enum":["c","f"]}}}`,
			`{"type":"object","properties":{"unit":{"type":"string","format":"enum","enum":["c","f"]}}}`},
		{"numeric enum dropped", `{"type":"object","properties":{"n":{"type":"integer","enum":[1,2]}}}`,
			`{"type":"object","properties":{"n":{"type":"integer"}}}`},
		{"ref inlined", `{"type":"object","$defs":{"loc":{"type":"object","properties":{"lat":{"type":"number"}}}},"properties":{"where":{"$ref":"#/$defs/loc"}}}`,
			`{"type":"object","properties":{"where":{"type":"object","properties":{"lat":{"type":"number"}}}}}`},
		{"items and allOf", `{"type":"object","properties":{"tags":{"type":"array","items":{"allOf":[{"type":"string","maxLength":5}]}}}}`,
			`{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","maxLength":5}}}}`},
		{"required pruned to declared", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a","ghost"]}`,
			`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ForGemini(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, got, tt.want)
		})
	}
	if _, err := ForGemini(`{"type":"object","properties":{"self":{"$ref":"#"}}}`); err == nil || !strings.Contains(err.Error(), "too deep") {
		t.Errorf("recursive $ref: %v", err)
	}
	if _, err := ForGemini(`{"type":"object","properties":{"x":{"$ref":"https://example.com/s.json"}}}`); err == nil {
		t.Error("remote $ref accepted")
	}
}

var weather = schemas.Tool{Name: "get_weather", Parameters: `{"type":"object","properties":{"city":{"type":"string","minLength":1},"unit":{"enum":["c","f"]}},"required":["city"],"additionalProperties":false}`}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		tools []schemas.Tool
		want  string
	}{
		{[]schemas.Tool{{Name: "bad name"}}, "tools[0]"},
		{[]schemas.Tool{weather, weather}, "declared twice"},
		{[]schemas.Tool{{Name: "x", Parameters: `{"type":"string"}`}}, "must be \"object\""},
		{[]schemas.Tool{{Name: "x", Parameters: `{"type":"object","properties":{"a":{"type":"wrong"}}}`}}, "not a valid JSON Schema"},
		{[]schemas.Tool{{Name: "x", Parameters: `{"type":"object","properties":{"a":{"$ref":"http://127.0.0.1:1/x.json"}}}`}}, "tools[0]"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.tools)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.tools, err, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	set, err := Compile([]schemas.Tool{weather, {Name: "now", Parameters: "{ }"}})
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 2 {
		t.Fatalf("len %d", set.Len())
	}
	calls := []schemas.ToolCall{
		{ID: "1", Name: "get_weather", Arguments: `{ "city": "Paris" }`},
		{ID: "2", Name: "get_weather", Arguments: `{"unit":"c"}`},
		{ID: "3", Name: "get_weather", Arguments: `{"city":"Oslo","unit":"k"}`},
		{ID: "4", Name: "get_weather", Arguments: `{"city":"Oslo"`},
		{ID: "5", Name: "get_weather", Arguments: `["Oslo"]`},
		{ID: "6", Name: "launch", Arguments: `{}`},
		{ID: "7", Name: "now", Arguments: ``},
		{ID: "8", Name: "get_weather", Arguments: `{"city":"Rome","extra":1}`},
	}
	got := set.Check(calls)
	type want struct {
		valid bool
		args  string
		err   string
	}
	wants := []want{
		{true, `{"city":"Paris"}`, ""},
		{false, `{"unit":"c"}`, "city"},
		{false, `{"city":"Oslo","unit":"k"}`, "/unit"},
		{false, `{"city":"Oslo"`, "not valid JSON"},
		{false, `["Oslo"]`, "not a JSON object"},
		{false, `{}`, `unknown tool "launch"`},
		{true, ``, ""},
		{false, `{"city":"Rome","extra":1}`, "extra"},
	}
	for i, w := range wants {
		g := got[i]
		if g.ID != calls[i].ID || g.Name != calls[i].Name || g.Raw != calls[i].Arguments {
			t.Errorf("call %d: identity or raw text changed: %+v", i, g)
		}
		if g.Valid != w.valid || !strings.Contains(g.ValidationError, w.err) || (w.valid && g.ValidationError != "") {
			t.Errorf("call %d: valid=%v err=%q, want valid=%v err~%q", i, g.Valid, g.ValidationError, w.valid, w.err)
		}
		if i == 6 {
			if g.Arguments != "{}" {
				t.Errorf("empty arguments normalised to %q", g.Arguments)
			}
			continue
		}
		if g.Arguments != w.args {
			t.Errorf("call %d: arguments %q, want %q", i, g.Arguments, w.args)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	set, err := Compile([]schemas.Tool{weather})
	if err != nil {
		b.Fatal(err)
	}
	calls := []schemas.ToolCall{{ID: "1", Name: "get_weather", Arguments: `{"city":"Paris","unit":"c"}`}}
	b.ReportAllocs()
	for b.Loop() {
		if r := set.Check(calls); !r[0].Valid {
			b.Fatal(r[0].ValidationError)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	tools := []schemas.Tool{weather}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(tools); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCache(t *testing.T) {
	c := NewCache(2)
	s1, err := c.Compile([]schemas.Tool{weather})
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := c.Compile([]schemas.Tool{weather})
	if s1 != s2 {
		t.Error("same tools compiled twice")
	}
	other := weather
	other.Parameters = `{"type":"object","properties":{"city":{"type":"integer"}}}`
	s3, _ := c.Compile([]schemas.Tool{other})
	if s3 == s1 {
		t.Fatal("different schema served from the cache")
	}
	if r := s3.Check([]schemas.ToolCall{{Name: "get_weather", Arguments: `{"city":"Paris"}`}}); r[0].Valid {
		t.Error("checked against the wrong schema")
	}
	if _, err := c.Compile([]schemas.Tool{{Name: "bad name"}}); err == nil {
		t.Error("bad tool accepted")
	}
	if _, err := c.Compile([]schemas.Tool{{Name: "bad name"}}); err == nil {
		t.Error("cached error lost")
	}
	if len(c.m) > 2 {
		t.Errorf("cache holds %d entries, size 2", len(c.m))
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(0)
	tools := []schemas.Tool{weather}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Compile(tools); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidationErrorQuotesNoValue(t *testing.T) {
	set, err := Compile([]schemas.Tool{{Name: "id", Parameters: `{"type":"object","properties":{"ssn":{"type":"string","pattern":"^[0-9]{3}$"},"n":{"type":"integer","maximum":3},"k":{"const":"x"}},"required":["ssn","z"]}`}})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Check([]schemas.ToolCall{{Name: "id", Arguments: `{"ssn":"SECRET-123-45","n":"SECRET-N","k":"SECRET-K"}`}})[0]
	if r.Valid || strings.Contains(r.ValidationError, "SECRET") {
		t.Fatalf("message quotes a value: %q", r.ValidationError)
	}
	for _, want := range []string{"/ssn: pattern", "/n: type: got string, want integer", "/k: const", "/: required z"} {
		if !strings.Contains(r.ValidationError, want) {
			t.Errorf("%q missing from %q", want, r.ValidationError)
		}
	}
}

func TestForGeminiResponse(t *testing.T) {
	got, err := ForGeminiResponse(`{"type":"array","items":{"type":["string","null"]},"$schema":"x"}`)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, got, `{"type":"array","items":{"type":"string","nullable":true}}`)
	got, err = ForGeminiResponse(`{"properties":{"a":{"const":1}}}`)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, got, `{"properties":{"a":{"enum":["1"],"type":"string","format":"enum"}}}`)
	if _, err := ForGemini(`{"type":"array"}`); err == nil {
		t.Error("ForGemini accepted a non-object parameters schema")
	}
}
