// Package decision is sovgate's decision pipeline:
//
//	target -> identify app -> resolve -> guard -> classify -> evaluate policy -> apply mode -> record
//
// It is plain Go with no Caddy import, so the same code serves the proxy,
// `sovgate check`, the tests and the benchmarks. The Caddy modules are thin
// adapters that parse the request, call DecideRequest (admission, target,
// identity and port checks, then Decide for the destination), and dial
// Outcome.Addrs.
package decision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policy"
)

// Mode says what the gateway does with a violation.
type Mode string

const (
	// Monitor forwards a violation and records it: the mode to roll out
	// in, so the gateway can never be the outage.
	Monitor Mode = "monitor"
	// Enforce blocks a violation, and fails closed when it cannot decide.
	Enforce Mode = "enforce"
)

// ParseMode accepts "monitor" and "enforce"; "" means monitor.
func ParseMode(s string) (Mode, error) {
	switch Mode(strings.ToLower(strings.TrimSpace(s))) {
	case "", Monitor:
		return Monitor, nil
	case Enforce:
		return Enforce, nil
	}
	return "", fmt.Errorf("unknown mode %q: use monitor or enforce", s)
}

// Caller is the application on whose behalf a request is made.
type Caller struct {
	App string
	IP  string
	// IdentifiedBy is "basic", "mtls", "cidr" or "none".
	IdentifiedBy string
	// Verified is true when the client could not have chosen the app
	// freely: a verified client certificate, a checked password, a
	// registered source network. An unchecked proxy user name is not:
	// such callers share the limits of their source address.
	Verified bool
}

// UnknownApp is the app of traffic nobody could identify.
const UnknownApp = "unknown"

