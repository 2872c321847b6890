package chain

import (
	"encoding/json"
	"fmt"
	"testing"
	"unicode/utf8"

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

// FuzzDecisionDetail checks the detail column written by hand against
// encoding/json, and that it reads back.
func FuzzDecisionDetail(f *testing.F) {
	f.Add("sovereign", "", "", "")
	f.Add("france", "civil-status", "personal", "2026-014")
	f.Add(`a"b`, "é", "<>&", `\`)
	f.Add("", "", "health", "")
	f.Fuzz(func(t *testing.T, profile, cat1, cat2, exception string) {
		decisionUS := int64(len(profile)+len(cat1)) - 3
		rec := &audit.Record{Profile: profile}
		for _, c := range []string{cat1, cat2} {
			if c != "" {
				rec.Categories = append(rec.Categories, c)
			}
		}
		if exception != "" {
			rec.Exceptions = []string{exception}
		}
		got := decisionDetailJSON(rec)
		want, _ := json.Marshal(decisionDetail{Exceptions: rec.Exceptions, Profile: rec.Profile, Categories: rec.Categories})
		if got != string(want) {
			t.Fatalf("by hand %s\nencoding/json %s", got, want)
		}
		var back decisionDetail
		if err := json.Unmarshal([]byte(got), &back); err != nil || (utf8.ValidString(profile) && back.Profile != profile) {
			t.Fatalf("read back %+v, %v", back, err)
		}
		// The detail of a decision merged with its completion, spliced
		// from the decision's, is what encoding/json writes too.
		detail := ""
		if profile != "" || len(rec.Categories) > 0 || len(rec.Exceptions) > 0 {
			detail = got
		}
		merged, ok := completedDetail(detail, decisionUS)
		want, _ = json.Marshal(decisionDetail{Exceptions: rec.Exceptions, Profile: rec.Profile, Categories: rec.Categories, Completed: true, DecisionUS: decisionUS})
		if !ok || merged != string(want) {
			t.Fatalf("merged detail %s (%v)\nencoding/json %s", merged, ok, want)
		}
	})
}

// FuzzColumnsJSON checks the addresses and reasons columns written by
// hand against encoding/json.
func FuzzColumnsJSON(f *testing.F) {
	f.Add("203.0.113.7", "US", uint32(16509), "aws", "us-east-1", "range", true, "RESIDENCY_NON_EU")
	f.Add("", "", uint32(0), "", "", "", false, "")
	f.Add(`"x`, "é", uint32(1), `\`, "<>&", "a\x00", true, `"Q`)
	f.Fuzz(func(t *testing.T, ip, country string, asn uint32, provider, region, matchedBy string, internal bool, reason string) {
		addrs := []audit.Address{
			{IP: ip, Country: country, ASN: asn, Provider: provider, Region: region, MatchedBy: matchedBy, Internal: internal},
			{IP: "192.0.2.1", Country: "FR"},
		}
		want, _ := json.Marshal(addrs)
		if got := addressesJSON(addrs); got != string(want) {
			t.Fatalf("addresses by hand %s\nencoding/json %s", got, want)
		}
		reasons := []audit.Code{audit.Code(reason), "JURISDICTION_NON_EU"}
		want, _ = json.Marshal(reasons)
		if got := reasonsJSON(reasons); got != string(want) {
			t.Fatalf("reasons by hand %s\nencoding/json %s", got, want)
		}
	})
}
