package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped eval request file is exactly what the documented command writes (docs/eval.md):
// go run ./router/internal/gendata -eval router/testdata/eval_requests.jsonl -eval-config cmd/switchyard/demo.yaml -seed 2
func TestEvalFileReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 6000 candidate records")
	}
	out := filepath.Join(t.TempDir(), "eval.jsonl")
	n, err := genEval(2, "../../../cmd/switchyard/demo.yaml", out, 6000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../testdata/eval_requests.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("gendata -eval output (%d lines) differs from router/testdata/eval_requests.jsonl: the generator or the demo's models changed; regenerate as docs/eval.md says, then the docs (switchyard eval --out-md)", n)
	}
	if n != 348 {
		t.Fatalf("%d labelled requests, want 348 (7 tasks x 48, plus 12 policy cases)", n)
	}
}

// A config missing a model the labelling rule names is an error, not a silently different file.
func TestEvalConfigMustHaveLabelModels(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "routing:\n  models:\n    - {name: gpt-4o-mini, provider: openai, version: gpt-4o-mini-2024-07-18, context_window: 128000, max_output_tokens: 16384, price: {input_per_mtok: 0.15, output_per_mtok: 0.60}}\n  default: {model: gpt-4o-mini}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := genEval(2, cfg, filepath.Join(t.TempDir(), "out.jsonl"), 100)
	if err == nil || !strings.Contains(err.Error(), "the labelling rule names model") {
		t.Fatalf("err = %v, want the labelling rule's missing model", err)
	}
}
