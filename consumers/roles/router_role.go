package roles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/producers"
	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

// RouterRole is the router consumer group's handler: decode and validate each request, decide
// its route, and publish it to the chosen provider's work topic. Poison input goes to the DLQ
// and a refused route ends in an error response; either way the partition moves on.
type RouterRole struct {
	Client *kgo.Client
	Codec  *schemas.Codec
	Router *router.Router
	Topics Topics
	Logger *slog.Logger
	// Now is the clock; tests may replace it. Default time.Now.
	Now func() time.Time
	// Budgets reserves a routed request's estimated cost against its tenant's budget, checked
	// and reserved in one step (router.Ledger); a request that no longer fits is rejected.
	// Optional: nil reserves nothing.
	Budgets interface {
		TryReserve(tenant, requestID string, usd float64, now time.Time) bool
	}
	// Metrics records stage latencies, responses and dead letters. Optional: nil records
	// nothing.
	Metrics *Metrics
	// Cancels are the requests their callers cancelled (llm.cancels): such a request is not
	// routed but ends in an error response of code cancelled. Optional: nil cancels nothing.
	Cancels *Cancels
}

// Handle processes one request record. It returns nil once every output is acknowledged.
func (r *RouterRole) Handle(ctx context.Context, rec *kgo.Record) error {
	now := r.now()
	start := now
	mQueue, mDecode, mRoute, mProduce := r.Metrics.routerStage()
	t0 := time.Now()
	out := newOutputs(r.Codec, r.Topics.Audit)
	out.replyTo(rec)
	ct := producers.Header(rec, "content-type")

	// Decoded and validated in two steps (Codec.DecodeRequest in one), so that the audit trail
	// times each and says which passed.
	req := new(schemas.Request)
	err := r.Codec.Decode(schemas.TypeRequest, rec.Value, ct, req)
	decoded := r.now()
	invalid := false // decoded, but not valid
	if err == nil {
		err = schemas.ValidateRequest(req)
		invalid = err != nil
	}
	observe(mDecode, time.Since(t0))
	if err != nil {
		if errors.Is(err, schemas.ErrRegistryUnavailable) {
			return err // transient: retry the record, never dead-letter it
		}
		reason := schemas.ReasonOf(err)
		if reason == "" {
			reason = schemas.ReasonDecodeError
		}
		if !invalid || req.RequestID == "" {
			// Undecodable, or no id to audit under: the DLQ record alone tells of it.
			req = nil
		} else {
			out.forRequest(req.RequestID, req.TenantID, 0)
			out.audit(schemas.EventRequestRejected, schemas.StageIngest, "", "", r.now().Sub(start), "reason", reason)
		}
		if err := deadLetter(out, r.Topics, rec, req, reason, err.Error(), schemas.StageIngest, now); err != nil {
			return err
		}
		return out.produce(ctx, r.Client, r.Metrics, mProduce)
	}
	if req.CreatedAt > 0 {
		observe(mQueue, now.Sub(time.UnixMilli(req.CreatedAt)))
	}
	out.forRequest(req.RequestID, req.TenantID, 0)
	out.audit(schemas.EventRequestReceived, schemas.StageIngest, "", "", 0,
		"topic", rec.Topic, "partition", itoa(int64(rec.Partition)), "offset", itoa(rec.Offset),
		"bytes", itoa(int64(len(rec.Value))), "encoding", encodingOf(rec.Value, ct))
	out.audit(schemas.EventRequestDecoded, schemas.StageIngest, "", "", decoded.Sub(start),
		"task_type", req.TaskType, "priority", req.Priority, "messages", itoa(int64(len(req.Messages))),
		"tools", itoa(int64(len(req.Tools))), "stream", strconv.FormatBool(req.Stream))
	out.audit(schemas.EventRequestValidated, schemas.StageIngest, "", "", r.now().Sub(decoded),
		"deadline_ms", itoa(req.DeadlineMS), "max_tokens", itoa(int64(req.MaxTokens)),
		"has_budget", strconv.FormatBool(req.BudgetUSD != nil), "response_format", req.ResponseFormat.Type)
	if x, ok := r.Cancels.Cancelled(req.RequestID); ok {
		out.audit(schemas.EventRequestCancelled, schemas.StageRespond, "", "", 0,
			"reason", x.Reason, "source", x.Source, "at", schemas.StageRoute)
		return r.respondError(ctx, out, req, CodeCancelled, "the caller cancelled the request", false, mProduce)
	}
	r.auditPolicy(out, req.TenantID)

	decideStart := r.now()
	t1 := time.Now()
	d, err := r.Router.Decide(req)
	if err == nil && r.Budgets != nil {
		if !r.Budgets.TryReserve(req.TenantID, req.RequestID, d.EstCostUSD, now) {
			// Decide saw enough budget left, but concurrent requests reserved it first.
			err = &router.Rejection{Reason: router.ReasonBudgetExceeded, Detail: "the estimated cost no longer fits the tenant's remaining budget", Retryable: true}
			out.audit(schemas.EventBudgetRefused, schemas.StageRoute, d.Provider, d.Model, 0, "est_cost_usd", ftoa(d.EstCostUSD))
		} else if h, ok := r.Budgets.(interface{ Holds(requestID string) bool }); ok && h.Holds(req.RequestID) {
			// TryReserve also admits a tenant without a budget, reserving nothing.
			out.audit(schemas.EventBudgetReserved, schemas.StageRoute, d.Provider, d.Model, 0, "est_cost_usd", ftoa(d.EstCostUSD))
		}
	}
	observe(mRoute, time.Since(t1))
	r.explain(out, &d)
	if req.Model != "" {
		r.auditUserChoice(out, req, &d, err)
	}
	if err != nil {
		rej, ok := router.IsRejection(err)
		if !ok {
			return fmt.Errorf("route %s: %w", req.RequestID, err)
		}
		out.audit(schemas.EventRouteRejected, schemas.StageRoute, "", "", r.now().Sub(decideStart),
			"reason", rej.Reason, "retryable", strconv.FormatBool(rej.Retryable), "candidates", itoa(int64(len(d.Candidates))))
		return r.respondError(ctx, out, req, rej.Reason, rej.Detail, rej.Retryable, mProduce)
	}

	fallbacks := make([]string, len(d.Fallbacks))
	for i, f := range d.Fallbacks {
		fallbacks[i] = f.Provider + "/" + f.Model
	}
	if d.Degraded {
		out.audit(schemas.EventRouteDegraded, schemas.StageRoute, d.Provider, d.Model, 0,
			"reason", d.DegradedReason, "primary", primaryOf(&d), "alias", d.Alias)
	}
	out.audit(schemas.EventRouteDecided, schemas.StageRoute, d.Provider, d.Model, r.now().Sub(decideStart),
		"rule", d.Rule, "tier", d.Tier, "alias", d.Alias, "fallbacks", strings.Join(fallbacks, ","),
		"est_input_tokens", itoa(d.EstInputTokens), "est_output_tokens", itoa(d.EstOutputTokens),
		"est_cost_usd", ftoa(d.EstCostUSD), "degraded", strconv.FormatBool(d.Degraded),
		"degraded_reason", d.DegradedReason, "rerouted", d.Rerouted, "candidates", itoa(int64(len(d.Candidates))))
	item := schemas.WorkItem{
		Request:   *req,
		Provider:  d.Provider,
		Model:     d.Model,
		Fallbacks: d.Fallbacks,
		Tier:      d.Tier,
		// "degraded:<reason>" when degraded (router.DegradedReason parses it), else the rule.
		RouteReason:          d.RouteReason(),
		EstimatedInputTokens: d.EstInputTokens,
		EstimatedCostUSD:     d.EstCostUSD,
		RoutedAt:             r.now().UnixMilli(),
	}
	topic := r.Topics.Work(d.Provider)
	if err := out.add(topic, req.RequestID, schemas.TypeWorkItem, &item); err != nil {
		return err
	}
	out.audit(schemas.EventWorkEnqueued, schemas.StageRoute, d.Provider, d.Model, 0, "topic", topic, "hop", "0")
	return out.produce(ctx, r.Client, r.Metrics, mProduce)
}

