package complexity

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/router"
)

// TrainOptions control Train. The zero value of a field means its default.
type TrainOptions struct {
	Seed           uint64  // picks the held-out split
	HeldOutPercent int     // default 20
	Iterations     int     // full-batch gradient steps, default 300
	LearningRate   float64 // default 0.5
	Momentum       float64 // Nesterov momentum, default 0.9
	L2             float64 // weight decay, default 1e-3
	DataName       string  // file name recorded in the model
	DataSHA        string  // sha256 of the data file, recorded in the model
}

func (o *TrainOptions) defaults() {
	if o.HeldOutPercent == 0 {
		o.HeldOutPercent = 20
	}
	if o.Iterations == 0 {
		o.Iterations = 300
	}
	if o.Momentum == 0 {
		o.Momentum = 0.9
	}
	if o.LearningRate == 0 {
		o.LearningRate = 0.5
	}
	if o.L2 == 0 {
		o.L2 = 1e-3
	}
}

// HeldOut reports whether the record with this id belongs to the held-out split: a hash of the
// seed and the id, so the split does not depend on the order of the file.
func HeldOut(id string, seed uint64, percent int) bool {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(id))
	return h.Sum64()%100 < uint64(percent)
}

// Report is the outcome of a training run.
type Report struct {
	Info router.TrainingInfo
	// RuleCounts counts held-out decisions per rule.
	RuleCounts map[string]int
}

// TrainFile loads a data set and trains on it with default options; the model file's bytes and
// the report come back. It is what the train command runs and what the tests rerun.
func TrainFile(path string, seed uint64) ([]byte, Report, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, Report{}, err
	}
	recs, err := Read(strings.NewReader(string(raw)))
	if err != nil {
		return nil, Report{}, fmt.Errorf("%s: %w", path, err)
	}
	sum := sha256.Sum256(raw)
	return Train(recs, TrainOptions{Seed: seed, DataName: filepath.Base(path), DataSHA: hex.EncodeToString(sum[:])})
}

// Train fits the model on the training split's ambiguous band (the rows no rule decides),
// then evaluates the whole pipeline, rules and model, on the held-out split. It is
// deterministic: the same records and options give the same bytes on the same architecture.
func Train(recs []Record, o TrainOptions) ([]byte, Report, error) {
	o.defaults()
	type row struct {
		f     router.Features
		x     []float64
		label string
		held  bool
	}
	rows := make([]row, len(recs))
	for i := range recs {
		f := recs[i].Features()
		rows[i] = row{f: f, x: f.Vector(), label: recs[i].Label, held: HeldOut(recs[i].ID, o.Seed, o.HeldOutPercent)}
	}
	// The model's rows: training examples the rules leave open.
	var X [][]float64
	var labels []string
	train := 0
	for _, r := range rows {
		if r.held {
			continue
		}
		train++
		if _, _, ok := router.ApplyRules(r.f); ok {
			continue
		}
		X = append(X, r.x)
		labels = append(labels, r.label)
	}
	if len(X) == 0 {
		return nil, Report{}, fmt.Errorf("no training rows in the ambiguous band")
	}
	var classes []string
	for _, t := range router.Tiers {
		if slices.Contains(labels, t) {
			classes = append(classes, t)
		}
	}
	y := make([]int, len(labels))
	for i, l := range labels {
		y[i] = slices.Index(classes, l)
	}
	m := fit(X, y, classes, o)

	body, err := marshal(m)
	if err != nil {
		return nil, Report{}, err
	}
	// Evaluate the model exactly as the router will load it.
	c, err := router.NewClassifier(body)
	if err != nil {
		return nil, Report{}, err
	}
	rep := Report{RuleCounts: map[string]int{}}
	info := &rep.Info
	info.Confusion = make([][]int, len(router.Tiers))
	for i := range info.Confusion {
		info.Confusion[i] = make([]int, len(router.Tiers))
	}
	var correct, modelN, modelCorrect int
	for _, r := range rows {
		if !r.held {
			continue
		}
		info.HeldOut++
		got := c.ClassifyFeatures(r.f)
		info.Confusion[slices.Index(router.Tiers, r.label)][slices.Index(router.Tiers, got.Tier)]++
		ok := got.Tier == r.label
		if ok {
			correct++
		}
		if got.Source == "model" {
			modelN++
			if ok {
				modelCorrect++
			}
		} else {
			info.ByRule++
			rep.RuleCounts[got.Source]++
		}
	}
	info.Command = fmt.Sprintf("go run ./router/internal/train -data router/testdata/%s -out router/classifier_model.json -seed %d", o.DataName, o.Seed)
	info.Data, info.DataSHA, info.Seed = o.DataName, o.DataSHA, o.Seed
	info.Train, info.ModelRows = train, len(X)
	info.Accuracy = round4(float64(correct) / float64(max(info.HeldOut, 1)))
	info.ModelAccuracy = round4(float64(modelCorrect) / float64(max(modelN, 1)))
	m.Training = *info
	body, err = marshal(m)
	return body, rep, err
}

// fit is multinomial logistic regression by full-batch gradient descent with Nesterov momentum
// on standardized features, with L2 weight decay. Full batch and a fixed order make it
// deterministic.
func fit(X [][]float64, y []int, classes []string, o TrainOptions) *router.ClassifierModel {
	n, d, k := len(X), len(X[0]), len(classes)
	mean, scale := make([]float64, d), make([]float64, d)
	for _, x := range X {
		for j, v := range x {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for _, x := range X {
		for j, v := range x {
			scale[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range scale {
		scale[j] = math.Sqrt(scale[j] / float64(n))
		if scale[j] < 1e-9 {
			scale[j] = 1
		}
	}
	// Row-major flat arrays: Z is n×d, W is k×d.
	Z := make([]float64, n*d)
	for i, x := range X {
		for j, v := range x {
			Z[i*d+j] = (v - mean[j]) / scale[j]
		}
	}
	W, gW, vW := make([]float64, k*d), make([]float64, k*d), make([]float64, k*d)
	b, gb, vb, p := make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k)
	look, lookB := make([]float64, k*d), make([]float64, k)
	inv := 1 / float64(n)
	for range o.Iterations {
		// Nesterov momentum: the gradient is taken at the look-ahead point W + mu*v.
		for i := range W {
			look[i] = W[i] + o.Momentum*vW[i]
		}
		for c := range b {
			lookB[c] = b[c] + o.Momentum*vb[c]
		}
		clear(gW)
		clear(gb)
		for i := range n {
			z := Z[i*d : i*d+d]
			zmax := math.Inf(-1)
			for c := range k {
				s := lookB[c]
				for j, w := range look[c*d : c*d+d] {
					s += w * z[j]
				}
				p[c] = s
				zmax = max(zmax, s)
			}
			var sum float64
			for c := range k {
				p[c] = math.Exp(p[c] - zmax)
				sum += p[c]
			}
			for c := range k {
				g := p[c] / sum
				if c == y[i] {
					g--
				}
				gb[c] += g
				row := gW[c*d : c*d+d]
				for j, v := range z {
					row[j] += g * v
				}
			}
		}
		for i := range W {
			vW[i] = o.Momentum*vW[i] - o.LearningRate*(gW[i]*inv+o.L2*look[i])
			W[i] += vW[i]
		}
		for c := range b {
			vb[c] = o.Momentum*vb[c] - o.LearningRate*gb[c]*inv
			b[c] += vb[c]
		}
	}
	Wm := make([][]float64, k)
	for c := range Wm {
		Wm[c] = W[c*d : c*d+d]
	}
	for c := range k {
		b[c] = round6(b[c])
		for j := range d {
			Wm[c][j] = round6(Wm[c][j])
		}
	}
	for j := range d {
		mean[j], scale[j] = round6(mean[j]), round6(scale[j])
	}
	return &router.ClassifierModel{
		Kind: "multinomial_logistic_regression", Classes: classes, Features: slices.Clone(router.FeatureNames),
		Mean: mean, Scale: scale, Weights: Wm, Bias: b,
	}
}

// round6 keeps six significant digits: the file stays readable and the model is evaluated
// after rounding, so what is documented is what runs.
func round6(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 6, 64), 64)
	return v
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func marshal(m *router.ClassifierModel) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Print writes the report as the train command prints it (and docs/classifier.md quotes it).
func (r Report) Print(w io.Writer) {
	i := r.Info
	fmt.Fprintf(w, "data: %s (sha256 %s)\n", i.Data, i.DataSHA[:12])
	fmt.Fprintf(w, "split: seed %d, %d train / %d held-out; model trained on %d ambiguous-band rows\n", i.Seed, i.Train, i.HeldOut, i.ModelRows)
	fmt.Fprintf(w, "held-out accuracy (rules + model): %.4f\n", i.Accuracy)
	fmt.Fprintf(w, "held-out decided by rules: %d", i.ByRule)
	var rules []string
	for k := range r.RuleCounts {
		rules = append(rules, k)
	}
	slices.Sort(rules)
	for _, k := range rules {
		fmt.Fprintf(w, " %s=%d", k, r.RuleCounts[k])
	}
	fmt.Fprintf(w, "\nheld-out accuracy of the model on the rest (%d): %.4f\n", i.HeldOut-i.ByRule, i.ModelAccuracy)
	fmt.Fprintf(w, "confusion (rows: label, columns: predicted)\n%-14s", "")
	for _, t := range router.Tiers {
		fmt.Fprintf(w, "%13s", t)
	}
	fmt.Fprintln(w)
	for a, t := range router.Tiers {
		fmt.Fprintf(w, "%-14s", t)
		for b := range router.Tiers {
			fmt.Fprintf(w, "%13d", i.Confusion[a][b])
		}
		fmt.Fprintln(w)
	}
}
