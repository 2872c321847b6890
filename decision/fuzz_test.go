package decision

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/geo"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; `go test` runs them.
// Run a fuzzer with, e.g.:
//
//	go test -run='^$' -fuzz=FuzzParseConnectTarget -fuzztime=60s ./decision/

// checkCanonicalHost asserts the properties every accepted host has: one
// spelling per destination, the same one the resolver uses.
func checkCanonicalHost(t *testing.T, input, host string, addr netip.Addr) {
	t.Helper()
	switch {
	case host == "":
		t.Fatalf("%q: accepted with an empty host", input)
	case host != strings.ToLower(host):
		t.Fatalf("%q: host %q is not lower case", input, host)
	case strings.HasSuffix(host, "."):
		t.Fatalf("%q: host %q has a trailing dot", input, host)
	case !isASCII(host):
		t.Fatalf("%q: host %q is not ASCII (IDN not converted)", input, host)
	case strings.ContainsAny(host, "[]%"):
		t.Fatalf("%q: host %q has brackets or a zone", input, host)
	}
	// Idempotent: the output is its own canonical form.
	h2, a2, err := NormalizeHost(host)
	if err != nil || h2 != host || a2 != addr {
		t.Fatalf("%q: NormalizeHost(%q) = %q, %v, %v; want %q, %v (not idempotent)", input, host, h2, a2, err, host, addr)
	}
	// The resolver canonicalises the same way, so the name checked is the
	// name resolved, and the host in records is the resolver's.
	gname, gip, err := geo.CanonicalHost(host)
	if err != nil || gname != host || gip != addr {
		t.Fatalf("%q: geo.CanonicalHost(%q) = %q, %v, %v; want %q, %v", input, host, gname, gip, err, host, addr)
	}
	// IP set exactly when the host is an IP literal, in canonical text.
	parsed, perr := netip.ParseAddr(host)
	switch {
	case perr == nil && parsed != addr:
		t.Fatalf("%q: host %q is an IP literal but IP is %v", input, host, addr)
	case perr != nil && addr.IsValid():
		t.Fatalf("%q: IP %v set for the name %q", input, addr, host)
	case addr.IsValid() && (addr.String() != host || addr.Is4In6() || addr.Zone() != ""):
		t.Fatalf("%q: IP %v is not canonical (host %q)", input, addr, host)
	}
	// No non-canonical IPv4 spelling survives: a name never ends in a
	// numeric label (decimal, octal, hex).
	if !addr.IsValid() && looksNumeric(lastLabel(host)) {
		t.Fatalf("%q: host %q ends in a numeric label", input, host)
	}
	if !addr.IsValid() && len(host) > 253 {
		t.Fatalf("%q: host %q is longer than 253 characters", input, host)
	}
}

func checkTargetError(t *testing.T, input string, err error) {
	t.Helper()
	var te *TargetError
	if !errors.As(err, &te) {
		t.Fatalf("%q: error %v (%T) is not a *TargetError", input, err, err)
	}
	_ = err.Error() // formatting never panics
}

func FuzzNormalizeHost(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		host, addr, err := NormalizeHost(in)
		if err != nil {
			checkTargetError(t, in, err)
			if host != "" || addr.IsValid() {
				t.Fatalf("%q: error with a result %q, %v", in, host, addr)
			}
			return
		}
		checkCanonicalHost(t, in, host, addr)
	})
}

func FuzzParseConnectTarget(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		tg, err := ParseConnectTarget(in)
		if err != nil {
			checkTargetError(t, in, err)
			if tg != (Target{}) {
				t.Fatalf("%q: error with a result %s", in, dump(tg))
			}
			return
		}
		checkCanonicalHost(t, in, tg.Host, tg.IP)
		if tg.Port == 0 {
			t.Fatalf("%q: port 0 accepted", in)
		}
		wantScheme := "tcp"
		if tg.Port == 443 {
			wantScheme = "https"
		}
		if tg.Method != "CONNECT" || tg.Scheme != wantScheme || tg.Path != "" {
			t.Fatalf("%q: %s", in, dump(tg))
		}
		again, err := ParseConnectTarget(tg.HostPort())
		if err != nil || again != tg {
			t.Fatalf("%q: ParseConnectTarget(%q) = %s, %v; want %s", in, tg.HostPort(), dump(again), err, dump(tg))
		}
	})
}

func FuzzParseURLTarget(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		tg, err := ParseURLTarget("GET", u)
		if err != nil {
			checkTargetError(t, raw, err)
			// The password never reaches the error (which is logged and shown
			// to the client). Short ones may occur in the message's own words.
			if p, ok := u.User.Password(); ok && len(p) >= 8 && strings.Contains(err.Error(), p) &&
				!strings.Contains(u.Scheme+"://"+u.Host, p) {
				t.Fatalf("%q: error %q shows the password", raw, err)
			}
			return
		}
		checkCanonicalHost(t, raw, tg.Host, tg.IP)
		if tg.Port == 0 {
			t.Fatalf("%q: port 0 accepted", raw)
		}
		if tg.Method != "GET" || tg.Scheme != "http" || !strings.HasPrefix(tg.Path, "/") {
			t.Fatalf("%q: %s", raw, dump(tg))
		}
		if !strings.EqualFold(u.Scheme, "http") || u.User != nil {
			t.Fatalf("%q: scheme %q / user %v accepted", raw, u.Scheme, u.User)
		}
		// The canonical URL parses to the same target.
		canon := "http://" + tg.HostPort() + tg.Path
		u2, err := url.Parse(canon)
		if err != nil {
			t.Fatalf("%q: canonical URL %q does not parse: %v", raw, canon, err)
		}
		again, err := ParseURLTarget("GET", u2)
		if err != nil || again != tg {
			t.Fatalf("%q: ParseURLTarget(%q) = %s, %v; want %s", raw, canon, dump(again), err, dump(tg))
		}
	})
}