func (r *RouterRole) now() time.Time { return clock(r.Now) }

// respondError ends a request the router does not route in an error response.
func (r *RouterRole) respondError(ctx context.Context, out *outputs, req *schemas.Request, code, msg string, retryable bool, mProduce prometheus.Observer) error {
	resp := errorResponse(req, code, msg, retryable, nil, 0, r.now())
	if err := out.add(r.Topics.Responses, req.RequestID, schemas.TypeResponse, resp); err != nil {
		return err
	}
	out.audit(schemas.EventResponseError, schemas.StageRespond, "", "", 0,
		"code", code, "retryable", strconv.FormatBool(retryable), "attempts", "0")
	out.audit(schemas.EventResponsePublish, schemas.StageRespond, "", "", 0,
		"status", resp.Status, "total_ms", ftoa(resp.Latency.TotalMS))
	if err := out.produce(ctx, r.Client, r.Metrics, mProduce); err != nil {
		return err
	}
	r.Metrics.responded(resp)
	return nil
}

// auditPolicy adds the event that names the tenant policy Decide applies: the tenant's own
// entry or the default one. Router.Policy does not say which it returned; an own entry equal
// to the default one behaves the same and reads as default.
func (r *RouterRole) auditPolicy(out *outputs, tenant string) {
	p, ok := r.Router.Policy(tenant)
	if !ok {
		return
	}
	entry := "tenant"
	if def, ok := r.Router.Policy(router.DefaultTenant); tenant == router.DefaultTenant || ok && reflect.DeepEqual(p, def) {
		entry = router.DefaultTenant
	}
	degrade := p.Degrade == nil || *p.Degrade
	out.audit(schemas.EventPolicyApplied, schemas.StageRoute, "", "", 0,
		"entry", entry, "allowed_models", itoa(int64(len(p.AllowedModels))), "allowed_providers", itoa(int64(len(p.AllowedProviders))),
		"regions", itoa(int64(len(p.Regions))), "on_violation", p.OnViolation, "degrade", strconv.FormatBool(degrade),
		"allow_premium_fallback", strconv.FormatBool(p.AllowPremiumFallback),
		"daily_usd", ftoa(p.Budget.DailyUSD), "monthly_usd", ftoa(p.Budget.MonthlyUSD))
}

