package policy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/policy"
)

// registryData is a data.json with a registry; the rest of the default
// bundle's data is not needed for these tests.
const registryData = `{
  "apps": {
    "etat-civil": {
      "name": "État civil",
      "owner": "Direction de la population",
      "profile": "sovereign",
      "categories": ["personal"],
      "identified_by": {"basic": true, "mtls": ["Etat-Civil.apps.example.org"], "cidr": ["10.1.0.0/16"]}
    },
    "ec-batch": {
      "categories": ["personal", "health"],
      "identified_by": {"cidr": ["10.1.2.0/24", "2001:db8:1::/48", "192.0.2.9"]}
    },
    "meteo": {"profile": "open", "description": "public weather data only"}
  }
}`

func loadRegistry(t *testing.T, data string) *policy.Apps {
	t.Helper()
	e, err := policy.Load(t.Context(), bundleFS(map[string]string{
		"sovgate/decision.rego": goodPolicy,
		"sovgate/data.json":     data,
	}))
	if err != nil {
		t.Fatal(err)
	}
	return e.Apps()
}

func TestAppRegistry(t *testing.T) {
	apps := loadRegistry(t, registryData)
	if got := apps.IDs(); !slices.Equal(got, []string{"ec-batch", "etat-civil", "meteo"}) {
		t.Fatalf("IDs() = %v", got)
	}
	ec := apps.Get("etat-civil")
	if ec == nil || ec.Name != "État civil" || ec.Owner != "Direction de la population" || ec.Profile != "sovereign" ||
		!ec.Basic || !slices.Equal(ec.Categories, []string{"personal"}) {
		t.Fatalf("etat-civil = %+v", ec)
	}
	if got := apps.Categories("meteo"); got == nil || len(got) != 0 {
		t.Errorf("categories of an app without any = %#v, want empty, not nil", got)
	}
	if got := apps.Categories("not-listed"); got == nil || len(got) != 0 {
		t.Errorf("categories of an app not listed = %#v, want empty, not nil", got)
	}

	for ip, want := range map[string]string{
		"10.1.2.3":             "ec-batch", // 10.1.2.0/24 is longer than 10.1.0.0/16
		"10.1.3.3":             "etat-civil",
		"::ffff:10.1.3.3":      "etat-civil", // IPv4-mapped
		"192.0.2.9":            "ec-batch",   // a single address
		"192.0.2.10":           "",
		"2001:db8:1:ffff::1":   "ec-batch",
		"2001:db8:2::1":        "",
		"10.2.0.1":             "",
		"fe80::1":              "",
		"0000:0000::0a01:0203": "", // ::10.1.2.3 is IPv6, not 10.1.2.3
	} {
		got := ""
		if a := apps.ByAddr(netip.MustParseAddr(ip)); a != nil {
			got = a.ID
		}
		if got != want {
			t.Errorf("ByAddr(%s) = %q, want %q", ip, got, want)
		}
	}
	for name, want := range map[string]string{
		"etat-civil.apps.example.org": "etat-civil",
		"ETAT-CIVIL.APPS.EXAMPLE.ORG": "etat-civil",
		"other.apps.example.org":      "",
		"":                            "",
	} {
		got := ""
		if a := apps.ByCertName(name); a != nil {
			got = a.ID
		}
		if got != want {
			t.Errorf("ByCertName(%q) = %q, want %q", name, got, want)
		}
	}
	var none *policy.Apps
	if none.Get("x") != nil || none.ByAddr(netip.MustParseAddr("10.0.0.1")) != nil || none.Len() != 0 || len(none.Categories("x")) != 0 {
		t.Error("a nil registry must behave as an empty one")
	}
}

func TestAppRegistryErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		data string
		want string // in the diagnostics, with its position
	}{
		"bad cidr": {
			data: "{\"apps\": {\n  \"a\": {\"identified_by\": {\"cidr\": [\"10.1.0.0/33\"]}}\n}}",
			want: `data.json:2:36: sovgate_data_error: apps["a"].identified_by.cidr: "10.1.0.0/33" is not a CIDR`,
		},
		"host bits": {
			data: `{"apps": {"a": {"identified_by": {"cidr": ["10.1.2.3/16"]}}}}`,
			want: `did you mean 10.1.0.0/16?`,
		},
		"same cidr for two apps": {
			data: `{"apps": {"a": {"identified_by": {"cidr": ["10.1.0.0/16"]}}, "b": {"identified_by": {"cidr": ["10.1.0.0/16"]}}}}`,
			want: `apps["b"].identified_by.cidr: 10.1.0.0/16 already identifies app "a"`,
		},
		"same certificate name for two apps": {
			data: `{"apps": {"a": {"identified_by": {"mtls": ["x.example"]}}, "b": {"identified_by": {"mtls": ["X.example"]}}}}`,
			want: `certificate name "X.example" already identifies app "a"`,
		},
		"unknown method": {
			data: `{"apps": {"a": {"identified_by": {"kerberos": true}}}}`,
			want: `unknown method "kerberos"`,
		},
		"categories not a list": {
			data: `{"apps": {"a": {"categories": "personal"}}}`,
			want: `apps["a"].categories must be a list of strings`,
		},
		"bad app id": {
			data: `{"apps": {"état civil": {}}}`,
			want: `an app id is 1 to 64 letters`,
		},
		"unknown cannot be identified": {
			data: `{"apps": {"unknown": {"identified_by": {"cidr": ["10.0.0.0/8"]}}}}`,
			want: `"unknown" is the app of traffic nobody identified`,
		},
		"apps not an object": {
			data: `{"apps": []}`,
			want: `data.sovgate.apps must be an object`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := policy.Load(t.Context(), bundleFS(map[string]string{
				"sovgate/decision.rego": goodPolicy,
				"sovgate/data.json":     tc.data,
			}))
			var diags policy.Diagnostics
			if !errors.As(err, &diags) {
				t.Fatalf("Load: %v, want diagnostics", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("diagnostics:\n%v\nwant them to contain %q", err, tc.want)
			}
			// policy check reports the same problem.
			checked, err := policy.Check(t.Context(), bundleFS(map[string]string{
				"sovgate/decision.rego": goodPolicy,
				"sovgate/data.json":     tc.data,
			}))
			if err != nil || !strings.Contains(policy.Diagnostics(checked).Error(), tc.want) {
				t.Fatalf("Check: %v %v", checked, err)
			}
		})
	}
}

// TestCategoriesReachThePolicy: input.source.categories comes from the
// registry of the revision that evaluates, unless the caller set it.
func TestCategoriesReachThePolicy(t *testing.T) {
	e, err := policy.Load(t.Context(), bundleFS(map[string]string{
		"sovgate/decision.rego": `package sovgate

decision := {"allow": true, "profile": concat(",", input.source.categories), "reasons": []}
`,
		"sovgate/data.json": registryData,
	}))
	if err != nil {
		t.Fatal(err)
	}
	for app, want := range map[string]string{"ec-batch": "personal,health", "meteo": "", "nobody": ""} {
		in := usInput()
		in.Source.App = app
		d, err := e.Evaluate(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if d.Profile != want {
			t.Errorf("%s: categories seen by the policy %q, want %q", app, d.Profile, want)
		}
		if in.Source.Categories != nil {
			t.Errorf("Evaluate modified the caller's input")
		}
	}
	in := usInput()
	in.Source.App, in.Source.Categories = "ec-batch", []string{"public"}
	if d, _ := e.Evaluate(t.Context(), in); d == nil || d.Profile != "public" {
		t.Errorf("categories set by the caller are overridden: %+v", d)
	}
}

// benchRegistry is a registry of 200 apps, each with two networks of
// different lengths and a certificate name.
func benchRegistry(b *testing.B) *policy.Apps {
	b.Helper()
	apps := map[string]any{}
	for i := range 200 {
		apps[fmt.Sprintf("app-%d", i)] = map[string]any{
			"categories": []any{"personal"},
			"identified_by": map[string]any{
				"cidr": []any{fmt.Sprintf("10.%d.0.0/16", i), fmt.Sprintf("172.16.%d.0/24", i)},
				"mtls": []any{fmt.Sprintf("app-%d.apps.example.org", i)},
			},
		}
	}
	raw, _ := json.Marshal(map[string]any{"apps": apps})
	e, err := policy.Load(b.Context(), bundleFS(map[string]string{"sovgate/decision.rego": goodPolicy, "sovgate/data.json": string(raw)}))
	if err != nil {
		b.Fatal(err)
	}
	return e.Apps()
}

// BenchmarkIdentifyByAddr is the registry part of source-network
// identification on the request path.
func BenchmarkIdentifyByAddr(b *testing.B) {
	apps := benchRegistry(b)
	hit, miss := netip.MustParseAddr("172.16.150.9"), netip.MustParseAddr("192.0.2.1")
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if apps.ByAddr(hit) == nil {
				b.Fatal("no app")
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if apps.ByAddr(miss) != nil {
				b.Fatal("an app")
			}
		}
	})
}

func BenchmarkIdentifyByCertName(b *testing.B) {
	apps := benchRegistry(b)
	b.ReportAllocs()
	for b.Loop() {
		if apps.ByCertName("app-150.apps.example.org") == nil {
			b.Fatal("no app")
		}
	}
}
