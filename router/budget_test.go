package router

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

func limits(m map[string]Budget) func(string) (Budget, bool) {
	return func(t string) (Budget, bool) { b, ok := m[t]; return b, ok }
}

func newTestLedger(t testing.TB, replica string, m map[string]Budget) *Ledger {
	t.Helper()
	l, err := NewLedger(LedgerConfig{ReplicaID: replica, Limits: limits(m), ReservationTTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l.MarkLive()
	return l
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestNewLedgerListsEveryProblem(t *testing.T) {
	_, err := NewLedger(LedgerConfig{ReplicaID: "a|b", ReservationTTL: -1})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"ReplicaID must not contain", "Limits is required", "ReservationTTL is negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := NewLedger(LedgerConfig{Limits: limits(nil)}); err == nil || !strings.Contains(err.Error(), "ReplicaID is required") {
		t.Errorf("missing replica id: %v", err)
	}
}

func TestLedgerTable(t *testing.T) {
	budgets := map[string]Budget{"acme": {DailyUSD: 10, MonthlyUSD: 100}, "daily": {DailyUSD: 5}, "zero": {}}
	type step func(l *Ledger)
	reserve := func(tenant, id string, usd float64, at time.Time) step {
		return func(l *Ledger) { l.Reserve(tenant, id, usd, at) }
	}
	settle := func(tenant, id string, usd float64, at time.Time) step {
		return func(l *Ledger) { l.Settle(tenant, id, usd, at) }
	}
	expire := func(at time.Time) step { return func(l *Ledger) { l.Expire(at) } }
	for _, tc := range []struct {
		name      string
		steps     []step
		tenant    string
		at        time.Time
		wantDay   float64 // used
		wantMonth float64
		wantRem   float64
		limited   bool
	}{
		{name: "nothing", tenant: "acme", at: t0, wantRem: 10, limited: true},
		{name: "no budget", tenant: "other", at: t0, steps: []step{reserve("other", "r1", 3, t0)}, limited: false},
		{name: "zero budget is none", tenant: "zero", at: t0, steps: []step{reserve("zero", "r1", 3, t0)}, limited: false},
		{name: "reserve", tenant: "acme", at: t0, steps: []step{reserve("acme", "r1", 3, t0)},
			wantDay: 3, wantMonth: 3, wantRem: 7, limited: true},
		{name: "reserve twice is once", tenant: "acme", at: t0, steps: []step{reserve("acme", "r1", 3, t0), reserve("acme", "r1", 3, t0)},
			wantDay: 3, wantMonth: 3, wantRem: 7, limited: true},
		{name: "settle replaces estimate", tenant: "acme", at: t0,
			steps:   []step{reserve("acme", "r1", 3, t0), settle("acme", "r1", 1.25, t0.Add(time.Second))},
			wantDay: 1.25, wantMonth: 1.25, wantRem: 8.75, limited: true},
		{name: "settle twice is once", tenant: "acme", at: t0,
			steps:   []step{reserve("acme", "r1", 3, t0), settle("acme", "r1", 1.25, t0), settle("acme", "r1", 1.25, t0)},
			wantDay: 1.25, wantMonth: 1.25, wantRem: 8.75, limited: true},
		{name: "settle without reservation adds spend", tenant: "acme", at: t0,
			steps:   []step{settle("acme", "r9", 2, t0), settle("acme", "r9", 2, t0)},
			wantDay: 2, wantMonth: 2, wantRem: 8, limited: true},
		{name: "reserve after settle is a no-op", tenant: "acme", at: t0,
			steps:   []step{reserve("acme", "r1", 3, t0), settle("acme", "r1", 1, t0), reserve("acme", "r1", 3, t0)},
			wantDay: 1, wantMonth: 1, wantRem: 9, limited: true},
		{name: "expiry counts the estimate", tenant: "acme", at: t0.Add(11 * time.Minute),
			steps:   []step{reserve("acme", "r1", 3, t0), expire(t0.Add(11 * time.Minute))},
			wantDay: 3, wantMonth: 3, wantRem: 7, limited: true},
		{name: "not expired before the TTL", tenant: "acme", at: t0.Add(9 * time.Minute),
			steps:   []step{reserve("acme", "r1", 3, t0), expire(t0.Add(9 * time.Minute)), settle("acme", "r1", 0.5, t0)},
			wantDay: 0.5, wantMonth: 0.5, wantRem: 9.5, limited: true},
		{name: "late settle corrects an expired estimate", tenant: "acme", at: t0.Add(12 * time.Minute),
			steps: []step{reserve("acme", "r1", 3, t0), expire(t0.Add(11 * time.Minute)),
				settle("acme", "r1", 0.5, t0.Add(12*time.Minute)), settle("acme", "r1", 0.5, t0.Add(12*time.Minute))},
			wantDay: 0.5, wantMonth: 0.5, wantRem: 9.5, limited: true},
		{name: "over budget remains zero", tenant: "acme", at: t0,
			steps:   []step{settle("acme", "r1", 12, t0)},
			wantDay: 12, wantMonth: 12, wantRem: 0, limited: true},
		{name: "monthly cap is the lesser", tenant: "acme", at: t0,
			steps:   []step{settle("acme", "old", 95, t0.AddDate(0, 0, -3))},
			wantDay: 0, wantMonth: 95, wantRem: 5, limited: true},
		{name: "day rolls over at UTC midnight", tenant: "acme", at: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
			steps:   []step{settle("acme", "r1", 4, time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC))},
			wantDay: 0, wantMonth: 4, wantRem: 10, limited: true},
		{name: "midnight in another zone is not UTC midnight", tenant: "daily",
			at:      time.Date(2026, 11, 26, 0, 30, 0, 0, time.FixedZone("CET", 3600)), // 23:30 UTC on the 25th
			steps:   []step{settle("daily", "r1", 4, time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC))},
			wantDay: 4, wantMonth: 4, wantRem: 1, limited: true},
		{name: "month rolls over at month end", tenant: "acme", at: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
			steps:   []step{settle("acme", "r1", 60, time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC))},
			wantDay: 0, wantMonth: 0, wantRem: 10, limited: true},
		{name: "settle after midnight stays on the day routed", tenant: "acme", at: time.Date(2026, 11, 26, 0, 1, 0, 0, time.UTC),
			steps: []step{reserve("acme", "r1", 3, time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)),
				settle("acme", "r1", 2, time.Date(2026, 11, 26, 0, 1, 0, 0, time.UTC))},
			wantDay: 0, wantMonth: 2, wantRem: 10, limited: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLedger(t, "r1", budgets)
			for _, s := range tc.steps {
				s(l)
			}
			day, month := l.Used(tc.tenant, tc.at)
			rem, limited := l.Remaining(tc.tenant, tc.at)
			if !near(day, tc.wantDay) || !near(month, tc.wantMonth) || !near(rem, tc.wantRem) || limited != tc.limited {
				t.Errorf("used day %v month %v, remaining %v limited %v; want %v %v, %v %v",
					day, month, rem, limited, tc.wantDay, tc.wantMonth, tc.wantRem, tc.limited)
			}
		})
	}
}

