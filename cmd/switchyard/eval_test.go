package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/router/evalset"
	"github.com/switchyard-llm/switchyard/schemas"
)

var updateEval = flag.Bool("update-eval", false, "rewrite docs/eval.md's generated section and docs/eval-cost.svg from the committed config and request file")

// evalDocsCommand is the command docs/eval.md records; run from the repository's root it
// rewrites both files.
const evalDocsCommand = "switchyard eval --config cmd/switchyard/demo.yaml --requests router/testdata/eval_requests.jsonl --out-md docs/eval.md --out-svg docs/eval-cost.svg"

// A two-model table whose sim-* versions are counted with the default o200k rule (factor 1):
// cheap has a 1000-token window, dear a large one at ten times the price.
func evalTestTable() router.Table {
	return router.Table{
		Models: []router.Model{
			{Name: "cheap", Provider: "p1", Version: "sim-cheap", ContextWindow: 1000, MaxOutputTokens: 500, Price: router.Price{InputPerMTok: 1, OutputPerMTok: 2}},
			{Name: "dear", Provider: "p2", Version: "sim-dear", ContextWindow: 100_000, MaxOutputTokens: 4000, Price: router.Price{InputPerMTok: 10, OutputPerMTok: 20}},
		},
		Default: router.Rule{Model: "cheap"},
		Tasks: map[string]router.Rule{
			"chat": {Model: "cheap", Fallbacks: []string{"dear"}},
			"code": {Model: "dear"},
		},
	}
}

func evalTestLines() []evalset.Line {
	user := func(task, text string) *schemas.Request {
		return &schemas.Request{RequestID: "r", TenantID: "t", TaskType: task, Messages: []schemas.Message{{Role: "user", Content: text}}}
	}
	restricted := user("chat", "What is the capital of Peru?")
	restricted.AllowedProviders = []string{"p3"}
	chosen := user("chat", "What is the capital of Peru?")
	chosen.Model = "gpt-9"
	return []evalset.Line{
		// 14 tokens, simple by rule; routed to cheap as labelled.
		{Request: user("chat", "What is the capital of France?"), Label: evalset.Label{Tier: "simple", Model: "cheap", ExpectedOutputTokens: 100}},
		// 40,025 tokens, long-context by rule; cheap's window is too small, so dear (labelled cheap: a miss).
		{Request: user("chat", "What is the capital of France?"), AttachmentTokens: 40_000, Label: evalset.Label{Tier: "long-context", Model: "cheap", ExpectedOutputTokens: 1000}},
		// 13 tokens, classified simple but labelled standard; no model label, so the decided
		// tier is judged (a miss); no expected output and no max_tokens: 500.
		{Request: user("code", "Translate to French: good morning"), Label: evalset.Label{Tier: "standard"}},
		// Rejected as labelled.
		{Request: chosen, Label: evalset.Label{Tier: "simple", Reject: router.ReasonModelNotAllowed}},
		// Rejected, though the label wanted dear.
		{Request: restricted, Label: evalset.Label{Tier: "simple", Model: "dear", ExpectedOutputTokens: 10}},
	}
}

func TestEvalExactNumbers(t *testing.T) {
	rep, err := evaluate(evalTestTable(), evalTestLines())
	if err != nil {
		t.Fatal(err)
	}
	// Costs in millionths of a dollar: cheap is (in*1 + out*2), dear (in*10 + out*20).
	//   r1: cheap 14*1+100*2 = 214, dear 140+2000 = 2140; routed cheap.
	//   r2: only dear holds 40,025 tokens: 400,250+20,000 = 420,250 in every column.
	//   r3: dear 130+10,000 = 10,130 (routed and premium), cheap 13+1000 = 1013.
	want := []evalRow{
		{Name: "chat", N: 4, TierRight: 4, RouteRight: 2, Rejected: 2, Cost: [3]float64{420_464e-6, 422_390e-6, 420_464e-6}},
		{Name: "code", N: 1, TierRight: 0, RouteRight: 0, Rejected: 0, Cost: [3]float64{10_130e-6, 10_130e-6, 1013e-6}},
	}
	checkRows(t, "tasks", rep.Tasks, want)
	checkRows(t, "total", []evalRow{rep.Total}, []evalRow{{Name: "total", N: 5, TierRight: 4, RouteRight: 2, Rejected: 2, Cost: [3]float64{430_594e-6, 432_520e-6, 421_477e-6}}})
	checkRows(t, "tiers", rep.Tiers, []evalRow{
		{Name: "simple", N: 3, TierRight: 3, RouteRight: 2, Rejected: 2, Cost: [3]float64{214e-6, 2140e-6, 214e-6}},
		{Name: "standard", N: 1, TierRight: 0, RouteRight: 0, Cost: [3]float64{10_130e-6, 10_130e-6, 1013e-6}},
		{Name: "long-context", N: 1, TierRight: 1, RouteRight: 0, Cost: [3]float64{420_250e-6, 420_250e-6, 420_250e-6}},
	})
	wantRej := []evalCount{{router.ReasonNoProvider, 1}, {router.ReasonModelNotAllowed, 1}}
	if len(rep.Rejected) != 2 || rep.Rejected[0] != wantRej[1] || rep.Rejected[1] != wantRej[0] {
		t.Errorf("rejected = %v, want %v", rep.Rejected, wantRej)
	}
	wantMis := []evalMisroute{{"chat", "cheap", "dear", 1}, {"chat", "dear", "rejected: no_allowed_provider", 1}}
	if !slices.Equal(rep.Misroutes, wantMis) {
		t.Errorf("misroutes = %v, want %v", rep.Misroutes, wantMis)
	}
	if got, want := rep.Total.savings(), 1-430_594.0/432_520; math.Abs(got-want) > 1e-12 {
		t.Errorf("savings = %v, want %v", got, want)
	}

	var text bytes.Buffer
	rep.writeText(&text)
	for _, s := range []string{"chat", "1.000 (4/4)", "0.500 (2/4)", "$0.4205", "$0.4224", "0.5%", "rejected model_not_allowed: 1", "rejected no_allowed_provider: 1", "chat: cheap -> dear: 1"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("terminal table lacks %q:\n%s", s, text.String())
		}
	}
	md := rep.markdown("switchyard eval --config x.yaml --requests y.jsonl", "chart.svg")
	for _, s := range []string{evalBegin, evalEnd, "switchyard eval --config x.yaml --requests y.jsonl", "| chat | 4 | 1.000 (4/4) | 0.500 (2/4) | 2 | $0.4205 | $0.4224 | $0.4205 | 0.5% |", "| `model_not_allowed` | 1 |", "| chat | dear | rejected: no_allowed_provider | 1 |", "](chart.svg)"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}

