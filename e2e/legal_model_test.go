package e2e

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/geo/geotest"
)

// The legal model of the default policy, through a real gateway: the data
// categories an app declares choose its profile, profiles follow GDPR
// chapter V, exceptions tolerate only the codes they cover, and a French
// browser reads the policy's reasons in French.

// legalWorld is the test world with a Swiss address: ipNowhere is placed in
// Switzerland (ch.test), the other addresses stay where they are.
func legalWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	geotest.WriteCountryDB(t, w.countryDB, map[string]string{
		ipEU: "FR", ipUS: "US", ipAWSFR: "FR", ipOVH: "FR", ipNowhere: "CH", ipDE: "DE",
	})
	w.dns.SetA("ch.test", 300, ipNowhere)
	w.dns.SetA("de.test", 300, ipDE)
	return w
}

// legalRecord is an exception or allowed host with every legal field.
func legalRecord(fields map[string]any) map[string]any {
	r := map[string]any{
		"legal_basis": "art46", "assessment": "AITD-2026-04", "reason": "contract with standard contractual clauses",
		"approved_by": "DPD, décision 2026-030", "starts": "2026-01-05", "expires": "2026-12-31",
	}
	for k, v := range fields {
		r[k] = v
	}
	return r
}

func TestLegalModelThroughTheGateway(t *testing.T) {
	w := legalWorld(t)
	dir := copyDefaultPolicies(t)
	basic := map[string]any{"basic": true}
	editData(t, dir, func(data map[string]any) {
		data["apps"] = map[string]any{
			// Civil-status records: the category calls for "france".
			"etat-civil": map[string]any{"categories": []any{"civil-status"}, "identified_by": basic},
			// Videoconferencing, no category: the profile it names.
			"visio": map[string]any{"profile": "gdpr-transfer", "identified_by": basic},
			// Human resources: sovereign, with exceptions.
			"rh": map[string]any{"categories": []any{"hr"}, "identified_by": basic},
		}
		data["exceptions"] = map[string]any{
			// A US provider's Paris region: a jurisdiction problem.
			"2026-030-rh-aws": legalRecord(map[string]any{"app": "rh", "host": "aws-paris.test", "covers": []any{"JURISDICTION_NON_EU"}}),
			// The same exception for a host in the US: the address is
			// outside the EU, which the exception does not cover.
			"2026-031-rh-us": legalRecord(map[string]any{"app": "rh", "host": "us.test", "covers": []any{"JURISDICTION_NON_EU"}}),
		}
	})
	creds := writeCredentials(t, map[string]string{"etat-civil": "s1", "visio": "s2", "rh": "s3"})
	storePath := filepath.Join(t.TempDir(), "audit.db")
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: dir,
		app: map[string]any{"credentials": creds, "audit": storePath}})
	clients := map[string]*http.Client{}
	for app, password := range map[string]string{"etat-civil": "s1", "visio": "s2", "rh": "s3"} {
		clients[app] = proxyClient(g, app, password)
	}

	type outcome struct {
		status  int
		reasons string
		body    string
		id      string
	}
	get := func(app, host, acceptLanguage string) outcome {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, g.httpURL(host, "/"), nil)
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
		}
		resp, body := do(t, clients[app], req)
		return outcome{resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), body, resp.Header.Get("Sovgate-Decision-Id")}
	}

	// 1. An app that declares civil-status records: refused a German
	// destination, allowed a French one; the record names the profile the
	// category called for.
	de := get("etat-civil", "de.test", "")
	if de.status != http.StatusForbidden || de.reasons != "RESIDENCY_NON_FR" ||
		!strings.Contains(de.body, "- RESIDENCY_NON_FR: "+ipDE+" is in DE, outside France\n") {
		t.Errorf("etat-civil to de.test: %+v", de)
	}
	if rec := g.waitRecord(t, de.id, false); rec.Profile != "france" || !slices.Equal(rec.Categories, []string{"civil-status"}) {
		t.Errorf("record: profile %q, categories %v", rec.Profile, rec.Categories)
	}
	if fr := get("etat-civil", "eu.test", ""); fr.status != http.StatusOK {
		t.Errorf("etat-civil to eu.test (France): %+v", fr)
	} else if rec := g.waitRecord(t, fr.id, false); rec.Profile != "france" {
		t.Errorf("allowed record: profile %q", rec.Profile)
	}

	// 2. A gdpr-transfer app: Switzerland has an adequacy decision; the
	// United States only for a DPF-certified operator, which the operator
	// of us.test is not known to be; Amazon Web Services is (its
	// catalogue entry holds a dpf qualification).
	if ch := get("visio", "ch.test", ""); ch.status != http.StatusOK {
		t.Errorf("visio to ch.test (Switzerland): %+v", ch)
	} else if rec := g.waitRecord(t, ch.id, false); rec.Profile != "gdpr-transfer" {
		t.Errorf("record profile %q", rec.Profile)
	}
	us := get("visio", "us.test", "")
	if us.status != http.StatusForbidden || us.reasons != "RESIDENCY_NON_EU" ||
		!strings.Contains(us.body, "- RESIDENCY_NON_EU: "+ipUS+" is in US, outside the EU/EEA, in a country without an adequacy decision in force that covers this transfer; the adequacy decision for US covers only organisations certified under it (DPF), and as64501 has no catalogue entry that could record one\n") {
		t.Errorf("visio to us.test: %+v", us)
	}
	if aws := get("visio", "aws-paris.test", ""); aws.status != http.StatusOK {
		t.Errorf("visio to aws-paris.test (a DPF-certified US operator): %+v", aws)
	}

	// 3. Exceptions tolerate only the codes they cover.
	if ok := get("rh", "aws-paris.test", ""); ok.status != http.StatusOK {
		t.Errorf("rh to aws-paris.test under an exception covering JURISDICTION_NON_EU: %+v", ok)
	} else {
		line := g.waitLog(t, "decision", byID(ok.id))
		if !slices.Equal(line.Reasons, []string{"JURISDICTION_NON_EU", "EXCEPTION_APPLIED"}) {
			t.Errorf("decision line %+v", line)
		}
		if rec := g.waitRecord(t, ok.id, false); !slices.Equal(rec.Exceptions, []string{"2026-030-rh-aws"}) || rec.Profile != "sovereign" {
			t.Errorf("record: exceptions %v, profile %q", rec.Exceptions, rec.Profile)
		}
	}
	refused := get("rh", "us.test", "")
	if refused.status != http.StatusForbidden || refused.reasons != "RESIDENCY_NON_EU" || strings.Contains(refused.body, "EXCEPTION_APPLIED") {
		t.Errorf("rh to us.test, under an exception that does not cover RESIDENCY_NON_EU: %+v", refused)
	}
	if rec := g.waitRecord(t, refused.id, false); len(rec.Exceptions) != 0 || rec.Verdict != "deny" {
		t.Errorf("refused record: %+v", rec)
	}

	// 4. A French browser gets a French block page, the policy's reason in
	// French, countries named.
	page := get("etat-civil", "de.test", "fr-FR,fr;q=0.9,en;q=0.8")
	for _, want := range []string{
		"sovgate a refusé GET http://de.test:",
		"- RESIDENCY_NON_FR : l'adresse " + ipDE + " est située hors de France (Allemagne)\n",
		"délégué à la protection des données (DPD)",
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the French page lacks %q:\n%s", want, page.body)
		}
	}
	if strings.Contains(page.body, "outside France") {
		t.Errorf("the French page speaks English:\n%s", page.body)
	}
	usFR := get("visio", "us.test", "fr")
	if !strings.Contains(usFR.body, "- RESIDENCY_NON_EU : l'adresse "+ipUS+" est située hors de l'UE/EEE, dans un pays qui ne bénéficie d'aucune décision d'adéquation en vigueur couvrant ce transfert (États-Unis)") {
		t.Errorf("the French page for visio:\n%s", usFR.body)
	}

	// 5. An exception as wide as a top-level domain: `policy check`
	// refuses it, naming the file and line, and so does the running
	// gateway, which keeps the revision in service.
	good := g.policyStatus(t).Revision
	editData(t, dir, func(data map[string]any) {
		data["exceptions"].(map[string]any)["2026-099-everything"] = legalRecord(map[string]any{"app": "*", "host": "*.test", "covers": []any{"RESIDENCY_NON_EU"}})
	})
	dataFile := filepath.Join(dir, "sovgate", "data.json")
	res := runSovgate(t, "policy", "check", dir)
	where := regexp.MustCompile(regexp.QuoteMeta(dataFile) + `:(\d+):\d+: sovgate_data_error: exceptions\["2026-099-everything"\]: host "\*\.test" covers every domain registered under the public suffix test`)
	m := where.FindStringSubmatch(res.stdout + res.stderr)
	if res.exit != 1 || m == nil {
		t.Fatalf("policy check: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	if line := lineOf(t, dataFile, `"host": "*.test"`); m[1] != line {
		t.Errorf("policy check points at line %s, the host is on line %s", m[1], line)
	}
	st := g.waitPolicy(t, "the refusal of the wide exception", func(st sovereignty.PolicyStatus) bool { return st.Refused != nil })
	if len(st.Refused.Diagnostics) == 0 || st.Refused.Diagnostics[0].File != dataFile || st.Refused.Diagnostics[0].Row == 0 ||
		!strings.Contains(st.Refused.Diagnostics[0].Message, "a wildcard may cover at most one registrable domain") {
		t.Errorf("refusal %+v", st.Refused)
	}
	if g.policyStatus(t).Revision != good {
		t.Error("the gateway activated a revision with a TLD-wide exception")
	}
	if again := get("rh", "us.test", ""); again.status != http.StatusForbidden {
		t.Errorf("rh to us.test after the refused revision: %+v", again)
	}
}

// proxyClient is a client of the gateway that logs in as app.
func proxyClient(g *gateway, app, password string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyURL(&url.URL{Scheme: "http", Host: g.proxyAddr, User: url.UserPassword(app, password)}),
		DisableKeepAlives: true,
	}}
}

// lineOf is the number of the first line of path that contains text.
func lineOf(t *testing.T, path, text string) string {
	t.Helper()
	for i, line := range strings.Split(mustRead(path), "\n") {
		if strings.Contains(line, text) {
			return strconv.Itoa(i + 1)
		}
	}
	t.Fatalf("%s has no line with %q", path, text)
	return ""
}