func TestLedgerSettleReservedIgnoresOthers(t *testing.T) {
	l := newTestLedger(t, "a", map[string]Budget{"acme": {DailyUSD: 10}})
	l.Reserve("acme", "mine", 2, t0)
	if !l.Holds("mine") || l.Holds("theirs") {
		t.Error("Holds")
	}
	if l.SettleReserved("theirs", 5, t0) {
		t.Error("settled a request reserved elsewhere")
	}
	if !l.SettleReserved("mine", 1, t0) || !l.SettleReserved("mine", 1, t0) {
		t.Error("own request not settled (or not idempotently)")
	}
	if day, _ := l.Used("acme", t0); !near(day, 1) {
		t.Errorf("used %v, want 1", day)
	}
}

// exchange copies what each ledger has pending into every other: what SpendSync does through
// llm.spend.
func exchange(now time.Time, ls ...*Ledger) {
	for _, from := range ls {
		p := from.TakePending(now)
		for _, to := range ls {
			if to == from {
				continue
			}
			for _, st := range p.States {
				to.Apply(st)
			}
			for _, k := range p.Tombstones {
				to.ApplyTombstone(k)
			}
		}
	}
}

func TestLedgerReplicasAreSummed(t *testing.T) {
	b := map[string]Budget{"acme": {DailyUSD: 10}}
	a, c := newTestLedger(t, "a", b), newTestLedger(t, "c", b)
	a.Reserve("acme", "r1", 2, t0)
	c.Reserve("acme", "r2", 3, t0)
	c.Settle("acme", "r3", 1, t0)
	exchange(t0, a, c)
	for _, l := range []*Ledger{a, c} {
		if rem, _ := l.Remaining("acme", t0); !near(rem, 4) {
			t.Errorf("%s: remaining %v, want 4", l.ReplicaID(), rem)
		}
	}
	// A replica's record replaces its earlier one: totals are cumulative, never added twice.
	a.Settle("acme", "r1", 1.5, t0)
	exchange(t0, a, c)
	exchange(t0, a, c)
	if rem, _ := c.Remaining("acme", t0); !near(rem, 4.5) {
		t.Errorf("remaining %v, want 4.5", rem)
	}
	// Echoes of a replica's own records do not count twice.
	a.Reserve("acme", "r4", 1, t0)
	for _, st := range a.TakePending(t0).States {
		a.Apply(st)
	}
	if day, _ := a.Used("acme", t0); !near(day, 5.5+1) {
		t.Errorf("used %v, want 6.5", day)
	}
}