func checkRows(t *testing.T, what string, got, want []evalRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.N != w.N || g.TierRight != w.TierRight || g.RouteRight != w.RouteRight || g.Rejected != w.Rejected {
			t.Errorf("%s[%d] = %+v, want %+v", what, i, g, w)
		}
		for s := range w.Cost {
			if math.Abs(g.Cost[s]-w.Cost[s]) > 1e-12 {
				t.Errorf("%s[%d] %s cost = %.9f, want %.9f", what, i, evalStrategies[s], g.Cost[s], w.Cost[s])
			}
		}
	}
}

func TestEvalSVG(t *testing.T) {
	rep, err := evaluate(evalTestTable(), evalTestLines())
	if err != nil {
		t.Fatal(err)
	}
	rep.Config = "test <&> config"
	bars := map[[2]string]int{}
	dec := xml.NewDecoder(bytes.NewReader(rep.svg()))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Local
		}
		attr := map[string]string{}
		for _, a := range se.Attr {
			attr[a.Name.Local] = a.Value
		}
		if se.Name.Local == "rect" && attr["class"] == "bar" {
			bars[[2]string{attr["data-task"], attr["data-strategy"]}]++
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	if len(bars) != 6 {
		t.Errorf("%d distinct bars, want 6 (2 tasks x 3 strategies): %v", len(bars), bars)
	}
	for _, task := range []string{"chat", "code"} {
		for _, s := range evalStrategies {
			if bars[[2]string{task, s}] != 1 {
				t.Errorf("bar (%s, %s) appears %d times, want 1", task, s, bars[[2]string{task, s}])
			}
		}
	}
}

func TestEvalNiceTicks(t *testing.T) {
	for _, c := range []struct {
		v    float64
		step float64
		n    int
	}{{3.35, 1, 4}, {0.42, 0.1, 5}, {10, 2, 5}, {0, 1, 1}, {0.0004, 0.0001, 4}} {
		step, n := niceTicks(c.v)
		if math.Abs(step-c.step) > 1e-15 || n != c.n {
			t.Errorf("niceTicks(%v) = %v, %d; want %v, %d", c.v, step, n, c.step, c.n)
		}
	}
	if got := tickLabel(0.3, 0.1); got != "$0.3" {
		t.Errorf("tickLabel = %q", got)
	}
}

