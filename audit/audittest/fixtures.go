package audittest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sovgate/sovgate/audit"
)

// Start is the time of the first fixture record.
var Start = time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)

// Record is the i-th decision of a varied, reproducible month: five
// destinations (EU, US, a US provider's Paris region, a mixed one, CN),
// one record in 97 to a rare destination in BR, four apps, a third in
// enforce mode. Its id is a fresh UUIDv7.
func Record(i int, node string) *audit.Record {
	type dest struct {
		host    string
		addrs   []audit.Address
		verdict audit.Verdict
		reasons []audit.Code
	}
	dests := []dest{
		{"api.eu.example", []audit.Address{{IP: "192.0.2.10", Country: "FR", ASN: 64500, Provider: "ovh"}}, audit.Allow, nil},
		{"api.us.example", []audit.Address{{IP: "198.51.100.7", Country: "US", ASN: 64501}}, audit.Deny, []audit.Code{audit.CodeResidencyNonEU}},
		{"bucket.s3.eu-west-3.amazonaws.com", []audit.Address{{IP: "203.0.113.4", Country: "FR", ASN: 16509, Provider: "aws", Region: "eu-west-3"}}, audit.Deny, []audit.Code{audit.CodeJurisdictionNonEU}},
		{"mixed.example", []audit.Address{{IP: "192.0.2.11", Country: "DE"}, {IP: "198.51.100.8", Country: "US", Provider: "azure"}}, audit.Deny, []audit.Code{audit.CodeResidencyNonEU, audit.CodeJurisdictionNonEU}},
		{"cdn.cn.example", []audit.Address{{IP: "203.0.113.99", Country: "CN"}}, audit.Deny, []audit.Code{audit.CodeResidencyNonEU}},
	}
	apps := []string{"etat-civil", "urbanisme", "unknown", "cantines"}
	d := dests[i%len(dests)]
	if i%97 == 0 { // rare: a destination of one record in 97
		d = dest{"rare.example", []audit.Address{{IP: "192.0.2.77", Country: "BR"}}, audit.Deny, []audit.Code{audit.CodeResidencyNonEU}}
	}
	mode, action := "monitor", audit.Forwarded
	if i%3 == 0 {
		mode = "enforce"
		if d.verdict == audit.Deny {
			action = audit.Blocked
		}
	}
	at := Start.Add(time.Duration(i) * 37 * time.Second)
	return &audit.Record{
		ID: uuid.Must(uuid.NewV7()).String(), Time: at, Node: node, App: apps[i%len(apps)], SourceIP: fmt.Sprintf("10.1.%d.%d", i%7, i%200),
		Method: "CONNECT", Scheme: "https", Host: d.host, Port: 443, Addresses: d.addrs,
		Verdict: d.verdict, Action: action, Mode: mode, Reasons: d.reasons, PolicyRevision: "rev-1", DurationUS: 80 + int64(i%50),
	}
}

// Backends runs a test against a real SQLite file and a real PostgreSQL
// database, each new and empty; fn gets the store's location.
func Backends(t *testing.T, fn func(t *testing.T, location string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, filepath.Join(t.TempDir(), "audit.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, PostgresURL(t))
	})
}
