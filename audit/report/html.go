package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/sovgate/sovgate/internal/lang"
)

// bar is one bar of a horizontal bar chart.
type bar struct {
	Label, Title     string
	Forwarded        string
	Blocked          string
	Y                int
	WForward, WBlock float64
	XBlock, XText    float64
}

// column is one day of the timeline chart.
type column struct {
	X, W                           float64
	YA, HA, YF, HF, YB, HB, YR, HR float64
	Title                          string
}

type chart struct {
	Title, Empty string
	Height       int
	Bars         []bar
}

// labelWidth is the room for the labels of a bar chart, left of the bars.
const labelWidth = 220.0

func barChart(l lang.Lang, sec breakdown) chart {
	c := chart{Title: sec.title, Empty: sec.empty}
	var maxN int64 = 1
	for _, r := range sec.rows {
		if r.Count > maxN {
			maxN = r.Count
		}
	}
	const width = 440.0
	w := wordsIn(l)
	for i, r := range sec.rows {
		label := sec.label(r.Key)
		fwd, blk := lang.Int(l, r.Forwarded), lang.Int(l, r.Blocked)
		b := bar{Label: label, Forwarded: fwd, Blocked: blk, Y: 8 + i*26,
			Title: fmt.Sprintf("%s: %s %s, %s %s", label, fwd, w.Forwarded, blk, w.Blocked)}
		b.WForward = width * float64(r.Forwarded) / float64(maxN)
		b.WBlock = width * float64(r.Blocked) / float64(maxN)
		b.XBlock = labelWidth + 6 + b.WForward
		b.XText = labelWidth + 12 + b.WForward + b.WBlock
		c.Bars = append(c.Bars, b)
	}
	c.Height = 16 + 26*len(sec.rows)
	return c
}

func timeline(l lang.Lang, days []Day) ([]column, int64) {
	const width, height, top = 760.0, 180.0, 10.0
	if len(days) == 0 {
		return nil, 0
	}
	var maxN int64 = 1
	for _, d := range days {
		if n := d.Allowed + d.ViolationsForwarded + d.ViolationsBlocked + d.Refusals; n > maxN {
			maxN = n
		}
	}
	w := width / float64(len(days))
	cols := make([]column, len(days))
	for i, d := range days {
		scale := func(n int64) float64 { return math.Round(height*float64(n)/float64(maxN)*10) / 10 }
		c := column{X: 40 + float64(i)*w, W: math.Max(w-2, 1)}
		c.HR, c.HB, c.HF, c.HA = scale(d.Refusals), scale(d.ViolationsBlocked), scale(d.ViolationsForwarded), scale(d.Allowed)
		c.YR = top + height - c.HR
		c.YB = c.YR - c.HB
		c.YF = c.YB - c.HF
		c.YA = c.YF - c.HA
		c.Title = fmt.Sprintf(wordsIn(l).PerDayLabel, dayText(l, d.Date), lang.Int(l, d.Allowed), lang.Int(l, d.ViolationsForwarded),
			lang.Int(l, d.ViolationsBlocked), lang.Int(l, d.Refusals))
		cols[i] = c
	}
	return cols, maxN
}

// dayText writes a day of the timeline (YYYY-MM-DD) in l.
func dayText(l lang.Lang, date string) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return lang.ShortDate(l, t)
}

