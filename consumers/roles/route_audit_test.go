package roles

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchyard-llm/switchyard/router"
	"github.com/switchyard-llm/switchyard/schemas"
)

type downP1 struct{}

func (downP1) Unhealthy(p, _ string) (string, bool) { return "breaker_open", p == "p1" }

// The router role explains a degraded decision and a refusal in route.* events, and carries the
// degradation to the work item as route_reason "degraded:<reason>".
func TestRouterAuditExplainsDecisions(t *testing.T) {
	h := newHarness(t)
	rt, err := router.New(router.Table{
		Models: []router.Model{
			{Name: "m", Provider: "p1", Version: "m-1", ContextWindow: 8000, MaxOutputTokens: 1000, Price: router.Price{InputPerMTok: 1, OutputPerMTok: 1}},
			{Name: "f", Provider: "p2", Version: "f-1", ContextWindow: 8000, MaxOutputTokens: 1000, Price: router.Price{InputPerMTok: 0.5, OutputPerMTok: 0.5}},
		},
		Default: router.Rule{Model: "m", Fallbacks: []string{"f"}},
		Tenants: map[string]router.TenantPolicy{"strict": {AllowedModels: []string{"f"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.SetHealth(downP1{})
	r := &RouterRole{Client: h.cl, Codec: h.codec, Router: rt, Topics: topics}
	for i, body := range []string{
		`{"request_id":"r1","tenant_id":"acme","created_at":1,"messages":[{"role":"user","content":"hi"}]}`,
		`{"request_id":"r2","tenant_id":"strict","created_at":1,"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	} {
		rec := &kgo.Record{Topic: topics.Requests, Offset: int64(i), Value: []byte(body), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}}
		if err := r.Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	work := read[schemas.WorkItem](h, topics.Work("p2"), schemas.TypeWorkItem)
	if len(work) != 1 || work[0].RouteReason != "degraded:primary_unhealthy" || work[0].Model != "f-1" {
		t.Fatalf("work %+v", work)
	}
	resps := read[schemas.Response](h, topics.Responses, schemas.TypeResponse)
	if len(resps) != 1 || resps[0].Error == nil || resps[0].Error.Code != "model_not_allowed" {
		t.Fatalf("resps %+v", resps)
	}
	var got []string
	for _, e := range read[schemas.AuditEvent](h, topics.Audit, schemas.TypeAuditEvent) {
		if strings.HasPrefix(e.Type, "route.") {
			got = append(got, e.RequestID+":"+e.Type+":"+e.Provider+"/"+e.Model+":"+e.Attrs["reason"])
		}
	}
	want := "r1:route.classified:/:,r1:route.candidate_skipped:p1/m-1:unhealthy,r1:route.degraded:p2/f-1:primary_unhealthy,r1:route.decided:p2/f-1:," +
		"r2:route.classified:/:,r2:route.candidate_skipped:p1/m-1:model_not_allowed,r2:route.rejected:/:model_not_allowed"
	if strings.Join(got, ",") != want {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, ","), want)
	}
}