func TestLedgerRestartRebuildsFromTheTopic(t *testing.T) {
	b := map[string]Budget{"acme": {DailyUSD: 10, MonthlyUSD: 50}}
	// topic holds the latest value per key, as a compacted topic would after cleaning;
	// log holds every record in order, as a reader sees it before cleaning.
	var log []schemas.SpendState
	publish := func(l *Ledger, now time.Time) {
		for _, st := range l.TakePending(now).States {
			log = append(log, st)
		}
	}
	a := newTestLedger(t, "a", b)
	other := newTestLedger(t, "o", b)
	a.Reserve("acme", "r1", 2, t0)
	a.Reserve("acme", "r2", 3, t0)
	publish(a, t0)
	a.Settle("acme", "r1", 1, t0)
	publish(a, t0)
	other.Settle("acme", "x", 4, t0)
	publish(other, t0)

	// Replica a restarts: a new ledger with the same id reads the topic from the start.
	a2, err := NewLedger(LedgerConfig{ReplicaID: "a", Limits: limits(b)})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range log {
		a2.Apply(st)
	}
	a2.MarkLive()
	if day, month := a2.Used("acme", t0); !near(day, 1+3+4) || !near(month, 8) {
		t.Fatalf("after restart used %v/%v, want 8/8", day, month)
	}
	if a2.Open() != 1 {
		t.Fatalf("open reservations %d, want 1 (r2)", a2.Open())
	}
	// The settlement of r2 after the restart replaces its estimate; r1's (replayed) is ignored.
	if !a2.SettleReserved("r2", 0.5, t0) {
		t.Fatal("r2's reservation was not taken back")
	}
	if a2.SettleReserved("r1", 1, t0) {
		t.Fatal("r1 settled twice across the restart")
	}
	if day, _ := a2.Used("acme", t0); !near(day, 1+0.5+4) {
		t.Fatalf("used %v, want 5.5", day)
	}
	// Its own records arriving after MarkLive are echoes: ignored.
	a2.Apply(schemas.SpendState{TenantID: "acme", Period: Day(t0), ReplicaID: "a", SpentUSD: 100})
	if day, _ := a2.Used("acme", t0); !near(day, 5.5) {
		t.Fatalf("echo counted: used %v", day)
	}
}