var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<title>{{.W.Title}} {{.Span}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;color:#1d2433;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dce3}
.meta{color:#5b6475}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #d8dce3;border-radius:.5rem;padding:.7rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.6rem}.allow{color:#2e7d32}.fwd{color:#c77700}.block{color:#b3261e}.refusal{color:#5b6475}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eceff3}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}svg text{font-size:12px;fill:#1d2433}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}
</style></head><body>
<h1>{{.W.Title}}</h1>
<p class="meta">{{.W.Period}}{{.Colon}}{{.Period}} · {{.W.Store}}{{.Colon}}{{.R.Store}} · {{.W.Generated}} {{.Generated}}</p>
<div class="cards">
<div class="card">{{.W.Decisions}}<b>{{.N.Decisions}}</b></div>
<div class="card allow">{{.W.Allowed}}<b>{{.N.Allowed}}</b>{{.PctAllowed}}</div>
<div class="card fwd">{{.W.ForwardedLegend}}<b>{{.N.ViolationsForwarded}}</b>{{.W.MonitorMode}}</div>
<div class="card block">{{.W.BlockedLegend}}<b>{{.N.ViolationsBlocked}}</b>{{.W.EnforceMode}}</div>
<div class="card refusal">{{.W.Refusals}}<b>{{.N.Refusals}}</b></div>
</div>
<p>{{.W.ClassesExplained}}</p>
<h2>{{.W.PerDay}}</h2>
<p class="legend"><span style="background:#7cb87f"></span>{{.W.AllowedLegend}}<span style="background:#f0a030"></span>{{.W.ForwardedLegend}}<span style="background:#d9534f"></span>{{.W.BlockedLegend}}<span style="background:#a7aebb"></span>{{.W.RefusalsLegend}}</p>
{{if .Days}}<svg role="img" aria-label="{{.W.PerDay}}" width="800" height="215" viewBox="0 0 800 215">
<line x1="38" y1="190" x2="800" y2="190" stroke="#9aa3b2"/><text x="0" y="16">{{.MaxDay}}</text><text x="0" y="190">0</text>
{{range .Days}}<g><title>{{.Title}}</title><rect x="{{.X}}" y="{{.YA}}" width="{{.W}}" height="{{.HA}}" fill="#7cb87f"/><rect x="{{.X}}" y="{{.YF}}" width="{{.W}}" height="{{.HF}}" fill="#f0a030"/><rect x="{{.X}}" y="{{.YB}}" width="{{.W}}" height="{{.HB}}" fill="#d9534f"/><rect x="{{.X}}" y="{{.YR}}" width="{{.W}}" height="{{.HR}}" fill="#a7aebb"/></g>
{{end}}<text x="40" y="207">{{.FirstDay}}</text><text x="800" y="207" text-anchor="end">{{.LastDay}}</text>
</svg>{{else}}<p>{{.W.NoDecision}}</p>{{end}}
{{range .Charts}}<h2>{{.Title}}</h2>
{{if .Bars}}<svg role="img" aria-label="{{.Title}}" width="800" height="{{.Height}}" viewBox="0 0 800 {{.Height}}">
{{range .Bars}}<g><title>{{.Title}}</title><text x="214" y="{{.Y}}" dy="14" text-anchor="end">{{.Label}}</text><rect x="226" y="{{.Y}}" width="{{.WForward}}" height="18" fill="#f0a030"/><rect x="{{.XBlock}}" y="{{.Y}}" width="{{.WBlock}}" height="18" fill="#d9534f"/><text x="{{.XText}}" y="{{.Y}}" dy="14">{{.Forwarded}} + {{.Blocked}}</text></g>
{{end}}</svg>{{else}}<p>{{.Empty}}</p>{{end}}
{{end}}
<h2>{{.W.TopDestinations}}</h2>
<table><tr><th>{{.W.Host}}</th><th class="n">{{.W.Decisions}}</th><th class="n">{{.W.ViolationsCol}}</th><th class="n">{{.W.RefusalsCol}}</th><th>{{.W.Countries}}</th><th>{{.W.Providers}}</th><th>{{.W.Apps}}</th></tr>
{{range .Dests}}<tr>{{range $i, $c := .}}<td{{if and (ge $i 1) (le $i 3)}} class="n"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
<h2>{{.W.TransfersTitle}}</h2>
<table><tr><th>{{.W.App}}</th><th>{{.W.Country}}</th><th>{{.W.Provider}}</th><th>{{.W.Verdict}}</th><th>{{.W.Class}}</th><th class="n">{{.W.Decisions}}</th><th class="n">{{.W.Forwarded}}</th><th class="n">{{.W.BytesUp}}</th><th class="n">{{.W.BytesDown}}</th></tr>
{{range .Transfers}}<tr>{{range $i, $c := .}}<td{{if ge $i 5}} class="n"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
<p class="meta">{{.Verify}}</p>
</body></html>
`))

// WriteHTML writes the report as one self-contained HTML page (inline CSS
// and SVG charts, no external asset), in l.
func (r *Report) WriteHTML(out io.Writer, l lang.Lang) error {
	days, maxDay := timeline(l, r.Days)
	w, t := wordsIn(l), r.Totals
	n := func(v int64) string { return lang.Int(l, v) }
	data := struct {
		R                          *Report
		W                          *words
		Lang, Colon, Span          string
		Period, Generated          string
		PctAllowed, MaxDay, Verify string
		N                          map[string]string
		Days                       []column
		FirstDay, LastDay          string
		Charts                     []chart
		Dests, Transfers           [][]string
	}{
		R: r, W: w, Lang: string(l), Colon: lang.Choose(l, ": ", " : "),
		Span:       lang.ShortDate(l, r.Since) + " – " + lang.ShortDate(l, r.Until),
		Period:     r.period(l),
		Generated:  lang.Choose(l, r.GeneratedAt.Format("2006-01-02 15:04 MST"), lang.DateTime(l, r.GeneratedAt)),
		PctAllowed: lang.Percent(l, t.Allowed, t.Decisions),
		MaxDay:     n(maxDay),
		Verify:     strings.ReplaceAll(w.Verify, "`", ""),
		N: map[string]string{
			"Decisions": n(t.Decisions), "Allowed": n(t.Allowed), "ViolationsForwarded": n(t.ViolationsForwarded),
			"ViolationsBlocked": n(t.ViolationsBlocked), "Refusals": n(t.Refusals),
		},
		Days: days,
	}
	for _, sec := range r.breakdowns(l) {
		data.Charts = append(data.Charts, barChart(l, sec))
	}
	if len(r.Days) > 0 {
		data.FirstDay, data.LastDay = dayText(l, r.Days[0].Date), dayText(l, r.Days[len(r.Days)-1].Date)
	}
	for _, d := range r.TopDestinations {
		data.Dests = append(data.Dests, []string{d.Host, n(d.Decisions), n(d.Violations), n(d.Refusals),
			countriesText(l, d.Countries), strings.Join(d.Providers, ", "), strings.Join(d.Apps, ", ")})
	}
	for _, tr := range r.Transfers {
		data.Transfers = append(data.Transfers, []string{tr.App, countryText(l, tr.Country), tr.Provider,
			verdictText(l, tr.Verdict), classText(l, tr.Class), n(tr.Decisions), n(tr.Forwarded), n(tr.BytesUp), n(tr.BytesDown)})
	}
	return htmlReport.Execute(out, data)
}
