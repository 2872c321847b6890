// Package report turns the audit log into what auditors read: listings
// in table, JSON or CSV, and summaries of a period in Markdown, CSV or
// HTML, in English or in French.
//
// A summary keeps two kinds of denials apart, because they mean different
// things to a DPO: sovereignty violations (data going where the policy
// says it must not: outside the EU/EEA, to an operator under a foreign
// law) and operational refusals (a wrong password, a malformed request, a
// rate limit, a private address: nothing was judged at fault about the
// destination). A failed login is not a transfer outside the EU.
package report

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/internal/lang"
)

// Report summarises the decisions of a period: what the auditors' monthly
// report is made of.
type Report struct {
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	GeneratedAt time.Time `json:"generated_at"`
	Store       string    `json:"store"`

	Totals Totals `json:"totals"`
	// Sovereignty violations broken down four ways; a record whose
	// addresses are in two countries counts once for each.
	ViolationsByApp      []Count `json:"violations_by_app"`
	ViolationsByCountry  []Count `json:"violations_by_country"`
	ViolationsByProvider []Count `json:"violations_by_provider"`
	ViolationsByReason   []Count `json:"violations_by_reason"`
	// Operational refusals, by reason and by app.
	RefusalsByReason []Count `json:"refusals_by_reason"`
	RefusalsByApp    []Count `json:"refusals_by_app"`
	// TopDestinations are the hosts with the most violations, then the
	// most decisions.
	TopDestinations []Destination `json:"top_destinations"`
	// Transfers are decisions by app x country x provider x verdict (and
	// class, for a denial).
	Transfers []Transfer `json:"transfers"`
	// Days are the decisions of each day (UTC) of the period.
	Days []Day `json:"days"`
}

// Totals are the period's counts.
type Totals struct {
	Decisions int64 `json:"decisions"`
	Allowed   int64 `json:"allowed"`
	// Violations are denials of the sovereignty class: the ones monitor
	// mode forwarded plus the blocked ones.
	Violations          int64 `json:"violations"`
	ViolationsForwarded int64 `json:"violations_forwarded"`
	ViolationsBlocked   int64 `json:"violations_blocked"`
	// Refusals are denials of the operational class.
	Refusals          int64 `json:"refusals"`
	RefusalsForwarded int64 `json:"refusals_forwarded"`
	RefusalsBlocked   int64 `json:"refusals_blocked"`
	// Blocked are every blocked decision, violation or refusal.
	Blocked      int64 `json:"blocked"`
	BytesUp      int64 `json:"bytes_up"`
	BytesDown    int64 `json:"bytes_down"`
	Apps         int   `json:"apps"`
	Destinations int   `json:"destinations"`
}

// Count is one line of a breakdown of violations or refusals.
type Count struct {
	Key       string `json:"key"`
	Count     int64  `json:"count"`
	Blocked   int64  `json:"blocked"`
	Forwarded int64  `json:"forwarded"`
}

// Destination is one line of the top destinations.
type Destination struct {
	Host       string   `json:"host"`
	Decisions  int64    `json:"decisions"`
	Violations int64    `json:"violations"`
	Refusals   int64    `json:"refusals"`
	Countries  []string `json:"countries"`
	Providers  []string `json:"providers"`
	Apps       []string `json:"apps"`
	BytesUp    int64    `json:"bytes_up"`
}

// Transfer is one line of the app x country x provider x verdict table.
type Transfer struct {
	App      string        `json:"app"`
	Country  string        `json:"country"`
	Provider string        `json:"provider"`
	Verdict  audit.Verdict `json:"verdict"`
	// Class is the class of a denial; empty when allowed.
	Class     audit.Class `json:"class,omitempty"`
	Decisions int64       `json:"decisions"`
	Forwarded int64       `json:"forwarded"`
	BytesUp   int64       `json:"bytes_up"`
	BytesDown int64       `json:"bytes_down"`
}

// Day is one day of the period.
type Day struct {
	Date                string `json:"date"`
	Allowed             int64  `json:"allowed"`
	ViolationsForwarded int64  `json:"violations_forwarded"`
	ViolationsBlocked   int64  `json:"violations_blocked"`
	Refusals            int64  `json:"refusals"`
}

// Options chooses the period and the length of the top lists.
type Options struct {
	Since, Until time.Time
	// Top bounds the breakdowns and the top destinations; default 10.
	Top int
	Now time.Time
}