func TestLedgerPastPeriodsAreTombstoned(t *testing.T) {
	b := map[string]Budget{"acme": {DailyUSD: 10, MonthlyUSD: 50}}
	a, o := newTestLedger(t, "a", b), newTestLedger(t, "o", b)
	a.Settle("acme", "r1", 1, t0)
	exchange(t0, a, o)
	// Two days later, the day of t0 is over (yesterday is kept, for requests across midnight).
	later := t0.AddDate(0, 0, 2)
	p := a.TakePending(later)
	if len(p.Tombstones) != 1 || p.Tombstones[0] != SpendKey("acme", Day(t0), "a") {
		t.Fatalf("tombstones %v", p.Tombstones)
	}
	for _, k := range p.Tombstones {
		o.ApplyTombstone(k)
	}
	if day, month := o.Used("acme", t0); day != 0 || !near(month, 1) {
		t.Fatalf("used %v/%v after tombstone, want 0/1", day, month)
	}
	if tn, per, rep, ok := ParseSpendKey("a|b|2026-11-25|r-1"); !ok || tn != "a|b" || per != "2026-11-25" || rep != "r-1" {
		t.Errorf("ParseSpendKey: %q %q %q %v", tn, per, rep, ok)
	}
	if !current("2026-10", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) || current("2026-09", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("previous month not kept, or older kept")
	}
}

func TestLedgerRequeueAfterFailedWrite(t *testing.T) {
	a := newTestLedger(t, "a", map[string]Budget{"acme": {DailyUSD: 10}})
	a.Reserve("acme", "r1", 2, t0)
	p := a.TakePending(t0)
	if len(p.States) != 2 || !a.TakePending(t0).Empty() {
		t.Fatalf("pending %+v", p)
	}
	a.Requeue(p)
	// Open reservations travel in the day record only.
	if q := a.TakePending(t0); len(q.States) != 2 || q.States[1].Period != Day(t0) || len(q.States[1].Reservations) != 1 || len(q.States[0].Reservations) != 0 {
		t.Fatalf("after requeue %+v", q)
	}
}

