package policy

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/sovgate/sovgate/geo"
)

// TestDataCacheMatchesStore compares Engine.Evaluate, which serves data from
// dataCache over an empty store, with a plain OPA evaluation over a store
// that holds the data, for many inputs and data with apps and exceptions.
func TestDataCacheMatchesStore(t *testing.T) {
	ctx := context.Background()
	src := EmbeddedBundle()
	files, _, err := readSource(src, false)
	if err != nil {
		t.Fatal(err)
	}
	b, diags := parseFiles(files)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	sg := b.data["sovgate"].(map[string]any)
	sg["apps"] = map[string]any{
		"visio": map[string]any{"profile": "residency", "accept_adequacy": true},
		"meteo": map[string]any{"profile": "open"},
		"typo":  map[string]any{"profile": "nope"},
	}
	sg["exceptions"] = map[string]any{
		"e1": map[string]any{"app": "*", "host": "*.example.com", "reason": "r", "approved_by": "DPO", "expires": "2026-12-31"},
		"e2": map[string]any{"app": "etat-civil", "host": "old.example.org", "reason": "r", "approved_by": "DPO", "expires": "2020-01-01"},
	}
	store := newStore(b.data)
	compiler, diags := compile(ctx, src, b, store, compileOptions{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	ref, err := rego.New(rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(decisionRef)))),
		rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := prepare(ctx, src, b, compiler)
	if err != nil {
		t.Fatal(err)
	}

	aws := geo.Provider{ID: "aws", Name: "Amazon Web Services", Headquarters: "US", Jurisdictions: []string{"US"}, MatchedBy: "range"}
	ch := geo.Provider{ID: "infomaniak", Name: "Infomaniak", Headquarters: "CH", Jurisdictions: []string{"CH"}, MatchedBy: "asn"}
	n := 0
	for _, app := range []string{"etat-civil", "visio", "meteo", "typo", "unknown"} {
		for _, host := range []string{"api.example.com", "example.com", "old.example.org", "x.example.fr"} {
			for _, country := range []string{"FR", "US", "CH", "", "NO"} {
				for _, providers := range [][]geo.Provider{nil, {aws}, {ch}} {
					in := &Input{
						Source: Caller{App: app},
						Destination: geo.Destination{Host: host, Addresses: []geo.Address{
							{IP: netip.MustParseAddr("192.0.2.1"), Country: country},
						}, Providers: providers},
					}
					in.Time = benchCases[0].in.Time
					want, err := ref.Eval(ctx, rego.EvalParsedInput(inputValue(in)))
					if err != nil || len(want) != 1 {
						t.Fatalf("reference: %v, %v", want, err)
					}
					got, err := e.Evaluate(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					wantD, err := decisionFromValue(ast.MustInterfaceToValue(want[0].Expressions[0].Value))
					if err != nil {
						t.Fatal(err)
					}
					if got.Allow != wantD.Allow || got.Profile != wantD.Profile || len(got.Reasons) != len(wantD.Reasons) {
						t.Fatalf("%s %s %s %v: got %+v, want %+v", app, host, country, providers, got, wantD)
					}
					for i := range got.Reasons {
						if !reflect.DeepEqual(got.Reasons[i], wantD.Reasons[i]) {
							t.Fatalf("%s %s %s %v: got %+v, want %+v", app, host, country, providers, got, wantD)
						}
					}
					n++
				}
			}
		}
	}
	t.Logf("%d inputs agree", n)
}
