package router

import (
	"errors"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/schemas"
)

// Budgets: the spend ledger.
//
// A Ledger counts, per tenant and budget period (UTC day, UTC calendar month), what requests
// routed by this replica have reserved (their estimated cost, until their response arrives)
// and spent (the actual cost from their responses). Every router replica keeps one Ledger and
// publishes its own totals to the compacted topic llm.spend, one record per
// <tenant>|<period>|<replica_id>, each holding that replica's cumulative totals; every replica
// reads all those records back (Apply) and a tenant's use of a period is the sum over replicas.
// A replica is the only writer of its own records, so the sum never counts a request twice,
// and a restarted replica with the same id takes its totals and open reservations back from
// the topic before it routes (Apply before MarkLive).
//
// Reservations that are never settled expire after the TTL and are then counted as spent at
// their estimate: a response that never came (or is still queued behind a long backlog) is
// better counted than forgotten, since a budget is a cap. A settlement that arrives later
// still replaces the estimate by the actual cost, as long as the request is remembered (one
// TTL after it expired). Expiry therefore never changes a tenant's total, only its split.
//
// This file is pure: the Kafka side lives in consumers/roles (SpendSync).

// DefaultReservationTTL is how long a reservation waits for its settlement before it counts
// as spent at its estimate.
const DefaultReservationTTL = 10 * time.Minute

// MaxListedReservations caps the open reservations one llm.spend record lists (about 45 bytes
// each, so a record stays far below Kafka's default 1 MB message limit).
const MaxListedReservations = 10_000

// DefaultFlushAfter is how many changes make Kick signal before the flush interval is up.
const DefaultFlushAfter = 64

// LedgerConfig configures NewLedger.
type LedgerConfig struct {
	// ReplicaID names this router replica in llm.spend keys. It must be unique among live
	// replicas and stable across restarts of one replica for its state to be taken back.
	// Required; must not contain '|'.
	ReplicaID string
	// Limits returns a tenant's budget; false (or a zero Budget) means no budget: nothing is
	// reserved for that tenant and Remaining reports it unlimited. Required.
	Limits func(tenant string) (Budget, bool)
	// ReservationTTL is how long a reservation waits for its settlement. Default
	// DefaultReservationTTL (10 min).
	ReservationTTL time.Duration
	// FlushAfter is how many changes (reservations and settlements) since the last
	// TakePending make Kick signal, so a burst is written before the flush interval is up:
	// it bounds what one replica admits unseen by the others. Default DefaultFlushAfter (64).
	FlushAfter int
}

// Totals are one replica's spend in one period.
type Totals struct {
	ReservedUSD float64
	SpentUSD    float64
}

// Used is what the totals count against a budget.
func (t Totals) Used() float64 { return t.ReservedUSD + t.SpentUSD }

type periodKey struct{ tenant, period string }

// ownPeriod is this replica's totals of one tenant and period and the reservations in them.
type ownPeriod struct {
	Totals
	res map[string]struct{}
}

type reservation struct {
	tenant     string
	usd        float64
	at         time.Time
	day, month string
}

// done remembers a request whose reservation ended, so that a repeated settlement is a no-op
// and a late one corrects an expired estimate.
type done struct {
	r       reservation
	expired bool // counted at its estimate, no settlement seen yet
	at      time.Time
}

// Ledger is the spend ledger of one router replica. It implements BudgetView. It is safe for
// concurrent use.
type Ledger struct {
	replica string
	limits  func(string) (Budget, bool)
	ttl     time.Duration

	flushAfter int
	kick       chan struct{}

	mu        sync.Mutex
	changes   int // since the last TakePending
	pday      int64
	day       string // Day and Month of the UTC day pday
	month     string
	live      bool // restore finished: records of our own replica id on the topic are echoes
	own       map[periodKey]*ownPeriod
	res       map[string]*reservation // open reservations by request id
	done      map[string]*done
	remote    map[periodKey]map[string]Totals // other replicas' totals, by replica id
	dirty     map[periodKey]struct{}
	tombs     map[periodKey]struct{} // own records of past periods to delete from the topic
	restoring map[periodKey]schemas.SpendState
}

