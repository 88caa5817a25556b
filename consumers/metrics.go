package consumers

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	consumed, completed, errors, retries, panics, fenced *prometheus.CounterVec
	duration                                             *prometheus.HistogramVec
	inFlight                                             prometheus.Gauge
	stale                                                prometheus.Counter
	commits, partitions                                  *prometheus.CounterVec

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
	return m
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
