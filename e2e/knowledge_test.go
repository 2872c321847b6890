package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/geo/geotest"
)

// Real destinations, decided with nothing but the data built into sovgate:
// the binary's IP2Location LITE countries, its registration and provider
// ranges snapshots, and the default policy's operator catalogue. The DNS
// server on loopback answers the names with real addresses, chosen from
// the shared datasets (the ASN table, the providers' feeds); `sovgate
// check` never connects to them.
var realDestinations = []struct {
	name, ip string
	// allowed, else denied with reason and, for JURISDICTION_NON_EU, the
	// operator and how it was recognised.
	allowed               bool
	reason, operator, how string
}{
	// AWS Paris: the feed gives eu-west-3 (FR), the catalogue US law.
	{"app.aws-paris.example", "35.180.0.10", false, "JURISDICTION_NON_EU", "aws", "range"},
	// Microsoft 365 in Dutch data centres: Exchange Online, SharePoint
	// Online and Office endpoints (AS8075, not in the Azure feed: the
	// catalogue knows the ASN), Teams and Entra ID sign-in (listed in the
	// Azure service tags).
	{"outlook.office365.com", "52.97.135.2", false, "JURISDICTION_NON_EU", "microsoft", "asn"},
	{"ville-lyon.sharepoint.com", "40.108.139.2", false, "JURISDICTION_NON_EU", "microsoft", "asn"},
	{"www.office.com", "52.105.0.2", false, "JURISDICTION_NON_EU", "microsoft", "asn"},
	{"teams.microsoft.com", "52.112.14.2", false, "JURISDICTION_NON_EU", "azure", "range"},
	{"login.microsoftonline.com", "20.190.137.2", false, "JURISDICTION_NON_EU", "azure", "range"},
	// The city's own name for its mail, pointing at Exchange Online: the
	// name says nothing, the ASN says Microsoft.
	{"autodiscover.ville-lyon.example", "52.97.135.3", false, "JURISDICTION_NON_EU", "microsoft", "asn"},
	// A US SaaS on its own network in France, a Chinese cloud in Ireland.
	{"ville-lyon.my.salesforce.example", "163.76.161.2", false, "JURISDICTION_NON_EU", "salesforce", "asn"},
	{"obs.huaweicloud.example", "83.101.0.2", false, "JURISDICTION_NON_EU", "huawei", "asn"},
	// European operators.
	{"www.ovh-hosted.example", "5.135.0.2", true, "", "ovhcloud", "asn"},
	{"s3.scaleway-hosted.example", "51.158.0.2", true, "", "scaleway", "asn"},
	{"app.hetzner-hosted.example", "5.9.0.2", true, "", "hetzner", "asn"},
	{"shop.ionos-hosted.example", "5.250.176.2", true, "", "ionos", "asn"},
	// Networks of Réunion, Mayotte and Martinique: EU territory, their
	// operators known by registration only.
	{"www.mairie-reunion.example", "41.213.128.2", true, "", "as37002", "registration"},
	{"www.mairie-mayotte.example", "41.242.116.2", true, "", "as37614", "registration"},
	{"www.mairie-martinique.example", "80.243.240.2", true, "", "as20776", "registration"},
}