// NewLedger validates cfg and returns an empty Ledger.
func NewLedger(cfg LedgerConfig) (*Ledger, error) {
	var errs []error
	if cfg.ReplicaID == "" {
		errs = append(errs, errors.New("router: ledger: ReplicaID is required"))
	}
	if strings.Contains(cfg.ReplicaID, "|") {
		errs = append(errs, errors.New("router: ledger: ReplicaID must not contain '|'"))
	}
	if cfg.Limits == nil {
		errs = append(errs, errors.New("router: ledger: Limits is required"))
	}
	if cfg.ReservationTTL < 0 {
		errs = append(errs, errors.New("router: ledger: ReservationTTL is negative"))
	}
	if cfg.FlushAfter < 0 {
		errs = append(errs, errors.New("router: ledger: FlushAfter is negative"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.ReservationTTL == 0 {
		cfg.ReservationTTL = DefaultReservationTTL
	}
	if cfg.FlushAfter == 0 {
		cfg.FlushAfter = DefaultFlushAfter
	}
	return &Ledger{
		replica: cfg.ReplicaID, limits: cfg.Limits, ttl: cfg.ReservationTTL,
		flushAfter: cfg.FlushAfter, kick: make(chan struct{}, 1),
		own: map[periodKey]*ownPeriod{}, res: map[string]*reservation{}, done: map[string]*done{},
		remote: map[periodKey]map[string]Totals{}, dirty: map[periodKey]struct{}{},
		tombs: map[periodKey]struct{}{}, restoring: map[periodKey]schemas.SpendState{},
	}, nil
}

// Kick signals (at most one pending signal) when FlushAfter changes wait to be written.
func (l *Ledger) Kick() <-chan struct{} { return l.kick }

// changed counts one change; the caller holds mu.
func (l *Ledger) changed() {
	l.changes++
	if l.changes >= l.flushAfter {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// ReplicaID is the replica this ledger writes for.
func (l *Ledger) ReplicaID() string { return l.replica }

// Day and Month name the UTC budget periods that contain t.
func Day(t time.Time) string   { return t.UTC().Format("2006-01-02") }
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// budget returns the tenant's budget when it caps anything.
func (l *Ledger) budget(tenant string) (Budget, bool) {
	b, ok := l.limits(tenant)
	if !ok || (b.DailyUSD <= 0 && b.MonthlyUSD <= 0) {
		return Budget{}, false
	}
	return b, true
}

// Remaining implements BudgetView: the least of the daily and monthly budgets left at now,
// over every replica's reservations and spend, never below zero.
func (l *Ledger) Remaining(tenant string, now time.Time) (float64, bool) {
	b, ok := l.budget(tenant)
	if !ok {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remainingLocked(tenant, b, now, nil), true
}

// RemainingFor implements RequestBudgetView: Remaining as the request sees it, its own
// reservation (held from an earlier delivery of the same request) not counted against it, so
// a re-delivered request is not degraded or refused by itself.
func (l *Ledger) RemainingFor(tenant, requestID string, now time.Time) (float64, bool) {
	b, ok := l.budget(tenant)
	if !ok {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remainingLocked(tenant, b, now, l.res[requestID]), true
}

// remainingLocked is what the tenant may still spend at now; own, when not nil, is a
// reservation given back (one the asking request holds).
func (l *Ledger) remainingLocked(tenant string, b Budget, now time.Time, own *reservation) float64 {
	day, month := l.periodsLocked(now)
	var backDay, backMonth float64
	if own != nil && own.tenant == tenant {
		if own.day == day {
			backDay = own.usd
		}
		if own.month == month {
			backMonth = own.usd
		}
	}
	rem := math.Inf(1)
	if b.DailyUSD > 0 {
		rem = b.DailyUSD - l.usedLocked(periodKey{tenant, day}) + backDay
	}
	if b.MonthlyUSD > 0 {
		rem = min(rem, b.MonthlyUSD-l.usedLocked(periodKey{tenant, month})+backMonth)
	}
	return max(rem, 0)
}

// periodsLocked returns Day(now) and Month(now), formatted once per UTC day rather than per
// call (Decide asks for every request).
func (l *Ledger) periodsLocked(now time.Time) (day, month string) {
	const secondsPerDay = 86400
	u := now.Unix()
	d := u / secondsPerDay
	if u < 0 && u%secondsPerDay != 0 {
		d--
	}
	if d != l.pday || l.day == "" {
		l.pday, l.day, l.month = d, Day(now), Month(now)
	}
	return l.day, l.month
}

// Used returns what the tenant has used (reserved plus spent, all replicas) in the day and
// the month of now.
func (l *Ledger) Used(tenant string, now time.Time) (day, month float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usedLocked(periodKey{tenant, Day(now)}), l.usedLocked(periodKey{tenant, Month(now)})
}

func (l *Ledger) usedLocked(k periodKey) float64 {
	var sum float64
	if p := l.own[k]; p != nil {
		sum += p.Used()
	}
	for _, t := range l.remote[k] {
		sum += t.Used()
	}
	return sum
}

// Reserve counts usd as reserved for the request in the periods of now, whatever the budget
// left. It does nothing for a tenant without a budget, or for a request already reserved or
// settled (a re-delivered request reserves once). It reports whether the request holds a
// reservation afterwards.
func (l *Ledger) Reserve(tenant, requestID string, usd float64, now time.Time) bool {
	if _, ok := l.budget(tenant); !ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reserveLocked(tenant, requestID, usd, now)
}

// TryReserve reserves usd for the request only if it fits the tenant's remaining budget, the
// check and the reservation made atomically, so concurrent requests on one replica can never
// reserve together more than the budget this replica sees. A tenant without a budget, and a
// request that already holds its reservation, are admitted (true) without a new reservation.
func (l *Ledger) TryReserve(tenant, requestID string, usd float64, now time.Time) bool {
	b, ok := l.budget(tenant)
	if !ok {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, held := l.res[requestID]; held {
		return true
	}
	if _, seen := l.done[requestID]; seen {
		return true
	}
	if usd > l.remainingLocked(tenant, b, now, nil) {
		return false
	}
	return l.reserveLocked(tenant, requestID, usd, now)
}

func (l *Ledger) reserveLocked(tenant, requestID string, usd float64, now time.Time) bool {
	if _, held := l.res[requestID]; held {
		return true
	}
	if _, seen := l.done[requestID]; seen {
		return false
	}
	day, month := l.periodsLocked(now)
	r := &reservation{tenant: tenant, usd: max(usd, 0), at: now, day: day, month: month}
	l.res[requestID] = r
	for _, k := range r.keys() {
		p := l.period(k)
		p.ReservedUSD += r.usd
		p.res[requestID] = struct{}{}
		l.dirty[k] = struct{}{}
	}
	l.changed()
	return true
}

func (r *reservation) keys() [2]periodKey {
	return [2]periodKey{{r.tenant, r.day}, {r.tenant, r.month}}
}

func (l *Ledger) period(k periodKey) *ownPeriod {
	p := l.own[k]
	if p == nil {
		p = &ownPeriod{res: map[string]struct{}{}}
		l.own[k] = p
		delete(l.tombs, k)
	}
	return p
}

// Settle records the actual cost of a request. With a reservation, the actual cost replaces
// the estimate in the periods the request was reserved in (the day it was routed, even if it
// ends after midnight). Without one, actualUSD is added to the spend of the periods of at.
// Settling a request again is a no-op; settling one whose reservation expired replaces the
// estimate it was counted at.
func (l *Ledger) Settle(tenant, requestID string, actualUSD float64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.settleKnownLocked(requestID, actualUSD, at) {
		return
	}
	r := reservation{tenant: tenant, at: at, day: Day(at), month: Month(at)}
	for _, k := range r.keys() {
		l.period(k).SpentUSD += actualUSD
		l.dirty[k] = struct{}{}
	}
	l.done[requestID] = &done{r: r, at: at}
	l.changed()
}

// SettleReserved is Settle for requests this replica reserved: a request without a
// reservation (or memory of one) here is ignored and false returned. With several replicas
// reading every response, each response is then counted once, by the replica that reserved it.
func (l *Ledger) SettleReserved(requestID string, actualUSD float64, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.settleKnownLocked(requestID, actualUSD, at)
}

// settleKnownLocked settles a request this ledger reserved or remembers; false if it knows
// nothing of it.
func (l *Ledger) settleKnownLocked(requestID string, actualUSD float64, at time.Time) bool {
	if r, ok := l.res[requestID]; ok {
		delete(l.res, requestID)
		for _, k := range r.keys() {
			p := l.period(k)
			p.ReservedUSD = clean(p.ReservedUSD - r.usd)
			p.SpentUSD += actualUSD
			delete(p.res, requestID)
			l.dirty[k] = struct{}{}
		}
		l.done[requestID] = &done{r: *r, at: at}
		l.changed()
		return true
	}
	d, ok := l.done[requestID]
	if !ok {
		return false
	}
	if d.expired {
		d.expired = false
		for _, k := range d.r.keys() {
			p := l.period(k)
			p.SpentUSD = clean(p.SpentUSD - d.r.usd + actualUSD)
			l.dirty[k] = struct{}{}
		}
		l.changed()
	}
	return true
}

// Holds reports whether a settlement of the request would change anything here: it holds an
// open reservation, or one that expired and was not settled. Readers of every response use it
// to skip decoding the others'.
func (l *Ledger) Holds(requestID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.res[requestID]; ok {
		return true
	}
	d, ok := l.done[requestID]
	return ok && d.expired
}

// Expire counts the reservations older than the TTL as spent at their estimate, and forgets
// requests that ended more than a TTL ago. It returns how many reservations expired.
func (l *Ledger) Expire(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id, r := range l.res {
		if now.Sub(r.at) < l.ttl {
			continue
		}
		delete(l.res, id)
		for _, k := range r.keys() {
			p := l.period(k)
			p.ReservedUSD = clean(p.ReservedUSD - r.usd)
			p.SpentUSD += r.usd
			delete(p.res, id)
			l.dirty[k] = struct{}{}
		}
		l.done[id] = &done{r: *r, expired: true, at: now}
		n++
	}
	for id, d := range l.done {
		if now.Sub(d.at) >= l.ttl {
			delete(l.done, id)
		}
	}
	return n
}

// Open is the number of open reservations.
func (l *Ledger) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.res)
}

// clean rounds the residue of float subtraction to zero.
func clean(f float64) float64 {
	if math.Abs(f) < 1e-12 {
		return 0
	}
	return f
}

// current reports whether period is still worth keeping at now: today, yesterday (a request
// routed before midnight settles after it), this month or last month.
func current(period string, now time.Time) bool {
	now = now.UTC()
	switch period {
	case Day(now), Day(now.AddDate(0, 0, -1)), Month(now), Month(now.AddDate(0, 0, -now.Day())):
		return true
	}
	return false
}

// SpendKey is the llm.spend record key of a tenant's period and a replica.
func SpendKey(tenant, period, replica string) string { return tenant + "|" + period + "|" + replica }

// ParseSpendKey splits a SpendKey (tenant ids may hold '|'; periods and replica ids never do).
func ParseSpendKey(key string) (tenant, period, replica string, ok bool) {
	i := strings.LastIndexByte(key, '|')
	if i < 0 {
		return "", "", "", false
	}
	j := strings.LastIndexByte(key[:i], '|')
	if j < 0 {
		return "", "", "", false
	}
	return key[:j], key[j+1 : i], key[i+1:], true
}

// Pending is what a replica must write to llm.spend: the current state of its changed
// periods, and the keys of its periods that are over (tombstones).
type Pending struct {
	States     []schemas.SpendState
	Tombstones []string
}

// Empty reports whether there is nothing to write.
func (p Pending) Empty() bool { return len(p.States) == 0 && len(p.Tombstones) == 0 }

// TakePending returns this replica's changed periods (and clears their change marks) and
// drops the periods that are over, returning their keys to delete. If writing them fails,
// hand them back with Requeue.
func (l *Ledger) TakePending(now time.Time) Pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, p := range l.own {
		if len(p.res) == 0 && !current(k.period, now) {
			delete(l.own, k)
			delete(l.dirty, k)
			l.tombs[k] = struct{}{}
		}
	}
	for k := range l.remote {
		if !current(k.period, now) {
			delete(l.remote, k)
		}
	}
	var out Pending
	for k := range l.dirty {
		p := l.own[k]
		st := schemas.SpendState{TenantID: k.tenant, Period: k.period, ReplicaID: l.replica,
			ReservedUSD: p.ReservedUSD, SpentUSD: p.SpentUSD, UpdatedAt: now.UnixMilli(),
			Reservations: []schemas.SpendReservation{}, ResponseOffsets: map[string]int64{}}
		// The open reservations travel in the day records only (each is in one day and one
		// month), oldest first, at most MaxListedReservations: what a restart cannot match
		// again is counted at its estimate (see MarkLive).
		if len(k.period) == len("2006-01-02") {
			st.Reservations = make([]schemas.SpendReservation, 0, min(len(p.res), MaxListedReservations))
			for id := range p.res {
				r := l.res[id]
				st.Reservations = append(st.Reservations, schemas.SpendReservation{RequestID: id, USD: r.usd, TS: r.at.UnixMilli()})
			}
			sort.Slice(st.Reservations, func(i, j int) bool {
				a, b := st.Reservations[i], st.Reservations[j]
				return a.TS < b.TS || a.TS == b.TS && a.RequestID < b.RequestID
			})
			st.Reservations = st.Reservations[:min(len(st.Reservations), MaxListedReservations)]
		}
		out.States = append(out.States, st)
	}
	clear(l.dirty)
	l.changes = 0
	for k := range l.tombs {
		out.Tombstones = append(out.Tombstones, SpendKey(k.tenant, k.period, l.replica))
	}
	clear(l.tombs)
	sort.Slice(out.States, func(i, j int) bool {
		a, b := out.States[i], out.States[j]
		return a.TenantID < b.TenantID || a.TenantID == b.TenantID && a.Period < b.Period
	})
	sort.Strings(out.Tombstones)
	return out
}

// Requeue marks the periods of p as changed again after writing them failed.
func (l *Ledger) Requeue(p Pending) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range p.States {
		k := periodKey{st.TenantID, st.Period}
		if _, ok := l.own[k]; ok {
			l.dirty[k] = struct{}{}
		}
	}
	for _, key := range p.Tombstones {
		if t, per, _, ok := ParseSpendKey(key); ok {
			if _, back := l.own[periodKey{t, per}]; !back {
				l.tombs[periodKey{t, per}] = struct{}{}
			}
		}
	}
}

// Apply takes a record read from llm.spend. Other replicas' totals replace what was known of
// them. Before MarkLive, this replica's own records are its state from before a restart and
// are taken back; after it, they are echoes of what it wrote and are ignored. Checkpoint
// records are not totals and are ignored here.
func (l *Ledger) Apply(st schemas.SpendState) {
	if st.Period == schemas.SpendCheckpoint || st.TenantID == "" {
		return
	}
	k := periodKey{st.TenantID, st.Period}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.ReplicaID == l.replica {
		if !l.live {
			l.restoring[k] = st
		}
		return
	}
	m := l.remote[k]
	if m == nil {
		m = map[string]Totals{}
		l.remote[k] = m
	}
	m[st.ReplicaID] = Totals{ReservedUSD: st.ReservedUSD, SpentUSD: st.SpentUSD}
}

// ApplyTombstone takes a deletion (a record without value) read from llm.spend.
func (l *Ledger) ApplyTombstone(key string) {
	tenant, period, replica, ok := ParseSpendKey(key)
	if !ok {
		return
	}
	k := periodKey{tenant, period}
	l.mu.Lock()
	defer l.mu.Unlock()
	if replica == l.replica {
		if !l.live {
			delete(l.restoring, k)
		}
		return
	}
	if m := l.remote[k]; m != nil {
		delete(m, replica)
		if len(m) == 0 {
			delete(l.remote, k)
		}
	}
}

// MarkLive ends the restore: the own records read so far become this replica's state (its
// totals, and its open reservations, which its settlement reader will match again). Call it
// once the spend topic has been read up to its end as of start, before routing.
func (l *Ledger) MarkLive() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live {
		return
	}
	l.live = true
	for k, st := range l.restoring {
		p := l.period(k)
		p.ReservedUSD, p.SpentUSD = st.ReservedUSD, st.SpentUSD
	}
	for k, st := range l.restoring {
		for _, sr := range st.Reservations {
			if _, dup := l.res[sr.RequestID]; dup {
				continue
			}
			at := time.UnixMilli(sr.TS).UTC()
			r := &reservation{tenant: k.tenant, usd: sr.USD, at: at, day: Day(at), month: Month(at)}
			l.res[sr.RequestID] = r
			for _, rk := range r.keys() {
				l.period(rk).res[sr.RequestID] = struct{}{}
			}
		}
	}
	// What a period counts as reserved beyond the reservations taken back (the list was capped,
	// or the month's record is newer than a day's) can no longer be settled: it is counted as
	// spent at its estimate, as an expired reservation would be. The total does not change.
	for k, p := range l.own {
		var listed float64
		for id := range p.res {
			listed += l.res[id].usd
		}
		switch orphan := clean(p.ReservedUSD - listed); {
		case orphan > 0:
			p.ReservedUSD = listed
			p.SpentUSD += orphan
			l.dirty[k] = struct{}{}
		case orphan < 0:
			// The period's record is older than a day record listing more (a write cut off
			// between the two): the listed reservations are open, count them.
			p.ReservedUSD = listed
			l.dirty[k] = struct{}{}
		}
	}
	clear(l.restoring)
}

// Live reports whether MarkLive was called.
func (l *Ledger) Live() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live
}
