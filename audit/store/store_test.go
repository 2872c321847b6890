package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/chain"
)

func TestMain(m *testing.M) { os.Exit(audittest.Main(m)) }

// backends runs a test against a real SQLite file and a real PostgreSQL
// database.
func backends(t *testing.T, fn func(t *testing.T, s Store, location string)) {
	audittest.Backends(t, func(t *testing.T, loc string) { fn(t, openStore(t, loc), loc) })
}

func openStore(t testing.TB, location string) Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendRecords(t testing.TB, s Store, recs ...*audit.Record) {
	t.Helper()
	entries := make([]*chain.Entry, len(recs))
	for i, r := range recs {
		entries[i] = chain.DecisionEntry(r, false)
	}
	if _, _, err := s.Append(context.Background(), entries, false); err != nil {
		t.Fatal(err)
	}
}

// countKinds walks a node's chain and counts its entries by kind.
func countKinds(t *testing.T, s Store, node string) map[string]int {
	t.Helper()
	n := map[string]int{}
	if err := s.Walk(context.Background(), node, 1, 0, func(e *chain.Entry) error {
		n[e.Kind]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAppendChainsPerNode(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		var recs []*audit.Record
		for i := range 20 {
			recs = append(recs, audittest.Record(i, []string{"gw-1", "gw-2"}[i%2]))
		}
		appendRecords(t, s, recs[:7]...)
		appendRecords(t, s, recs[7:]...)
		heads, err := s.Heads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(heads) != 2 || heads[0].Node != "gw-1" || heads[0].Seq != 10 || heads[1].Seq != 10 {
			t.Fatalf("heads = %+v, want gw-1 and gw-2 at 10", heads)
		}
		var prev = chain.GenesisHash
		var seq int64
		if err := s.Walk(ctx, "gw-1", 1, 0, func(e *chain.Entry) error {
			seq++
			if e.Seq != seq || e.PrevHash != prev || len(e.Hash) != 64 {
				t.Errorf("entry %d: seq %d prev %s hash %s", seq, e.Seq, e.PrevHash, e.Hash)
			}
			prev = e.Hash
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if prev != heads[0].Hash {
			t.Errorf("last hash %s, head %s", prev, heads[0].Hash)
		}
		if n := countKinds(t, s, "gw-2")[chain.KindDecision]; n != 10 {
			t.Errorf("gw-2 has %d decisions, want 10", n)
		}
	})
}

func TestCompletionIsOneRecordWithBytes(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		rec := audittest.Record(1, "gw-1")
		other := audittest.Record(2, "gw-1")
		appendRecords(t, s, rec, other)
		fin := *rec
		fin.BytesUp, fin.BytesDown, fin.DurationUS = 1200, 34000, 3_000_000
		if _, _, err := s.Append(ctx, []*chain.Entry{chain.CompletionEntry(&fin)}, false); err != nil {
			t.Fatal(err)
		}
		page, err := s.Query(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) != 2 {
			t.Fatalf("%d records, want 2 (one per decision)", len(page.Records))
		}
		got := page.Records[1] // newest first: rec is the older one
		if got.ID != rec.ID || !got.Completed || got.BytesUp != 1200 || got.BytesDown != 34000 || got.DurationUS != 3_000_000 {
			t.Errorf("record %+v", got)
		}
		if page.Records[0].Completed || page.Records[0].BytesUp != 0 {
			t.Errorf("uncompleted record %+v", page.Records[0])
		}
		if got.Hash == "" || got.PrevHash != chain.GenesisHash {
			t.Errorf("hash %q prev %q", got.Hash, got.PrevHash)
		}
		if n := countKinds(t, s, "gw-1")[chain.KindCompletion]; n != 1 {
			t.Errorf("%d completions, want 1", n)
		}
	})
}

// TestSummaryOfRefusalsIsOneRecordWithItsCount: a summary of identical
// refusals completes the first one's record with the count and the time of
// the last; the record reads back with them, and the chain holds.
func TestSummaryOfRefusalsIsOneRecordWithItsCount(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		rec := audittest.Record(3, "gw-1")
		rec.Verdict, rec.Action, rec.Reasons = audit.Deny, audit.Blocked, []audit.Code{audit.CodeRateLimited}
		appendRecords(t, s, rec)
		sum := *rec
		sum.Count, sum.Last, sum.DurationUS = 2999, rec.Time.Add(42*time.Second), (42 * time.Second).Microseconds()
		if _, _, err := s.Append(ctx, []*chain.Entry{chain.CompletionEntry(&sum)}, false); err != nil {
			t.Fatal(err)
		}
		page, err := s.Query(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) != 1 {
			t.Fatalf("%d records, want 1", len(page.Records))
		}
		got := page.Records[0]
		if got.Count != 2999 || !got.Last.Equal(sum.Last) || got.Weight() != 2999 || !got.Time.Equal(rec.Time) {
			t.Errorf("count %d last %v weight %d time %v", got.Count, got.Last, got.Weight(), got.Time)
		}
		var prev = chain.GenesisHash
		if err := s.Walk(ctx, "gw-1", 1, 0, func(e *chain.Entry) error {
			if h, _ := e.ComputeHash(nil); h != e.Hash || e.PrevHash != prev {
				t.Errorf("entry %d does not chain", e.Seq)
			}
			prev = e.Hash
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueryFiltersAndPaging(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		var recs []*audit.Record
		for i := range 300 {
			recs = append(recs, audittest.Record(i, "gw-1"))
		}
		appendRecords(t, s, recs...)
		match := func(f Filter, r *audit.Record) bool {
			has := func(pred func(audit.Address) bool) bool {
				for _, a := range r.Addresses {
					if pred(a) {
						return true
					}
				}
				return false
			}
			switch {
			case !f.Since.IsZero() && r.Time.Before(f.Since), !f.Until.IsZero() && !r.Time.Before(f.Until):
				return false
			case f.App != "" && r.App != f.App, f.Verdict != "" && string(r.Verdict) != f.Verdict, f.Action != "" && string(r.Action) != f.Action:
				return false
			case f.Host != "" && !strings.HasPrefix(f.Host, "*.") && r.Host != f.Host:
				return false
			case strings.HasPrefix(f.Host, "*.") && !(r.Host == f.Host[2:] || strings.HasSuffix(r.Host, f.Host[1:])):
				return false
			case f.Country != "" && !has(func(a audit.Address) bool { return a.Country == f.Country }):
				return false
			case f.Provider != "" && !has(func(a audit.Address) bool { return a.Provider == f.Provider }):
				return false
			case f.Reason != "" && !strings.Contains(fmt.Sprint(r.Reasons), f.Reason):
				return false
			}
			return true
		}
		filters := []Filter{
			{},
			{App: "etat-civil"},
			{Verdict: "deny"},
			{Country: "US"},
			{Country: "us", Verdict: "DENY"},
			{Provider: "aws"},
			{Reason: "JURISDICTION_NON_EU"},
			{Reason: "RESIDENCY_NON_EU", Country: "CN", App: "urbanisme"},
			{Host: "api.us.example"},
			{Host: "*.amazonaws.com"},
			{Country: "BR"},
			{Action: "blocked"},
			{Since: audittest.Start.Add(time.Hour), Until: audittest.Start.Add(2 * time.Hour)},
			{Since: audittest.Start.Add(time.Hour), Until: audittest.Start.Add(2 * time.Hour), Country: "FR"},
			{Country: "JP"},
		}
		for _, f := range filters {
			t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
				nf := f
				if err := nf.Normalize(); err != nil {
					t.Fatal(err)
				}
				var want []string
				for i := len(recs) - 1; i >= 0; i-- {
					if match(nf, recs[i]) {
						want = append(want, recs[i].ID)
					}
				}
				// Pages of 7, following the cursor.
				var got []string
				f.Limit = 7
				for pages := 0; ; pages++ {
					page, err := s.Query(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Records) > 7 {
						t.Fatalf("page of %d", len(page.Records))
					}
					for _, r := range page.Records {
						got = append(got, r.ID)
					}
					if page.NextCursor == "" {
						break
					}
					if pages > 100 {
						t.Fatal("paging does not end")
					}
					f.Cursor = page.NextCursor
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("got %d records, want %d (newest first)", len(got), len(want))
				}
			})
		}
	})
}

