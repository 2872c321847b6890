package ingest

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/store"
)

// BenchmarkWriter is the cost of the audit trail to the gateway: one op is
// one forwarded exchange, its decision (Decided, before forwarding) and its
// completion (Finished, when it ends), from 1 or 50 producers, through the
// Writer into a real store.
//
//	go test ./audit/ingest -run '^$' -bench 'Writer' -benchtime 20000x -count 3
//
// batched: producers offer exchanges at a steady rate (3,000/s for one, as
// one client through the gateway; 20,000/s for fifty), so the figures are
// what the writer costs at that load: cpu-ns/exchange is the CPU the whole
// process spent (producers and writer) per exchange, allocs/op likewise.
// strict: each producer waits for its decision to be on disk, as a request
// does, so ns/op is the time an exchange takes when producers share the
// fsyncs.
// SOVGATE_BENCH_LINGER sets the writer's Linger (50ms by default).
// entries/exchange is how many entries of the chain an exchange took: 2
// when decision and completion are written apart, 1 when merged.
func BenchmarkWriter(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", func(b *testing.B) store.Store { return openStore(b, filepath.Join(b.TempDir(), "audit.db")) }},
		{"postgres", func(b *testing.B) store.Store { return openStore(b, audittest.PostgresURL(b)) }},
	}
	for _, st := range stores {
		for _, strict := range []bool{false, true} {
			mode := "batched"
			if strict {
				mode = "strict"
			}
			for _, producers := range []int{1, 50} {
				b.Run(st.name+"/"+mode+"/producers="+strconv.Itoa(producers), func(b *testing.B) {
					benchWriter(b, st.open(b), strict, producers)
				})
			}
		}
	}
}

func benchWriter(b *testing.B, s store.Store, strict bool, producers int) {
	recs := benchRecords(5000, "bench")
	for _, r := range recs {
		r.Action = audit.Forwarded // every exchange is forwarded, so completed
	}
	cfg := WriterConfig{SpoolDir: b.TempDir(), HeadInterval: -1}
	if v := os.Getenv("SOVGATE_BENCH_LINGER"); v != "" {
		var err error
		if cfg.Linger, err = time.ParseDuration(v); err != nil {
			b.Fatalf("SOVGATE_BENCH_LINGER: %v", err)
		}
	}
	w := NewWriter(s, cfg)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	r := w.Recorder(RecorderConfig{Strict: strict})
	rate := 3000.0
	if producers > 1 {
		rate = 20000
	}
	interval := time.Duration(float64(time.Second) * float64(producers) / rate)
	per := max(b.N/producers, 1)
	b.ReportAllocs()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now()
			for i := range per {
				rec := *recs[(p*per+i)%len(recs)]
				rec.ID = newBenchID(p, i)
				rec.Time = time.Now()
				if err := r.Decided(&rec); err != nil {
					b.Error(err)
					return
				}
				rec.BytesUp, rec.BytesDown, rec.DurationUS = 512, 65536, 900
				r.Finished(&rec)
				if strict {
					continue
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
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	n := per * producers
	st := w.Stats()
	if st.Dropped != 0 || st.Spooled != 0 {
		b.Fatalf("spooled %d dropped %d of %d exchanges", st.Spooled, st.Dropped, n)
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/exchange")
	b.ReportMetric(float64(st.Written)/float64(n), "entries/exchange")
}