// Build reads the decisions of the period and summarises them.
func Build(ctx context.Context, s store.Store, opts Options) (*Report, error) {
	if opts.Top <= 0 {
		opts.Top = 10
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	r := &Report{Since: opts.Since.UTC(), Until: opts.Until.UTC(), GeneratedAt: opts.Now.UTC(), Store: s.Describe()}
	t := newTally()
	err := s.Scan(ctx, store.Filter{Since: opts.Since, Until: opts.Until}, func(rec *audit.Stored) error {
		t.add(&r.Totals, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.fill(r, opts.Top)
	return r, nil
}

// transferKey is a line of the transfers table.
type transferKey struct {
	app, country, provider string
	verdict                audit.Verdict
	class                  audit.Class
}

// tally accumulates the breakdowns of a report, one record at a time (a
// month of decisions is never held in memory).
type tally struct {
	byApp, byCountry, byProvider, byReason map[string]*Count
	refusalsByReason, refusalsByApp        map[string]*Count
	dests                                  map[string]*Destination
	transfers                              map[transferKey]*Transfer
	days                                   map[string]*Day
	apps                                   map[string]bool
}

func newTally() *tally {
	return &tally{
		byApp: map[string]*Count{}, byCountry: map[string]*Count{}, byProvider: map[string]*Count{}, byReason: map[string]*Count{},
		refusalsByReason: map[string]*Count{}, refusalsByApp: map[string]*Count{},
		dests: map[string]*Destination{}, transfers: map[transferKey]*Transfer{}, days: map[string]*Day{}, apps: map[string]bool{},
	}
}

func (t *tally) add(tot *Totals, rec *audit.Stored) {
	// A summary of identical refusals counts as many decisions as it
	// stands for.
	n := rec.Weight()
	tot.Decisions += n
	tot.BytesUp += rec.BytesUp
	tot.BytesDown += rec.BytesDown
	t.apps[rec.App] = true
	day := rec.Time.UTC().Format(time.DateOnly)
	d := t.days[day]
	if d == nil {
		d = &Day{Date: day}
		t.days[day] = d
	}
	blocked := rec.Action == audit.Blocked
	if blocked {
		tot.Blocked += n
	}
	class := rec.Class()
	switch {
	case class == "":
		tot.Allowed += n
		d.Allowed += n
	case class == audit.Operational:
		tot.Refusals += n
		d.Refusals += n
		if blocked {
			tot.RefusalsBlocked += n
		} else {
			tot.RefusalsForwarded += n
		}
	case blocked:
		tot.Violations += n
		tot.ViolationsBlocked += n
		d.ViolationsBlocked += n
	default:
		tot.Violations += n
		tot.ViolationsForwarded += n
		d.ViolationsForwarded += n
	}
	countries, providers := Countries(&rec.Record), Providers(&rec.Record)
	switch class {
	case audit.Sovereignty:
		t.addViolation(rec, countries, providers)
	case audit.Operational:
		count(t.refusalsByApp, rec.App, rec)
		for _, code := range rec.Reasons {
			count(t.refusalsByReason, string(code), rec)
		}
	}
	t.addDestination(rec, class, countries, providers)
	t.addTransfers(rec, class)
}

// addViolation counts a violation by app, country, provider and reason.
func (t *tally) addViolation(rec *audit.Stored, countries, providers []string) {
	count(t.byApp, rec.App, rec)
	for _, c := range countries {
		count(t.byCountry, c, rec)
	}
	if len(providers) == 0 {
		count(t.byProvider, noProvider, rec)
	}
	for _, p := range providers {
		count(t.byProvider, p, rec)
	}
	for _, code := range rec.Reasons {
		count(t.byReason, string(code), rec)
	}
}

// noProvider is the key of violations whose addresses no provider is
// known for.
const noProvider = "(none known)"

func count(m map[string]*Count, key string, rec *audit.Stored) {
	c := m[key]
	if c == nil {
		c = &Count{Key: key}
		m[key] = c
	}
	n := rec.Weight()
	c.Count += n
	if rec.Action == audit.Blocked {
		c.Blocked += n
	} else {
		c.Forwarded += n
	}
}

func (t *tally) addDestination(rec *audit.Stored, class audit.Class, countries, providers []string) {
	dest := t.dests[rec.Host]
	if dest == nil {
		dest = &Destination{Host: rec.Host}
		t.dests[rec.Host] = dest
	}
	dest.Decisions += rec.Weight()
	dest.BytesUp += rec.BytesUp
	switch class {
	case audit.Sovereignty:
		dest.Violations += rec.Weight()
	case audit.Operational:
		dest.Refusals += rec.Weight()
	}
	for _, c := range countries {
		dest.Countries = appendUnique(dest.Countries, c)
	}
	for _, p := range providers {
		dest.Providers = appendUnique(dest.Providers, p)
	}
	if len(dest.Apps) < 20 {
		dest.Apps = appendUnique(dest.Apps, rec.App)
	}
}

// addTransfers adds one transfer line per distinct (country, provider) of
// the record.
func (t *tally) addTransfers(rec *audit.Stored, class audit.Class) {
	pairs := map[[2]string]bool{}
	for _, a := range rec.Addresses {
		c := a.Country
		if c == "" {
			c = unknownCountry
		}
		pairs[[2]string{c, a.Provider}] = true
	}
	if len(pairs) == 0 {
		pairs[[2]string{unknownCountry, ""}] = true
	}
	for p := range pairs {
		k := transferKey{app: rec.App, country: p[0], provider: p[1], verdict: rec.Verdict, class: class}
		tr := t.transfers[k]
		if tr == nil {
			tr = &Transfer{App: rec.App, Country: p[0], Provider: p[1], Verdict: rec.Verdict, Class: class}
			t.transfers[k] = tr
		}
		tr.Decisions += rec.Weight()
		if rec.Action == audit.Forwarded {
			tr.Forwarded += rec.Weight()
		}
		tr.BytesUp += rec.BytesUp
		tr.BytesDown += rec.BytesDown
	}
}

// unknownCountry stands for an address whose country is unknown.
const unknownCountry = "??"

// fill puts the tally, sorted and cut to the top lists, into r.
func (t *tally) fill(r *Report, top int) {
	r.Totals.Apps, r.Totals.Destinations = len(t.apps), len(t.dests)
	r.ViolationsByApp = topCounts(t.byApp, top)
	r.ViolationsByCountry = topCounts(t.byCountry, top)
	r.ViolationsByProvider = topCounts(t.byProvider, top)
	r.ViolationsByReason = topCounts(t.byReason, top)
	r.RefusalsByReason = topCounts(t.refusalsByReason, top)
	r.RefusalsByApp = topCounts(t.refusalsByApp, top)
	for _, d := range t.dests {
		r.TopDestinations = append(r.TopDestinations, *d)
	}
	sort.Slice(r.TopDestinations, func(i, j int) bool {
		a, b := r.TopDestinations[i], r.TopDestinations[j]
		if a.Violations != b.Violations {
			return a.Violations > b.Violations
		}
		if a.Decisions != b.Decisions {
			return a.Decisions > b.Decisions
		}
		return a.Host < b.Host
	})
	if len(r.TopDestinations) > top {
		r.TopDestinations = r.TopDestinations[:top]
	}
	for _, tr := range t.transfers {
		r.Transfers = append(r.Transfers, *tr)
	}
	sort.Slice(r.Transfers, func(i, j int) bool {
		a, b := r.Transfers[i], r.Transfers[j]
		if a.App != b.App {
			return a.App < b.App
		}
		if a.Country != b.Country {
			return a.Country < b.Country
		}
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Verdict != b.Verdict {
			return a.Verdict < b.Verdict
		}
		return a.Class < b.Class
	})
	for _, d := range t.days {
		r.Days = append(r.Days, *d)
	}
	sort.Slice(r.Days, func(i, j int) bool { return r.Days[i].Date < r.Days[j].Date })
}

func topCounts(m map[string]*Count, top int) []Count {
	out := make([]Count, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > top {
		out = out[:top]
	}
	return out
}

// Formats of `audit report`.
var Formats = []string{"md", "csv", "html"}

// Write writes the report in format md, csv or html, in l.
func (r *Report) Write(w io.Writer, format string, l lang.Lang) error {
	switch format {
	case "md", "markdown":
		return r.WriteMarkdown(w, l)
	case "csv":
		return r.WriteCSV(w, l)
	case "html":
		return r.WriteHTML(w, l)
	}
	return fmt.Errorf("format %q: use md, csv or html", format)
}
