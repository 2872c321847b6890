package audittest

import (
	"fmt"
	"path/filepath"
	"reflect"
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

// FullRecord is a record with every field set, found by reflection, so a
// test that stores it and reads it back covers the fields added later
// too: every string, number and flag, at every depth (each address has
// every field), two elements in every list. Its time has microseconds
// only (what the store keeps). PrevHash and Hash are left empty (the
// store sets them); so are Count and Last when summary is false (only a
// summary of refusals has them).
func FullRecord(t testing.TB, id string, summary bool) *audit.Record {
	t.Helper()
	rec := &audit.Record{}
	n := 0
	fill(t, reflect.ValueOf(rec).Elem(), "record", &n)
	rec.ID = id
	rec.Path = "/full/path"
	rec.PrevHash, rec.Hash = "", ""
	if !summary {
		rec.Count, rec.Last = 0, time.Time{}
	}
	return rec
}

var timeType = reflect.TypeOf(time.Time{})

// fill sets v, and everything in it, to values that differ from each other
// and from the zero value; n numbers them.
func fill(t testing.TB, v reflect.Value, path string, n *int) {
	t.Helper()
	*n++
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(Start.Add(time.Duration(*n)*time.Hour + time.Duration(*n)*time.Microsecond)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(100 + *n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(100 + *n))
	case reflect.Struct:
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name, n)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i), n)
		}
		v.Set(s)
	default:
		t.Fatalf("audittest.FullRecord: %s is a %s, which it cannot fill: teach it", path, v.Kind())
	}
}