// auditUserChoice says what became of the model the request named: routed as asked, rerouted
// by its tenant's policy, or refused (err, from Decide or the budget reservation).
func (r *RouterRole) auditUserChoice(out *outputs, req *schemas.Request, d *router.Decision, err error) {
	outcome, why := "honoured", ""
	switch {
	case d.Rerouted != "":
		outcome, why = "rerouted", d.Rerouted
	case d.Rule != "user_choice" || err != nil:
		outcome = "rejected"
		if rej, ok := router.IsRejection(err); ok {
			why = rej.Reason
		}
	}
	out.audit(schemas.EventPolicyUserModel, schemas.StageRoute, d.Provider, d.Model, 0,
		"requested", truncate(req.Model, 128), "outcome", outcome, "violation", why)
}

// explain adds the audit events that explain a decision, made or refused: the classification,
// a reroute of the user's model, and every candidate passed over.
func (r *RouterRole) explain(out *outputs, d *router.Decision) {
	if c := d.Classification; c.Tier != "" {
		out.audit(schemas.EventRouteClassified, schemas.StageRoute, "", "", 0,
			"tier", c.Tier, "source", c.Source, "confidence", ftoa(c.Confidence),
			"est_input_tokens", itoa(d.EstInputTokens), "features", c.Features.Summary())
	}
	if d.Rerouted != "" {
		out.audit(schemas.EventRouteRerouted, schemas.StageRoute, "", "", 0, "violation", d.Rerouted, "rule", d.Rule)
	}
	for _, c := range d.Candidates {
		if c.Role != router.RoleSkipped {
			continue
		}
		out.audit(schemas.EventRouteCandidate, schemas.StageRoute, c.Provider, c.Version, 0,
			"candidate", c.Alias, "reason", c.Reason, "detail", truncate(c.Detail, 256), "source", c.Source,
			"est_input_tokens", itoa(c.EstInputTokens), "est_output_tokens", itoa(c.EstOutputTokens),
			"est_cost_usd", ftoa(c.EstCostUSD))
	}
}

