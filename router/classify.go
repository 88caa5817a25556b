package router

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Complexity tiers, from cheapest to most demanding.
const (
	TierSimple      = "simple"
	TierStandard    = "standard"
	TierComplex     = "complex"
	TierLongContext = "long-context"
)

// Tiers lists the tiers in order.
var Tiers = []string{TierSimple, TierStandard, TierComplex, TierLongContext}

// Rule thresholds (see docs/classifier.md).
const (
	// LongContextTokens: a prompt above it is long-context whatever else it is.
	LongContextTokens = 32_000
	// ShortPromptTokens and ShortPromptWords: a single-turn prompt within both, asking for a
	// simple task (a simple keyword, or task_type classification or translation), is simple.
	ShortPromptTokens = 150
	ShortPromptWords  = 40
	// AgentLoopToolResults: this many tool calls and results in the history, with tools
	// defined, is an agent loop in progress, which is complex.
	AgentLoopToolResults = 4
)

// Classification is the complexity tier of a request and how it was reached.
type Classification struct {
	Tier string
	// Source is "rule:<name>" when a rule decided, "model" when the trained classifier did, or
	// "fallback:size" when no model is loaded.
	Source string
	// Confidence is 1 for rules, the model's probability of the chosen tier otherwise.
	Confidence float64
	Features   Features
}

// ApplyRules is the rule layer: it decides the clear cases and reports ok=false for the
// ambiguous band that the model decides. Rules are checked in order; the first that matches wins.
func ApplyRules(f Features) (tier, rule string, ok bool) {
	switch {
	case f.InputTokens > LongContextTokens:
		return TierLongContext, "long_context", true
	case f.UserTurns == 0 && f.LastUserWords == 0 && f.Images == 0 && f.Tools == 0:
		return TierSimple, "empty", true
	case f.Tools > 0 && f.ToolResults >= AgentLoopToolResults:
		return TierComplex, "agent_loop", true
	case f.Turns == 1 && f.UserTurns == 1 && f.InputTokens <= ShortPromptTokens && f.LastUserWords <= ShortPromptWords &&
		f.Tools == 0 && f.Images == 0 && f.CodeBlocks == 0 && f.ComplexHits == 0 && !f.JSONSchema &&
		(f.SimpleHits > 0 || f.TaskType == "classification" || f.TaskType == "translation"):
		return TierSimple, "short_simple_task", true
	}
	return "", "", false
}

// ClassifierModel is the trained model as stored in classifier_model.json: a multinomial
// logistic regression over the standardized feature vector.
type ClassifierModel struct {
	Kind     string      `json:"kind"` // "multinomial_logistic_regression"
	Classes  []string    `json:"classes"`
	Features []string    `json:"features"` // must equal FeatureNames
	Mean     []float64   `json:"mean"`
	Scale    []float64   `json:"scale"`
	Weights  [][]float64 `json:"weights"` // [class][feature]
	Bias     []float64   `json:"bias"`
	// Training describes how the model was made and how it scored on the held-out split.
	Training TrainingInfo `json:"training"`
}

// TrainingInfo is the provenance and held-out evaluation of a model.
type TrainingInfo struct {
	Command   string  `json:"command"`
	Data      string  `json:"data"`
	DataSHA   string  `json:"data_sha256"`
	Seed      uint64  `json:"seed"`
	Train     int     `json:"train_examples"`
	ModelRows int     `json:"model_rows"` // training examples in the ambiguous band (the model's rows)
	HeldOut   int     `json:"heldout_examples"`
	Accuracy  float64 `json:"heldout_accuracy"` // whole pipeline: rules + model
	// ModelAccuracy is the accuracy on the held-out examples the rules left to the model.
	ModelAccuracy float64 `json:"heldout_model_accuracy"`
	ByRule        int     `json:"heldout_by_rule"`
	// Confusion[i][j] counts held-out examples labelled Tiers[i] and classified Tiers[j].
	Confusion [][]int `json:"confusion"`
}

// Classifier classifies requests by complexity: rules first, the trained model for the rest.
// It is immutable and safe for concurrent use.
type Classifier struct {
	m *ClassifierModel
}

//go:embed classifier_model.json
var embeddedModel []byte

// defaultClassifier uses the embedded model. If it failed to load (it is checked by a test),
// Classify still works: the rules, then a size-only cut.
var defaultClassifier, defaultClassifierErr = NewClassifier(embeddedModel)

// DefaultModel returns the embedded model, or the error that kept it from loading.
func DefaultModel() (*ClassifierModel, error) {
	if defaultClassifierErr != nil {
		return nil, defaultClassifierErr
	}
	return defaultClassifier.m, nil
}

// NewClassifier loads a model file.
func NewClassifier(modelJSON []byte) (*Classifier, error) {
	var m ClassifierModel
	if err := json.Unmarshal(modelJSON, &m); err != nil {
		return &Classifier{}, fmt.Errorf("classifier model: %w", err)
	}
	if err := m.validate(); err != nil {
		return &Classifier{}, err
	}
	return &Classifier{m: &m}, nil
}

func (m *ClassifierModel) validate() error {
	var errs []error
	if m.Kind != "multinomial_logistic_regression" {
		errs = append(errs, fmt.Errorf("classifier model: kind %q, want multinomial_logistic_regression", m.Kind))
	}
	if !slices.Equal(m.Features, FeatureNames) {
		errs = append(errs, fmt.Errorf("classifier model: features %v differ from this build's %v; retrain", m.Features, FeatureNames))
	}
	nf, nc := len(FeatureNames), len(m.Classes)
	if nc < 2 || len(m.Weights) != nc || len(m.Bias) != nc {
		errs = append(errs, fmt.Errorf("classifier model: %d classes, %d weight rows, %d biases", nc, len(m.Weights), len(m.Bias)))
	}
	for _, c := range m.Classes {
		if !slices.Contains(Tiers, c) {
			errs = append(errs, fmt.Errorf("classifier model: unknown class %q", c))
		}
	}
	for _, w := range m.Weights {
		if len(w) != nf {
			errs = append(errs, fmt.Errorf("classifier model: weight row of %d, want %d", len(w), nf))
			break
		}
	}
	if len(m.Mean) != nf || len(m.Scale) != nf {
		errs = append(errs, fmt.Errorf("classifier model: mean/scale of %d/%d, want %d", len(m.Mean), len(m.Scale), nf))
	}
	for _, s := range m.Scale {
		if !(s > 0) {
			errs = append(errs, errors.New("classifier model: scale must be > 0"))
			break
		}
	}
	return errors.Join(errs...)
}

// Model returns the classifier's model (nil when none is loaded).
func (c *Classifier) Model() *ClassifierModel { return c.m }

// Classify classifies a request with the embedded model. inputTokens is the router's estimate
// (Estimator.Count).
func Classify(req *schemas.Request, inputTokens int64) Classification {
	return defaultClassifier.Classify(req, inputTokens)
}

// Classify classifies a request: the rule layer, then the model.
func (c *Classifier) Classify(req *schemas.Request, inputTokens int64) Classification {
	return c.ClassifyFeatures(ExtractFeatures(req, inputTokens))
}

// ClassifyFeatures classifies already extracted features.
func (c *Classifier) ClassifyFeatures(f Features) Classification {
	if tier, rule, ok := ApplyRules(f); ok {
		return Classification{Tier: tier, Source: "rule:" + rule, Confidence: 1, Features: f}
	}
	if c.m == nil {
		return Classification{Tier: sizeTier(f.InputTokens), Source: "fallback:size", Confidence: 0, Features: f}
	}
	tier, p := c.m.predict(f)
	return Classification{Tier: tier, Source: "model", Confidence: p, Features: f}
}

// predict returns the most probable class and its probability. It does not allocate for up to
// 48 features and 8 classes.
func (m *ClassifierModel) predict(f Features) (string, float64) {
	var vb [48]float64
	x := f.appendVector(vb[:0])
	var zb [8]float64
	z := zb[:0]
	if len(m.Classes) > len(zb) {
		z = make([]float64, 0, len(m.Classes))
	}
	best, zmax := 0, math.Inf(-1)
	for k, w := range m.Weights {
		s := m.Bias[k]
		for i, xi := range x {
			s += w[i] * (xi - m.Mean[i]) / m.Scale[i]
		}
		z = append(z, s)
		if s > zmax {
			best, zmax = k, s
		}
	}
	var sum float64
	for _, s := range z {
		sum += math.Exp(s - zmax)
	}
	return m.Classes[best], 1 / sum
}

// sizeTier is the size-only cut used when no model is loaded.
func sizeTier(tokens int64) string {
	switch {
	case tokens > LongContextTokens:
		return TierLongContext
	case tokens > 2_000:
		return TierComplex
	case tokens > 200:
		return TierStandard
	default:
		return TierSimple
	}
}
