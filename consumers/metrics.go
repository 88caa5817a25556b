package consumers

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	consumed, completed, errors, retries, panics, fenced *prometheus.CounterVec
	duration                                             *prometheus.HistogramVec
	inFlight                                             prometheus.Gauge
	stale                                                prometheus.Counter
	commits, partitions                                  *prometheus.CounterVec
	lag                                                  *lagCollector

	group string
}

// topicMetrics are the metrics of one topic, resolved once per tracker so
// the hot path does no label lookups.
type topicMetrics struct {
	consumed, completed, errors, retries, panics, fenced prometheus.Counter
	duration                                             prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, group string) *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchyard", Subsystem: "consumer", Name: name, Help: help,
		}, labels))
	}
	m := &metrics{
		group:     group,
		consumed:  counter("records_consumed_total", "Records polled and handed to a handler.", "group", "topic"),
		completed: counter("records_completed_total", "Records whose handler returned nil (outputs acknowledged).", "group", "topic"),
		errors:    counter("handler_errors_total", "Handler attempts that returned an error or panicked.", "group", "topic"),
		retries:   counter("handler_retries_total", "Handler attempts started again for the same record after an error.", "group", "topic"),
		panics:    counter("handler_panics_total", "Handler panics recovered.", "group", "topic"),
		fenced:    counter("fenced_completions_total", "Handlers that finished after their partition was revoked; their mark was suppressed.", "group", "topic"),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "switchyard", Subsystem: "consumer", Name: "handler_duration_seconds",
			Help:    "Duration of one handler attempt.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14), // 1 ms .. ~150 s
		}, []string{"group", "topic"})),
		commits:    counter("commits_total", "Offset commits (periodic, on revoke, on stop) by result.", "group", "result"),
		partitions: counter("partitions_total", "Partitions assigned, revoked or lost.", "group", "event"),
	}
	m.inFlight = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "switchyard", Subsystem: "consumer", Name: "records_in_flight",
		Help: "Records polled and not finished (queued or running).",
	}, []string{"group"})).WithLabelValues(group)
	m.stale = counter("stale_records_dropped_total", "Polled records of a partition no longer owned, dropped unstarted.", "group").WithLabelValues(group)
	m.lag = register(reg, newLagCollector())
	return m
}

// lagDesc is switchyard_consumer_lag.
var lagDesc = prometheus.NewDesc("switchyard_consumer_lag",
	"Records of the consumed topics not yet completed by this member, summed over its partitions: "+
		"the high watermark of each partition's latest fetch minus the partition's commit point.",
	[]string{"group", "topic"}, nil)

// lagCollector reports switchyard_consumer_lag for every running consumer that shares its
// registry. One collector per registry (register returns the existing one), so that consumers of
// several groups in one process do not collide on the descriptor. Lag is computed at scrape
// time from the trackers, never on the hot path.
type lagCollector struct {
	mu        sync.Mutex
	consumers map[*Consumer]struct{}
}

func newLagCollector() *lagCollector {
	return &lagCollector{consumers: make(map[*Consumer]struct{})}
}

func (l *lagCollector) add(c *Consumer) {
	l.mu.Lock()
	l.consumers[c] = struct{}{}
	l.mu.Unlock()
}

func (l *lagCollector) remove(c *Consumer) {
	l.mu.Lock()
	delete(l.consumers, c)
	l.mu.Unlock()
}

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	cs := make([]*Consumer, 0, len(l.consumers))
	for c := range l.consumers {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	// Two members of one group in one process (tests) share their series: summed.
	type key struct{ group, topic string }
	sums := make(map[key]int64)
	for _, c := range cs {
		for topic, lag := range c.lagByTopic() {
			sums[key{c.cfg.Group, topic}] += lag
		}
	}
	for k, lag := range sums {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag), k.group, k.topic)
	}
}

func (m *metrics) forTopic(topic string) topicMetrics {
	return topicMetrics{
		consumed:  m.consumed.WithLabelValues(m.group, topic),
		completed: m.completed.WithLabelValues(m.group, topic),
		errors:    m.errors.WithLabelValues(m.group, topic),
		retries:   m.retries.WithLabelValues(m.group, topic),
		panics:    m.panics.WithLabelValues(m.group, topic),
		fenced:    m.fenced.WithLabelValues(m.group, topic),
		duration:  m.duration.WithLabelValues(m.group, topic),
	}
}

// register registers c on reg (if any). When several consumers of one
// process share a registry, the first registration wins and the others use
// it; series are told apart by the group label.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A different collector with the same name: keep ours
		// unregistered rather than fail the consumer.
	}
	return c
}