// primaryOf is the alias of the chain's first candidate: the model a degraded decision passed
// over.
func primaryOf(d *router.Decision) string {
	if len(d.Candidates) == 0 {
		return ""
	}
	return d.Candidates[0].Alias
}

// deadLetter adds a DLQ record for rec and, when the request is known, its audit event. The
// detail names the reason, never the payload's content.
func deadLetter(out *outputs, topics Topics, rec *kgo.Record, req *schemas.Request, reason, detail, stage string, now time.Time) error {
	sum := sha256.Sum256(rec.Value)
	dl := schemas.DeadLetter{
		DLQID:           rec.Topic + "/" + itoa(int64(rec.Partition)) + "/" + itoa(rec.Offset),
		Reason:          reason,
		Detail:          truncate(detail, 512),
		Stage:           stage,
		SourceTopic:     rec.Topic,
		SourcePartition: rec.Partition,
		SourceOffset:    rec.Offset,
		TS:              now.UnixMilli(),
		Payload:         rec.Value,
		PayloadSHA256:   hex.EncodeToString(sum[:]),
	}
	if req != nil {
		dl.RequestID, dl.TenantID = req.RequestID, req.TenantID
	}
	key := dl.RequestID
	if key == "" {
		key = dl.DLQID
	}
	if err := out.add(topics.DLQ, key, schemas.TypeDeadLetter, &dl); err != nil {
		return err
	}
	out.dlq = append(out.dlq, dlqKey{stage: stage, reason: reason})
	if req != nil && req.RequestID != "" {
		out.forRequest(req.RequestID, req.TenantID, out.hop)
		ev := out.event(schemas.EventDLQPublished, schemas.StageDLQ, "", "", 0, "reason", reason, "source_topic", rec.Topic)
		return out.add(out.auditTopic, ev.RequestID, schemas.TypeAuditEvent, &ev)
	}
	return nil
}

func errorResponse(req *schemas.Request, code, msg string, retryable bool, attempts []schemas.Attempt, depth int32, now time.Time) *schemas.Response {
	return &schemas.Response{
		RequestID:     req.RequestID,
		TenantID:      req.TenantID,
		UserID:        req.UserID,
		TaskType:      req.TaskType,
		Priority:      req.Priority,
		Status:        schemas.StatusError,
		Attempts:      attempts,
		FallbackDepth: depth,
		Error:         &schemas.ErrorInfo{Code: code, Message: truncate(msg, 512), Retryable: retryable},
		Latency:       schemas.Latency{TotalMS: msSince(req.CreatedAt, now)},
		CreatedAt:     req.CreatedAt,
		CompletedAt:   now.UnixMilli(),
	}
}

// encodingOf names the input encoding the codec will pick, for the audit trail.
func encodingOf(v []byte, ct string) string {
	switch {
	case strings.Contains(strings.ToLower(ct), "json"):
		return "json"
	case len(v) > 0 && v[0] == 0:
		return "confluent"
	case len(v) > 1 && v[0] == 0xC3 && v[1] == 0x01:
		return "single-object"
	default:
		return "json"
	}
}

func msSince(unixMS int64, now time.Time) float64 {
	if unixMS <= 0 {
		return 0
	}
	return float64(now.UnixMicro()-unixMS*1000) / 1000
}

// truncate caps s at n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }
