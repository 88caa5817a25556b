// Package promtest compares gathered Prometheus metrics with expected text exposition, for
// golden tests. It does what prometheus/testutil.GatherAndCompare does without testutil's
// diff dependency (github.com/kylelemons/godebug), which go.mod does not require.
package promtest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// GatherAndCompare gathers g, keeps the families named (all when none are), and compares them
// with expected, in the text format. Lines are compared as a sorted set, so the order of series
// and families does not matter, their HELP and TYPE lines do.
func GatherAndCompare(g prometheus.Gatherer, expected string, names ...string) error {
	got, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather: %w", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	want, err := p.TextToMetricFamilies(strings.NewReader(expected))
	if err != nil {
		return fmt.Errorf("parse expected: %w", err)
	}
	keep := func(name string) bool { return len(names) == 0 || slices.Contains(names, name) }
	var gotF, wantF []*dto.MetricFamily
	for _, mf := range got {
		if keep(mf.GetName()) {
			gotF = append(gotF, mf)
		}
	}
	for name, mf := range want {
		if keep(name) {
			wantF = append(wantF, mf)
		}
	}
	gs, ws := normalise(gotF), normalise(wantF)
	if gs != ws {
		return fmt.Errorf("metrics differ\n--- want\n%s\n--- got\n%s", ws, gs)
	}
	return nil
}

func normalise(mfs []*dto.MetricFamily) string {
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return "encode: " + err.Error()
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