func TestEvalFileErrors(t *testing.T) {
	known := func(name string) bool { return name == "cheap" }
	good := `{"request":{"task_type":"chat","messages":[{"role":"user","content":"hi"}]},"label":{"tier":"simple","model":"cheap"}}`
	for _, c := range []struct {
		name, file, want string
	}{
		{"bad JSON on line 3", good + "\n\n{not json\n", "in.jsonl: line 3:"},
		{"unknown label model", good + "\n" + strings.Replace(good, `"cheap"`, `"opus"`, 1), `line 2: label model "opus" is not in the routing table`},
		{"unknown tier", strings.Replace(good, `"simple"`, `"trivial"`, 1), `line 1: label tier "trivial"`},
		{"unknown field", strings.Replace(good, `"label"`, `"lable"`, 1), `line 1: json: unknown field "lable"`},
		{"no request", `{"label":{"tier":"simple"}}`, `line 1: missing "request"`},
		{"empty", "\n", "no labelled requests"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readEvalFile(strings.NewReader(c.file), "in.jsonl", known)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	lines, err := readEvalFile(strings.NewReader(good+"\n"+good), "in.jsonl", known)
	if err != nil || len(lines) != 2 {
		t.Fatalf("good file: %d lines, %v", len(lines), err)
	}
}

// The committed docs are what the command produces now for the committed config and request
// file. When routing changes on purpose, regenerate: go test ./cmd/switchyard -run EvalDocs -update-eval
// (-update-docs, which rewrites the other generated docs, does it too).
func TestEvalDocsGolden(t *testing.T) {
	rep, err := evalFiles("demo.yaml", "../../router/testdata/eval_requests.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	section := rep.markdown(evalDocsCommand, "eval-cost.svg")
	svg := rep.svg()
	if *updateEval || *updateDocs {
		if err := spliceMarkdown("../../docs/eval.md", section); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../../docs/eval-cost.svg", svg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := os.ReadFile("../../docs/eval.md")
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Index(doc, []byte(evalBegin))
	e := -1
	if b >= 0 {
		e = bytes.Index(doc[b:], []byte(evalEnd))
	}
	if e < 0 {
		t.Fatal("docs/eval.md has no generated section")
	}
	e += b
	if got := string(doc[b : e+len(evalEnd)+1]); got != section {
		t.Errorf("docs/eval.md is stale; regenerate with -update-eval or: %s\ncommitted:\n%s\nnow:\n%s", evalDocsCommand, got, section)
	}
	committed, err := os.ReadFile("../../docs/eval-cost.svg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, svg) {
		t.Errorf("docs/eval-cost.svg is stale; regenerate with -update-eval or: %s", evalDocsCommand)
	}
}

// The request file's labels name models of the config it was made for, and attachments are
// what gendata wrote (it applies the same withAttachment when it labels).
func TestEvalRequestFileShape(t *testing.T) {
	data, err := os.ReadFile("../../router/testdata/eval_requests.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	tasks := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var l evalset.Line
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatal(err)
		}
		tasks[l.Request.TaskType]++
	}
	for _, task := range router.TaskTypes {
		if tasks[task] < 40 {
			t.Errorf("%d %s requests, want at least 40", tasks[task], task)
		}
	}
}

// --out-md keeps the prose around the generated section, even prose that quotes a marker.
func TestEvalSpliceMarkdown(t *testing.T) {
	path := t.TempDir() + "/eval.md"
	before := "# Title\n\nThe section ends at `" + evalEnd + "`.\n\n"
	after := "\n## More prose\n"
	if err := os.WriteFile(path, []byte(before+evalBegin+"\nold\n"+evalEnd+"\n"+after), 0o644); err != nil {
		t.Fatal(err)
	}
	section := evalBegin + "\nnew\n" + evalEnd + "\n"
	if err := spliceMarkdown(path, section); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := before + section + after; string(got) != want {
		t.Fatalf("spliced file:\n%s\nwant:\n%s", got, want)
	}
	// A file without the section gets the section alone.
	if err := os.WriteFile(path, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := spliceMarkdown(path, section); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != section {
		t.Fatalf("file without markers became:\n%s", got)
	}
}

// The subcommand end to end: flags, terminal table, Markdown with its command line and chart
// link, SVG; and its errors.
func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	reqs := dir + "/reqs.jsonl"
	file := `{"request":{"request_id":"a","task_type":"classification","messages":[{"role":"user","content":"Classify the sentiment: great value"}]},"label":{"tier":"simple","model":"llama-3.1-8b","expected_output_tokens":2}}
{"request":{"request_id":"b","task_type":"code","messages":[{"role":"user","content":"What does len(\"abc\") return in Go?"}]},"label":{"tier":"simple","model":"llama-3.1-8b"}}
`
	if err := os.WriteFile(reqs, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"eval", "--config", "demo.yaml", "--requests", reqs, "--out-md", dir + "/out/eval.md", "--out-svg", dir + "/eval.svg"}
	if err := os.Mkdir(dir+"/out", 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := dispatch(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr.String())
	}
	for _, s := range []string{"classification  1", "code            1", "total           2", "0.500 (1/2)"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("terminal output lacks %q:\n%s", s, stdout.String())
		}
	}
	md, err := os.ReadFile(dir + "/out/eval.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"switchyard eval " + strings.Join(args[1:], " "), "](../eval.svg)", "2 labelled requests, 10 models"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md)
		}
	}
	if svg, err := os.ReadFile(dir + "/eval.svg"); err != nil || !bytes.HasPrefix(svg, []byte("<svg ")) {
		t.Errorf("SVG: %v %.40q", err, svg)
	}

	if err := dispatch(t.Context(), []string{"eval", "--config", "demo.yaml"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "usage:") {
		t.Errorf("without --requests: %v", err)
	}
	bad := strings.Replace(file, `"model":"llama-3.1-8b"}}`+"\n", `"model":"llama-4"}}`+"\n", 1)
	if err := os.WriteFile(reqs, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	err = dispatch(t.Context(), []string{"eval", "--config", "demo.yaml", "--requests", reqs}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), `line 2: label model "llama-4" is not in the routing table`) {
		t.Errorf("unknown label model: %v", err)
	}
}
