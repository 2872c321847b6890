package policy_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sovgate/sovgate/policies/policiestest"
	"github.com/sovgate/sovgate/policy"
)

const operatorsDoc = `{
  "city-dc": {
    "name": "Data centre of the city",
    "kind": "hosting",
    "headquarters": "FR",
    "ranges": ["192.0.2.0/24"],
    "offers": [
      {"id": "city-hds", "name": "Health hosting", "qualifications": [
        {"scheme": "hds", "since": "2020-01-01", "until": "2026-01-01", "source": "certificate 2020-17"}
      ]}
    ],
    "sources": ["network team inventory"],
    "checked": "2026-12-06"
  }
}
`

// TestKnowledgeFromTheBundle: the catalogue and the EU list come from the
// bundle's data, with the revision.
func TestKnowledgeFromTheBundle(t *testing.T) {
	e, err := policy.LoadEmbedded(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	k := e.Knowledge()
	if k.Operators.Len() < 18 {
		t.Errorf("%d operators in the embedded catalogue", k.Operators.Len())
	}
	if p, ok := k.Operators.Provider("aws"); !ok || p.Headquarters != "US" {
		t.Errorf("aws: %+v", p)
	}
	if !k.Territory.EU("FR") || !k.Territory.EU("RE") || k.Territory.EU("CH") || !k.Territory.EEA("NO") {
		t.Error("territory from data.json wrong")
	}
	emb, err := policy.EmbeddedKnowledge()
	if err != nil || emb.Operators.Len() != k.Operators.Len() {
		t.Errorf("EmbeddedKnowledge: %v, %d operators", err, emb.Operators.Len())
	}

	// A DPO's copy with one more operator: another revision, another
	// catalogue.
	files := policiestest.WithData(t, nil)
	files["sovgate/operators/data.json"] = &fstest.MapFile{Data: []byte(operatorsDoc)}
	e2, err := policy.Load(t.Context(), policy.Bundle{FS: files, Dir: "/etc/sovgate/policies"})
	if err != nil {
		t.Fatal(err)
	}
	if e2.Revision() == e.Revision() {
		t.Error("a catalogue edit did not change the revision")
	}
	if p, _, ok := e2.Knowledge().Operators.ProviderByDomain("x.example"); ok {
		t.Errorf("unexpected match %+v", p)
	}
	if p, ok := e2.Knowledge().Operators.Provider("city-dc"); !ok || p.Headquarters != "FR" || e2.Knowledge().Operators.Len() != 1 {
		t.Errorf("city-dc: %+v", p)
	}
}

// TestBrokenCatalogueRefusedWithFileAndLine: a mistake in the catalogue
// keeps the revision from loading, and both Load and Check name the file
// and the line.
func TestBrokenCatalogueRefusedWithFileAndLine(t *testing.T) {
	broken := strings.Replace(operatorsDoc, `"kind": "hosting",`, `"kind": "hosting", "asns": [64512],`, 1)
	broken = strings.Replace(broken, `"checked": "2026-12-06"`, `"cheked": "2026-12-06"`, 1)
	files := policiestest.WithData(t, nil)
	files["sovgate/operators/data.json"] = &fstest.MapFile{Data: []byte(broken)}
	src := policy.Bundle{FS: files, Dir: "/etc/sovgate/policies"}
	_, err := policy.Load(t.Context(), src)
	var diags policy.Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("Load: %v", err)
	}
	want := []string{
		`/etc/sovgate/policies/sovgate/operators/data.json:2:14: sovgate_data_error: operator "city-dc": checked is missing`,
		`/etc/sovgate/policies/sovgate/operators/data.json:4:33: sovgate_data_error: operator "city-dc": asns[0]: AS64512 is for private use: it never appears in routing data`,
		`/etc/sovgate/policies/sovgate/operators/data.json:13:5: sovgate_data_error: operator "city-dc": unknown field "cheked" (known fields: asns, checked, domain_suffixes, headquarters, jurisdictions, kind, name, offers, parent, range_feeds, ranges, source, sources)`,
	}
	var got []string
	for _, d := range diags {
		got = append(got, d.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Load diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checked, err := policy.Check(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, d := range checked {
		for _, w := range want {
			if d.String() == w {
				found++
			}
		}
	}
	if found != len(want) {
		t.Errorf("Check found %d of the %d problems: %v", found, len(want), checked)
	}
}

// TestCheckWarnsAboutExpiredQualificationsAndAdequacy: expired facts load
// (they change nothing today) but `policy check` says so, with file:line.
func TestCheckWarnsAboutExpiredQualificationsAndAdequacy(t *testing.T) {
	files := policiestest.WithData(t, func(data map[string]any) {
		adequacy := data["adequacy"].(map[string]any)
		ch := adequacy["CH"].(map[string]any)
		ch["valid_until"] = "2026-06-30"
	})
	files["sovgate/operators/data.json"] = &fstest.MapFile{Data: []byte(operatorsDoc)}
	src := policy.Bundle{FS: files, Dir: "/etc/sovgate/policies"}
	if _, err := policy.Load(t.Context(), src); err != nil {
		t.Fatalf("expired facts must not stop a revision: %v", err)
	}
	diags, err := policy.CheckWithOptions(t.Context(), src, policy.CheckOptions{Now: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var qual, adequacy *policy.Diagnostic
	for i, d := range diags {
		switch d.Code {
		case policy.CodeQualificationExpiry:
			qual = &diags[i]
		case policy.CodeAdequacyExpiry:
			adequacy = &diags[i]
		default:
			t.Errorf("unexpected diagnostic %v", d)
		}
	}
	if qual == nil || qual.String() != `/etc/sovgate/policies/sovgate/operators/data.json:9:9: warning: operator "city-dc", offer "city-hds": the hds qualification ended on 2026-01-01; it no longer counts: check the source and renew or remove it` {
		t.Errorf("qualification warning %v", qual)
	}
	if adequacy == nil || !adequacy.IsWarning() || adequacy.File != "/etc/sovgate/policies/sovgate/data.json" || adequacy.Row == 0 ||
		!strings.Contains(adequacy.Message, "adequacy decision for CH (2000/518/EC) ended on 2026-06-30") {
		t.Errorf("adequacy warning %v", adequacy)
	}
	// The shipped data has neither.
	diags, err = policy.Check(t.Context(), policy.EmbeddedBundle())
	if err != nil || len(diags) != 0 {
		t.Errorf("the embedded bundle: %v %v", err, diags)
	}
}

// TestCatalogueInYAMLOrInDataJSON: the catalogue may be written elsewhere
// than sovgate/operators/data.json; problems then name the file.
func TestCatalogueInYAMLOrInDataJSON(t *testing.T) {
	files := policiestest.WithData(t, nil)
	delete(files, "sovgate/operators/data.json")
	files["sovgate/operators/data.yaml"] = &fstest.MapFile{Data: []byte("city-dc:\n  name: City\n  kind: hosting\n  headquarters: FR\n  sources: [inventory]\n  checked: \"2026-12-06\"\n  asns: [0]\n")}
	_, err := policy.Load(t.Context(), policy.Bundle{FS: files, Dir: "/p"})
	var diags policy.Diagnostics
	if !errors.As(err, &diags) || len(diags) != 1 || diags[0].File != "/p/sovgate/operators/data.yaml" || !strings.Contains(diags[0].Message, "AS0 is reserved") {
		t.Errorf("YAML catalogue: %v", err)
	}
	files["sovgate/operators/data.yaml"] = &fstest.MapFile{Data: []byte("city-dc:\n  name: City\n  kind: hosting\n  headquarters: FR\n  sources: [inventory]\n  checked: \"2026-12-06\"\n  asns: [3215]\n")}
	e, err := policy.Load(t.Context(), policy.Bundle{FS: files, Dir: "/p"})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := e.Knowledge().Operators.ProviderByASN(3215); !ok || p.ID != "city-dc" {
		t.Errorf("YAML catalogue not used: %+v", p)
	}
}
