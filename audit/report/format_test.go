package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/internal/lang"
)

// fixtureStore is a SQLite store of n decisions, the forwarded ones
// completed with bytes.
func fixtureStore(t *testing.T, n int) (store.Store, []*audit.Record) {
	t.Helper()
	ctx := context.Background()
	s := emptyStore(t)
	var recs []*audit.Record
	var entries, comps []*chain.Entry
	for i := range n {
		r := audittest.Record(i, "gw-1")
		recs = append(recs, r)
		entries = append(entries, chain.DecisionEntry(r, false))
		if r.Action == audit.Forwarded {
			fin := *r
			fin.BytesUp, fin.BytesDown, fin.DurationUS = int64(100+i), int64(1000+i), 5000
			comps = append(comps, chain.CompletionEntry(&fin))
		}
	}
	for _, batch := range [][]*chain.Entry{entries, comps} {
		if _, _, err := s.Append(ctx, batch, false); err != nil {
			t.Fatal(err)
		}
	}
	return s, recs
}

// emptyStore is a new SQLite store, closed at the end of the test.
func emptyStore(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRecordWriterFormats(t *testing.T) {
	s, _ := fixtureStore(t, 30)
	page, err := s.Query(context.Background(), store.Filter{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	page.Records[0].App = "=HYPERLINK(\"http://evil\")"
	render := func(format string) string {
		var b bytes.Buffer
		rw, err := NewRecordWriter(&b, format)
		if err != nil {
			t.Fatal(err)
		}
		for i := range page.Records {
			if err := rw.Write(&page.Records[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := rw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	var recs []map[string]any
	if err := json.Unmarshal([]byte(render("json")), &recs); err != nil || len(recs) != 30 {
		t.Fatalf("json: %d records, %v", len(recs), err)
	}
	for _, name := range []string{"id", "time", "node", "app", "source_ip", "method", "scheme", "host", "port", "addresses",
		"verdict", "action", "mode", "reasons", "policy_revision", "duration_us", "bytes_up", "bytes_down", "prev_hash", "hash", "completed"} {
		if _, ok := recs[1][name]; !ok {
			t.Errorf("json record has no %q", name)
		}
	}

	rows, err := csv.NewReader(strings.NewReader(render("csv"))).ReadAll()
	if err != nil || len(rows) != 31 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	if strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
		t.Errorf("csv header %v", rows[0])
	}
	if !strings.HasPrefix(rows[1][3], "'=") {
		t.Errorf("a formula in a csv cell is not neutralised: %q", rows[1][3])
	}

	table := render("table")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 31 || !strings.HasPrefix(lines[0], "TIME (UTC)") {
		t.Errorf("table:\n%s", table)
	}
	if !strings.Contains(table, "api.us.example:443") || !strings.Contains(table, "RESIDENCY_NON_EU") {
		t.Errorf("table lacks values:\n%s", table)
	}
	if _, err := NewRecordWriter(&bytes.Buffer{}, "xml"); err == nil {
		t.Error("format xml accepted")
	}
	var empty bytes.Buffer
	rw, _ := NewRecordWriter(&empty, "json")
	rw.Close()
	if strings.TrimSpace(empty.String()) != "[]" {
		t.Errorf("empty json = %q", empty.String())
	}
}

func TestReport(t *testing.T) {
	s, recs := fixtureStore(t, 200)
	since, until := audittest.Start, audittest.Start.Add(24*time.Hour)
	rep, err := Build(context.Background(), s, Options{Since: since, Until: until, Now: audittest.Start.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var want Totals
	for _, r := range recs {
		if r.Time.Before(since) || !r.Time.Before(until) {
			continue
		}
		want.Decisions++
		switch {
		case r.Verdict == audit.Allow:
			want.Allowed++
		case r.Action == audit.Blocked:
			want.Violations++
			want.ViolationsBlocked++
			want.Blocked++
		default:
			want.Violations++
			want.ViolationsForwarded++
		}
	}
	got := rep.Totals
	if got.Decisions != want.Decisions || got.Allowed != want.Allowed || got.Blocked != want.Blocked ||
		got.ViolationsForwarded != want.ViolationsForwarded || got.ViolationsBlocked != want.ViolationsBlocked || got.Refusals != 0 {
		t.Errorf("totals %+v, want %+v", got, want)
	}
	if got.BytesUp == 0 || len(rep.ViolationsByCountry) == 0 || rep.ViolationsByCountry[0].Key != "US" {
		t.Errorf("report %+v", rep.ViolationsByCountry)
	}
	var n int64
	for _, c := range rep.ViolationsByApp {
		n += c.Count
	}
	if n != want.Violations {
		t.Errorf("violations by app add up to %d, want %d", n, want.Violations)
	}

	var md bytes.Buffer
	if err := rep.Write(&md, "md", lang.English); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Totals", "## Sovereignty violations by app", "## Sovereignty violations by destination country",
		"## Sovereignty violations by provider", "## Sovereignty violations by reason", "## Operational refusals by reason",
		"No operational refusal.", "## Top destinations", "| United States (US) |", "| RESIDENCY_NON_EU: Address outside the EU/EEA |"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
	var cs bytes.Buffer
	if err := rep.Write(&cs, "csv", lang.English); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(rows) != len(rep.Transfers)+1 || rows[0][2] != "app" || rows[0][10] != "class" {
		t.Fatalf("csv %d rows %v", len(rows), err)
	}

	rep.ViolationsByApp[0].Key = `<script>alert(1)</script>`
	var h bytes.Buffer
	if err := rep.Write(&h, "html", lang.English); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	if strings.Contains(page, "<script>") {
		t.Error("html does not escape an app name")
	}
	if strings.Contains(page, "src=") || strings.Contains(page, "<link") || strings.Count(page, "<svg") < 3 {
		t.Error("html must carry its charts inline, with no external asset")
	}
	checkSVG(t, page)
	if err := rep.Write(&h, "pdf", lang.English); err == nil {
		t.Error("format pdf accepted")
	}
}

// checkSVG checks that the SVG charts of a page are well-formed XML.
func checkSVG(t *testing.T, page string) {
	t.Helper()
	for rest := page; ; {
		i := strings.Index(rest, "<svg")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "</svg>")
		svg := rest[i : i+j+6]
		if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
			t.Errorf("svg is not well-formed: %v\n%s", err, svg)
		}
		rest = rest[i+j+6:]
	}
}

// TestSummariesCount: a record that summarises identical refusals counts
// as many decisions in the report, and shows its count in the listings.
func TestSummariesCount(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := audittest.Record(1, "gw-1")
	rec.Verdict, rec.Action, rec.Reasons = audit.Deny, audit.Blocked, []audit.Code{audit.CodeRateLimited}
	sum := *rec
	sum.Count, sum.Last = 3000, rec.Time.Add(30*time.Second)
	if _, _, err := s.Append(ctx, []*chain.Entry{chain.DecisionEntry(rec, false), chain.CompletionEntry(&sum)}, false); err != nil {
		t.Fatal(err)
	}
	rep, err := Build(ctx, s, Options{Since: rec.Time.Add(-time.Hour), Until: rec.Time.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Decisions != 3000 || rep.Totals.Blocked != 3000 || rep.Totals.Refusals != 3000 || rep.Totals.Violations != 0 ||
		len(rep.RefusalsByReason) != 1 || rep.RefusalsByReason[0].Count != 3000 || len(rep.ViolationsByReason) != 0 {
		t.Errorf("totals %+v, refusals by reason %+v, violations by reason %+v", rep.Totals, rep.RefusalsByReason, rep.ViolationsByReason)
	}
	page, err := s.Query(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var table, csvOut strings.Builder
	for format, out := range map[string]*strings.Builder{FormatTable: &table, FormatCSV: &csvOut} {
		rw, err := NewRecordWriter(out, format)
		if err != nil {
			t.Fatal(err)
		}
		if err := rw.Write(&page.Records[0]); err != nil {
			t.Fatal(err)
		}
		rw.Close()
	}
	if !strings.Contains(table.String(), "RATE_LIMITED ×3000") {
		t.Errorf("table:\n%s", table.String())
	}
	rows, err := csv.NewReader(strings.NewReader(csvOut.String())).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][len(rows[1])-2] != "3000" || rows[1][len(rows[1])-1] != sum.Last.UTC().Format(time.RFC3339Nano) {
		t.Errorf("csv: %v %v", rows, err)
	}
}
