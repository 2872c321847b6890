package policy_test

import (
	"bytes"
	"testing"

	"github.com/sovgate/sovgate/policy"
)

// TestPolicyUnitTests runs the Rego unit tests of the default bundle, so that
// `go test ./...` covers them; from the embedded copy (what ships) and from
// the directory on disk (what DPO staff copy and edit).
func TestPolicyUnitTests(t *testing.T) {
	for name, b := range map[string]policy.Bundle{
		"embedded": policy.EmbeddedBundle(),
		"dir":      policy.DirBundle("../policies"),
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
			if testing.Verbose() {
				t.Logf("%s", out.String())
			}
		})
	}
}
