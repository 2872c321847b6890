package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/audittest/tamper"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/verify"
)

// The benchmarks over a large log, of docs/PERFORMANCE.md ("Audit"):
//
//	SOVGATE_BENCH_STORE=/tmp/audit-1m.db go test ./audit -run '^$' -bench 'Million' -benchtime 5x -timeout 30m
//
// They build a SQLite store of 1,000,000 records once (kept at
// SOVGATE_BENCH_STORE when set, so the next run reuses it).

func openStore(tb testing.TB, location string) store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), location)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var millionOnce sync.Once

// millionStore opens (building once) a SQLite store of 1,000,000 records.
func millionStore(b *testing.B) store.Store {
	path := os.Getenv("SOVGATE_BENCH_STORE")
	if path == "" {
		path = filepath.Join(os.TempDir(), "sovgate-bench-audit-1m.db")
	}
	const n = 1_000_000
	millionOnce.Do(func() {
		s := openStore(b, path)
		heads, err := s.Heads(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(heads) == 1 && heads[0].Seq == n {
			return
		}
		if len(heads) != 0 {
			b.Fatalf("%s holds another store; remove it", path)
		}
		b.Logf("building %s with %d records", path, n)
		const batch = 5000
		for start := 0; start < n; start += batch {
			entries := make([]*chain.Entry, batch)
			for i := range entries {
				entries[i] = chain.DecisionEntry(audittest.Record(start+i, "gw-1"), false)
			}
			if _, _, err := s.Append(context.Background(), entries, false); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := tamper.OpenDB(b, path).Exec(`ANALYZE`); err != nil {
			b.Fatal(err)
		}
	})
	return openStore(b, path)
}

func BenchmarkQueryFirstPageMillion(b *testing.B) {
	s := millionStore(b)
	ctx := context.Background()
	for _, f := range []struct {
		name string
		f    store.Filter
	}{
		{"none", store.Filter{}},
		{"deny", store.Filter{Verdict: "deny"}},
		{"country-US-deny", store.Filter{Country: "US", Verdict: "deny"}},
		{"rare-country", store.Filter{Country: "BR"}},
		{"app-reason-month", store.Filter{App: "urbanisme", Reason: "JURISDICTION_NON_EU", Since: audittest.Start.Add(24 * time.Hour), Until: audittest.Start.Add(200 * 24 * time.Hour)}},
		{"host", store.Filter{Host: "cdn.cn.example"}},
		{"host-suffix", store.Filter{Host: "*.amazonaws.com"}},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				ff := f.f
				ff.Limit = 50
				page, err := s.Query(ctx, ff)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Records) != 50 {
					b.Fatalf("%d records", len(page.Records))
				}
			}
		})
	}
}

func BenchmarkVerifyMillion(b *testing.B) {
	s := millionStore(b)
	for b.Loop() {
		res, err := verify.Log(context.Background(), s, verify.Options{})
		if err != nil || !res.OK() {
			b.Fatalf("%v %+v", err, res.Break)
		}
	}
}

// BenchmarkBytesPerRecord appends 100,000 decisions (and a completion for
// every other one) to a fresh store of each backend and reports the size
// of the database per decision: tables and indexes, SQLite file after a
// checkpoint of its write-ahead log, PostgreSQL relations after VACUUM.
func BenchmarkBytesPerRecord(b *testing.B) {
	const n = 100_000
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			for b.Loop() {
				loc := filepath.Join(b.TempDir(), "audit.db")
				if backend == "postgres" {
					loc = audittest.PostgresURL(b)
				}
				s := openStore(b, loc)
				for start := 0; start < n; start += 2000 {
					entries := make([]*chain.Entry, 0, 3000)
					for i := start; i < start+2000; i++ {
						rec := audittest.Record(i, "gw-1")
						entries = append(entries, chain.DecisionEntry(rec, false))
						if i%2 == 0 {
							rec.BytesUp, rec.BytesDown, rec.DurationUS = 1200, 34000, 3_000_000
							entries = append(entries, chain.CompletionEntry(rec))
						}
					}
					if _, _, err := s.Append(context.Background(), entries, false); err != nil {
						b.Fatal(err)
					}
				}
				db := tamper.OpenDB(b, loc)
				var size int64
				if backend == "postgres" {
					if _, err := db.Exec(`VACUUM`); err != nil {
						b.Fatal(err)
					}
					if err := db.QueryRow(`SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`).Scan(&size); err != nil {
						b.Fatal(err)
					}
				} else {
					if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
						b.Fatal(err)
					}
					fi, err := os.Stat(loc)
					if err != nil {
						b.Fatal(err)
					}
					size = fi.Size()
				}
				b.ReportMetric(float64(size)/n, "bytes/decision")
			}
		})
	}
}
