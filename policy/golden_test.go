package policy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/util"

	"github.com/sovgate/sovgate/policies/policiestest"
	"github.com/sovgate/sovgate/policy"
)

// goldenFile is one file of testdata/cases, in the spirit of OPA's
// v1/test/cases/testdata: a list of inputs and the decision each must get.
type goldenFile struct {
	// Data, when set, is merged over the embedded sovgate/data.json
	// (objects merge, other values replace) for every case of the file.
	Data  map[string]any `json:"data"`
	Cases []struct {
		Note  string          `json:"note"`
		Input policy.Input    `json:"input"`
		Want  policy.Decision `json:"want"`
	} `json:"cases"`
}

// TestGoldenCases evaluates every case of testdata/cases/*.yaml against the
// embedded policy.
func TestGoldenCases(t *testing.T) {
	paths, err := filepath.Glob("testdata/cases/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			gf := readGoldenFile(t, path)
			engine := embeddedWithData(t, gf.Data)
			for _, c := range gf.Cases {
				t.Run(c.Note, func(t *testing.T) {
					got, err := engine.Evaluate(t.Context(), &c.Input)
					if err != nil {
						t.Fatalf("Evaluate: %v", err)
					}
					if !sameDecision(got, &c.Want) {
						t.Errorf("decision:\n got: %s\nwant: %s", toJSON(got), toJSON(&c.Want))
					}
					checkMessages(t, got)
				})
			}
		})
	}
}

func readGoldenFile(t *testing.T, path string) goldenFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := util.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	// Unknown names are errors: a case must use the input contract's names.
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var gf goldenFile
	if err := dec.Decode(&gf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(gf.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return gf
}

// embeddedWithData loads the embedded bundle with patch merged over its
// data.json.
func embeddedWithData(t *testing.T, patch map[string]any) *policy.Engine {
	t.Helper()
	if patch == nil {
		e, err := policy.LoadEmbedded(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	mfs := policiestest.WithData(t, func(data map[string]any) { merge(data, patch) })
	e, err := policy.Load(t.Context(), policy.Bundle{FS: mfs, Dir: "golden:"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func merge(dst, patch map[string]any) {
	for k, v := range patch {
		if po, ok := v.(map[string]any); ok {
			if do, ok := dst[k].(map[string]any); ok {
				merge(do, po)
				continue
			}
		}
		dst[k] = v
	}
}

// sameDecision compares got with the decision a case wants, taking no
// reasons and an empty list as equal. A wanted reason without "messages"
// is about what the reason says in English: its messages are not compared
// (checkMessages checks them for every case).
func sameDecision(got, want *policy.Decision) bool {
	if got.Allow != want.Allow || got.Profile != want.Profile || len(got.Reasons) != len(want.Reasons) {
		return false
	}
	for i, w := range want.Reasons {
		g := got.Reasons[i]
		if w.Messages == nil {
			g.Messages = nil
		}
		if !reflect.DeepEqual(g, w) {
			return false
		}
	}
	return true
}

// checkMessages: every reason of the default policy says the same in
// English in "message" and "messages", and has a French message.
func checkMessages(t *testing.T, d *policy.Decision) {
	t.Helper()
	for i, r := range d.Reasons {
		if r.Messages["en"] != r.Message || r.Messages["fr"] == "" || r.Messages["fr"] == r.Message {
			t.Errorf("reasons[%d] %s: message %q, messages %q", i, r.Code, r.Message, r.Messages)
		}
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
