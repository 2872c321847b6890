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
		if v := e.data.Get(operators); v == nil {
			t.Errorf("%s: a policy that reads the catalogue evaluates without it", name)
		}
		if d, err := e.Evaluate(t.Context(), &Input{}); err != nil || (name == "direct" && d.Allow) {
			t.Errorf("%s: %+v %v", name, d, err)
		}
	}
}