func TestDedupe(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		a, b := audittest.Record(1, "gw-1"), audittest.Record(2, "gw-1")
		appendRecords(t, s, a)
		entries := []*chain.Entry{chain.DecisionEntry(a, false), chain.DecisionEntry(b, false), chain.DecisionEntry(b, false), chain.CompletionEntry(a)}
		if _, _, err := s.Append(ctx, entries, true); err != nil {
			t.Fatal(err)
		}
		if n := countKinds(t, s, "gw-1"); n[chain.KindDecision] != 2 || n[chain.KindCompletion] != 1 {
			t.Errorf("chain %v: want 2 decisions and 1 completion", n)
		}
	})
}

func TestParseLocation(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/sovgate/audit.db":                  "sqlite",
		"audit.db":                                   "sqlite",
		"sqlite:///tmp/x.db":                         "sqlite",
		"postgres://u:pw@db.example/sovgate":         "postgres",
		"postgresql://u@db.example:5433/a?sslmode=x": "postgres",
	} {
		kind, _, err := ParseLocation(in)
		if err != nil || kind != want {
			t.Errorf("%s: %s %v, want %s", in, kind, err, want)
		}
	}
	for _, bad := range []string{"", "mysql://x/y", "a.db?mode=ro", "postgres:///nohost"} {
		if _, _, err := ParseLocation(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := Redact("postgres://audit:s3cret@db.example/sovgate"); strings.Contains(got, "s3cret") {
		t.Errorf("Redact kept the password: %s", got)
	}
	_, err := Open(context.Background(), "postgres://audit:s3cret@127.0.0.1:1/sovgate?connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password or no error: %v", err)
	}
}