func TestRealDestinationsWithNoConfig(t *testing.T) {
	dns := geotest.StartDNSServer(t)
	for _, d := range realDestinations {
		dns.SetA(d.name, 300, d.ip)
	}
	for _, d := range realDestinations {
		t.Run(d.name, func(t *testing.T) {
			res := runSovgate(t, "check", "--format", "json", "--resolver", dns.Addr(), d.name)
			var report struct {
				Reasons []string `json:"reasons"`
				Input   struct {
					Destination struct {
						Addresses []struct {
							Country   string `json:"country"`
							Provider  string `json:"provider"`
							MatchedBy string `json:"matched_by"`
						} `json:"addresses"`
						Providers []struct {
							ID            string   `json:"id"`
							Jurisdictions []string `json:"jurisdictions"`
							Inferred      bool     `json:"inferred"`
						} `json:"providers"`
					} `json:"destination"`
				} `json:"input"`
			}
			if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
				t.Fatalf("exit %d: %v\n%s%s", res.exit, err, res.stdout, res.stderr)
			}
			wantExit := 3
			if d.allowed {
				wantExit = 0
			}
			if res.exit != wantExit || (!d.allowed && !slices.Contains(report.Reasons, d.reason)) || (d.allowed && len(report.Reasons) != 0) {
				t.Errorf("exit %d, reasons %v; want exit %d with %q\n%s", res.exit, report.Reasons, wantExit, d.reason, res.stdout)
			}
			addrs := report.Input.Destination.Addresses
			if len(addrs) != 1 || addrs[0].Provider != d.operator || addrs[0].MatchedBy != d.how {
				t.Errorf("address %+v, want operator %s matched by %s", addrs, d.operator, d.how)
			}
		})
	}

	t.Run("geo lookup 35.180.0.10", func(t *testing.T) {
		res := runSovgate(t, "geo", "lookup", "35.180.0.10")
		for _, want := range []string{"35.180.0.10", "FR (EU)", "provider aws", "region eu-west-3 (FR)", "aws (Amazon Web Services), headquartered in US, jurisdiction US, matched by range",
			"Registration data   snapshot built into sovgate", "Provider ranges     snapshot built into sovgate"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("geo lookup lacks %q:\n%s%s", want, res.stdout, res.stderr)
			}
		}
		if res.exit != 0 {
			t.Errorf("exit %d", res.exit)
		}
	})
	t.Run("the inferred reason says so", func(t *testing.T) {
		dns.SetA("www.us-isp.example", 300, "24.0.0.2") // Comcast: in no catalogue entry
		res := runSovgate(t, "check", "--resolver", dns.Addr(), "www.us-isp.example")
		if res.exit != 3 || !strings.Contains(res.stdout, "is presumed subject to US law: inferred from the registration of its network") ||
			!strings.Contains(res.stdout, "jurisdiction US presumed") {
			t.Errorf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})
}

