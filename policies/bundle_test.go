package policies_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/sovgate/sovgate/policies"
	"github.com/sovgate/sovgate/policy"
)

// TestRegoUnitTests runs the Rego unit tests of this bundle (*_test.rego)
// through the same runner as `sovgate policy test`, so that `go test ./...`
// covers them: from the embedded copy (what ships) and from the directory on
// disk (what DPO staff copy and edit). It fails if any test fails or none ran.
func TestRegoUnitTests(t *testing.T) {
	for name, b := range map[string]policy.Bundle{
		"embedded": policy.EmbeddedBundle(),
		"dir":      policy.DirBundle("."),
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			sum, err := policy.RunTests(t.Context(), b, policy.TestOptions{Verbose: testing.Verbose()}, &out)
			if err != nil {
				t.Fatalf("RunTests: %v", err)
			}
			if !sum.OK() || sum.Passed == 0 {
				t.Fatalf("Rego tests: %+v\n%s", sum, out.String())
			}
			t.Logf("%+v", sum)
			if testing.Verbose() {
				t.Logf("\n%s", out.String())
			}
		})
	}
}

// TestShippedRegistryIsEmpty: the default bundle lists no app and no
// exception; DPO staff add theirs to their copy (the Rego tests do not
// depend on them, see helpers_test.rego).
func TestShippedRegistryIsEmpty(t *testing.T) {
	raw, err := fs.ReadFile(policies.FS(), "sovgate/data.json")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Apps       map[string]any `json:"apps"`
		Exceptions map[string]any `json:"exceptions"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if data.Apps == nil || len(data.Apps) != 0 || data.Exceptions == nil || len(data.Exceptions) != 0 {
		t.Errorf("apps %v, exceptions %v: want both present and empty", data.Apps, data.Exceptions)
	}
}
