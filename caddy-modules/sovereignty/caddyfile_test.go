package sovereignty

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCaddyfileKnowledgeOptions(t *testing.T) {
	d := caddyfile.NewTestDispenser(`sovereignty {
		geoip_registration /var/lib/sovgate/registration.mmdb
		data_max_age 30d
		internal 10.0.0.0/8 192.168.10.1
		internal 2001:db8::/32
	}`)
	var a App
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if a.GeoIPRegistration != "/var/lib/sovgate/registration.mmdb" || time.Duration(a.DataMaxAge) != 30*24*time.Hour ||
		strings.Join(a.Internal, " ") != "10.0.0.0/8 192.168.10.1 2001:db8::/32" {
		t.Errorf("%+v", a)
	}
	cfg, err := a.ClassifierConfig()
	if err != nil || len(cfg.Internal) != 3 || cfg.Internal[1].String() != "192.168.10.1/32" || cfg.RegistrationDB != a.GeoIPRegistration {
		t.Errorf("classifier config %+v %v", cfg, err)
	}

	for _, tc := range []struct{ body, want string }{
		{"sovereignty {\n\tinternal\n}", "internal: missing CIDR"},
		{"sovereignty {\n\tinternal 10.0.0.1/8\n}", `internal: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?, at Testfile:2`},
		{"sovereignty {\n\tinternal intranet\n}", "neither a CIDR nor an IP address"},
		{"sovereignty {\n\tdata_max_age 0\n}", "data_max_age: \"0\" is not a positive duration"},
		{"sovereignty {\n\tgeoip_registration\n}", "geoip_registration: missing value"},
		{"sovereignty {\n\tgeoip_registration a b\n}", "takes one value"},
	} {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.body, err, tc.want)
		}
	}
}