// TestTryReserveIsAtomic runs many concurrent TryReserve calls on one replica: the check and
// the reservation are one step, so they never admit more than the budget together.
func TestTryReserveIsAtomic(t *testing.T) {
	const budget, cost, goroutines, each = 10.0, 0.3, 16, 50
	l := newTestLedger(t, "a", map[string]Budget{"acme": {DailyUSD: budget}})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if l.TryReserve("acme", fmt.Sprintf("g%d-%d", g, i), cost, t0) {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	want := int64(math.Floor(budget/cost + 1e-9))
	if admitted.Load() != want {
		t.Fatalf("admitted %d requests of $%v under a $%v budget, want %d", admitted.Load(), cost, budget, want)
	}
	if day, _ := l.Used("acme", t0); day > budget+1e-9 {
		t.Fatalf("reserved %v over the budget %v", day, budget)
	}
	if !l.TryReserve("free", "x", 1e9, t0) {
		t.Error("a tenant without a budget was refused")
	}
	// A re-delivered request that holds its reservation is admitted, whatever is left.
	if !l.TryReserve("acme", "held", 0, t0) || !l.TryReserve("acme", "held", 1e9, t0) {
		t.Error("a request holding its reservation was refused on re-delivery")
	}
	if l.TryReserve("acme", "new", 1e9, t0) {
		t.Error("a new request over the budget was admitted")
	}
}

// TestOvershootBound simulates R replicas that see each other's reservations only once per
// propagation interval, each admitting a burst with TryReserve. The overshoot of the budget
// stays within × n × c_max, n the most requests one replica admits in one interval.
func TestOvershootBound(t *testing.T) {
	const budget, cmax = 10.0, 0.5
	for _, tc := range []struct{ replicas, perInterval int }{{1, 100}, {2, 5}, {3, 4}, {4, 10}} {
		t.Run(fmt.Sprintf("R=%d,n=%d", tc.replicas, tc.perInterval), func(t *testing.T) {
			b := map[string]Budget{"acme": {DailyUSD: budget}}
			ls := make([]*Ledger, tc.replicas)
			for i := range ls {
				ls[i] = newTestLedger(t, fmt.Sprintf("r%d", i), b)
			}
			id := 0
			for round := 0; round < 100; round++ {
				for _, l := range ls {
					for range tc.perInterval {
						id++
						cost := cmax * float64(1+id%4) / 4 // estimates vary up to cmax
						l.TryReserve("acme", fmt.Sprintf("q%d", id), cost, t0)
					}
				}
				exchange(t0, ls...) // one propagation interval
			}
			day, _ := ls[0].Used("acme", t0)
			over := day - budget
			bound := float64(tc.replicas-1) * float64(tc.perInterval) * cmax
			t.Logf("R=%d n=%d: used %.2f of %.2f, overshoot %.2f, bound %.2f", tc.replicas, tc.perInterval, day, budget, over, bound)
			if over > bound+1e-9 {
				t.Fatalf("overshoot %v over the bound %v", over, bound)
			}
			if tc.replicas == 1 && over > 1e-9 {
				t.Fatalf("one replica overshot by %v", over)
			}
		})
	}
}

func TestLedgerKicksAfterFlushAfterChanges(t *testing.T) {
	l, err := NewLedger(LedgerConfig{ReplicaID: "a", Limits: limits(map[string]Budget{"acme": {DailyUSD: 100}}), FlushAfter: 3})
	if err != nil {
		t.Fatal(err)
	}
	l.MarkLive()
	kicked := func() bool {
		select {
		case <-l.Kick():
			return true
		default:
			return false
		}
	}
	l.Reserve("acme", "r1", 1, t0)
	l.Settle("acme", "r1", 1, t0)
	if kicked() {
		t.Fatal("kicked after 2 changes")
	}
	l.Reserve("acme", "r2", 1, t0)
	if !kicked() {
		t.Fatal("no kick after 3 changes")
	}
	l.TakePending(t0)
	l.Reserve("acme", "r3", 1, t0)
	if kicked() {
		t.Fatal("the count was not reset by TakePending")
	}
	if _, err := NewLedger(LedgerConfig{ReplicaID: "a", Limits: limits(nil), FlushAfter: -1}); err == nil {
		t.Fatal("negative FlushAfter accepted")
	}
}

// TestLedgerRestoreCountsUnlistedReservationsAtTheEstimate: what a restored period counts as
// reserved beyond the reservations its records list (the list is capped) cannot be settled any
// more; it moves to spent, like an expired reservation, and the total stays.
func TestLedgerRestoreCountsUnlistedReservationsAtTheEstimate(t *testing.T) {
	b := map[string]Budget{"acme": {DailyUSD: 100, MonthlyUSD: 1000}}
	l, err := NewLedger(LedgerConfig{ReplicaID: "a", Limits: limits(b)})
	if err != nil {
		t.Fatal(err)
	}
	l.Apply(schemas.SpendState{TenantID: "acme", Period: Day(t0), ReplicaID: "a", ReservedUSD: 5, SpentUSD: 1,
		Reservations: []schemas.SpendReservation{{RequestID: "r1", USD: 2, TS: t0.UnixMilli()}}})
	l.Apply(schemas.SpendState{TenantID: "acme", Period: Month(t0), ReplicaID: "a", ReservedUSD: 5, SpentUSD: 11})
	l.MarkLive()
	if day, month := l.Used("acme", t0); !near(day, 6) || !near(month, 16) {
		t.Fatalf("used %v/%v, want 6/16: the total changed", day, month)
	}
	if !l.SettleReserved("r1", 0.5, t0) {
		t.Fatal("the listed reservation was not taken back")
	}
	if day, month := l.Used("acme", t0); !near(day, 4.5) || !near(month, 14.5) {
		t.Fatalf("used %v/%v after settling r1, want 4.5/14.5", day, month)
	}
	var p Pending
	for _, st := range l.TakePending(t0).States {
		if st.ReservedUSD != 0 {
			t.Errorf("%s: reserved %v left, want 0", st.Period, st.ReservedUSD)
		}
		p.States = append(p.States, st)
	}
	if len(p.States) != 2 {
		t.Fatalf("the moved amounts were not marked for writing: %+v", p)
	}
}

func TestLedgerListsAtMostMaxListedReservations(t *testing.T) {
	l := newTestLedger(t, "a", map[string]Budget{"acme": {DailyUSD: 1e9}})
	for i := range MaxListedReservations + 5 {
		l.Reserve("acme", fmt.Sprintf("r%06d", i), 1, t0.Add(time.Duration(i)*time.Millisecond))
	}
	for _, st := range l.TakePending(t0).States {
		if st.Period == Day(t0) {
			if len(st.Reservations) != MaxListedReservations || st.Reservations[0].RequestID != "r000000" {
				t.Fatalf("listed %d, first %s", len(st.Reservations), st.Reservations[0].RequestID)
			}
			return
		}
	}
	t.Fatal("no day record")
}

// BenchmarkLedgerRemaining is what Decide pays per request for the budget view.
func BenchmarkLedgerRemaining(b *testing.B) {
	l := newTestLedger(b, "a", map[string]Budget{"acme": {DailyUSD: 1e9, MonthlyUSD: 1e10}})
	for i := range 1000 {
		l.Reserve("acme", fmt.Sprintf("r%d", i), 0.01, t0)
	}
	other := newTestLedger(b, "o", map[string]Budget{"acme": {DailyUSD: 1e9}})
	other.Reserve("acme", "x", 1, t0)
	exchange(t0, l, other)
	b.ReportAllocs()
	for b.Loop() {
		l.Remaining("acme", t0)
	}
}

// BenchmarkLedgerTryReserveSettle is the router role's reservation and its settlement.
func BenchmarkLedgerTryReserveSettle(b *testing.B) {
	l := newTestLedger(b, "a", map[string]Budget{"acme": {DailyUSD: 1e12}})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := "r" + strconv.Itoa(i) // distinct ids: a re-used one would be a no-op
		l.TryReserve("acme", id, 0.01, t0)
		l.SettleReserved(id, 0.005, t0)
		i++
	}
}

