package geo

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseHostsFile(t *testing.T) {
	h, err := ParseHostsFile("hosts", []byte(`# a lab
127.0.0.2   upstream.lab  Www.Example.EU.   # two names
::ffff:127.0.0.3 us.lab
2001:db8::1 us.lab
	
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"upstream.lab":   {"127.0.0.2"},
		"www.example.eu": {"127.0.0.2"},
		"us.lab":         {"127.0.0.3", "2001:db8::1"},
	} {
		got, ok := h.Lookup(name)
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if !ok || !slices.Equal(s, want) {
			t.Errorf("%s: %v %v, want %v", name, s, ok, want)
		}
	}
	if _, ok := h.Lookup("other.lab"); ok {
		t.Errorf("an unlisted name was found")
	}
	for _, bad := range []struct{ text, want string }{
		{"127.0.0.2\n", "hosts:1: want ADDRESS NAME"},
		{"\n0x7f.0.0.1 a.lab\n", `hosts:2: "0x7f.0.0.1" is not an IP address`},
		{"fe80::1%eth0 a.lab\n", "is not an IP address"},
		{"127.0.0.2 bad_name!\n", `"bad_name!" is not a host name`},
		{"127.0.0.2 10.0.0.1\n", `"10.0.0.1" is not a host name`},
	} {
		if _, err := ParseHostsFile("hosts", []byte(bad.text)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.text, err, bad.want)
		}
	}
}

// TestResolverAnswersFromHostsFileFirst: a listed name never reaches the
// DNS server (here, none answers), an unlisted one does.
func TestResolverAnswersFromHostsFileFirst(t *testing.T) {
	h, err := ParseHostsFile("hosts", []byte("127.0.0.2 upstream.lab\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(ResolverConfig{Server: "127.0.0.1:1", Hosts: h})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := r.Resolve(context.Background(), "UPSTREAM.lab.")
	if err != nil || !slices.Equal(ans.Addrs, []netip.Addr{netip.MustParseAddr("127.0.0.2")}) {
		t.Fatalf("Resolve: %v %+v", err, ans)
	}
	if _, err := r.Resolve(context.Background(), "elsewhere.lab"); err == nil {
		t.Errorf("an unlisted name resolved without a DNS server")
	}
}

func FuzzParseHostsFile(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n::1 localhost ip6-localhost # comment\n"))
	f.Add([]byte("10.0.0.1\n"))
	f.Add([]byte("192.0.2.1 b\u00fccher.example\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := ParseHostsFile("fuzz", raw)
		if err != nil {
			return
		}
		for name, addrs := range h.names {
			if canon, ip, err := CanonicalHost(name); err != nil || ip.IsValid() || canon != name {
				t.Fatalf("stored name %q is not canonical (%q, %v)", name, canon, err)
			}
			for _, a := range addrs {
				if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
					t.Fatalf("stored address %v of %q", a, name)
				}
			}
		}
	})
}
