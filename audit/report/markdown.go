package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sovgate/sovgate/internal/lang"
)

// mdCell keeps a value inside its Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

// breakdown is one table of violations or refusals.
type breakdown struct {
	title, key, empty string
	rows              []Count
	label             func(string) string
}

// breakdowns are the report's tables of violations, then of refusals, in
// the order they are shown.
func (r *Report) breakdowns(l lang.Lang) []breakdown {
	w := wordsIn(l)
	plain := func(s string) string { return s }
	reason := func(s string) string { return reasonText(l, s) }
	return []breakdown{
		{w.ViolationsByApp, w.App, w.NoViolation, r.ViolationsByApp, plain},
		{w.ViolationsByCountry, w.Country, w.NoViolation, r.ViolationsByCountry, func(s string) string { return countryText(l, s) }},
		{w.ViolationsByProvider, w.Provider, w.NoViolation, r.ViolationsByProvider, func(s string) string { return providerText(w, s) }},
		{w.ViolationsByReason, w.Reason, w.NoViolation, r.ViolationsByReason, reason},
		{w.RefusalsByReason, w.Reason, w.NoRefusal, r.RefusalsByReason, reason},
		{w.RefusalsByApp, w.App, w.NoRefusal, r.RefusalsByApp, plain},
	}
}

// WriteMarkdown writes the report as Markdown, in l.
func (r *Report) WriteMarkdown(out io.Writer, l lang.Lang) error {
	var b strings.Builder
	w, t := wordsIn(l), r.Totals
	n := func(v int64) string { return lang.Int(l, v) }
	pct := func(v int64) string { return lang.Percent(l, v, t.Decisions) }
	colon := lang.Choose(l, ": ", " : ")
	fmt.Fprintf(&b, "# %s\n\n%s%s%s. %s%s%s. %s %s.\n\n", w.Title, w.Period, colon, r.period(l), w.Store, colon, mdCell(r.Store),
		w.Generated, lang.Choose(l, r.GeneratedAt.Format(time.RFC3339), lang.DateTime(l, r.GeneratedAt)))
	fmt.Fprintf(&b, "## %s\n\n| | %s | %s |\n| --- | ---: | ---: |\n", w.Totals, w.Decisions, w.Share)
	for _, row := range []struct {
		label string
		v     int64
	}{
		{w.AllDecisions, t.Decisions}, {w.Allowed, t.Allowed},
		{w.Violations, t.Violations}, {w.OfWhichForwarded, t.ViolationsForwarded}, {w.OfWhichBlocked, t.ViolationsBlocked},
		{w.Refusals, t.Refusals}, {w.OfWhichForwarded, t.RefusalsForwarded}, {w.OfWhichBlocked, t.RefusalsBlocked},
	} {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row.label, n(row.v), pct(row.v))
	}
	fmt.Fprintf(&b, "\n%s\n\n", w.ClassesExplained)
	fmt.Fprintf(&b, w.AppsAndBytes+"\n", appsAndDestinations(l, t.Apps, t.Destinations), lang.Bytes(l, t.BytesUp), lang.Bytes(l, t.BytesDown))
	for _, sec := range r.breakdowns(l) {
		fmt.Fprintf(&b, "\n## %s\n\n", sec.title)
		if len(sec.rows) == 0 {
			b.WriteString(sec.empty + "\n")
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n| --- | ---: | ---: | ---: |\n", sec.key, w.Count, w.Forwarded, w.Blocked)
		for _, c := range sec.rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdCell(sec.label(c.Key)), n(c.Count), n(c.Forwarded), n(c.Blocked))
		}
	}
	fmt.Fprintf(&b, "\n## %s\n\n", w.TopDestinations)
	if len(r.TopDestinations) == 0 {
		b.WriteString(w.NoDecision + "\n")
	} else {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n| --- | ---: | ---: | ---: | --- | --- | --- |\n",
			w.Host, w.Decisions, w.ViolationsCol, w.RefusalsCol, w.Countries, w.Providers, w.Apps)
		for _, d := range r.TopDestinations {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", mdCell(d.Host), n(d.Decisions), n(d.Violations), n(d.Refusals),
				mdCell(orDash(countriesText(l, d.Countries))), mdCell(orDash(strings.Join(d.Providers, ", "))), mdCell(strings.Join(d.Apps, ", ")))
		}
	}
	fmt.Fprintf(&b, "\n## %s\n\n", w.TransfersTitle)
	if len(r.Transfers) == 0 {
		b.WriteString(w.NoDecision + "\n")
	} else {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |\n",
			w.App, w.Country, w.Provider, w.Verdict, w.Class, w.Decisions, w.Forwarded, w.BytesUp, w.BytesDown)
		for _, tr := range r.Transfers {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdCell(tr.App), mdCell(countryText(l, tr.Country)),
				mdCell(orDash(tr.Provider)), verdictText(l, tr.Verdict), orDash(classText(l, tr.Class)),
				n(tr.Decisions), n(tr.Forwarded), n(tr.BytesUp), n(tr.BytesDown))
		}
	}
	fmt.Fprintf(&b, "\n%s\n", w.Verify)
	_, err := io.WriteString(out, b.String())
	return err
}

// WriteCSV writes the transfers table (app x country x provider x
// verdict, and class), the report's data in a shape spreadsheets pivot.
// In English, the columns and values are the machine names. In French,
// the columns and the verdicts are in French and the separator is ';',
// with a byte order mark, as French spreadsheets expect (the comma is
// their decimal separator).
func (r *Report) WriteCSV(w io.Writer, l lang.Lang) error {
	cw := csv.NewWriter(w)
	header := []string{"since", "until", "app", "country", "provider", "verdict", "decisions", "forwarded", "bytes_up", "bytes_down", "class"}
	if l == lang.French {
		if _, err := io.WriteString(w, "\uFEFF"); err != nil {
			return err
		}
		cw.Comma = ';'
		header = []string{"début", "fin", "application", "pays", "fournisseur", "décision", "décisions", "transmises",
			"octets envoyés", "octets reçus", "nature du refus"}
	}
	if err := cw.Write(header); err != nil {
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
		verdict, class := string(tr.Verdict), string(tr.Class)
		if l == lang.French {
			verdict, class = verdictText(l, tr.Verdict), classText(l, tr.Class)
		}
		row := []string{since, until, tr.App, tr.Country, tr.Provider, verdict, strconv.FormatInt(tr.Decisions, 10),
			strconv.FormatInt(tr.Forwarded, 10), strconv.FormatInt(tr.BytesUp, 10), strconv.FormatInt(tr.BytesDown, 10), class}
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
