package policy_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policies/policiestest"
	"github.com/sovgate/sovgate/policy"
)

// TestEffectiveProfilePerApp: Load computes each app's effective profile
// with the policy's own rule, and Evaluate gives it to the policy as
// input.source.profile.
func TestEffectiveProfilePerApp(t *testing.T) {
	mfs := policiestest.WithData(t, func(data map[string]any) {
		data["default_profile"] = "residency"
		data["unknown_profile"] = "open"
		data["apps"] = map[string]any{
			"etat-civil": map[string]any{"categories": []any{"civil-status", "personal"}},
			"meteo":      map[string]any{"profile": "open", "categories": []any{"public"}},
			"rh":         map[string]any{"profile": "gdpr-transfer", "categories": []any{"hr"}},
			"visio":      map[string]any{"profile": "gdpr-transfer"},
		}
	})
	e, err := policy.Load(t.Context(), policy.Bundle{FS: mfs, Dir: "test:"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ app, identifiedBy, want string }{
		{"etat-civil", "basic", "france"},
		{"meteo", "mtls", "residency"},
		{"rh", "cidr", "sovereign"},
		{"visio", "basic", "gdpr-transfer"},
		{"not-listed", "basic", "residency"},
		{"unknown", "none", "open"},
		{"etat-civil", "none", ""}, // never happens: left to the policy
	} {
		if got := e.EffectiveProfile(tc.app, tc.identifiedBy); got != tc.want {
			t.Errorf("EffectiveProfile(%s, %s) = %q, want %q", tc.app, tc.identifiedBy, got, tc.want)
		}
	}

	// Evaluate passes it on, and the decision names it: a German address
	// is refused to civil-status records.
	in := &policy.Input{
		Source: policy.Caller{App: "etat-civil", IdentifiedBy: "basic"},
		Destination: geo.Destination{Host: "x.example.de", Addresses: []geo.Address{{
			IP: netip.MustParseAddr("192.0.2.7"), Country: "DE", Provider: "as64500", MatchedBy: "registration",
		}}, Providers: []geo.Provider{{ID: "as64500", Jurisdictions: []string{"FR"}, MatchedBy: "registration", Inferred: true}}},
		Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
	}
	d, err := e.Evaluate(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || d.Profile != "france" || len(d.Reasons) != 1 || d.Reasons[0].Code != "RESIDENCY_NON_FR" {
		t.Errorf("decision %+v", d)
	}
	if in.Source.Profile != "" || in.Source.Categories != nil {
		t.Error("Evaluate modified the caller's input")
	}

	// The profile the caller gives wins: it is the gateway's.
	in.Source.Profile, in.Source.Categories = "open", []string{}
	if d, err := e.Evaluate(t.Context(), in); err != nil || !d.Allow || d.Profile != "open" {
		t.Errorf("with input.source.profile open: %+v %v", d, err)
	}
}

// TestNoEffectiveProfileRule: a policy that does not compute effective
// profiles gets none in its input.
func TestNoEffectiveProfileRule(t *testing.T) {
	e, err := policy.Load(t.Context(), bundleFS(map[string]string{
		"sovgate/p.rego": "package sovgate\n\ndecision := {\"allow\": input.source.profile == \"\", \"profile\": \"p\", \"reasons\": []}\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if p := e.EffectiveProfile("any", "basic"); p != "" {
		t.Errorf("EffectiveProfile = %q", p)
	}
	if d, err := e.Evaluate(t.Context(), &policy.Input{Source: policy.Caller{App: "any"}}); err != nil || !d.Allow {
		t.Errorf("%+v %v", d, err)
	}
}

// TestLoadRefusesBroadHostPatterns: an exception or an allowed host that
// covers a public suffix keeps the revision from loading, naming the file
// and line; policy check reports it the same way.
func TestLoadRefusesBroadHostPatterns(t *testing.T) {
	for name, edit := range map[string]func(map[string]any){
		"exception *.com": func(data map[string]any) {
			data["exceptions"] = map[string]any{"e1": map[string]any{"app": "*", "host": "*.com", "reason": "r", "approved_by": "DPO", "expires": "2026-12-31"}}
		},
		"allowed host *.co.uk": func(data map[string]any) {
			data["apps"] = map[string]any{"visio": map[string]any{"allowed_hosts": []any{"api.visio.example", "*.co.uk"}}}
		},
		"allowed host record *.test": func(data map[string]any) {
			data["apps"] = map[string]any{"visio": map[string]any{"allowed_hosts": []any{map[string]any{
				"host": "*.test", "covers": []any{"RESIDENCY_NON_EU"}, "legal_basis": "art46", "assessment": "A",
				"reason": "r", "approved_by": "DPO", "starts": "2026-01-01", "expires": "2026-12-31"}}}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := policy.Bundle{FS: policiestest.WithData(t, edit), Dir: "/etc/sovgate/policies"}
			_, err := policy.Load(t.Context(), b)
			if err == nil || !strings.Contains(err.Error(), "/etc/sovgate/policies/sovgate/data.json:") ||
				!strings.Contains(err.Error(), "a wildcard may cover at most one registrable domain") {
				t.Errorf("Load: %v", err)
			}
			diags, err := policy.Check(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range diags {
				if !d.IsWarning() && d.Row > 0 && strings.Contains(d.Message, "covers every domain registered under the public suffix") {
					found = true
				}
			}
			if !found {
				t.Errorf("policy check: %v", diags)
			}
		})
	}
	// A registrable domain, or one under a public suffix, is fine.
	for _, host := range []string{"*.example.com", "*.example.co.uk", "*.visio-saas.example", "api.example.com"} {
		b := policy.Bundle{FS: policiestest.WithData(t, func(data map[string]any) {
			data["exceptions"] = map[string]any{"e1": map[string]any{"app": "*", "host": host, "reason": "r", "approved_by": "DPO", "expires": "2026-12-31"}}
		}), Dir: "test:"}
		if _, err := policy.Load(t.Context(), b); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

// TestDataProblemsAtLoad: a revision with an exception of the earlier
// format loads, and says so.
func TestDataProblemsAtLoad(t *testing.T) {
	b := policy.Bundle{FS: policiestest.WithData(t, func(data map[string]any) {
		data["exceptions"] = map[string]any{"old": map[string]any{"app": "*", "host": "api.example.com", "reason": "r", "approved_by": "DPO", "expires": "2026-12-31"}}
	}), Dir: "/p"}
	e, err := policy.Load(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	problems := e.DataProblems()
	if len(problems) != 1 || !problems[0].IsWarning() || problems[0].Row == 0 ||
		!strings.Contains(problems[0].String(), `/p/sovgate/data.json:`) ||
		!strings.Contains(problems[0].Message, "without covers, legal_basis, assessment, starts") {
		t.Errorf("DataProblems = %v", problems)
	}
	embedded, err := policy.LoadEmbedded(t.Context())
	if err != nil || len(embedded.DataProblems()) != 0 {
		t.Errorf("embedded: %v %v", embedded.DataProblems(), err)
	}
}
