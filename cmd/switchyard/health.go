package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/analytics"
	"github.com/switchyard-llm/switchyard/consumers"
)

// readyCheck is one role's readiness (a router, one worker group, the analytics sink): ok and
// a short detail for /readyz.
type readyCheck struct {
	role  string
	check func() (ok bool, detail string)
}

// health is what /healthz and /readyz read: the run loops the App started and each role's
// readiness check.
type health struct {
	mu      sync.Mutex
	checks  []readyCheck
	running atomic.Int64 // run loops started by App.Run and not yet returned
	started atomic.Bool  // App.Run has started them
	exited  atomic.Int64 // run loops that returned while the App ran
}

func (h *health) addCheck(role string, check func() (bool, string)) {
	h.mu.Lock()
	h.checks = append(h.checks, readyCheck{role: role, check: check})
	h.mu.Unlock()
}

// consumerReady is a consumer group member's readiness: polling, and joined to its group.
func consumerReady(c *consumers.Consumer) (bool, string) {
	s := c.State()
	switch {
	case !s.Polling:
		return false, "consumer of " + s.Group + " not polling"
	case !s.Joined:
		return false, "not joined to group " + s.Group
	}
	return true, fmt.Sprintf("joined %s, %d partitions", s.Group, s.Partitions)
}

// chanReady reports whether a ready channel is closed.
func chanReady(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

type roleStatus struct {
	Role   string `json:"role"`
	Ready  bool   `json:"ready"`
	Detail string `json:"detail,omitempty"`
}

// serveReady answers /readyz: 200 when every role is ready, 503 when one is not or none runs;
// the JSON body lists each role.
func (h *health) serveReady(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	checks := append([]readyCheck(nil), h.checks...)
	h.mu.Unlock()
	body := struct {
		Ready bool         `json:"ready"`
		Roles []roleStatus `json:"roles"`
	}{Ready: len(checks) > 0, Roles: []roleStatus{}}
	for _, c := range checks {
		ok, detail := c.check()
		body.Ready = body.Ready && ok
		body.Roles = append(body.Roles, roleStatus{Role: c.role, Ready: ok, Detail: detail})
	}
	writeHealthJSON(w, body.Ready, body)
}

// serveLive answers /healthz: 200 while the App's run loops all run, 503 before they start and
// once one has returned (the process is then stopping).
func (h *health) serveLive(w http.ResponseWriter, _ *http.Request) {
	body := struct {
		Live    bool  `json:"live"`
		Running int64 `json:"running"`
		Exited  int64 `json:"exited"`
	}{Running: h.running.Load(), Exited: h.exited.Load()}
	body.Live = h.started.Load() && body.Exited == 0
	writeHealthJSON(w, body.Live, body)
}

func writeHealthJSON(w http.ResponseWriter, ok bool, v any) {
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(v)
}

// sinkCollector exposes the analytics sink's Stats as switchyard_sink_* counters.
type sinkCollector struct {
	stats func() analytics.Stats
}

var sinkDescs = struct {
	records, rows, batches, insertErrors, skipped, commits, deadLetters, rejected, dlqErrors *prometheus.Desc
}{
	records:      prometheus.NewDesc("switchyard_sink_records_total", "Records the analytics sink consumed.", nil, nil),
	rows:         prometheus.NewDesc("switchyard_sink_rows_total", "Rows the analytics sink inserted into ClickHouse, by table (duplicates included).", []string{"table"}, nil),
	batches:      prometheus.NewDesc("switchyard_sink_batches_total", "Batches whose inserts all succeeded.", nil, nil),
	insertErrors: prometheus.NewDesc("switchyard_sink_insert_errors_total", "Failed insert attempts (every retry counts).", nil, nil),
	skipped:      prometheus.NewDesc("switchyard_sink_skipped_records_total", "Records skipped, by reason (undecodable, invalid: no idempotency key); each is dead-lettered.", []string{"reason"}, nil),
	commits:      prometheus.NewDesc("switchyard_sink_commits_total", "Offset commits of the analytics sink, by result.", []string{"result"}, nil),
	deadLetters:  prometheus.NewDesc("switchyard_sink_dead_letters_total", "Records written to the sink's dead-letter topic (rejected rows and skipped records).", nil, nil),
	rejected:     prometheus.NewDesc("switchyard_sink_rejected_rows_total", "Rows ClickHouse rejected for good (each also a dead letter).", nil, nil),
	dlqErrors:    prometheus.NewDesc("switchyard_sink_dlq_errors_total", "Failed writes to the sink's dead-letter topic (retried).", nil, nil),
}

func (s sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	d := sinkDescs
	for _, x := range []*prometheus.Desc{d.records, d.rows, d.batches, d.insertErrors, d.skipped, d.commits, d.deadLetters, d.rejected, d.dlqErrors} {
		ch <- x
	}
}

func (s sinkCollector) Collect(ch chan<- prometheus.Metric) {
	st, d := s.stats(), sinkDescs
	c := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	c(d.records, st.Records)
	c(d.rows, st.RequestRows, "llm_requests")
	c(d.rows, st.AttemptRows, "llm_attempts")
	c(d.rows, st.AuditRows, "llm_audit_events")
	c(d.rows, st.BodyRows, "llm_bodies")
	c(d.batches, st.Batches)
	c(d.insertErrors, st.InsertErrors)
	c(d.skipped, st.DecodeErrors, "undecodable")
	c(d.skipped, st.InvalidRecords, "invalid")
	c(d.commits, st.Commits, "ok")
	c(d.commits, st.CommitErrors, "error")
	c(d.deadLetters, st.DeadLetters)
	c(d.rejected, st.RejectedRows)
	c(d.dlqErrors, st.DLQErrors)
}
