package cli

import (
	"strings"
	"testing"

	"github.com/sovgate/sovgate/audit/verify"
)

// TestProgressPrinter: on a terminal, verify rewrites one line with how
// far it is, and clears it when a chain is done.
func TestProgressPrinter(t *testing.T) {
	var b strings.Builder
	p := progressPrinter(&b)
	p(verify.Progress{Node: "gw-lyon-1", Done: 65536, Total: 1_000_000})
	p(verify.Progress{Node: "gw-lyon-1", Done: 70000, Total: 1_000_000}) // too soon: not printed
	p(verify.Progress{Node: "gw-lyon-1", Done: 1_000_000, Total: 1_000_000, Finished: true})
	out := b.String()
	if !strings.HasPrefix(out, "\rverifying gw-lyon-1: 65,536 of 1,000,000 entries (6%)") || strings.Contains(out, "70,000") ||
		!strings.Contains(out, "1,000,000 of 1,000,000 entries (100%)") || !strings.HasSuffix(out, "\r\033[K") {
		t.Fatalf("%q", out)
	}
}

func TestParseFrom(t *testing.T) {
	for _, bad := range []string{"gw-1", ":12", "gw-1:0", "gw-1:x"} {
		if _, err := parseFromArgs([]string{bad}); err == nil {
			t.Errorf("--from %q accepted", bad)
		}
	}
	from, err := parseFromArgs([]string{"gw:lyon:1:4811203"})
	if err != nil || from["gw:lyon:1"] != 4811203 {
		t.Fatalf("%v %v", from, err)
	}
}
