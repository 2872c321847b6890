package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/audittest/tamper"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/proof"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/verify"
)

// The benchmarks over a large log, of docs/PERFORMANCE.md ("Audit"):
//
//	SOVGATE_BENCH_STORE=/tmp/audit-1m.db go test ./audit -run '^$' -bench 'Million' -benchtime 5x -timeout 30m
//	go test ./audit -run '^$' -bench 'SignCheckpoint|BytesPerRecord'
//
// The *Million benchmarks build a SQLite store of 1,000,000 records once
// (kept at SOVGATE_BENCH_STORE when set, so the next run reuses it).

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

// million is a SQLite store of 1,000,000 decisions of node gw-1, with a
// checkpoint signed every 100,000 (in a checkpoint directory and in the
// store), and the key that signed them.
type million struct {
	s           store.Store
	key         checkpoint.Key
	checkpoints []checkpoint.Raw
}

const millionSize = 1_000_000

// millionStore opens (building once) the store of 1,000,000 records, kept
// at SOVGATE_BENCH_STORE with its key (.key) and checkpoints
// (.checkpoints).
func millionStore(b *testing.B) *million {
	path := os.Getenv("SOVGATE_BENCH_STORE")
	if path == "" {
		path = filepath.Join(os.TempDir(), "sovgate-bench-audit-1m.db")
	}
	key, _, err := checkpoint.LoadOrCreateKey(path+".key", "gw-1")
	if err != nil {
		b.Fatal(err)
	}
	millionOnce.Do(func() {
		s := openStore(b, path)
		heads, err := s.Heads(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(heads) == 1 && heads[0].Seq == millionSize {
			return
		}
		if len(heads) != 0 {
			b.Fatalf("%s holds another store; remove it", path)
		}
		b.Logf("building %s with %d records", path, millionSize)
		const batch = 5000
		for start := 0; start < millionSize; start += batch {
			entries := make([]*chain.Entry, batch)
			for i := range entries {
				entries[i] = chain.DecisionEntry(audittest.Record(start+i, "gw-1"), false)
			}
			heads, _, err := s.Append(context.Background(), entries, false)
			if err != nil {
				b.Fatal(err)
			}
			if h := heads[0]; h.Seq%100_000 == 0 {
				msg, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: "gw-1", Size: h.Seq, Root: h.Root}, key.Signer)
				if err == nil {
					err = checkpoint.AppendToDir(path+".checkpoints", "gw-1", msg, time.Now())
				}
				if err == nil {
					err = s.SaveCheckpoint(context.Background(), "gw-1", h.Seq, msg)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := tamper.OpenDB(b, path).Exec(`ANALYZE`); err != nil {
			b.Fatal(err)
		}
	})
	raws, _, err := checkpoint.ReadDir(path + ".checkpoints")
	if err != nil {
		b.Fatal(err)
	}
	return &million{s: openStore(b, path), key: key, checkpoints: raws}
}

func (m *million) keys(b *testing.B) note.Verifiers {
	v, err := note.NewVerifier(m.key.Verifier)
	if err != nil {
		b.Fatal(err)
	}
	return note.VerifierList(v)
}

func BenchmarkQueryFirstPageMillion(b *testing.B) {
	s := millionStore(b).s
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

// BenchmarkVerifyMillion is a full verify of the 1,000,000 records: chain,
// tree, tag index, and the ten signed checkpoints.
func BenchmarkVerifyMillion(b *testing.B) {
	m := millionStore(b)
	for b.Loop() {
		res, err := verify.Log(context.Background(), m.s, verify.Options{Checkpoints: m.checkpoints, Keys: m.keys(b)})
		if err != nil || !res.OK() || res.Chains[0].Verified != millionSize {
			b.Fatalf("%v %+v", err, res.Break)
		}
	}
}

// BenchmarkVerifyMillionIncremental verifies the last 100,000 records of
// the million, from the checkpoint at 900,000 verified before.
func BenchmarkVerifyMillionIncremental(b *testing.B) {
	m := millionStore(b)
	for b.Loop() {
		res, err := verify.Log(context.Background(), m.s, verify.Options{Checkpoints: m.checkpoints, Keys: m.keys(b), From: map[string]int64{"gw-1": 900_000}})
		if err != nil || !res.OK() || res.Chains[0].Entries != 100_000 {
			b.Fatalf("%v %+v %+v", err, res.Break, res.Chains)
		}
	}
}

// BenchmarkProveMillion proves single records of the million-entry tree
// and checks the proofs; it reports the size of a proof.
func BenchmarkProveMillion(b *testing.B) {
	m := millionStore(b)
	ctx := context.Background()
	var ids []string
	for _, seq := range []int64{1, 333_333, 999_999} {
		_ = m.s.Walk(ctx, "gw-1", seq, 0, func(e *chain.Entry) error {
			ids = append(ids, e.ID)
			return errors.New("one is enough")
		})
	}
	var size int
	b.Run("prove", func(b *testing.B) {
		i := 0
		for b.Loop() {
			view, release, err := m.s.Snapshot(ctx)
			if err != nil {
				b.Fatal(err)
			}
			p, err := proof.Build(ctx, view, ids[i%len(ids)], nil)
			release()
			if err != nil {
				b.Fatal(err)
			}
			data, _ := p.Encode()
			size = len(data)
			i++
		}
		b.ReportMetric(float64(size), "bytes/proof")
	})
	view, release, _ := m.s.Snapshot(ctx)
	p, err := proof.Build(ctx, view, ids[1], nil)
	release()
	if err != nil {
		b.Fatal(err)
	}
	data, _ := p.Encode()
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if _, err := proof.Check(data, m.keys(b)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(p.Entries[0].Inclusion)), "hashes/path")
	})
}

// BenchmarkSignCheckpoint is the cost of one checkpoint: signing it.
func BenchmarkSignCheckpoint(b *testing.B) {
	key, _, err := checkpoint.LoadOrCreateKey(filepath.Join(b.TempDir(), "k"), "gw-1")
	if err != nil {
		b.Fatal(err)
	}
	c := checkpoint.Checkpoint{Origin: "gw-1", Size: millionSize, Root: tlog.RecordHash([]byte("root"))}
	for b.Loop() {
		if _, err := checkpoint.Sign(c, key.Signer); err != nil {
			b.Fatal(err)
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
