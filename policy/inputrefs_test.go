package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestReadsInputOfTheEmbeddedPolicy(t *testing.T) {
	e, err := LoadEmbedded(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"request.path":          false, // the default policy never looks at paths
		"source.ip":             false,
		"source.app":            true,
		"destination.addresses": true,
		"time":                  true, // exceptions expire
	} {
		if got := e.ReadsInput(path); got != want {
			t.Errorf("ReadsInput(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestReadsInputIsConservative(t *testing.T) {
	cases := []struct {
		name, rule string
		path       string
		want       bool
	}{
		{"direct field", `input.request.path == "/x"`, "request.path", true},
		{"other field", `input.request.method == "GET"`, "request.path", false},
		{"computed key below request", `some k; input.request[k] == "/x"`, "request.path", true},
		{"whole request object", `r := input.request; r.path == "/x"`, "request.path", true},
		{"whole input", `x := input; x.source.ip == "10.0.0.1"`, "source.ip", true},
		{"computed key at the root", `some k; input[k].ip == "10.0.0.1"`, "source.ip", true},
		{"deeper than asked", `input.source.ip == "10.0.0.1"`, "source", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rego := "package sovgate\n\ndecision := {\"allow\": true, \"profile\": \"open\", \"reasons\": []} if {\n\t" + tc.rule + "\n}\n"
			if err := os.MkdirAll(filepath.Join(dir, "sovgate"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "sovgate", "decision.rego"), []byte(rego), 0o644); err != nil {
				t.Fatal(err)
			}
			e, err := LoadDir(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.ReadsInput(tc.path); got != tc.want {
				t.Errorf("ReadsInput(%q) = %v, want %v for rule %s", tc.path, got, tc.want, tc.rule)
			}
		})
	}
}
