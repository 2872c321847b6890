package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"testing"
	"time"
)

// FuzzSpoolFrames feeds arbitrary bytes to the spool's frame reader: it
// must never panic, and every entry it returns must encode back to the
// bytes it came from.
func FuzzSpoolFrames(f *testing.F) {
	// Deterministic seeds: the fuzzing workers must see the same corpus.
	var seed []byte
	for i := range 2 {
		rec := fixtureRecord(i, "gw-1")
		rec.ID = fmt.Sprintf("0190a000-0000-7000-8000-00000000000%d", i)
		seed, _ = appendFrame(seed, DecisionEntry(rec, false))
	}
	comp := fixtureRecord(1, "gw-1")
	comp.ID, comp.BytesUp = "0190a000-0000-7000-8000-000000000001", 42
	seed, _ = appendFrame(seed, CompletionEntry(comp))
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		off := 0
		for {
			e, n, err := readFrame(r)
			if err != nil {
				return
			}
			again, err := appendFrame(nil, e)
			if err != nil {
				t.Fatal(err)
			}
			if n <= spoolFrameHeader || off+n > len(data) {
				t.Fatalf("frame size %d at %d of %d", n, off, len(data))
			}
			if e2, _, err := readFrame(bufio.NewReader(bytes.NewReader(again))); err != nil || e2.ID != e.ID || e2.Kind != e.Kind {
				t.Fatalf("re-encoded frame does not read back: %v", err)
			}
			off += n
		}
	})
}

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
		if flt.Verdict != "" && flt.Verdict != VerdictAllow && flt.Verdict != VerdictDeny {
			t.Fatalf("verdict %q accepted", flt.Verdict)
		}
		s := &sqlStore{postgres: true}
		query, args := s.selectSQL(&flt, true, true)
		if n := bytes.Count([]byte(query), []byte("$")); n != len(args) {
			t.Fatalf("%d placeholders for %d arguments in %s", n, len(args), query)
		}
	})
}

func FuzzParseAnchor(f *testing.F) {
	f.Add("gw-1:42:" + GenesisHash)
	f.Add("a:b:c:1:" + GenesisHash)
	f.Add("::")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseAnchor(s)
		if err != nil {
			return
		}
		if h.Seq < 1 || h.Node == "" || len(h.Hash) != 64 {
			t.Fatalf("%q parsed to %+v", s, h)
		}
		if back, err := ParseAnchor(h.String()); err != nil || back != h {
			t.Fatalf("%+v does not round-trip: %+v %v", h, back, err)
		}
	})
}

// FuzzFastTags checks the verification's quick reading of addresses and
// reasons against encoding/json, on what this package writes.
func FuzzFastTags(f *testing.F) {
	f.Add("FR", "ovh", "eu-west-3", "RESIDENCY_NON_EU", "US", "")
	f.Add("", "", "", "", "", "")
	f.Add(`"country":"X`, `a"b`, `\`, "A,B", "é", "<>&")
	f.Fuzz(func(t *testing.T, c1, p1, region, reason, c2, p2 string) {
		rec := &Record{Addresses: []Address{{IP: "192.0.2.1", Country: c1, Provider: p1, Region: region}, {IP: "2001:db8::1", Country: c2, Provider: p2}}}
		if reason != "" {
			rec.Reasons = []string{reason, reason + "_2"}
		}
		e := DecisionEntry(rec, false)
		want := e.tagList
		fast, ok := fastTags(e.Addresses, e.Reasons)
		if ok && fmt.Sprint(fast) != fmt.Sprint(want) {
			t.Fatalf("fastTags %q, json %q", fast, want)
		}
	})
}
