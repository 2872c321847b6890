package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/internal/lang"
)

// classesStore holds a month's decisions of both classes: violations (a
// US address, a US operator), operational refusals (wrong passwords, a
// flood summarised, a private address, a policy error forwarded in
// monitor mode) and allowed transfers.
func classesStore(t *testing.T) store.Store {
	t.Helper()
	s := emptyStore(t)
	start := time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)
	us := []audit.Address{{IP: "198.51.100.7", Country: "US"}}
	aws := []audit.Address{{IP: "203.0.113.4", Country: "FR", Provider: "aws"}}
	fr := []audit.Address{{IP: "192.0.2.10", Country: "FR", Provider: "ovh"}}
	var entries []*chain.Entry
	add := func(i int, app, host string, addrs []audit.Address, v audit.Verdict, a audit.Action, count int64, reasons ...audit.Code) {
		rec := &audit.Record{ID: "0192" + strings.Repeat("0", 4) + "-0000-7000-8000-" + strings.Repeat("0", 10) + string(rune('a'+i/26)) + string(rune('a'+i%26)),
			Time: start.Add(time.Duration(i) * time.Hour), Node: "gw-1", App: app, Method: "CONNECT", Host: host, Port: 443,
			Addresses: addrs, Verdict: v, Action: a, Mode: "monitor", Reasons: reasons, Profile: "sovereign"}
		entries = append(entries, chain.DecisionEntry(rec, false))
		if count > 1 {
			sum := *rec
			sum.Count, sum.Last = count, rec.Time.Add(30*time.Second)
			entries = append(entries, chain.CompletionEntry(&sum))
		}
	}
	add(0, "etat-civil", "api.us.example", us, audit.Deny, audit.Forwarded, 1, audit.CodeResidencyNonEU)
	add(1, "etat-civil", "api.us.example", us, audit.Deny, audit.Blocked, 1, audit.CodeResidencyNonEU)
	add(2, "urbanisme", "s3.aws.example", aws, audit.Deny, audit.Forwarded, 1, audit.CodeJurisdictionNonEU)
	add(3, "urbanisme", "api.fr.example", fr, audit.Allow, audit.Forwarded, 1)
	add(4, "unknown", "api.fr.example", nil, audit.Deny, audit.Blocked, 1, audit.CodeAuthFailed)
	add(5, "unknown", "api.fr.example", nil, audit.Deny, audit.Blocked, 2999, audit.CodeRateLimited)
	add(6, "cantines", "metadata.example", nil, audit.Deny, audit.Blocked, 1, audit.CodeDestinationPrivate)
	add(7, "cantines", "api.fr.example", fr, audit.Deny, audit.Forwarded, 1, audit.CodePolicyError)
	if _, _, err := s.Append(context.Background(), entries, false); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReportSeparatesClasses(t *testing.T) {
	s := classesStore(t)
	since := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	rep, err := Build(context.Background(), s, Options{Since: since, Until: since.AddDate(0, 1, 0), Now: since.AddDate(0, 1, 6)})
	if err != nil {
		t.Fatal(err)
	}
	want := Totals{Decisions: 3006, Allowed: 1, Violations: 3, ViolationsForwarded: 2, ViolationsBlocked: 1,
		Refusals: 3002, RefusalsForwarded: 1, RefusalsBlocked: 3001, Blocked: 3002, Apps: 4, Destinations: 4}
	if got := rep.Totals; got != want {
		t.Errorf("totals\n got %+v\nwant %+v", got, want)
	}
	keys := func(cs []Count) (out []string) {
		for _, c := range cs {
			out = append(out, c.Key)
		}
		return out
	}
	if got := strings.Join(keys(rep.ViolationsByReason), ","); got != "RESIDENCY_NON_EU,JURISDICTION_NON_EU" {
		t.Errorf("violations by reason %s", got)
	}
	if got := strings.Join(keys(rep.ViolationsByApp), ","); got != "etat-civil,urbanisme" {
		t.Errorf("violations by app %s: an app with refusals only is not among them", got)
	}
	if got := strings.Join(keys(rep.ViolationsByCountry), ","); got != "US,FR" {
		t.Errorf("violations by country %s", got)
	}
	if got := strings.Join(keys(rep.RefusalsByReason), ","); got != "RATE_LIMITED,AUTH_FAILED,DESTINATION_PRIVATE,POLICY_ERROR" {
		t.Errorf("refusals by reason %s", got)
	}
	if rep.RefusalsByReason[0].Count != 2999 {
		t.Errorf("the summary counts %d", rep.RefusalsByReason[0].Count)
	}
	for _, d := range rep.TopDestinations {
		if d.Host == "api.fr.example" && (d.Violations != 0 || d.Refusals != 3001) {
			t.Errorf("api.fr.example: %+v", d)
		}
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md, lang.English); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| sovereignty violations | 3 | 0.1% |", "| operational refusals | 3002 | 99.9% |",
		"| AUTH_FAILED: Authentication failed | 1 | 0 | 1 |", "## Operational refusals by app"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("English report lacks %q\n%s", s, md.String())
		}
	}
}