// TestInternalNetworksEnforce: the city's own services, declared internal,
// are reached in enforce mode although nobody knows where they are or who
// runs them; with allow_private alone they are reachable but classified
// like any address, so enforce mode blocks them.
func TestInternalNetworksEnforce(t *testing.T) {
	w := newWorld(t)
	w.dns.SetA("intranet.ville.test", 300, ipNowhere)

	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{
		"allow_private": []string{}, "internal": []string{ipNowhere + "/32", ipEU + "/32"},
		// Nothing is registered: without internal, nothing would be known.
		"geoip_registration": emptyRegistration(t),
	}})
	resp, body := get(t, g.client("etat-civil", nil), g.httpURL("intranet.ville.test", "/"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "hello from "+ipNowhere) {
		t.Fatalf("internal destination: %d %s", resp.StatusCode, body)
	}
	line := g.waitLog(t, "decision", func(l decisionLine) bool { return l.Host == "intranet.ville.test" })
	if line.Verdict != "allow" || len(line.Reasons) != 0 {
		t.Errorf("decision %+v", line)
	}
	raw := mustRead(g.logPath)
	if !strings.Contains(raw, `"internal":true`) {
		t.Errorf("the decision line does not mark the address internal:\n%s", raw)
	}
	// Outside the internal networks, nothing changes: the guard still
	// refuses other private addresses...
	if status, err := g.getStatus("etat-civil", "private.test"); err != nil || status != http.StatusForbidden {
		t.Errorf("private.test: %d %v", status, err)
	}
	// ...and an address in a public place with no known operator is
	// JURISDICTION_UNKNOWN.
	if status, err := g.getStatus("etat-civil", "de.test"); err == nil && status == http.StatusOK {
		t.Errorf("127.0.0.7 is neither internal nor allowed: %d", status)
	}

	// The same service with allow_private only: reachable, classified, and
	// denied in enforce mode (no country, no known operator).
	g = startGateway(t, w, gatewayOptions{mode: "enforce", proxyAddr: g.proxyAddr, adminAddr: g.adminAddr, app: map[string]any{
		"allow_private":      []string{ipNowhere + "/32"},
		"geoip_registration": emptyRegistration(t),
	}})
	resp, _ = get(t, g.client("etat-civil", nil), g.httpURL("intranet.ville.test", "/"))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("Sovgate-Reasons"), "RESIDENCY_UNKNOWN") ||
		!strings.Contains(resp.Header.Get("Sovgate-Reasons"), "JURISDICTION_UNKNOWN") {
		t.Errorf("allow_private only: %d %q", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"))
	}

	// sovgate check takes --internal too.
	res := runSovgate(t, "check", "--resolver", w.dns.Addr(), "--geoip-registration", emptyRegistration(t), "--internal", ipNowhere+"/32", "intranet.ville.test:443")
	if res.exit != 0 || !strings.Contains(res.stdout, "internal (the city's own network)") {
		t.Errorf("check --internal: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
}

// emptyRegistration writes registration data that knows no test network.
func emptyRegistration(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registration.mmdb")
	geotest.WriteRegistrationDB(t, p, map[string]geotest.Registration{"198.51.100.0/24": {Country: "FR"}})
	return p
}

// supplierOperator is the catalogue entry a DPO adds for a supplier found
// to be a US company: its platform's names, and its headquarters.
const supplierOperator = `  "supplier-crm": {
    "name": "Supplier CRM Inc.",
    "kind": "saas",
    "headquarters": "US",
    "parent": [],
    "domain_suffixes": ["supplier.test"],
    "source": "contract 2026-118, annex 3: the processor is Supplier CRM Inc., Delaware",
    "sources": ["contract 2026-118"],
    "checked": "2026-12-06"
  },
`

// addOperator inserts supplierOperator at the top of the catalogue file of
// a policy directory.
func addOperator(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "sovgate", "operators", "data.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(raw), "{\n", "{\n"+supplierOperator, 1)
	saveFile(t, path, text)
}

// TestDPOAddsOperatorThroughTheWatcher: the supplier's platform is in
// Germany, on a network registered in France, so it is allowed. The DPO
// learns that the supplier is a US company and adds it to the catalogue in
// the policy directory: after the hot reload, the traffic is decided by
// the supplier's jurisdiction. A broken edit of the catalogue is refused
// with file:line, and the corrected revision serves.
func TestDPOAddsOperatorThroughTheWatcher(t *testing.T) {
	w := newWorld(t)
	w.dns.SetA("crm.supplier.test", 300, ipDE)
	dir := copyDefaultPolicies(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: dir, app: map[string]any{"policy_poll_interval": "1h"}})
	before := g.policyStatus(t)
	if status, err := g.getStatus("etat-civil", "crm.supplier.test"); err != nil || status != http.StatusOK {
		t.Fatalf("before: %d %v", status, err)
	}

	// A mistake first: an ASN for private use and a misspelt field.
	path := filepath.Join(dir, "sovgate", "operators", "data.json")
	good, _ := os.ReadFile(path)
	broken := strings.Replace(supplierOperator, `"parent": [],`, `"parent": [], "asns": [64512], "headquaters": "US",`, 1)
	saveFile(t, path, strings.Replace(string(good), "{\n", "{\n"+broken, 1))
	st := g.waitPolicy(t, "the broken catalogue refused", func(st sovereignty.PolicyStatus) bool { return st.Refused != nil })
	var lines []string
	for _, d := range st.Refused.Diagnostics {
		lines = append(lines, d.String())
	}
	joined := strings.Join(lines, "\n")
	for _, want := range []string{
		`: sovgate_data_error: operator "supplier-crm": asns[0]: AS64512 is for private use`,
		`: sovgate_data_error: operator "supplier-crm": unknown field "headquaters"`,
	} {
		// On line 6 of the catalogue, where the DPO wrote them.
		if !strings.Contains(joined, path+":6:") || !strings.Contains(joined, want) {
			t.Errorf("refusal lacks %s:6:...%s\n%s", path, want, joined)
		}
	}
	if st.Revision != before.Revision {
		t.Fatalf("a broken catalogue went into service")
	}
	if status, _ := g.getStatus("etat-civil", "crm.supplier.test"); status != http.StatusOK {
		t.Errorf("during the refusal: %d", status)
	}

	// The corrected entry.
	saveFile(t, path, string(good))
	addOperator(t, dir)
	want := dirRevision(t, dir)
	st = g.waitPolicy(t, "the catalogue edit", func(st sovereignty.PolicyStatus) bool { return st.Revision == want })
	if st.Operators != before.Operators+1 || st.Refused != nil {
		t.Errorf("status after the edit: %d operators (was %d), refused %+v", st.Operators, before.Operators, st.Refused)
	}
	resp, body := get(t, g.client("etat-civil", nil), g.httpURL("crm.supplier.test", "/"))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Sovgate-Reasons") != "JURISDICTION_NON_EU" {
		t.Errorf("after the edit: %d %q %s", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), body)
	}
	line := g.waitLog(t, "decision", func(l decisionLine) bool { return l.Host == "crm.supplier.test" && l.Verdict == "deny" })
	if line.PolicyRevision != want || len(line.Addresses) != 1 || line.Addresses[0].Provider != "supplier-crm" {
		t.Errorf("decision %+v", line)
	}
	if !strings.Contains(mustRead(g.logPath), `"provider":"supplier-crm","region":"","matched_by":"domain"`) {
		t.Errorf("the record does not say how the operator was recognised:\n%s", mustRead(g.logPath))
	}
}

// TestDPOAddsOperatorThroughASignedBundle: the same edit, distributed as a
// signed bundle: gateways that poll the bundle server decide by the new
// catalogue once they have verified and activated it.
func TestDPOAddsOperatorThroughASignedBundle(t *testing.T) {
	w := newWorld(t)
	w.dns.SetA("crm.supplier.test", 300, ipDE)
	b := serveSignedBundle(t, "/sovgate.tar.gz")
	rev1 := b.revision
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: b.url, app: map[string]any{
		"policy_public_key": b.publicKeyFile, "policy_poll_interval": "100ms", "policy_cache": t.TempDir(),
	}})
	if st := g.policyStatus(t); st.Revision != rev1 {
		t.Fatalf("revision %s, want %s", st.Revision, rev1)
	}
	if status, err := g.getStatus("etat-civil", "crm.supplier.test"); err != nil || status != http.StatusOK {
		t.Fatalf("before: %d %v", status, err)
	}

	dir := copyDefaultPolicies(t)
	addOperator(t, dir)
	v2, rev2 := buildBundle(t, dir, b.privateKey)
	b.server.Set(v2)
	st := g.waitPolicy(t, "the signed bundle with the new operator", func(st sovereignty.PolicyStatus) bool { return st.Revision == rev2 })
	if st.Source != b.url {
		t.Errorf("source %q", st.Source)
	}
	if status, _ := g.getStatus("etat-civil", "crm.supplier.test"); status != http.StatusForbidden {
		t.Errorf("after the signed bundle: %d, want 403", status)
	}
	line := g.waitLog(t, "decision", func(l decisionLine) bool { return l.Host == "crm.supplier.test" && l.Verdict == "deny" })
	if !slices.Equal(line.Reasons, []string{"JURISDICTION_NON_EU"}) || line.PolicyRevision != rev2 {
		t.Errorf("decision %+v", line)
	}
}

