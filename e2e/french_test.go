package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// frenchPolicy denies any address outside France and Germany, with its
// reason in English and in French, and names the profile the app's
// categories call for.
const frenchPolicy = `package sovgate

accepted := {"FR", "DE"}

outside contains a if {
	some a in input.destination.addresses
	not a.country in accepted
}

decision := {"allow": true, "profile": profile, "reasons": []} if {
	count(outside) == 0
} else := {"allow": false, "profile": profile, "reasons": [r |
	some a in outside
	r := {
		"code": "RESIDENCY_NON_EU", "ip": a.ip,
		"message": sprintf("%s is in %s, outside the EU/EEA", [a.ip, a.country]),
		"messages": {
			"en": sprintf("%s is in %s, outside the EU/EEA", [a.ip, a.country]),
			"fr": sprintf("%s est aux États-Unis, hors de l'UE/EEE", [a.ip]),
		},
	}
]}

profile := "france" if "civil-status" in input.source.categories
else := "sovereign"
`

// TestFrenchUsersReadFrench: a French browser gets a French block page
// (real Caddy from our modules, curl and Go's client through it); the
// status counters, the metrics and the reports keep sovereignty
// violations apart from operational refusals; `check --lang fr` and
// `audit report --lang fr` answer in French; the audit record names the
// profile and the app's categories.
func TestFrenchUsersReadFrench(t *testing.T) {
	curl := requireTool(t, "curl", "apt-get install curl")
	w := newWorld(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sovgate", "decision.rego"), frenchPolicy)
	writeApps(t, dir, map[string]any{
		"etat-civil": map[string]any{"categories": []any{"civil-status", "personal"}, "identified_by": map[string]any{"basic": true}},
	})
	creds := writeCredentials(t, map[string]string{"etat-civil": "secret"})
	store := filepath.Join(t.TempDir(), "audit.db")
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: dir, app: map[string]any{"credentials": creds, "audit": store}})
	const frenchBrowser = "fr-FR,fr;q=0.9,en;q=0.8"

	// A French browser, through curl: the page is in French, the reason
	// the policy's French message.
	out, err := exec.Command(curl, "-sS", "-D", "-", "-x", "http://etat-civil:secret@"+g.proxyAddr,
		"-H", "Accept-Language: "+frenchBrowser, g.httpURL("us.test", "/")).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	page := string(out)
	for _, want := range []string{
		"HTTP/1.1 403", "Content-Language: fr", "Vary: Accept-Language", "Sovgate-Reasons: RESIDENCY_NON_EU",
		"sovgate a refusé GET http://us.test:", "(403 Interdit)", "identifiant de la décision : ",
		"- RESIDENCY_NON_EU : " + ipUS + " est aux États-Unis, hors de l'UE/EEE\n",
		"Communiquez cet identifiant de décision à votre délégué à la protection des données (DPD).",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the French page lacks %q:\n%s", want, page)
		}
	}
	violationID := headerValue(page, "Sovgate-Decision-Id")

	// The same request from an English browser, and from no browser.
	for _, accept := range []string{"en-GB,en;q=0.9", ""} {
		req, _ := http.NewRequest(http.MethodGet, g.httpURL("us.test", "/"), nil)
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		resp, body := do(t, g.client("etat-civil", nil), req)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Language") != "en" ||
			!strings.HasPrefix(body, "sovgate refused GET http://us.test:") ||
			!strings.Contains(body, "- RESIDENCY_NON_EU: "+ipUS+" is in US, outside the EU/EEA\n") {
			t.Errorf("Accept-Language %q: %d %s\n%s", accept, resp.StatusCode, resp.Header.Get("Content-Language"), body)
		}
	}

	// A wrong password, from the French browser: a refusal, explained in
	// French, and the team to ask is the gateway's.
	proxyURL := &url.URL{Scheme: "http", Host: g.proxyAddr, User: url.UserPassword("etat-civil", "wrong")}
	badClient := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodGet, g.httpURL("eu.test", "/"), nil)
	req.Header.Set("Accept-Language", frenchBrowser)
	resp, body := do(t, badClient, req)
	if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Sovgate-Reasons") != "AUTH_FAILED" ||
		!strings.Contains(body, "- AUTH_FAILED : identifiants de proxy erronés pour l'application « etat-civil »\n") ||
		!strings.Contains(body, "l'équipe qui administre la passerelle") || strings.Contains(body, "DPD") {
		t.Errorf("wrong password: %d %s\n%s", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), body)
	}
	refusalID := resp.Header.Get("Sovgate-Decision-Id")

	// Allowed: no page at all.
	req, _ = http.NewRequest(http.MethodGet, g.httpURL("eu.test", "/"), nil)
	req.Header.Set("Accept-Language", frenchBrowser)
	if resp, body := do(t, g.client("etat-civil", nil), req); resp.StatusCode != http.StatusOK {
		t.Fatalf("eu.test: %d %s", resp.StatusCode, body)
	}

	// The status page and the metrics count the two kinds apart.
	var status struct {
		Counters map[string]int64 `json:"counters"`
	}
	if code, raw := g.adminGet(t, "/sovereignty/status"); code != http.StatusOK || json.Unmarshal(raw, &status) != nil {
		t.Fatalf("status: %d %s", code, raw)
	}
	if c := status.Counters; c["violations"] != 3 || c["refusals"] != 1 || c["denied"] != 4 || c["allowed"] != 1 {
		t.Errorf("counters %v, want 3 violations, 1 refusal, 1 allowed", c)
	}
	for name, want := range map[string]string{
		`sovgate_decisions_total{class="sovereignty",verdict="deny"}`: "3",
		`sovgate_decisions_total{class="operational",verdict="deny"}`: "1",
		`sovgate_decisions_total{class="none",verdict="allow"}`:       "1",
	} {
		if got := g.metric(t, name); got != want {
			t.Errorf("%s = %q, want %s", name, got, want)
		}
	}

	// The record names the profile the categories called for.
	rec := g.waitRecord(t, violationID, false)
	if rec.Profile != "france" || !slices.Equal(rec.Categories, []string{"civil-status", "personal"}) {
		t.Errorf("record profile %q, categories %v", rec.Profile, rec.Categories)
	}
	if rec := g.waitRecord(t, refusalID, false); rec.Profile != "" || rec.Class() != "operational" {
		t.Errorf("refusal record %+v", rec)
	}

	// The French report keeps them apart too.
	res := runSovgate(t, "audit", "report", "--audit", store, "--since", "1h", "--lang", "fr")
	if res.exit != 0 {
		t.Fatalf("audit report --lang fr: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	violations, refusals, _ := strings.Cut(res.stdout, "## Refus techniques par motif")
	for _, want := range []string{"# Rapport d'audit sovgate", "| écarts de souveraineté | 3 |", "| refus techniques | 1 |",
		"| États-Unis (US) | 3 | 0 | 3 |", "| RESIDENCY_NON_EU : Adresse hors de l'UE/EEE | 3 | 0 | 3 |"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("the French report lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(violations, "AUTH_FAILED") || !strings.Contains(refusals, "| AUTH_FAILED : Échec d'authentification | 1 | 0 | 1 |") {
		t.Errorf("AUTH_FAILED is not among the refusals alone:\n%s", res.stdout)
	}
	res = runSovgate(t, "audit", "report", "--audit", store, "--since", "1h", "--lang", "fr", "--format", "csv")
	if res.exit != 0 || !strings.HasPrefix(res.stdout, "\uFEFFdébut;fin;application;pays") || !strings.Contains(res.stdout, ";refusé;") {
		t.Errorf("audit report --lang fr --format csv: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	if res := runSovgate(t, "audit", "report", "--audit", store, "--lang", "de"); res.exit != 1 || !strings.Contains(res.stderr, "--lang") {
		t.Errorf("--lang de: exit %d\n%s", res.exit, res.stderr)
	}

	// check --lang fr, with the same policy.
	res = runSovgate(t, "check", "--lang", "fr", "--policies", dir, "--geoip-country", w.countryDB, "--geoip-asn", w.asnDB,
		"--geoip-registration", w.registrationDB, "--resolver", w.dns.Addr(), "--allow-private", "127.0.0.0/29",
		"--app", "etat-civil", "https://us.test/")
	if res.exit != 3 {
		t.Fatalf("check --lang fr: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	for _, want := range []string{"Cible", "Application  etat-civil (reconnue par ses identifiants de proxy, basic)",
		ipUS + "  États-Unis (US, hors UE/EEE)", "Décision", "REFUS (mode surveillance, profil france) : le proxy transmet la requête et enregistre l'écart",
		"Motifs", "RESIDENCY_NON_EU : " + ipUS + " est aux États-Unis, hors de l'UE/EEE", "Politique"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("check --lang fr lacks %q:\n%s", want, res.stdout)
		}
	}
	if testing.Verbose() {
		t.Log(res.stdout)
	}
	for _, english := range []string{"Target", "Reasons", "outside the EU/EEA", "DENY"} {
		if strings.Contains(res.stdout, english) {
			t.Errorf("check --lang fr says %q:\n%s", english, res.stdout)
		}
	}
}

// TestPolicyTestInFrench: the default policy's tests, reported in French.
func TestPolicyTestInFrench(t *testing.T) {
	res := runSovgate(t, "policy", "test", "--lang", "fr", "../policies")
	if res.exit != 0 || !strings.Contains(res.stdout, "RÉUSSIS : ") || strings.Contains(res.stdout, "PASS:") {
		t.Errorf("policy test --lang fr: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	res = runSovgate(t, "policy", "test", "--lang", "fr", "--coverage", "../policies")
	if res.exit != 0 || !strings.Contains(res.stdout, "COUVERTURE") || !strings.Contains(res.stdout, "TOTAL : ") {
		t.Errorf("policy test --lang fr --coverage: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}
