package complexity

import (
	"bytes"
	"os"
	"testing"

	"github.com/switchyard-llm/switchyard/router"
)

// The shipped data set is exactly what the documented generator command writes.
func TestGenerateReproducesShippedDataSet(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 6000 examples")
	}
	var buf bytes.Buffer
	if err := Write(&buf, Generate(GenOptions{Seed: 1, N: 6000, Noise: 0.08})); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../testdata/complexity.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("generator output differs from router/testdata/complexity.jsonl: regenerate with go run ./router/internal/gendata -seed 1 -n 6000 -noise 0.08")
	}
}

func TestGenerateShape(t *testing.T) {
	recs := Generate(GenOptions{Seed: 9, N: 800, Noise: 0.1})
	tiers, noisy := map[string]int{}, 0
	for _, r := range recs {
		tiers[r.Label]++
		if r.Noise {
			noisy++
			if r.Template[:len("long")] == "long" {
				t.Fatalf("long-context label moved: %+v", r)
			}
		}
		if r.InputTokens < r.AttachmentTokens || len(r.Turns) == 0 || r.Turns[len(r.Turns)-1].Role != "user" {
			t.Fatalf("malformed record %+v", r)
		}
	}
	for _, tier := range router.Tiers {
		if tiers[tier] == 0 {
			t.Fatalf("no %s examples: %v", tier, tiers)
		}
	}
	if noisy < 40 || noisy > 120 {
		t.Fatalf("%d noisy labels of 800 at 10%% noise", noisy)
	}
	// Same seed, same records; another seed, other records.
	a, b := Generate(GenOptions{Seed: 9, N: 50}), Generate(GenOptions{Seed: 10, N: 50})
	var ba, bb, ba2 bytes.Buffer
	_ = Write(&ba, a)
	_ = Write(&bb, b)
	_ = Write(&ba2, Generate(GenOptions{Seed: 9, N: 50}))
	if !bytes.Equal(ba.Bytes(), ba2.Bytes()) || bytes.Equal(ba.Bytes(), bb.Bytes()) {
		t.Fatal("generation is not a function of the seed")
	}
}

func TestTrainDeterministicAndSeeded(t *testing.T) {
	recs := Generate(GenOptions{Seed: 3, N: 600, Noise: 0.05})
	o := TrainOptions{Seed: 1, Iterations: 200, DataName: "x", DataSHA: "0123456789abcdef"}
	m1, r1, err := Train(recs, o)
	if err != nil {
		t.Fatal(err)
	}
	m2, _, err := Train(recs, o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m1, m2) {
		t.Fatal("same data and seed gave different models")
	}
	o.Seed = 2
	m3, r3, err := Train(recs, o)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(m1, m3) || r1.Info.HeldOut == 0 || r3.Info.HeldOut == 0 {
		t.Fatal("the seed does not change the split")
	}
	if r1.Info.Accuracy < 0.7 {
		t.Fatalf("held-out accuracy %.3f on an easy set", r1.Info.Accuracy)
	}
	if _, err := router.NewClassifier(m1); err != nil {
		t.Fatal(err)
	}
}

func TestHeldOutSplit(t *testing.T) {
	n := 0
	for i := range 10000 {
		if HeldOut("ex-"+string(rune('a'+i%26))+string(rune(i)), 1, 20) {
			n++
		}
	}
	if n < 1700 || n > 2300 {
		t.Fatalf("%d of 10000 held out at 20%%", n)
	}
	if HeldOut("ex-00001", 1, 20) != HeldOut("ex-00001", 1, 20) {
		t.Fatal("split not deterministic")
	}
}
