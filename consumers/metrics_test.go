package consumers_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/switchyard-llm/switchyard/internal/promtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMetricsConsumerLag holds the first record of a partition: the lag is every record from
// it to the high watermark; once the record is let go the lag falls to 0.
func TestMetricsConsumerLag(t *testing.T) {
	t.Parallel()
	const records = 6
	e := newEnv(t, 1, "lag-in")
	e.produce("lag-in", 1, records)
	reg := prometheus.NewRegistry()
	release := make(chan struct{})
	cfg := e.config("g-lag", []string{"lag-in"}, func(ctx context.Context, r *kgo.Record) error {
		if r.Offset == 0 {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	cfg.Registerer = reg
	c := start(t, cfg)
	lag := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "switchyard_consumer_lag" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	waitFor(t, 30*time.Second, "records after the held one completed", func() bool { return c.Stats().Completed == records-1 })
	if got := lag(); got != records {
		t.Fatalf("lag with offset 0 unfinished = %v, want %d", got, records)
	}
	close(release)
	waitFor(t, 30*time.Second, "lag 0", func() bool { return lag() == 0 })
	want := `
# HELP switchyard_consumer_lag Records of the consumed topics not yet completed by this member, summed over its partitions: the high watermark of each partition's latest fetch minus the partition's commit point.
# TYPE switchyard_consumer_lag gauge
switchyard_consumer_lag{group="g-lag",topic="lag-in"} 0
`
	if err := promtest.GatherAndCompare(reg, want, "switchyard_consumer_lag"); err != nil {
		t.Fatal(err)
	}
}

// TestReadyConsumerState: a consumer reports joined and polling only once it is, and stops
// reporting polling when its Run ends.
func TestReadyConsumerState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, "state-in")
	cfg := e.config("g-state", []string{"state-in"}, func(context.Context, *kgo.Record) error { return nil })
	c := start(t, cfg)
	waitFor(t, 30*time.Second, "joined", func() bool {
		s := c.State()
		return s.Joined && s.Polling && s.Partitions == 2
	})
	if s := c.State(); s.Group != "g-state" {
		t.Fatalf("group %q", s.Group)
	}
	if err := c.stop(t); err != nil {
		t.Fatal(err)
	}
	if s := c.State(); s.Polling {
		t.Fatalf("state after stop: %+v", s)
	}
}