// TestFailedBatchLeavesNothingAndTheNextOneChains: a batch the store
// refuses in its last chunk (a decision whose id it has) leaves none of its
// rows, and the next batch, on the writer's next connection (SQLite: with
// its statements prepared again there), chains after the last one
// committed, with its tags.
func TestFailedBatchLeavesNothingAndTheNextOneChains(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		first := audittest.Record(1, "gw-1")
		appendRecords(t, s, first)
		var bad []*chain.Entry
		for i := 2; i < 40; i++ { // chunks of 16, 16, 4, 1 and 1 rows...
			bad = append(bad, chain.DecisionEntry(audittest.Record(i, "gw-1"), false))
		}
		bad = append(bad, chain.DecisionEntry(first, false)) // ...and the duplicate, alone
		if _, _, err := s.Append(ctx, bad, false); err == nil {
			t.Fatal("a batch with an id the store has was taken")
		}
		if n := countKinds(t, s, "gw-1"); n[chain.KindDecision] != 1 {
			t.Fatalf("after the refused batch: %v, want the first decision only", n)
		}
		var next []*audit.Record
		for i := 100; i < 170; i++ { // 64 + 4 + 1 + 1 rows
			next = append(next, audittest.Record(i, "gw-1"))
		}
		appendRecords(t, s, next...)
		prev, seq := chain.GenesisHash, int64(0)
		if err := s.Walk(ctx, "gw-1", 1, 0, func(e *chain.Entry) error {
			seq++
			if e.Seq != seq || e.PrevHash != prev {
				t.Errorf("entry %d: seq %d, prev_hash %.12s, want %.12s", seq, e.Seq, e.PrevHash, prev)
			}
			prev = e.Hash
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if seq != 71 {
			t.Errorf("%d entries in the chain, want 71", seq)
		}
		page, err := s.Query(ctx, Filter{Country: "CN"})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) != 14 {
			t.Errorf("%d records found by their country tag, want the 14 of the batch after the refused one", len(page.Records))
		}
	})
}
