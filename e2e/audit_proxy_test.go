package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/ingest"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/verify"
)

// adminGet asks the gateway's admin endpoint.
func (g *gateway) adminGet(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + g.adminAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// auditPage asks GET /sovereignty/audit with query q.
func (g *gateway) auditPage(t *testing.T, q url.Values) store.Page {
	t.Helper()
	status, body := g.adminGet(t, "/sovereignty/audit?"+q.Encode())
	if status != http.StatusOK {
		t.Fatalf("GET /sovereignty/audit?%s: %d %s", q.Encode(), status, body)
	}
	var page store.Page
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("audit page: %v\n%s", err, body)
	}
	return page
}

// waitRecord waits until the decision is in the audit store (and, with
// completed, its completion too), as the admin API shows it.
func (g *gateway) waitRecord(t *testing.T, id string, completed bool) audit.Stored {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		page := g.auditPage(t, url.Values{"id": {id}})
		if len(page.Records) == 1 && (!completed || page.Records[0].Completed) {
			return page.Records[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("decision %s (completed %v) not in the audit store: %+v", id, completed, page.Records)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// TestAuditThroughTheProxy sends real traffic through the gateway and
// finds every decision in the SQLite audit store: by the admin API (with
// filters and paging) and by `audit verify`, with bytes once the exchange
// ends, and without the path, query string or proxy password.
func TestAuditThroughTheProxy(t *testing.T) {
	w := newWorld(t)
	storeLoc := filepath.Join(t.TempDir(), "audit.db")
	g := startGateway(t, w, gatewayOptions{mode: "monitor", app: map[string]any{"audit": storeLoc}})

	// Allowed, over plain http, with a path and a query string.
	resp, _ := get(t, g.client("etat-civil", nil), g.httpURL("eu.test", "/residents/42?token=s3cr3t-query"))
	allowedID := resp.Header.Get("Sovgate-Decision-Id")
	// A violation, forwarded in monitor mode, through a CONNECT tunnel.
	var hdr http.Header
	get(t, g.client("urbanisme", &hdr), g.httpsURL("us.test", "/"))
	tunnelID := hdr.Get("Sovgate-Decision-Id")
	// Refused by the guard.
	resp, _ = get(t, g.client("etat-civil", nil), g.httpURL("private.test", "/"))
	privateID := resp.Header.Get("Sovgate-Decision-Id")
	if allowedID == "" || tunnelID == "" || privateID == "" {
		t.Fatalf("decision ids %q %q %q", allowedID, tunnelID, privateID)
	}

	rec := g.waitRecord(t, allowedID, true)
	if rec.App != "etat-civil" || rec.Verdict != "allow" || rec.Action != "forwarded" || rec.Host != "eu.test" ||
		rec.Node != "e2e-node" || len(rec.Addresses) != 1 || rec.Addresses[0].Country != "FR" || rec.BytesDown == 0 {
		t.Errorf("allowed record %+v", rec)
	}
	if rec.Path != "" {
		t.Errorf("path %q stored without record_path", rec.Path)
	}
	rec = g.waitRecord(t, tunnelID, true)
	if rec.Verdict != "deny" || rec.Action != "forwarded" || rec.Method != "CONNECT" || rec.BytesUp == 0 || rec.BytesDown == 0 ||
		!slices.Equal(rec.Reasons, []audit.Code{audit.CodeResidencyNonEU}) || rec.Hash == "" {
		t.Errorf("tunnel record %+v", rec)
	}
	rec = g.waitRecord(t, privateID, false)
	if rec.Action != "blocked" || rec.Reasons[0] != "DESTINATION_PRIVATE" {
		t.Errorf("refused record %+v", rec)
	}

	// Filters and paging of the admin API.
	if page := g.auditPage(t, url.Values{"verdict": {"deny"}, "country": {"US"}}); len(page.Records) != 1 || page.Records[0].ID != tunnelID {
		t.Errorf("verdict=deny&country=US: %+v", page.Records)
	}
	var last string
	for i := range 5 {
		resp, _ := get(t, g.client("cantines", nil), g.httpURL("ovh.test", "/menu/"+string(rune('a'+i))))
		last = resp.Header.Get("Sovgate-Decision-Id")
	}
	g.waitRecord(t, last, false) // batched: on disk within a second
	var ids []string
	q := url.Values{"limit": {"2"}, "app": {"cantines"}}
	for pages := 0; ; pages++ {
		page := g.auditPage(t, q)
		if len(page.Records) > 2 || pages > 5 {
			t.Fatalf("page of %d records, or too many pages", len(page.Records))
		}
		for _, r := range page.Records {
			ids = append(ids, r.ID)
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if len(ids) != 5 || !(ids[0] > ids[4]) {
		t.Errorf("paged through %d records %v, want 5, newest first", len(ids), ids)
	}
	if status, body := g.adminGet(t, "/sovereignty/audit?verdict=maybe"); status != http.StatusBadRequest {
		t.Errorf("a bad filter: %d %s", status, body)
	}

	// Status counters.
	_, body := g.adminGet(t, "/sovereignty/status")
	var st struct {
		Counters map[string]int64 `json:"counters"`
		Audit    *ingest.Stats    `json:"audit"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Counters["audit_written"] < 8 || st.Counters["audit_dropped"] != 0 || st.Audit == nil || !st.Audit.StoreUp {
		t.Errorf("status %s", body)
	}

	// The gateway stops: the log verifies, and holds no credential.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenExisting(context.Background(), storeLoc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := verify.Log(context.Background(), s, verify.Options{})
	if err != nil || !res.OK() || res.Chains[0].Decisions != 8 {
		t.Fatalf("verify: %v %+v %+v", err, res.Chains, res.Break)
	}
	for _, f := range append(globFiles(t, storeLoc+"*"), globFiles(t, storeLoc+".spool/*")...) {
		data, _ := os.ReadFile(f)
		for _, secret := range []string{"secret", "s3cr3t-query", "/residents/42"} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s contains %q", f, secret)
			}
		}
	}
}

func globFiles(t *testing.T, pattern string) []string {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && !st.IsDir() {
			files = append(files, m)
		}
	}
	return files
}

func TestAuditRecordPath(t *testing.T) {
	w := newWorld(t)
	storeLoc := filepath.Join(t.TempDir(), "audit.db")
	g := startGateway(t, w, gatewayOptions{mode: "monitor", app: map[string]any{"audit": storeLoc, "record_path": true, "audit_sync": "strict"}})
	resp, _ := get(t, g.client("etat-civil", nil), g.httpURL("eu.test", "/residents/42?token=s3cr3t"))
	rec := g.waitRecord(t, resp.Header.Get("Sovgate-Decision-Id"), false)
	if rec.Path != "/residents/42" {
		t.Errorf("path %q, want /residents/42 (and never the query string)", rec.Path)
	}
}

// TestAuditPostgresAndFailClosed runs the gateway on a PostgreSQL store of
// the test's own, then takes both the store and the spool away: enforce
// mode answers 503 AUDIT_UNAVAILABLE, monitor mode forwards and says so.
func TestAuditPostgresAndFailClosed(t *testing.T) {
	w := newWorld(t)
	srv := audittest.StartServer(t)
	storeLoc := audittest.CreateDatabase(t, srv.URL("postgres"))
	for _, mode := range []string{"enforce", "monitor"} {
		t.Run(mode, func(t *testing.T) {
			spool := filepath.Join(t.TempDir(), "spool")
			g := startGateway(t, w, gatewayOptions{mode: mode, app: map[string]any{
				"audit": storeLoc, "audit_spool": spool, "audit_sync": "strict", "node": "pg-" + mode,
			}})
			resp, _ := get(t, g.client("etat-civil", nil), g.httpURL("eu.test", "/"))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("with the store up: %d", resp.StatusCode)
			}
			g.waitRecord(t, resp.Header.Get("Sovgate-Decision-Id"), false)

			srv.Stop()
			defer srv.Start()
			// The spool directory becomes a file: no segment can be created.
			if err := os.RemoveAll(spool); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(spool, []byte("not a directory"), 0o600); err != nil {
				t.Fatal(err)
			}
			resp, body := get(t, g.client("etat-civil", nil), g.httpURL("eu.test", "/"))
			if mode == "enforce" {
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Sovgate-Reasons") != string(audit.CodeAuditUnavailable) {
					t.Errorf("enforce without audit: %d %q %s", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), body)
				}
			} else if resp.StatusCode != http.StatusOK {
				t.Errorf("monitor without audit: %d %s; want the request forwarded", resp.StatusCode, body)
			}
			// A tunnel too: enforce mode closes it before a byte goes
			// through; monitor mode lets it go on.
			tresp, err := g.client("etat-civil", nil).Get(g.httpsURL("eu.test", "/"))
			if err == nil {
				tresp.Body.Close()
			}
			if mode == "enforce" && err == nil {
				t.Errorf("enforce without audit: the tunnel carried a request (%d)", tresp.StatusCode)
			}
			if mode == "monitor" && err != nil {
				t.Errorf("monitor without audit: the tunnel failed: %v", err)
			}
			// The decision is lost (and, in monitor mode, the completion of
			// the exchange that went on anyway).
			_, status := g.adminGet(t, "/sovereignty/status")
			var st struct {
				Counters map[string]int64 `json:"counters"`
			}
			if err := json.Unmarshal(status, &st); err != nil || st.Counters["audit_dropped"] < 1 {
				t.Errorf("the loss is not counted: %v %s", err, status)
			}
			os.Remove(spool)
		})
	}
}
