package chain

import (
	"reflect"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
)

// The profile the policy applied and the app's categories ride in the
// decision's detail column, with the exceptions, and come back as they
// went; a record without them stores no detail, so its entry (and hash)
// is what it always was.
func TestDecisionDetail(t *testing.T) {
	rec := &audit.Record{
		ID: "0192abcd-0000-7000-8000-000000000001", Time: time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC), Node: "gw-1",
		App: "etat-civil", Host: "api.example", Port: 443, Verdict: audit.Allow, Action: audit.Forwarded,
		Reasons:    []audit.Code{audit.CodeResidencyNonEU, audit.CodeExceptionApplied},
		Exceptions: []string{"2026-014"}, Profile: "france", Categories: []string{"civil-status", "personal"},
	}
	e := DecisionEntry(rec, false)
	if want := `{"exceptions":["2026-014"],"profile":"france","categories":["civil-status","personal"]}`; e.Detail != want {
		t.Errorf("detail %s, want %s", e.Detail, want)
	}
	back, err := e.Record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.Profile != rec.Profile || !reflect.DeepEqual(back.Categories, rec.Categories) || !reflect.DeepEqual(back.Exceptions, rec.Exceptions) ||
		!reflect.DeepEqual(back.Reasons, rec.Reasons) || back.Verdict != audit.Allow || back.Action != audit.Forwarded {
		t.Errorf("read back %+v", back.Record)
	}

	plain := *rec
	plain.Exceptions, plain.Profile, plain.Categories = nil, "", nil
	if e := DecisionEntry(&plain, false); e.Detail != "" {
		t.Errorf("detail %q for a record without profile, categories or exceptions", e.Detail)
	}
	onlyProfile := plain
	onlyProfile.Profile = "sovereign"
	if e := DecisionEntry(&onlyProfile, false); e.Detail != `{"profile":"sovereign"}` {
		t.Errorf("detail %q", e.Detail)
	}
}

// BenchmarkDecisionEntry: the stored form of a decision, made once per
// decision by the audit writer.
//
//	go test -run='^$' -bench=DecisionEntry -benchmem ./audit/chain/
func BenchmarkDecisionEntry(b *testing.B) {
	rec := &audit.Record{
		ID: "0192abcd-0000-7000-8000-000000000001", Time: time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC), Node: "gw-1",
		App: "etat-civil", SourceIP: "10.1.2.3", Method: "CONNECT", Scheme: "https", Host: "api.example", Port: 443,
		Addresses: []audit.Address{{IP: "203.0.113.7", Country: "US", ASN: 16509, Provider: "aws", Region: "us-east-1", MatchedBy: "range"}},
		Verdict:   audit.Deny, Action: audit.Forwarded, Mode: "monitor", Reasons: []audit.Code{audit.CodeResidencyNonEU},
		PolicyRevision: "5f0c2a9e41d7", DurationUS: 90,
	}
	for _, bc := range []struct {
		name       string
		profile    string
		categories []string
	}{{"no-profile", "", nil}, {"profile", "sovereign", nil}, {"profile-categories", "france", []string{"civil-status", "personal"}}} {
		b.Run(bc.name, func(b *testing.B) {
			rec.Profile, rec.Categories = bc.profile, bc.categories
			b.ReportAllocs()
			for b.Loop() {
				DecisionEntry(rec, false)
			}
		})
	}
}
