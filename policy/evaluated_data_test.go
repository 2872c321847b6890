package policy

import (
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestOperatorsLeftOutOfEvaluationUnlessRead: a policy whose rules never
// read the catalogue evaluates without it, so the request path does not
// carry it; a policy whose rules read it gets it, and decides with it. The
// default rules read it (the DPF certification of operators, for the
// gdpr-transfer profile).
func TestOperatorsLeftOutOfEvaluationUnlessRead(t *testing.T) {
	operators := ast.MustParseRef("data.sovgate.operators")
	e, err := LoadEmbedded(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v := e.data.Get(operators); v == nil {
		t.Error("the embedded policy evaluates without the catalogue it reads")
	}
	// The default rules read the offers of an entry (the DPF
	// certification) and test that an entry exists; the sources, ASNs and
	// suffixes are the classifier's, not the request path's.
	if v := e.data.Get(ast.MustParseRef("data.sovgate.operators.microsoft.offers")); v == nil {
		t.Error("the embedded policy evaluates without the offers it reads")
	}
	if v := e.data.Get(ast.MustParseRef("data.sovgate.operators.microsoft.asns")); v != nil {
		t.Error("the embedded policy evaluates with the ASNs of operators, which no rule reads")
	}
	if e.Knowledge().Operators.Len() == 0 {
		t.Error("the classifier lost the catalogue")
	}

	const data = `{"operators": {"acme": {"name": "Acme", "kind": "saas", "headquarters": "US", "sources": ["s"], "checked": "2026-12-06"}}}`
	blind, err := Load(t.Context(), Bundle{FS: fstest.MapFS{
		"sovgate/p.rego":    {Data: []byte("package sovgate\n\ndecision := {\"allow\": true, \"profile\": \"p\", \"reasons\": []}\n")},
		"sovgate/data.json": {Data: []byte(data)},
	}, Dir: "/p"})
	if err != nil {
		t.Fatal(err)
	}
	if v := blind.data.Get(operators); v != nil {
		t.Error("a policy that never reads the catalogue evaluates with it")
	}
	if blind.Knowledge().Operators.Len() != 1 {
		t.Error("the classifier lost the catalogue")
	}

	for name, rule := range map[string]string{
		"direct":         `decision := {"allow": data.sovgate.operators.acme.headquarters == "FR", "profile": "p", "reasons": []}`,
		"whole document": `decision := {"allow": count(data.sovgate.operators) == 0, "profile": "p", "reasons": []}`,
		"whole entry":    "decision := {\"allow\": e.headquarters == \"FR\", \"profile\": \"p\", \"reasons\": []} if {\n\te := data.sovgate.operators[\"acme\"]\n}\n\ndecision := {\"allow\": true} if not data.sovgate.operators.acme",
		"computed field": "decision := {\"allow\": data.sovgate.operators.acme[f] == \"FR\", \"profile\": \"p\", \"reasons\": []} if {\n\tsome f in [\"headquarters\"]\n}",
		"computed key":   `decision := {"allow": true, "profile": "p", "reasons": []}`,
	} {
		files := fstest.MapFS{
			"sovgate/p.rego":    {Data: []byte("package sovgate\n\n" + rule + "\n")},
			"sovgate/data.json": {Data: []byte(data)},
			// data.sovgate[k] could be the catalogue.
			"other/q.rego": {Data: []byte("package other\n\nacme if {\n\tsome k\n\tdata.sovgate[k].acme\n}\n")},
		}
		e, err := Load(t.Context(), Bundle{FS: files, Dir: "/p"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if v := e.data.Get(ast.MustParseRef("data.sovgate.operators.acme.headquarters")); v == nil {
			t.Errorf("%s: a policy that reads the catalogue evaluates without it", name)
		}
		if v := e.data.Get(ast.MustParseRef("data.sovgate.operators.acme.sources")); v == nil && name != "direct" {
			t.Errorf("%s: a policy that may read any field of an entry evaluates without some", name)
		}
		if d, err := e.Evaluate(t.Context(), &Input{}); err != nil || (name == "direct" && d.Allow) {
			t.Errorf("%s: %+v %v", name, d, err)
		}
	}
}

// TestOperatorFieldsPrunedToWhatRulesRead: a policy that names fields of
// entries evaluates with those fields of every entry and no others, and an
// existence test keeps every entry, empty, so that it still holds.
func TestOperatorFieldsPrunedToWhatRulesRead(t *testing.T) {
	const data = `{"operators": {
		"acme": {"name": "Acme", "kind": "saas", "headquarters": "US", "sources": ["s"], "checked": "2026-12-06"},
		"bolt": {"name": "Bolt", "kind": "saas", "headquarters": "FR", "sources": ["s"], "checked": "2026-12-06"}}}`
	for name, tc := range map[string]struct {
		rule  string
		input Input
		kept  []string
		gone  []string
		allow bool
	}{
		"named field": {
			rule:  "decision := {\"allow\": data.sovgate.operators[input.request.host].headquarters == \"FR\", \"profile\": \"p\", \"reasons\": []}",
			input: Input{Request: Request{Host: "bolt"}},
			kept:  []string{"acme.headquarters", "bolt.headquarters"},
			gone:  []string{"acme.name", "bolt.sources"},
			allow: true,
		},
		"existence": {
			rule:  "decision := {\"allow\": true, \"profile\": \"p\", \"reasons\": []} if data.sovgate.operators[input.request.host]\n\ndecision := {\"allow\": false, \"profile\": \"p\", \"reasons\": []} if not data.sovgate.operators[input.request.host]",
			input: Input{Request: Request{Host: "acme"}},
			kept:  []string{"acme", "bolt"},
			gone:  []string{"acme.name", "acme.headquarters"},
			allow: true,
		},
	} {
		e, err := Load(t.Context(), Bundle{FS: fstest.MapFS{
			"sovgate/p.rego":    {Data: []byte("package sovgate\n\n" + tc.rule + "\n")},
			"sovgate/data.json": {Data: []byte(data)},
		}, Dir: "/p"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		evaluatedWith := func(p string) bool { return e.data.Get(ast.MustParseRef("data.sovgate.operators."+p)) != nil }
		for _, p := range tc.kept {
			if !evaluatedWith(p) {
				t.Errorf("%s: evaluates without operators.%s, which it reads", name, p)
			}
		}
		for _, p := range tc.gone {
			if evaluatedWith(p) {
				t.Errorf("%s: evaluates with operators.%s, which no rule reads", name, p)
			}
		}
		d, err := e.Evaluate(t.Context(), &tc.input)
		if err != nil || d.Allow != tc.allow {
			t.Errorf("%s: decision %+v, %v; want allow %v", name, d, err, tc.allow)
		}
	}
}