// In French, the report reads like an administration's: French words,
// countries named, dates written out, numbers grouped, and never the
// words an auditor would stop at.
func TestReportInFrench(t *testing.T) {
	s := classesStore(t)
	since := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	rep, err := Build(context.Background(), s, Options{Since: since, Until: since.AddDate(0, 1, 0), Now: since.AddDate(0, 1, 6).Add(9 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md, lang.French); err != nil {
		t.Fatal(err)
	}
	text := md.String()
	for _, s := range []string{
		"# Rapport d'audit sovgate",
		"Période : du 1er octobre 2026 au 31 octobre 2026 inclus, en temps universel (UTC).",
		"Rapport établi le 7 novembre 2026 à 09 h 00 UTC.",
		"## Synthèse",
		"| écarts de souveraineté | 3 | 0,1\u202f% |",
		"| refus techniques | 3\u202f002 | 99,9\u202f% |",
		"| toutes les décisions | 3\u202f006 | 100,0\u202f% |",
		"## Écarts de souveraineté par pays de destination",
		"| États-Unis (US) | 2 | 1 | 1 |",
		"| RESIDENCY_NON_EU : Adresse hors de l'UE/EEE | 2 | 1 | 1 |",
		"## Refus techniques par motif",
		"| AUTH_FAILED : Échec d'authentification | 1 | 0 | 1 |",
		"ce n'est pas un transfert hors de l'UE",
		"| etat-civil | États-Unis (US) | - | refusé | écart de souveraineté |",
		"Pour vérifier que le journal n'a pas été modifié : `sovgate audit verify`.",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("French report lacks %q", s)
		}
	}
	for _, s := range []string{"infraction", "dérogation", "violation", "Totals", "allowed", "2026-10"} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
			t.Errorf("French report says %q:\n%s", s, text)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log(text)
	}

	var h bytes.Buffer
	if err := rep.WriteHTML(&h, lang.French); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	if !strings.Contains(page, `<html lang="fr">`) || !strings.Contains(page, "Écarts de souveraineté par motif") ||
		!strings.Contains(page, "01/10/2026") || strings.Contains(page, "violation") {
		t.Errorf("French HTML:\n%s", page)
	}
	checkSVG(t, page)

	var c bytes.Buffer
	if err := rep.WriteCSV(&c, lang.French); err != nil {
		t.Fatal(err)
	}
	raw := c.String()
	if !strings.HasPrefix(raw, "\uFEFF") {
		t.Error("French CSV without a byte order mark")
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(raw, "\uFEFF")))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil || len(rows) != len(rep.Transfers)+1 || rows[0][2] != "application" || rows[0][5] != "décision" {
		t.Fatalf("French CSV %v %v", rows, err)
	}
}
