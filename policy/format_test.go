package policy_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/format"

	"github.com/sovgate/sovgate/policies"
)

// TestPoliciesFormatted keeps the default bundle in `opa fmt` style, so a DPO
// who runs the formatter on a copy sees only their own changes.
func TestPoliciesFormatted(t *testing.T) {
	err := fs.WalkDir(policies.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
			return err
		}
		src, err := fs.ReadFile(policies.FS(), p)
		if err != nil {
			return err
		}
		got, err := format.Source(p, src)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		if string(got) != string(src) {
			t.Errorf("%s is not formatted; formatted:\n%s", p, got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
