package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
)

// The ingest benchmarks of docs/PERFORMANCE.md ("Audit"):
//
//	go test ./audit/ingest -run '^$' -bench 'Ingest' -benchtime 200000x
//
// They report records/s through the Writer (queue, batches, store), the
// path the gateway uses.

func benchRecords(n int, node string) []*audit.Record {
	recs := make([]*audit.Record, n)
	for i := range recs {
		recs[i] = audittest.Record(i, node)
	}
	return recs
}

// benchIngest offers records at a steady rate (SOVGATE_BENCH_RATE, default
// 25,000/s) from 8 producers, as a busy gateway would, and checks that the
// writer keeps up: every record written directly, none spooled or lost.
// It reports the rate achieved and the store's raw rate (records/s of
// Append alone, in batches).
func benchIngest(b *testing.B, s store.Store) {
	rate := 25000.0
	if v := os.Getenv("SOVGATE_BENCH_RATE"); v != "" {
		if _, err := fmt.Sscan(v, &rate); err != nil {
			b.Fatal(err)
		}
	}
	recs := benchRecords(50000, "bench")
	w := NewWriter(s, WriterConfig{SpoolDir: b.TempDir(), HeadInterval: -1})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	r := w.Recorder(RecorderConfig{})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	const producers = 8
	per := b.N / producers
	interval := time.Duration(float64(time.Second) * producers / rate)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now()
			for i := range per {
				rec := *recs[(p*per+i)%len(recs)]
				rec.ID = newBenchID(p, i)
				if err := r.Decided(&rec); err != nil {
					b.Error(err)
					return
				}
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := w.Stats()
	if st.Written != int64(per*producers) || st.Dropped != 0 || st.Spooled != 0 {
		b.Fatalf("written %d spooled %d dropped %d of %d at %.0f records/s offered", st.Written, st.Spooled, st.Dropped, per*producers, rate)
	}
	b.ReportMetric(float64(per*producers)/elapsed.Seconds(), "records/s")

	// The store alone: batches of 2000, back to back.
	const raw = 100000
	t0 := time.Now()
	for start := 0; start < raw; start += 2000 {
		entries := make([]*chain.Entry, 2000)
		for i := range entries {
			rec := *recs[(start+i)%len(recs)]
			rec.ID = newBenchID(99, start+i)
			entries[i] = chain.DecisionEntry(&rec, false)
		}
		if _, _, err := s.Append(context.Background(), entries, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(raw/time.Since(t0).Seconds(), "store-records/s")
}

func newBenchID(p, i int) string {
	// Unique and time-ordered enough for the unique index.
	return time.Now().Format("20060102150405.000000000") + "-" + itoa(p) + "-" + itoa(i)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func BenchmarkIngestSQLite(b *testing.B) {
	benchIngest(b, openStore(b, filepath.Join(b.TempDir(), "audit.db")))
}

func BenchmarkIngestPostgres(b *testing.B) {
	benchIngest(b, openStore(b, audittest.PostgresURL(b)))
}
