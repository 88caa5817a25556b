package gateway

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/producers"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration prometheus.Histogram
	cancels  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, rq *producers.Requester) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "switchyard", Subsystem: "gateway",
			Name: "requests_total", Help: "Chat completion calls answered by the gateway, by HTTP status (499: the client went away)."}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "switchyard", Subsystem: "gateway",
			Name: "request_duration_seconds", Help: "Time from a chat completion call's arrival to the end of its answer.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18)}),
		cancels: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "switchyard", Subsystem: "gateway",
			Name: "cancels_total", Help: "Requests the gateway cancelled downstream, by reason (client_disconnected, deadline, stream_diverged)."}, []string{"reason"}),
	}
	if reg == nil {
		return m
	}
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "switchyard", Subsystem: "gateway",
		Name: "in_flight", Help: "Calls of this gateway waiting for their outcome."}, func() float64 { return float64(rq.InFlight()) })
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.cancels, inflight} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err)
			}
		}
	}
	return m
}

func (m *metrics) observe(code int, d time.Duration) {
	m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	m.duration.Observe(d.Seconds())
}