// TestDataAgesInStatusAndMetrics: the status page and the metrics give the
// age of every dataset the gateway uses, and the number of operators of
// the catalogue in service.
func TestDataAgesInStatusAndMetrics(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{})
	status, body := g.adminGet(t, "/sovereignty/status")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	var st struct {
		Policy sovereignty.PolicyStatus `json:"policy"`
		Data   struct {
			Registration struct {
				Source string `json:"source"`
				Path   string `json:"path"`
			} `json:"registration"`
			Datasets []struct {
				Name    string `json:"name"`
				Source  string `json:"source"`
				AgeDays int    `json:"age_days"`
			} `json:"datasets"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Policy.Operators < 120 || st.Data.Registration.Path != w.registrationDB {
		t.Errorf("status: %d operators, registration %+v", st.Policy.Operators, st.Data.Registration)
	}
	sources := map[string]string{}
	for _, d := range st.Data.Datasets {
		sources[d.Name] = d.Source
		if d.Name == "provider_ranges" && d.AgeDays < 90 {
			t.Errorf("the embedded provider ranges are %d days old?", d.AgeDays)
		}
	}
	if sources["country"] != "mmdb" || sources["registration"] != "mmdb" || sources["provider_ranges"] != "embedded" {
		t.Errorf("datasets %+v", st.Data.Datasets)
	}
	for _, name := range []string{
		`sovgate_data_age_seconds{dataset="registration",source="mmdb"}`,
		`sovgate_data_age_seconds{dataset="provider_ranges",source="embedded"}`,
	} {
		if v := g.metric(t, name); v == "" {
			t.Errorf("no metric %s", name)
		}
	}
}
