// Command train fits the router's complexity classifier and writes the model file that the
// router embeds. It prints the held-out accuracy and confusion matrix.
//
//	go run ./router/internal/train -data router/testdata/complexity.jsonl -out router/classifier_model.json -seed 1
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/switchyard-llm/switchyard/router/internal/complexity"
)

func main() {
	data := flag.String("data", "router/testdata/complexity.jsonl", "labelled data set (JSON lines)")
	out := flag.String("out", "router/classifier_model.json", "model file to write")
	seed := flag.Uint64("seed", 1, "seed of the train/held-out split")
	flag.Parse()
	body, rep, err := complexity.TrainFile(*data, *seed)
	if err == nil {
		err = os.WriteFile(*out, body, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
	rep.Print(os.Stdout)
	fmt.Printf("wrote %s\n", *out)
}