// Config assembles a pipeline from parts built elsewhere (the sovereignty
// Caddy app, `sovgate check`, tests). Resolver, Guard, Classifier and
// Policy are required.
type Config struct {
	Mode       Mode
	Resolver   *geo.Resolver
	Guard      *geo.Guard
	Classifier *geo.Classifier
	Policy     *policy.Engine
	// CacheSize bounds the decision cache; 0 takes the default, a negative
	// value disables the cache (sovgate check wants a fresh evaluation).
	CacheSize int
	// Limits protect the gateway from one app's flood; zero values are
	// unlimited.
	Limits Limits
	// CacheTTL caps how long a decision is reused even when the DNS answer
	// lives longer, so time-based rules (an exception that expires) take
	// effect promptly. Default one minute.
	CacheTTL time.Duration
	// Listeners lists the sockets the gateway listens on, as the system
	// reports them (see ProcessListeners), so that none of them is ever a
	// destination; nil knows only the listeners declared with
	// AddListeners.
	Listeners func() ([]netip.AddrPort, error)
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Pipeline decides. It is safe for concurrent use.
type Pipeline struct {
	mode       Mode
	resolver   *geo.Resolver
	guard      *geo.Guard
	classifier *geo.Classifier
	policy     atomic.Pointer[policy.Engine]
	cache      *decisionCache
	cacheTTL   time.Duration
	now        func() time.Time
	admission  *admission
	self       *selfAddrs

	stats Stats
}

// Stats are running counters for the status page and the metrics.
type Stats struct {
	Decisions atomic.Int64
	Allowed   atomic.Int64
	Denied    atomic.Int64
	// Violations and Refusals split Denied by class: sovereignty
	// violations, and operational refusals (see audit.ClassOf).
	Violations  atomic.Int64
	Refusals    atomic.Int64
	Blocked     atomic.Int64
	CacheHits   atomic.Int64
	PolicyError atomic.Int64
	// OpenTunnels is maintained by the egress handler.
	OpenTunnels atomic.Int64
}

// New checks the configuration and returns a ready pipeline.
func New(cfg Config) (*Pipeline, error) {
	switch {
	case cfg.Resolver == nil:
		return nil, errors.New("decision pipeline: no resolver")
	case cfg.Guard == nil:
		return nil, errors.New("decision pipeline: no guard")
	case cfg.Classifier == nil:
		return nil, errors.New("decision pipeline: no classifier")
	case cfg.Policy == nil:
		return nil, errors.New("decision pipeline: no policy")
	}
	mode, err := ParseMode(string(cfg.Mode))
	if err != nil {
		return nil, err
	}
	p := &Pipeline{
		mode:       mode,
		resolver:   cfg.Resolver,
		guard:      cfg.Guard,
		classifier: cfg.Classifier,
		cacheTTL:   cfg.CacheTTL,
		now:        cfg.Now,
		admission:  newAdmission(cfg.Limits),
	}
	if p.cacheTTL <= 0 {
		p.cacheTTL = time.Minute
	}
	if p.now == nil {
		p.now = time.Now
	}
	// Where the process listens is a fact of the host, in real time.
	p.self = newSelfAddrs(cfg.Listeners, time.Now)
	switch {
	case cfg.CacheSize == 0:
		p.cache = newDecisionCache(defaultCacheSize)
	case cfg.CacheSize > 0:
		p.cache = newDecisionCache(cfg.CacheSize)
	}
	p.policy.Store(cfg.Policy)
	return p, nil
}

// Mode returns the pipeline's mode.
func (p *Pipeline) Mode() Mode { return p.mode }

// Policy returns the policy revision in service.
func (p *Pipeline) Policy() *policy.Engine { return p.policy.Load() }

// Classifier returns the classifier in service.
func (p *Pipeline) Classifier() *geo.Classifier { return p.classifier }

// Stats returns the running counters.
func (p *Pipeline) Stats() *Stats { return &p.stats }

// SwapPolicy puts a new policy revision in service. Requests already past
// evaluation finish on the revision they started with; the decision cache
// is flushed so no decision of the old revision is reused.
func (p *Pipeline) SwapPolicy(e *policy.Engine) {
	p.policy.Store(e)
	if p.cache != nil {
		p.cache.flush()
	}
}

// Outcome is everything known about one decision: what to do with the
// request, and the facts to record and explain.
type Outcome struct {
	// ID is the decision id (UUIDv7), shown to blocked clients and stored in
	// the audit record.
	ID    string
	Start time.Time
	// DecidedIn is how long the decision took.
	DecidedIn time.Duration

	Target Target
	Caller Caller
	Mode   Mode

	Verdict audit.Verdict
	Action  audit.Action
	// Status is the HTTP status to answer with when Action is blocked.
	Status int
	// Reasons are the reason codes, in the policy's order.
	Reasons []audit.Code
	// RetryAfter tells a refused client when to try again (429).
	RetryAfter time.Duration
	// Detail explains a code decided outside the policy (the DNS error,
	// the refused address), for the client's error body, in the client's
	// language, and the log, in English.
	Detail audit.Message

	// Addrs are the vetted addresses: the only ones the caller may dial.
	// Empty when the request is blocked. The slice is shared with the
	// resolver's cache: read it, never reorder or modify it.
	Addrs []netip.Addr
	// Destination is the classification; nil when the request was refused
	// before classification.
	Destination *geo.Destination
	// Decision is the policy's answer; nil when the policy was not asked.
	Decision *policy.Decision
	// categories points to the data categories the policy was given (see
	// Categories): a pointer, so that an outcome stays in its allocation
	// size class.
	categories *[]string
	// Input is the policy input; set when the policy was evaluated for
	// this request (not on a cache hit).
	Input          *policy.Input
	PolicyRevision string
	// Cached is true when the decision was reused from the cache.
	Cached bool
	// RefusedEarly is true for a request refused before its destination
	// was looked at (admission, target, identity, port): identical ones
	// from one source are summarised in the audit (see Journal).
	RefusedEarly bool

	// refusal marks a denial of the operational class (see Class).
	refusal bool

	// release frees the tunnel slot DecideRequest reserved.
	release func()
}

// Blocked reports whether the request must not be forwarded.
func (o *Outcome) Blocked() bool { return o.Action == audit.Blocked }

// Categories are the data categories the app registry lists for the app,
// as the policy was given them; nil when it was not asked. The slice is
// shared with the registry: read it, never modify it.
func (o *Outcome) Categories() []string {
	if o.categories == nil {
		return nil
	}
	return *o.categories
}

// Class is the class of a denial: a sovereignty violation, or an
// operational refusal (see audit.ClassOf); "" when the request is allowed.
func (o *Outcome) Class() audit.Class {
	switch {
	case o.Verdict != audit.Deny:
		return ""
	case o.refusal:
		return audit.Operational
	}
	return audit.Sovereignty
}

// Release frees the tunnel slot of an allowed CONNECT; the tunnel calls it
// when it closes. It is idempotent, and a no-op for other outcomes.
func (o *Outcome) Release() {
	if o.release != nil {
		o.release()
	}
}

// Decide runs the pipeline for one target. It never returns nil: every
// failure becomes an outcome with a reason code, so the caller has a single
// path (answer, record, forward or block).
func (p *Pipeline) Decide(ctx context.Context, t Target, c Caller) *Outcome {
	start := p.now()
	out := &Outcome{ID: newID(start), Start: start, Target: t, Caller: c, Mode: p.mode}
	p.decide(ctx, out)
	out.DecidedIn = p.now().Sub(start)
	p.count(out)
	return out
}

func (p *Pipeline) count(out *Outcome) {
	p.stats.Decisions.Add(1)
	if out.Verdict == audit.Allow {
		p.stats.Allowed.Add(1)
	} else {
		p.stats.Denied.Add(1)
		p.stats.byClass(out.Class()).Add(1)
	}
	if out.Blocked() {
		p.stats.Blocked.Add(1)
	}
	if out.Cached {
		p.stats.CacheHits.Add(1)
	}
}

// byClass is the counter of denials of class c.
func (s *Stats) byClass(c audit.Class) *atomic.Int64 {
	if c == audit.Operational {
		return &s.Refusals
	}
	return &s.Violations
}

func (o *Outcome) block(status int, code audit.Code, detail audit.Message) {
	o.Verdict = audit.Deny
	o.Action = audit.Blocked
	o.Status = status
	o.Reasons = []audit.Code{code}
	o.refusal = code.Class() == audit.Operational
	o.Detail = detail
	o.Addrs = nil
}

func (p *Pipeline) decide(ctx context.Context, out *Outcome) {
	engine := p.policy.Load()
	out.PolicyRevision = engine.Revision()
	t := out.Target

	if err := ctx.Err(); err != nil {
		// The client is gone: nothing to resolve for it.
		out.block(http.StatusBadGateway, audit.CodeDNSFailure, audit.LookupAbandoned(t.Host, err))
		return
	}
	answer, err := p.resolver.Resolve(ctx, t.Host)
	if err != nil {
		out.block(http.StatusBadGateway, audit.CodeDNSFailure, audit.LookupFailed(t.Host, err))
		return
	}
	if len(answer.Addrs) == 0 {
		out.block(http.StatusBadGateway, audit.CodeDNSFailure, audit.NoAddress(t.Host))
		return
	}
	for _, ip := range answer.Addrs {
		// The gateway's own listeners first: allow_private may cover them,
		// and no setting makes them a destination.
		if p.self.isSelf(ip, t.Port) {
			out.block(http.StatusForbidden, audit.CodeDestinationSelf, audit.SelfAddress(t.Host, ip.String(), t.Port))
			return
		}
		if category, refused := p.guard.Check(ip); refused {
			out.block(http.StatusForbidden, audit.CodeDestinationPrivate, audit.ReservedAddress(t.Host, ip.String(), category))
			return
		}
	}

	key := cacheKey{
		app:          out.Caller.App,
		identifiedBy: out.Caller.IdentifiedBy,
		method:       t.Method,
		scheme:       t.Scheme,
		host:         t.Host,
		port:         t.Port,
		addrs:        answer.Key,
		policyRev:    out.PolicyRevision,
		dataRev:      p.classifier.Revision(),
	}
	// Paths and client addresses change on almost every request; they are
	// part of the key only when the policy can read them.
	if engine.ReadsInput("request.path") {
		key.path = t.Path
	}
	if engine.ReadsInput("source.ip") {
		key.sourceIP = out.Caller.IP
	}
	if p.cache != nil {
		if hit := p.cache.get(key, out.Start); hit != nil {
			out.Cached = true
			out.apply(hit, answer)
			return
		}
	}

	dest := p.classifier.Classify(engine.Knowledge(), t.Host, answer.CNAMEs, answer.Addrs)
	in := &policy.Input{
		Request: policy.Request{
			Method: t.Method, Scheme: t.Scheme, Host: t.Host, Port: t.Port, Path: t.Path,
		},
		Source: policy.Caller{
			App: out.Caller.App, IP: out.Caller.IP, IdentifiedBy: out.Caller.IdentifiedBy,
			// The categories of the revision that evaluates: identification
			// rules change with the policy revision.
			Categories: engine.Apps().Categories(out.Caller.App),
			Profile:    engine.EffectiveProfile(out.Caller.App, out.Caller.IdentifiedBy),
		},
		Destination: dest,
		Time:        out.Start.UTC(),
	}
	out.Input = in
	decision, err := engine.Evaluate(ctx, in)
	entry := &cachedDecision{dest: &in.Destination, categories: in.Source.Categories}
	if err != nil {
		p.stats.PolicyError.Add(1)
		entry.verdict, entry.reasons = audit.Deny, []audit.Code{audit.CodePolicyError}
		entry.refusal = true
		entry.detail = audit.PolicyFailed(err)
		if p.mode == Enforce {
			entry.action, entry.status = audit.Blocked, http.StatusServiceUnavailable
		} else {
			entry.action = audit.Forwarded
		}
		// A failing policy is not cached: the next request tries again.
		out.apply(entry, answer)
		return
	}
	entry.decision = decision
	entry.reasons = make([]audit.Code, len(decision.Reasons))
	for i, r := range decision.Reasons {
		entry.reasons[i] = audit.Code(r.Code)
	}
	switch {
	case decision.Allow:
		entry.verdict, entry.action = audit.Allow, audit.Forwarded
	case p.mode == Enforce:
		entry.verdict, entry.action, entry.status = audit.Deny, audit.Blocked, http.StatusForbidden
	default:
		entry.verdict, entry.action = audit.Deny, audit.Forwarded
	}
	if entry.verdict == audit.Deny {
		// Worked out once per cached decision, not per request.
		entry.refusal = audit.ClassOf(entry.reasons) == audit.Operational
	}
	if p.cache != nil {
		expires := answer.Expires
		if limit := out.Start.Add(p.cacheTTL); limit.Before(expires) {
			expires = limit
		}
		// An exception is valid through the whole UTC day of its expiry
		// date, so a decision that applied one must not be reused after the
		// day it was made: past midnight the exception may have expired,
		// and an expired exception is ignored, not honoured for a minute.
		if appliesException(decision) {
			if midnight := nextUTCMidnight(out.Start); midnight.Before(expires) {
				expires = midnight
			}
		}
		entry.expires = expires
		p.cache.put(key, entry)
	}
	out.apply(entry, answer)
}

// appliesException reports whether the decision names an exception
// (a reason with an exception id).
func appliesException(d *policy.Decision) bool {
	for _, r := range d.Reasons {
		if r.Exception != "" {
			return true
		}
	}
	return false
}

// nextUTCMidnight is the first instant of the UTC day after t.
func nextUTCMidnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

func (o *Outcome) apply(e *cachedDecision, answer *geo.Answer) {
	o.Destination = e.dest
	o.Decision = e.decision
	o.categories = &e.categories
	o.Verdict = e.verdict
	o.Action = e.action
	o.Status = e.status
	o.Reasons = e.reasons
	o.refusal = e.refusal
	o.Detail = e.detail
	if o.Action == audit.Forwarded {
		o.Addrs = answer.Addrs
	}
}

// decisionLine renders an outcome as the fields of the one decision line
// (logger sovgate.decision), with the field names of the audit record. It
// is written inline (zap.Inline): the fields go straight to the encoder,
// without a slice of zap.Field built, boxed and walked for every request.
type decisionLine struct {
	o    *Outcome
	node string
}

func (l decisionLine) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	o := l.o
	enc.AddString("id", o.ID)
	enc.AddTime("time", o.Start)
	enc.AddString("node", l.node)
	enc.AddString("app", o.Caller.App)
	enc.AddString("source_ip", o.Caller.IP)
	enc.AddString("method", o.Target.Method)
	enc.AddString("scheme", o.Target.Scheme)
	enc.AddString("host", o.Target.Host)
	enc.AddUint16("port", o.Target.Port)
	if err := enc.AddArray("addresses", logAddresses{o.Destination}); err != nil {
		return err
	}
	enc.AddString("verdict", string(o.Verdict))
	enc.AddString("action", string(o.Action))
	enc.AddString("mode", string(o.Mode))
	if err := enc.AddArray("reasons", logCodes{&o.Reasons}); err != nil {
		return err
	}
	enc.AddString("policy_revision", o.PolicyRevision)
	enc.AddInt64("duration_us", o.DecidedIn.Microseconds())
	if ids := o.Exceptions(); ids != nil {
		if err := enc.AddArray("exceptions", logStrings{&ids}); err != nil {
			return err
		}
	}
	if o.Decision != nil && o.Decision.Profile != "" {
		enc.AddString("profile", o.Decision.Profile)
	}
	if o.categories != nil && len(*o.categories) > 0 {
		if err := enc.AddArray("categories", logStrings{o.categories}); err != nil {
			return err
		}
	}
	if !o.Detail.IsZero() {
		enc.AddString("detail", o.Detail.String())
	}
	if o.Cached {
		enc.AddBool("cached", true)
	}
	return nil
}
