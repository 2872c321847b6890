package chain

import (
	"fmt"
	"testing"

	"github.com/sovgate/sovgate/audit"
)

// FuzzFastTags checks the verification's quick reading of addresses and
// reasons against encoding/json, on what this package writes.
func FuzzFastTags(f *testing.F) {
	f.Add("FR", "ovh", "eu-west-3", "RESIDENCY_NON_EU", "US", "")
	f.Add("", "", "", "", "", "")
	f.Add(`"country":"X`, `a"b`, `\`, "A,B", "é", "<>&")
	f.Fuzz(func(t *testing.T, c1, p1, region, reason, c2, p2 string) {
		rec := &audit.Record{Addresses: []audit.Address{{IP: "192.0.2.1", Country: c1, Provider: p1, Region: region}, {IP: "2001:db8::1", Country: c2, Provider: p2}}}
		if reason != "" {
			rec.Reasons = []audit.Code{audit.Code(reason), audit.Code(reason + "_2")}
		}
		e := DecisionEntry(rec, false)
		want := e.tagList
		fast, ok := fastTags(e.Addresses, e.Reasons)
		if ok && fmt.Sprint(fast) != fmt.Sprint(want) {
			t.Fatalf("fastTags %q, json %q", fast, want)
		}
	})
}
