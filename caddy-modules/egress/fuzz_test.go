package egress

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
)

// FuzzUnmarshalCaddyfile feeds arbitrary Caddyfile text to the two
// unmarshalers sovgate adds: the sovereign_egress directive and the
// sovereignty global option. They must never panic; what they accept must
// survive a JSON round trip (the adapted config is JSON); what they refuse
// must say where.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"sovereign_egress",
		"sovereign_egress {\n\tdial_timeout 5s\n\ttunnel_idle_timeout 1m\n}",
		"sovereign_egress {\n\tconnect_ports 443 8443\n\ttls_ports 443\n\tsni_check off\n\trequire_tls on\n}",
		"sovereign_egress {\n\ttunnel_max_lifetime -1s\n}",
		"sovereign_egress {\n\tconnect_ports 0\n}",
		"sovereign_egress now",
		"sovereignty {\n\tmode enforce\n\tallow_private 10.0.0.0/8 192.168.1.1\n\tresolver 127.0.0.1:53\n}",
		"sovereignty {\n\trate_per_app 1e309\n\tmax_tunnels -2\n}",
		"sovereignty {\n\tresolver [::1]\n\tresolver_timeout 0s\n}",
		"sovereignty {\n\tallow_private 10.0.0.1/8\n}",
		"sovereignty {\n\tmode\n}",
		"sovereignty {\n\t{\n}",
		"sovereignty {\n\tprovider_ranges_interval 30s\n\tpolicy_poll_interval 0s\n}",
		"sovereignty {\n\trequire_identity off\n\trecord_path on extra\n\tretention 400d\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		isApp := strings.HasPrefix(input, "sovereignty")
		d := caddyfile.NewTestDispenser(input)
		var err error
		var v any
		if isApp {
			app := new(sovereignty.App)
			err = app.UnmarshalCaddyfile(d)
			v = app
		} else {
			h := new(Handler)
			err = h.UnmarshalCaddyfile(d)
			v = h
		}
		if err != nil {
			// Every error says where it is (", at FILE:LINE"); an input
			// with no token at all has no line to name.
			if !strings.Contains(err.Error(), ", at ") {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted config does not marshal: %v", err)
		}
		if isApp {
			if err := json.Unmarshal(raw, new(sovereignty.App)); err != nil {
				t.Fatalf("accepted config does not round-trip: %v", err)
			}
		} else if err := json.Unmarshal(raw, new(Handler)); err != nil {
			t.Fatalf("accepted config does not round-trip: %v", err)
		}
	})
}
