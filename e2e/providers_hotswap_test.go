package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo/feeds/feedtest"
)

// providerStatus reads data.provider_ranges and data.revision from the
// status endpoint.
func (g *gateway) providerStatus(t *testing.T) (sha, revision string) {
	t.Helper()
	resp, err := http.Get("http://" + g.adminAddr + "/sovereignty/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		Data struct {
			ProviderRanges struct {
				SHA256 string `json:"sha256"`
			} `json:"provider_ranges"`
			Revision string `json:"revision"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	return status.Data.ProviderRanges.SHA256, status.Data.Revision
}

// replaceIndex writes data as dir/providers.mmdb the way `geo update` does:
// a temporary file renamed over the old one.
func replaceIndex(t *testing.T, dir string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, ".providers.mmdb.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "providers.mmdb")); err != nil {
		t.Fatal(err)
	}
}

// TestProviderRangesHotSwapUnderTraffic runs a gateway on provider ranges,
// replaces the index while clients keep sending requests, and checks that
// no request fails, that decisions follow the new data without a restart,
// and that a corrupt index is refused while the data in service stays.
func TestProviderRangesHotSwapUnderTraffic(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()

	// v1: us.test (127.0.0.3, which GeoIP puts in the US) is in AWS Paris
	// according to AWS's feed.
	v1 := feedtest.Default()
	v1.AWS = append(v1.AWS, feedtest.AWSPrefix{Prefix: ipUS + "/32", Region: "eu-west-3", Services: []string{"EC2"}})
	v1.WriteIndex(t, dir)
	// v2: eu.test (127.0.0.2, GeoIP FR) turns out to be Cloudflare anycast.
	v2 := feedtest.Default()
	v2.AWS = v1.AWS
	v2.CloudflareV4 = append(v2.CloudflareV4, ipEU+"/32")
	v2Index := v2.Index(t)

	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{
		"provider_ranges":          dir,
		"provider_ranges_interval": "50ms",
	}})
	get := func(host string) (int, string, error) {
		resp, err := g.client("", nil).Get(g.httpURL(host, "/"))
		if err != nil {
			return 0, "", err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), nil
	}

	// v1 in service: the feed's region country replaces GeoIP's.
	if status, reasons, err := get("us.test"); err != nil || status != http.StatusForbidden || reasons != "JURISDICTION_NON_EU" {
		t.Fatalf("us.test on v1: %d %q %v, want 403 JURISDICTION_NON_EU only (FR by the AWS feed, US law)", status, reasons, err)
	}
	if status, _, err := get("eu.test"); err != nil || status != http.StatusOK {
		t.Fatalf("eu.test on v1: %d %v", status, err)
	}
	sha1, rev1 := g.providerStatus(t)

	// Traffic during the swap: every request gets an answer, 200 before
	// the swap and 403 after it, never an error.
	var stop atomic.Bool
	var ok, blocked, failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() && time.Now().Before(deadline) {
				status, reasons, err := get("eu.test")
				switch {
				case err == nil && status == http.StatusOK:
					ok.Add(1)
				case err == nil && status == http.StatusForbidden && reasons == "RESIDENCY_UNKNOWN,JURISDICTION_NON_EU":
					blocked.Add(1)
				default:
					failed.Add(1)
					firstErr.Do(func() { t.Errorf("request during the swap: status %d reasons %q error %v", status, reasons, err) })
				}
			}
		})
	}
	waitFor(t, func() bool { return ok.Load() >= 20 }, "traffic on v1")
	replaceIndex(t, dir, v2Index)
	waitFor(t, func() bool { return blocked.Load() >= 20 }, "decisions on v2")
	stop.Store(true)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed during the swap (%d allowed, %d blocked)", failed.Load(), ok.Load(), blocked.Load())
	}
	t.Logf("during the swap: %d requests allowed on v1, %d blocked on v2, none failed", ok.Load(), blocked.Load())
	sha2, rev2 := g.providerStatus(t)
	if sha2 == sha1 || rev2 == rev1 {
		t.Errorf("status did not follow the swap: sha %s -> %s, revision %s -> %s", sha1, sha2, rev1, rev2)
	}

	// A corrupt index is refused: v2 stays in service.
	replaceIndex(t, dir, v2Index[:len(v2Index)/2])
	time.Sleep(500 * time.Millisecond) // ten checks
	if status, reasons, err := get("eu.test"); err != nil || status != http.StatusForbidden || reasons != "RESIDENCY_UNKNOWN,JURISDICTION_NON_EU" {
		t.Errorf("eu.test after a corrupt index: %d %q %v", status, reasons, err)
	}
	if sha, _ := g.providerStatus(t); sha != sha2 {
		t.Errorf("a corrupt index replaced the data in service: sha %s, want %s", sha, sha2)
	}
	// And a good one after it is picked up.
	replaceIndex(t, dir, v1.Index(t))
	waitFor(t, func() bool {
		status, _, err := get("eu.test")
		return err == nil && status == http.StatusOK
	}, "v1 again after the corrupt index")
}

// TestProviderRangesSwapDecidesTunnelsAgain: an open CONNECT tunnel does
// not outlive the provider data it was decided on. When new ranges place
// its address under another provider, the tunnel is decided again and, in
// enforce mode, closed; a tunnel the new data still allows stays open.
func TestProviderRangesSwapDecidesTunnelsAgain(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	feedtest.Default().WriteIndex(t, dir)
	// v2: eu.test (127.0.0.2, GeoIP FR) turns out to be Cloudflare anycast.
	v2 := feedtest.Default()
	v2.CloudflareV4 = append(v2.CloudflareV4, ipEU+"/32")

	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{
		"provider_ranges":          dir,
		"provider_ranges_interval": "50ms",
	}})
	euConn, euBR := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.httpPort))
	if err := tunnelGet(t, euConn, euBR, "eu.test"); err != nil {
		t.Fatalf("eu.test tunnel on v1: %v", err)
	}
	ovhConn, ovhBR := g.openTunnel(t, fmt.Sprintf("ovh.test:%d", w.httpPort))
	_, rev1 := g.providerStatus(t)

	replaceIndex(t, dir, v2.Index(t))
	expectClosed(t, euConn, euBR, 10*time.Second)
	if err := tunnelGet(t, ovhConn, ovhBR, "ovh.test"); err != nil {
		t.Fatalf("a tunnel the new data still allows was disturbed: %v", err)
	}
	if _, rev2 := g.providerStatus(t); rev2 == rev1 {
		t.Errorf("data revision unchanged after the swap: %s", rev2)
	}
	g.waitLog(t, "decision", func(l decisionLine) bool {
		return l.Host == "eu.test" && l.Action == "blocked" && strings.Join(l.Reasons, ",") == "RESIDENCY_UNKNOWN,JURISDICTION_NON_EU"
	})
}

// TestProviderRangesMissingAtStartup: a gateway configured with a
// provider_ranges directory that holds no index refuses to start, and says
// what to run.
func TestProviderRangesMissingAtStartup(t *testing.T) {
	dir := t.TempDir()
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	writeFile(t, caddyfile, fmt.Sprintf("{\n\tsovereignty {\n\t\tprovider_ranges %s\n\t}\n}\n\nhttp://:3128 {\n\tsovereign_egress\n}\n", dir))
	res := runSovgate(t, "validate", "--config", caddyfile)
	if res.exit == 0 || !strings.Contains(res.stderr, "sovgate geo update --dir "+dir) {
		t.Fatalf("validate: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	feedtest.Default().WriteIndex(t, dir)
	if res := runSovgate(t, "validate", "--config", caddyfile); res.exit != 0 {
		t.Fatalf("validate with an index: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
}
