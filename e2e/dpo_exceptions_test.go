package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policy"
)

// exceptionLines returns the exceptions field of every decision line, by
// decision id.
func (g *gateway) exceptionLines(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(g.logPath)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, raw := range bytes.Split(data, []byte("\n")) {
		var l struct {
			Msg        string   `json:"msg"`
			ID         string   `json:"id"`
			Exceptions []string `json:"exceptions"`
		}
		if json.Unmarshal(raw, &l) == nil && l.Msg == "decision" {
			out[l.ID] = l.Exceptions
		}
	}
	return out
}

// TestDPOExceptionThroughTheProxy: an exception in force allows the
// transfer with EXCEPTION_APPLIED, and its id is in the decision record; an
// expired one is ignored.
func TestDPOExceptionThroughTheProxy(t *testing.T) {
	w := newWorld(t)
	dir := copyDefaultPolicies(t)
	editData(t, dir, func(data map[string]any) {
		data["exceptions"] = map[string]any{
			"2026-017-visio": map[string]any{"app": "visio", "host": "us.test", "reason": "migration to a sovereign provider planned for March", "approved_by": "DPO, decision 2026-017", "expires": "2099-12-31"},
			"2020-001-old":   map[string]any{"app": "meteo", "host": "us.test", "reason": "over", "approved_by": "DPO", "expires": "2020-01-31"},
		}
	})
	storeLoc := filepath.Join(t.TempDir(), "audit.db")
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: dir,
		app: map[string]any{"audit": storeLoc, "audit_sync": "strict"}})

	resp, err := g.client("visio", nil).Get(g.httpURL("us.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("visio to us.test under an exception: %s", resp.Status)
	}
	id := resp.Header.Get("Sovgate-Decision-Id")
	line := g.waitLog(t, "decision", byID(id))
	if line.Verdict != "allow" || !slices.Equal(line.Reasons, []string{"RESIDENCY_NON_EU", "EXCEPTION_APPLIED"}) {
		t.Errorf("decision line %+v", line)
	}
	if got := g.exceptionLines(t)[id]; !slices.Equal(got, []string{"2026-017-visio"}) {
		t.Errorf("exceptions in the decision record: %v", got)
	}
	// And in the audit store, where auditors query it (strict: written
	// before the request was forwarded).
	s, err := store.OpenExisting(context.Background(), storeLoc)
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.Query(context.Background(), store.Filter{App: "visio"})
	s.Close()
	if err != nil || len(page.Records) != 1 || !slices.Equal(page.Records[0].Exceptions, []string{"2026-017-visio"}) {
		t.Errorf("audit store: %v %+v", err, page)
	}

	// The expired exception of meteo does nothing.
	resp, err = g.client("meteo", nil).Get(g.httpURL("us.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Sovgate-Reasons") != "RESIDENCY_NON_EU" {
		t.Errorf("meteo under an expired exception: %s %s", resp.Status, resp.Header.Get("Sovgate-Reasons"))
	}
	if got := g.exceptionLines(t)[resp.Header.Get("Sovgate-Decision-Id")]; got != nil {
		t.Errorf("an expired exception is in the record: %v", got)
	}
}

// clock is a clock the test sets.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// TestDPOExceptionExpiryWithAClock drives the decision pipeline (real
// resolver, GeoIP databases and policy directory) with a clock the test
// sets: the exception holds through its whole last day, in UTC, and not a
// second longer than the decision cache's lifetime (one minute) after it.
func TestDPOExceptionExpiryWithAClock(t *testing.T) {
	w := newWorld(t)
	dir := copyDefaultPolicies(t)
	editData(t, dir, func(data map[string]any) {
		data["exceptions"] = map[string]any{"2026-099-visio": map[string]any{
			"app": "visio", "host": "us.test", "reason": "contract ends with the year", "approved_by": "DPO", "expires": "2026-12-31",
		}}
	})
	engine, err := policy.LoadTested(t.Context(), policy.DirBundle(dir))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	resolver, err := geo.NewResolver(geo.ResolverConfig{Server: w.dns.Addr(), Timeout: 2 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	classifier, err := geo.NewClassifier(geo.ClassifierConfig{CountryDB: w.countryDB, ASNDB: w.asnDB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { classifier.Close() })
	p, err := decision.New(decision.Config{
		Mode: decision.Enforce, Resolver: resolver, Classifier: classifier, Policy: engine, Now: clk.Now,
		Guard: geo.NewGuard([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/29")}),
	})
	if err != nil {
		t.Fatal(err)
	}
	target, err := decision.ParseConnectTarget("us.test:443")
	if err != nil {
		t.Fatal(err)
	}
	visio := decision.Caller{App: "visio", IP: "10.1.2.3", IdentifiedBy: "basic"}

	for _, tc := range []struct {
		at         string
		verdict    audit.Verdict
		exceptions []string
	}{
		{"2026-12-31T08:00:00Z", "allow", []string{"2026-099-visio"}},
		{"2026-12-31T23:59:59Z", "allow", []string{"2026-099-visio"}},      // the whole last day
		{"2027-01-01T00:00:30+01:00", "allow", []string{"2026-099-visio"}}, // still 31 December in UTC
		{"2027-01-01T00:01:00Z", "deny", nil},                              // past expiry, and past the cache lifetime of the last allow
		{"2027-06-01T12:00:00Z", "deny", nil},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		clk.set(at)
		out := p.Decide(t.Context(), target, visio)
		rec := out.Record("test")
		if out.Verdict != tc.verdict || !slices.Equal(rec.Exceptions, tc.exceptions) {
			t.Errorf("at %s: verdict %s, reasons %v, record exceptions %v; want %s %v",
				tc.at, out.Verdict, out.Reasons, rec.Exceptions, tc.verdict, tc.exceptions)
		}
	}
}
