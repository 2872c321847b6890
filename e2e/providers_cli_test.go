package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/geo/feeds/feedtest"
)

// TestGeoUpdateAndLookupCommands drives `sovgate geo update` and `sovgate
// geo lookup` as an admin would: update from a mirror directory and from an
// HTTP mirror, look an AWS Paris address up, and see a missing or corrupt
// feed refused with the previous data left in place.
func TestGeoUpdateAndLookupCommands(t *testing.T) {
	set := feedtest.Default()
	mirror := t.TempDir()
	set.WriteMirror(t, mirror)
	dir := filepath.Join(t.TempDir(), "providers")
	index := filepath.Join(dir, "providers.mmdb")

	res := runSovgate(t, "geo", "update", "--dir", dir, "--mirror", mirror)
	if res.exit != 0 {
		t.Fatalf("geo update: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	for _, want := range []string{"aws", "azure", "linode", "akamai", "wrote " + index} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stderr, "aws") || !strings.Contains(res.stderr, "prefixes") {
		t.Errorf("no progress on stderr:\n%s", res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "feeds", "aws", "ip-ranges.json")); err != nil {
		t.Errorf("the feeds are not kept in the mirror layout: %v", err)
	}
	good, _ := os.ReadFile(index)

	t.Run("lookup", func(t *testing.T) {
		res := runSovgate(t, "geo", "lookup", "--provider-ranges", dir, "35.180.0.10", "104.16.0.1")
		if res.exit != 0 {
			t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
		for _, want := range []string{"35.180.0.10  FR (EU)", "provider aws  region eu-west-3 (FR)  service EC2", "matched by range", "104.16.0.1  no country (anycast)", "Provider ranges"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, res.stdout)
			}
		}
		res = runSovgate(t, "geo", "lookup", "--provider-ranges", dir, "--format", "json", "35.180.0.10", "2a05:d012::1")
		if res.exit != 0 {
			t.Fatalf("json: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
		dec := json.NewDecoder(strings.NewReader(res.stdout))
		for range 2 {
			var d struct {
				Addresses []struct {
					Country, Provider, Region, RegionCountry string
					Anycast                                  bool
				} `json:"addresses"`
				Providers []struct {
					ID        string `json:"id"`
					MatchedBy string `json:"matched_by"`
				} `json:"providers"`
			}
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("not one JSON document per argument: %v\n%s", err, res.stdout)
			}
			a := d.Addresses[0]
			if a.Provider != "aws" || a.Region != "eu-west-3" || a.Country != "FR" || len(d.Providers) != 1 || d.Providers[0].MatchedBy != "range" {
				t.Errorf("destination %+v", d)
			}
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Errorf("more output than two documents:\n%s", res.stdout)
		}
	})

	t.Run("lookup errors exit 1", func(t *testing.T) {
		w := newWorld(t)
		res := runSovgate(t, "geo", "lookup", "--resolver", w.dns.Addr(), "eu.test", "nxdomain.test")
		if res.exit != 1 || !strings.Contains(res.stderr, "nxdomain.test") || !strings.Contains(res.stdout, "127.0.0.2") {
			t.Errorf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})

	t.Run("check uses the provider ranges", func(t *testing.T) {
		w := newWorld(t)
		withUS := feedtest.Default()
		withUS.AWS = append(withUS.AWS, feedtest.AWSPrefix{Prefix: ipUS + "/32", Region: "eu-west-3"})
		rdir := t.TempDir()
		withUS.WriteIndex(t, rdir)
		res := runSovgate(t, "check", "--format", "json", "--resolver", w.dns.Addr(), "--geoip-country", w.countryDB,
			"--geoip-registration", w.registrationDB, "--allow-private", "127.0.0.0/29", "--provider-ranges", rdir, "us.test:443")
		if res.exit != 3 || !strings.Contains(res.stdout, `"JURISDICTION_NON_EU"`) || strings.Contains(res.stdout, `"RESIDENCY_NON_EU"`) {
			t.Errorf("exit %d, want 3 for JURISDICTION_NON_EU only (FR by the feed)\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})

	t.Run("missing feed keeps the previous data", func(t *testing.T) {
		broken := t.TempDir()
		set.WriteMirror(t, broken)
		os.Remove(filepath.Join(broken, "fastly", "public-ip-list"))
		res := runSovgate(t, "geo", "update", "--dir", dir, "--mirror", broken)
		if res.exit != 1 || !strings.Contains(res.stderr, "fastly") || !strings.Contains(res.stderr, "nothing was changed") {
			t.Errorf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
		if now, _ := os.ReadFile(index); !bytes.Equal(now, good) {
			t.Error("the index changed")
		}
	})

	t.Run("corrupt feed keeps the previous data", func(t *testing.T) {
		broken := t.TempDir()
		set.WriteMirror(t, broken)
		os.WriteFile(filepath.Join(broken, "aws", "ip-ranges.json"), []byte("<html>502 Bad Gateway</html>"), 0o644)
		res := runSovgate(t, "geo", "update", "--dir", dir, "--mirror", broken)
		if res.exit != 1 || !strings.Contains(res.stderr, "aws") {
			t.Errorf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
		if now, _ := os.ReadFile(index); !bytes.Equal(now, good) {
			t.Error("the index changed")
		}
		feed, _ := os.ReadFile(filepath.Join(dir, "feeds", "aws", "ip-ranges.json"))
		if bytes.Contains(feed, []byte("html")) {
			t.Error("the corrupt feed replaced the kept one")
		}
	})

	t.Run("HTTP mirror", func(t *testing.T) {
		changed := feedtest.Default()
		changed.Fastly = append(changed.Fastly, "199.232.0.0/16")
		srv := changed.ServeMirror(t)
		res := runSovgate(t, "geo", "update", "--dir", dir, "--mirror", srv.URL+"/")
		if res.exit != 0 {
			t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
		if !strings.Contains(res.stdout, "fastly") || !strings.Contains(res.stdout, "+1") {
			t.Errorf("summary does not show fastly's new prefix:\n%s", res.stdout)
		}
		if now, _ := os.ReadFile(index); bytes.Equal(now, good) {
			t.Error("the index did not change")
		}
	})
}
