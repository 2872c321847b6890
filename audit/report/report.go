// Package report turns the audit log into what auditors read: listings
// in table, JSON or CSV, and summaries of a period in Markdown, CSV or
// HTML.
package report

import (
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/store"
)

// Report summarises the decisions of a period: what the auditors' monthly
// report is made of.
type Report struct {
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	GeneratedAt time.Time `json:"generated_at"`
	Store       string    `json:"store"`

	Totals Totals `json:"totals"`
	// Violations (verdict deny) broken down four ways; a record whose
	// addresses are in two countries counts once for each.
	ViolationsByApp      []Count `json:"violations_by_app"`
	ViolationsByCountry  []Count `json:"violations_by_country"`
	ViolationsByProvider []Count `json:"violations_by_provider"`
	ViolationsByReason   []Count `json:"violations_by_reason"`
	// TopDestinations are the hosts with the most violations, then the
	// most decisions.
	TopDestinations []Destination `json:"top_destinations"`
	// Transfers are decisions by app x country x provider x verdict.
	Transfers []Transfer `json:"transfers"`
	// Days are the decisions of each day (UTC) of the period.
	Days []Day `json:"days"`
}

// Totals are the period's counts.
type Totals struct {
	Decisions int64 `json:"decisions"`
	Allowed   int64 `json:"allowed"`
	// Violations are decisions with verdict deny: Blocked ones plus the
	// ones monitor mode forwarded.
	Violations          int64 `json:"violations"`
	ViolationsForwarded int64 `json:"violations_forwarded"`
	Blocked             int64 `json:"blocked"`
	BytesUp             int64 `json:"bytes_up"`
	BytesDown           int64 `json:"bytes_down"`
	Apps                int   `json:"apps"`
	Destinations        int   `json:"destinations"`
}

// Count is one line of a breakdown of violations.
type Count struct {
	Key       string `json:"key"`
	Count     int64  `json:"violations"`
	Blocked   int64  `json:"blocked"`
	Forwarded int64  `json:"forwarded"`
}

// Destination is one line of the top destinations.
type Destination struct {
	Host       string   `json:"host"`
	Decisions  int64    `json:"decisions"`
	Violations int64    `json:"violations"`
	Countries  []string `json:"countries"`
	Providers  []string `json:"providers"`
	Apps       []string `json:"apps"`
	BytesUp    int64    `json:"bytes_up"`
}

// Transfer is one line of the app x country x provider x verdict table.
type Transfer struct {
	App       string `json:"app"`
	Country   string `json:"country"`
	Provider  string `json:"provider"`
	Verdict   string `json:"verdict"`
	Decisions int64  `json:"decisions"`
	Forwarded int64  `json:"forwarded"`
	BytesUp   int64  `json:"bytes_up"`
	BytesDown int64  `json:"bytes_down"`
}

