// Command gendata writes the router's synthetic complexity data set.
//
//	go run ./router/internal/gendata -seed 1 -n 6000 -noise 0.08 -out router/testdata/complexity.jsonl
//
// With -eval it writes the labelled request file of `switchyard eval` instead (docs/eval.md):
//
//	go run ./router/internal/gendata -eval router/testdata/eval_requests.jsonl -eval-config cmd/switchyard/demo.yaml -seed 2
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/switchyard-llm/switchyard/router/internal/complexity"
)

func main() {
	seed := flag.Uint64("seed", 1, "generator seed")
	n := flag.Int("n", 6000, "number of examples")
	noise := flag.Float64("noise", 0.08, "probability that a label moves to a neighbouring tier")
	out := flag.String("out", "router/testdata/complexity.jsonl", "output file (JSON lines)")
	evalOut := flag.String("eval", "", "write the labelled eval request file to this path instead of the complexity data set")
	evalConfig := flag.String("eval-config", "cmd/switchyard/demo.yaml", "with -eval: the config whose routing models the labels name")
	evalCandidates := flag.Int("eval-candidates", 6000, "with -eval: generated records to sample the eval requests from")
	flag.Parse()
	if *evalOut != "" {
		n, err := genEval(*seed, *evalConfig, *evalOut, *evalCandidates)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gendata:", err)
			os.Exit(1)
		}
		fmt.Printf("wrote %d labelled requests to %s\n", n, *evalOut)
		return
	}
	recs := complexity.Generate(complexity.GenOptions{Seed: *seed, N: *n, Noise: *noise})
	f, err := os.Create(*out)
	if err == nil {
		err = complexity.Write(f, recs)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d examples to %s\n", len(recs), *out)
}
