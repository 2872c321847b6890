package update_test

import (
	"bytes"
	"compress/gzip"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds/feedtest"
	"github.com/sovgate/sovgate/geo/update"
)

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// TestUpdateRegistration: `geo update` compiles the registration table
// beside the provider ranges, leaves an unchanged table alone, and refuses
// a damaged or shrunken one without touching the dataset in service.
func TestUpdateRegistration(t *testing.T) {
	set := feedtest.Default()
	mirror := t.TempDir()
	set.WriteMirror(t, mirror)
	dir := filepath.Join(t.TempDir(), "providers")
	rep := mustRun(t, update.Options{Dir: dir, Mirror: mirror})
	if rep.Registration == nil || !rep.Registration.Changed || rep.Registration.Previous != -1 || rep.Registration.Networks == 0 {
		t.Fatalf("registration report %+v", rep.Registration)
	}
	db, err := geo.OpenRegistrationDB(filepath.Join(dir, geo.RegistrationFile))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]struct {
		asn     uint32
		country string
	}{
		"35.180.0.10": {16509, "US"}, "198.51.100.7": {16276, "FR"}, "2a01:4f8::1": {24940, "DE"},
		"192.0.2.1": {0, ""}, // not routed
	} {
		asn, _, cc := db.Lookup(netip.MustParseAddr(ip))
		if asn != want.asn || cc != want.country {
			t.Errorf("%s: AS%d %q, want AS%d %q", ip, asn, cc, want.asn, want.country)
		}
	}
	if m := db.Manifest(); len(m.Sources) != 1 || m.Sources[0].License != "PDDL-1.0 (iptoasn.com)" || m.Built.IsZero() {
		t.Errorf("manifest %+v", m)
	}
	db.Close()
	if got, _ := os.ReadFile(filepath.Join(dir, "feeds", update.RegistrationMirrorPath)); !bytes.Equal(got, set.RegistrationTable()) {
		t.Error("the table is not kept in the mirror layout")
	}
	st1, _ := os.Stat(filepath.Join(dir, geo.RegistrationFile))

	// Unchanged upstream: left as it is.
	rep = mustRun(t, update.Options{Dir: dir, Mirror: mirror})
	st2, _ := os.Stat(filepath.Join(dir, geo.RegistrationFile))
	if rep.Registration.Changed || !os.SameFile(st1, st2) {
		t.Errorf("an unchanged table rewrote the dataset: %+v", rep.Registration)
	}

	// A damaged table: refused, naming the line; nothing changes.
	before := snapshot(t, dir)
	damaged := filepath.Join(mirror, filepath.FromSlash(update.RegistrationMirrorPath))
	os.WriteFile(damaged, gz("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n1.0.1.0\tnope\t1\tUS\tX\n"), 0o644)
	if _, err := run(t, update.Options{Dir: dir, Mirror: mirror}); err == nil || !strings.Contains(err.Error(), "registration") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("damaged table: %v", err)
	}
	// A table shrunk to a tenth: implausible.
	os.WriteFile(damaged, gz("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n"), 0o644)
	if _, err := run(t, update.Options{Dir: dir, Mirror: mirror}); err == nil || !strings.Contains(err.Error(), "implausible") {
		t.Errorf("shrunken table: %v", err)
	}
	if after := snapshot(t, dir); len(after) != len(before) || after[geo.RegistrationFile] != before[geo.RegistrationFile] {
		t.Error("a refused table changed the directory")
	}
	// --force accepts it; --feeds registration updates it alone.
	rep = mustRun(t, update.Options{Dir: dir, Mirror: mirror, Force: true, Feeds: []string{"registration"}})
	if len(rep.Feeds) != 0 || rep.Registration == nil || rep.Registration.Networks != 1 {
		t.Errorf("forced registration-only update: feeds %d, %+v", len(rep.Feeds), rep.Registration)
	}
	// --no-feeds leaves it alone.
	rep = mustRun(t, update.Options{Dir: dir, SkipFeeds: true})
	if rep.Registration != nil {
		t.Errorf("--no-feeds updated the registration: %+v", rep.Registration)
	}
}

func TestParseIP2ASN(t *testing.T) {
	entries, err := update.ParseIP2ASN(bytes.NewReader(gz(
		"1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n" +
			"1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n" +
			"1.0.4.0\t1.0.6.255\t38803\tAU\tGTELECOM\n" + // a range that is not one prefix
			"2001:200::\t2001:200:ffff:ffff:ffff:ffff:ffff:ffff\t2500\tJP\tWIDE-BB WIDE Project\n" +
			"5.57.96.0\t5.57.96.255\t49902\tRE\tSRR\n" +
			"9.9.9.0\t9.9.9.255\t19281\tNone\tQUAD9-AS-1\n")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Prefix.String()+" AS"+itoa(e.ASN)+" "+e.Country+" "+e.Org)
	}
	want := []string{
		"1.0.0.0/24 AS13335 US CLOUDFLARENET",
		"1.0.4.0/23 AS38803 AU GTELECOM",
		"1.0.6.0/24 AS38803 AU GTELECOM",
		"2001:200::/32 AS2500 JP WIDE-BB WIDE Project",
		"5.57.96.0/24 AS49902 RE SRR",
		"9.9.9.0/24 AS19281  QUAD9-AS-1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for name, table := range map[string][]byte{
		"not gzip":      []byte("1.0.0.0\t1.0.0.255\t13335\tUS\tX\n"),
		"four fields":   gz("1.0.0.0\t1.0.0.255\t13335\tUS\n"),
		"bad address":   gz("1.0.0\t1.0.0.255\t13335\tUS\tX\n"),
		"reversed":      gz("1.0.0.255\t1.0.0.0\t13335\tUS\tX\n"),
		"mixed family":  gz("1.0.0.0\t::1\t13335\tUS\tX\n"),
		"ASN too large": gz("1.0.0.0\t1.0.0.255\t4294967296\tUS\tX\n"),
		"only unrouted": gz("1.0.0.0\t1.0.0.255\t0\tNone\tNot routed\n"),
	} {
		if _, err := update.ParseIP2ASN(bytes.NewReader(table)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// FuzzParseIP2ASN: whatever the table holds, the parser returns prefixes
// that cover exactly the ranges it read, or an error; it never panics.
func FuzzParseIP2ASN(f *testing.F) {
	f.Add(gz("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n"))
	f.Add(gz("1.0.4.0\t1.0.6.255\t38803\tAU\tGTELECOM\n2001:200::\t2001:200:ffff:ffff:ffff:ffff:ffff:ffff\t2500\tJP\tWIDE\n"))
	f.Add(gz("0.0.0.0\t255.255.255.255\t1\tZZ\tall\n"))
	f.Add(gz("::\tffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\t1\tNone\tall\n"))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := update.ParseIP2ASN(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, e := range entries {
			if !e.Prefix.IsValid() || e.Prefix.Masked() != e.Prefix || e.ASN == 0 || (e.Country != "" && !geo.ValidCountry(e.Country)) {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