var _ RequestBudgetView = (*Ledger)(nil)

// TestLedgerRemainingForGivesBackTheRequestsOwnReservation: a re-delivered request sees the
// budget as if its own reservation were not there; other requests see it counted.
func TestLedgerRemainingForGivesBackTheRequestsOwnReservation(t *testing.T) {
	l := newTestLedger(t, "a", map[string]Budget{"acme": {DailyUSD: 10, MonthlyUSD: 12}, "other": {DailyUSD: 10}})
	l.Settle("acme", "old", 4, t0.AddDate(0, 0, -2)) // earlier this month
	l.Reserve("acme", "r1", 7, t0)
	for _, tc := range []struct {
		tenant, id string
		at         time.Time
		want       float64
	}{
		{"acme", "r1", t0, 8},                  // day 10-7+7=10, month 12-11+7=8
		{"acme", "r2", t0, 1},                  // day 3, month 1
		{"acme", "r1", t0.AddDate(0, 0, 1), 8}, // next day: r1 not in that day, still in the month
		{"other", "r1", t0, 10},                // another tenant's view is unaffected
	} {
		if got, limited := l.RemainingFor(tc.tenant, tc.id, tc.at); !limited || !near(got, tc.want) {
			t.Errorf("RemainingFor(%s, %s, %v) = %v, %v; want %v", tc.tenant, tc.id, tc.at, got, limited, tc.want)
		}
	}
	if _, limited := l.RemainingFor("free", "x", t0); limited {
		t.Error("a tenant without a budget is limited")
	}
}

func TestLedgerRestoreWithAMonthRecordOlderThanItsDay(t *testing.T) {
	l, err := NewLedger(LedgerConfig{ReplicaID: "a", Limits: limits(map[string]Budget{"acme": {DailyUSD: 100, MonthlyUSD: 1000}})})
	if err != nil {
		t.Fatal(err)
	}
	l.Apply(schemas.SpendState{TenantID: "acme", Period: Day(t0), ReplicaID: "a", ReservedUSD: 2,
		Reservations: []schemas.SpendReservation{{RequestID: "r1", USD: 2, TS: t0.UnixMilli()}}})
	l.Apply(schemas.SpendState{TenantID: "acme", Period: Month(t0), ReplicaID: "a", SpentUSD: 3}) // no r1 yet
	l.MarkLive()
	if day, month := l.Used("acme", t0); !near(day, 2) || !near(month, 5) {
		t.Fatalf("used %v/%v, want 2/5", day, month)
	}
	l.SettleReserved("r1", 1, t0)
	if day, month := l.Used("acme", t0); !near(day, 1) || !near(month, 4) {
		t.Fatalf("after settling: used %v/%v, want 1/4", day, month)
	}
}
