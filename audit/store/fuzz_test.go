package store

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
)

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-10-01", "2026-10", "2026-10-01T08:00:00Z", "2026-10-01 12:30", "30d", "2w", "12h", "now", "-5d", "1e308d", "", "2026-13-01"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now)
		if err == nil && got.Location() != time.UTC {
			t.Fatalf("%q parsed to a non-UTC time %v", s, got)
		}
	})
}

func FuzzFilterFromQuery(f *testing.F) {
	for _, s := range []string{"since=30d&country=us&verdict=deny", "app=etat-civil&limit=10", "host=*.amazonaws.com", "cursor=MTIzfGFi", "verdict=maybe", "limit=-1", "x=1", "since=2026-10&until=2026-09"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := FilterFromQuery(q, now)
		if err != nil {
			return
		}
		if flt.Limit < 0 || flt.Limit > MaxLimit {
			t.Fatalf("limit %d accepted", flt.Limit)
		}
		if flt.Verdict != "" && flt.Verdict != string(audit.Allow) && flt.Verdict != string(audit.Deny) {
			t.Fatalf("verdict %q accepted", flt.Verdict)
		}
		s := &sqlStore{postgres: true}
		query, args := s.selectSQL(&flt, true, true)
		if n := bytes.Count([]byte(query), []byte("$")); n != len(args) {
			t.Fatalf("%d placeholders for %d arguments in %s", n, len(args), query)
		}
	})
}