// Day is one day of the period.
type Day struct {
	Date                string `json:"date"`
	Allowed             int64  `json:"allowed"`
	ViolationsForwarded int64  `json:"violations_forwarded"`
	Blocked             int64  `json:"blocked"`
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

// tally accumulates the breakdowns of a report, one record at a time (a
// month of decisions is never held in memory).
type tally struct {
	byApp, byCountry, byProvider, byReason map[string]*Count
	dests                                  map[string]*Destination
	transfers                              map[[4]string]*Transfer
	days                                   map[string]*Day
	apps                                   map[string]bool
}

func newTally() *tally {
	return &tally{
		byApp: map[string]*Count{}, byCountry: map[string]*Count{}, byProvider: map[string]*Count{}, byReason: map[string]*Count{},
		dests: map[string]*Destination{}, transfers: map[[4]string]*Transfer{}, days: map[string]*Day{}, apps: map[string]bool{},
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
	deny := rec.Verdict == audit.VerdictDeny
	day := rec.Time.UTC().Format("2006-01-02")
	d := t.days[day]
	if d == nil {
		d = &Day{Date: day}
		t.days[day] = d
	}
	switch {
	case !deny:
		tot.Allowed += n
		d.Allowed += n
	case rec.Action == audit.ActionBlocked:
		tot.Violations += n
		tot.Blocked += n
		d.Blocked += n
	default:
		tot.Violations += n
		tot.ViolationsForwarded += n
		d.ViolationsForwarded += n
	}
	countries, providers := Countries(&rec.Record), Providers(&rec.Record)
	if deny {
		t.addViolation(rec, countries, providers)
	}
	t.addDestination(rec, deny, countries, providers)
	t.addTransfers(rec)
}

// addViolation counts a violation by app, country, provider and reason.
func (t *tally) addViolation(rec *audit.Stored, countries, providers []string) {
	count(t.byApp, rec.App, rec)
	for _, c := range countries {
		count(t.byCountry, c, rec)
	}
	if len(providers) == 0 {
		count(t.byProvider, "(none known)", rec)
	}
	for _, p := range providers {
		count(t.byProvider, p, rec)
	}
	for _, code := range rec.Reasons {
		count(t.byReason, code, rec)
	}
}

func count(m map[string]*Count, key string, rec *audit.Stored) {
	c := m[key]
	if c == nil {
		c = &Count{Key: key}
		m[key] = c
	}
	n := rec.Weight()
	c.Count += n
	if rec.Action == audit.ActionBlocked {
		c.Blocked += n
	} else {
		c.Forwarded += n
	}
}

func (t *tally) addDestination(rec *audit.Stored, deny bool, countries, providers []string) {
	dest := t.dests[rec.Host]
	if dest == nil {
		dest = &Destination{Host: rec.Host}
		t.dests[rec.Host] = dest
	}
	dest.Decisions += rec.Weight()
	dest.BytesUp += rec.BytesUp
	if deny {
		dest.Violations += rec.Weight()
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
func (t *tally) addTransfers(rec *audit.Stored) {
	pairs := map[[2]string]bool{}
	for _, a := range rec.Addresses {
		c := a.Country
		if c == "" {
			c = "??"
		}
		pairs[[2]string{c, a.Provider}] = true
	}
	if len(pairs) == 0 {
		pairs[[2]string{"??", ""}] = true
	}
	for p := range pairs {
		k := [4]string{rec.App, p[0], p[1], rec.Verdict}
		tr := t.transfers[k]
		if tr == nil {
			tr = &Transfer{App: rec.App, Country: p[0], Provider: p[1], Verdict: rec.Verdict}
			t.transfers[k] = tr
		}
		tr.Decisions += rec.Weight()
		if rec.Action == audit.ActionForwarded {
			tr.Forwarded += rec.Weight()
		}
		tr.BytesUp += rec.BytesUp
		tr.BytesDown += rec.BytesDown
	}
}

// fill puts the tally, sorted and cut to the top lists, into r.
func (t *tally) fill(r *Report, top int) {
	r.Totals.Apps, r.Totals.Destinations = len(t.apps), len(t.dests)
	r.ViolationsByApp = topCounts(t.byApp, top)
	r.ViolationsByCountry = topCounts(t.byCountry, top)
	r.ViolationsByProvider = topCounts(t.byProvider, top)
	r.ViolationsByReason = topCounts(t.byReason, top)
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
		return a.Verdict < b.Verdict
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

func (r *Report) period() string {
	since, until := "the beginning", "now"
	if !r.Since.IsZero() {
		since = r.Since.Format(time.RFC3339)
	}
	if !r.Until.IsZero() {
		until = r.Until.Format(time.RFC3339)
	}
	return since + " to " + until
}

func pct(n, of int64) string {
	if of == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 1, 64) + "%"
}

// mdCell keeps a value inside its Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

// WriteMarkdown writes the report as Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	t := r.Totals
	fmt.Fprintf(&b, "# sovgate audit report\n\nPeriod: %s (UTC). Store: %s. Generated %s.\n\n", r.period(), mdCell(r.Store), r.GeneratedAt.Format(time.RFC3339))
	b.WriteString("## Totals\n\n| | decisions | share |\n| --- | ---: | ---: |\n")
	fmt.Fprintf(&b, "| all decisions | %d | 100%% |\n", t.Decisions)
	fmt.Fprintf(&b, "| allowed | %d | %s |\n", t.Allowed, pct(t.Allowed, t.Decisions))
	fmt.Fprintf(&b, "| violations (verdict deny) | %d | %s |\n", t.Violations, pct(t.Violations, t.Decisions))
	fmt.Fprintf(&b, "| of which forwarded (monitor mode) | %d | %s |\n", t.ViolationsForwarded, pct(t.ViolationsForwarded, t.Decisions))
	fmt.Fprintf(&b, "| of which blocked | %d | %s |\n", t.Blocked, pct(t.Blocked, t.Decisions))
	fmt.Fprintf(&b, "\n%d apps, %d destinations; %s sent, %s received through forwarded exchanges.\n", t.Apps, t.Destinations, humanBytes(t.BytesUp), humanBytes(t.BytesDown))
	for _, sec := range []struct {
		title, key string
		rows       []Count
	}{
		{"Violations by app", "app", r.ViolationsByApp},
		{"Violations by destination country", "country", r.ViolationsByCountry},
		{"Violations by provider", "provider", r.ViolationsByProvider},
		{"Violations by reason", "reason", r.ViolationsByReason},
	} {
		fmt.Fprintf(&b, "\n## %s\n\n", sec.title)
		if len(sec.rows) == 0 {
			b.WriteString("No violation.\n")
			continue
		}
		fmt.Fprintf(&b, "| %s | violations | forwarded | blocked |\n| --- | ---: | ---: | ---: |\n", sec.key)
		for _, c := range sec.rows {
			fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", mdCell(c.Key), c.Count, c.Forwarded, c.Blocked)
		}
	}
	b.WriteString("\n## Top destinations\n\n")
	if len(r.TopDestinations) == 0 {
		b.WriteString("No decision in this period.\n")
	} else {
		b.WriteString("| host | decisions | violations | countries | providers | apps |\n| --- | ---: | ---: | --- | --- | --- |\n")
		for _, d := range r.TopDestinations {
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s |\n", mdCell(d.Host), d.Decisions, d.Violations,
				mdCell(orDash(strings.Join(d.Countries, ", "))), mdCell(orDash(strings.Join(d.Providers, ", "))), mdCell(strings.Join(d.Apps, ", ")))
		}
	}
	b.WriteString("\n## Transfers by app, country, provider and verdict\n\n")
	if len(r.Transfers) == 0 {
		b.WriteString("No decision in this period.\n")
	} else {
		b.WriteString("| app | country | provider | verdict | decisions | forwarded | bytes up | bytes down |\n| --- | --- | --- | --- | ---: | ---: | ---: | ---: |\n")
		for _, tr := range r.Transfers {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d | %d |\n", mdCell(tr.App), mdCell(tr.Country), mdCell(orDash(tr.Provider)),
				tr.Verdict, tr.Decisions, tr.Forwarded, tr.BytesUp, tr.BytesDown)
		}
	}
	b.WriteString("\nCheck that the log was not altered: `sovgate audit verify`.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes the transfers table (app x country x provider x
// verdict), the report's data in a shape spreadsheets pivot.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"since", "until", "app", "country", "provider", "verdict", "decisions", "forwarded", "bytes_up", "bytes_down"}); err != nil {
		return err
	}
	since, until := "", ""
	if !r.Since.IsZero() {
		since = r.Since.Format(time.RFC3339)
	}
	if !r.Until.IsZero() {
		until = r.Until.Format(time.RFC3339)
	}
	for _, tr := range r.Transfers {
		row := []string{since, until, tr.App, tr.Country, tr.Provider, tr.Verdict, strconv.FormatInt(tr.Decisions, 10),
			strconv.FormatInt(tr.Forwarded, 10), strconv.FormatInt(tr.BytesUp, 10), strconv.FormatInt(tr.BytesDown, 10)}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// bar is one bar of a horizontal bar chart.
type bar struct {
	Label            string
	Forwarded        int64
	Blocked          int64
	Y                int
	WForward, WBlock float64
	XBlock, XText    float64
}

// column is one day of the timeline chart.
type column struct {
	Date                   string
	X, W                   float64
	YA, HA, YF, HF, YB, HB float64
	Title                  string
}

type chart struct {
	Title  string
	Height int
	Bars   []bar
}

func barChart(title string, rows []Count) chart {
	c := chart{Title: title}
	var maxN int64 = 1
	for _, r := range rows {
		if r.Count > maxN {
			maxN = r.Count
		}
	}
	const width = 460.0
	for i, r := range rows {
		b := bar{Label: r.Key, Forwarded: r.Forwarded, Blocked: r.Blocked, Y: 8 + i*26}
		b.WForward = width * float64(r.Forwarded) / float64(maxN)
		b.WBlock = width * float64(r.Blocked) / float64(maxN)
		b.XBlock = 170 + b.WForward
		b.XText = 176 + b.WForward + b.WBlock
		c.Bars = append(c.Bars, b)
	}
	c.Height = 16 + 26*len(rows)
	return c
}

func timeline(days []Day) ([]column, int) {
	const width, height, top = 760.0, 180.0, 10.0
	if len(days) == 0 {
		return nil, 0
	}
	var maxN int64 = 1
	for _, d := range days {
		if n := d.Allowed + d.ViolationsForwarded + d.Blocked; n > maxN {
			maxN = n
		}
	}
	w := width / float64(len(days))
	cols := make([]column, len(days))
	for i, d := range days {
		scale := func(n int64) float64 { return math.Round(height*float64(n)/float64(maxN)*10) / 10 }
		c := column{Date: d.Date, X: 40 + float64(i)*w, W: math.Max(w-2, 1)}
		c.HB, c.HF, c.HA = scale(d.Blocked), scale(d.ViolationsForwarded), scale(d.Allowed)
		base := top + height
		c.YB = base - c.HB
		c.YF = c.YB - c.HF
		c.YA = c.YF - c.HA
		c.Title = fmt.Sprintf("%s: %d allowed, %d violations forwarded, %d blocked", d.Date, d.Allowed, d.ViolationsForwarded, d.Blocked)
		cols[i] = c
	}
	return cols, int(maxN)
}

var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>sovgate audit report {{.R.Since.Format "2006-01-02"}} – {{.R.Until.Format "2006-01-02"}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;color:#1d2433;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dce3}
.meta{color:#5b6475}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #d8dce3;border-radius:.5rem;padding:.7rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.6rem}.allow{color:#2e7d32}.fwd{color:#c77700}.block{color:#b3261e}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eceff3}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}svg text{font-size:12px;fill:#1d2433}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}
</style></head><body>
<h1>sovgate audit report</h1>
<p class="meta">Period {{.Period}} (UTC) · store {{.R.Store}} · generated {{.R.GeneratedAt.Format "2006-01-02 15:04 MST"}}</p>
<div class="cards">
<div class="card">decisions<b>{{.R.Totals.Decisions}}</b></div>
<div class="card allow">allowed<b>{{.R.Totals.Allowed}}</b>{{.PctAllowed}}</div>
<div class="card fwd">violations forwarded<b>{{.R.Totals.ViolationsForwarded}}</b>monitor mode</div>
<div class="card block">violations blocked<b>{{.R.Totals.Blocked}}</b>enforce mode</div>
</div>
<h2>Decisions per day</h2>
<p class="legend"><span style="background:#7cb87f"></span>allowed<span style="background:#f0a030"></span>violation, forwarded<span style="background:#d9534f"></span>violation, blocked</p>
{{if .Days}}<svg role="img" aria-label="Decisions per day: allowed, violations forwarded, violations blocked" width="800" height="215" viewBox="0 0 800 215">
<line x1="38" y1="190" x2="800" y2="190" stroke="#9aa3b2"/><text x="0" y="16">{{.MaxDay}}</text><text x="0" y="190">0</text>
{{range .Days}}<g><title>{{.Title}}</title><rect x="{{.X}}" y="{{.YA}}" width="{{.W}}" height="{{.HA}}" fill="#7cb87f"/><rect x="{{.X}}" y="{{.YF}}" width="{{.W}}" height="{{.HF}}" fill="#f0a030"/><rect x="{{.X}}" y="{{.YB}}" width="{{.W}}" height="{{.HB}}" fill="#d9534f"/></g>
{{end}}<text x="40" y="207">{{.FirstDay}}</text><text x="800" y="207" text-anchor="end">{{.LastDay}}</text>
</svg>{{else}}<p>No decision in this period.</p>{{end}}
{{range .Charts}}<h2>{{.Title}}</h2>
{{if .Bars}}<svg role="img" aria-label="{{.Title}}" width="800" height="{{.Height}}" viewBox="0 0 800 {{.Height}}">
{{range .Bars}}<g><title>{{.Label}}: {{.Forwarded}} forwarded, {{.Blocked}} blocked</title><text x="164" y="{{.Y}}" dy="14" text-anchor="end">{{.Label}}</text><rect x="170" y="{{.Y}}" width="{{.WForward}}" height="18" fill="#f0a030"/><rect x="{{.XBlock}}" y="{{.Y}}" width="{{.WBlock}}" height="18" fill="#d9534f"/><text x="{{.XText}}" y="{{.Y}}" dy="14">{{.Forwarded}} + {{.Blocked}}</text></g>
{{end}}</svg>{{else}}<p>No violation.</p>{{end}}
{{end}}
<h2>Top destinations</h2>
<table><tr><th>host</th><th class="n">decisions</th><th class="n">violations</th><th>countries</th><th>providers</th><th>apps</th></tr>
{{range .R.TopDestinations}}<tr><td>{{.Host}}</td><td class="n">{{.Decisions}}</td><td class="n">{{.Violations}}</td><td>{{range $i, $c := .Countries}}{{if $i}}, {{end}}{{$c}}{{end}}</td><td>{{range $i, $p := .Providers}}{{if $i}}, {{end}}{{$p}}{{end}}</td><td>{{range $i, $a := .Apps}}{{if $i}}, {{end}}{{$a}}{{end}}</td></tr>
{{end}}</table>
<h2>Transfers by app, country, provider and verdict</h2>
<table><tr><th>app</th><th>country</th><th>provider</th><th>verdict</th><th class="n">decisions</th><th class="n">forwarded</th><th class="n">bytes up</th><th class="n">bytes down</th></tr>
{{range .R.Transfers}}<tr><td>{{.App}}</td><td>{{.Country}}</td><td>{{.Provider}}</td><td>{{.Verdict}}</td><td class="n">{{.Decisions}}</td><td class="n">{{.Forwarded}}</td><td class="n">{{.BytesUp}}</td><td class="n">{{.BytesDown}}</td></tr>
{{end}}</table>
<p class="meta">Check that the log was not altered: <code>sovgate audit verify</code>.</p>
</body></html>
`))

// WriteHTML writes the report as one self-contained HTML page (inline CSS
// and SVG charts, no external asset).
func (r *Report) WriteHTML(w io.Writer) error {
	days, maxDay := timeline(r.Days)
	data := struct {
		R                 *Report
		Period            string
		PctAllowed        string
		Days              []column
		MaxDay            int
		FirstDay, LastDay string
		Charts            []chart
	}{R: r, Period: r.period(), PctAllowed: pct(r.Totals.Allowed, r.Totals.Decisions), Days: days, MaxDay: maxDay,
		Charts: []chart{
			barChart("Violations by destination country", r.ViolationsByCountry),
			barChart("Violations by app", r.ViolationsByApp),
			barChart("Violations by provider", r.ViolationsByProvider),
			barChart("Violations by reason", r.ViolationsByReason),
		}}
	if len(r.Days) > 0 {
		data.FirstDay, data.LastDay = r.Days[0].Date, r.Days[len(r.Days)-1].Date
	}
	return htmlReport.Execute(w, data)
}

// Write writes the report in format md, csv or html.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "md", "markdown":
		return r.WriteMarkdown(w)
	case "csv":
		return r.WriteCSV(w)
	case "html":
		return r.WriteHTML(w)
	}
	return fmt.Errorf("format %q: use md, csv or html", format)
}
