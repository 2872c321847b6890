package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/chain"
)

// BenchmarkAppend is the store alone: batches of 2,000 decisions appended
// back to back (chain, Merkle tree, tag index, one transaction each). It
// reports records/s and the CPU time a record costs the process, which a
// busy machine changes less than the rate:
//
//	SOVGATE_TEST_POSTGRES=postgres://... go test ./audit/store -run '^$' -bench Append -benchtime 50x
//
// postgres is one pipelined round trip a batch (rows as arrays, unnest);
// postgres-copy the locked transaction with COPY that it replaced.
//
// batch=32 is what a gateway at one request at a time commits (a few
// hundred records a second, gathered for a few tens of milliseconds):
// there, what a commit costs beyond its rows weighs most.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{2000, 32} {
		name := ""
		if batch != 2000 {
			name = "-batch=" + strconv.Itoa(batch)
		}
		b.Run("sqlite"+name, func(b *testing.B) { benchAppend(b, openStore(b, filepath.Join(b.TempDir(), "audit.db")), batch) })
		b.Run("postgres"+name, func(b *testing.B) { benchAppend(b, openStore(b, audittest.PostgresURL(b)), batch) })
		// The way in before: a transaction that locks the head, reads the
		// tree, and sends the rows with COPY (five round trips and more).
		b.Run("postgres-copy"+name, func(b *testing.B) {
			s := openStore(b, audittest.PostgresURL(b))
			s.(*sqlStore).app.forceLocked = true
			benchAppend(b, s, batch)
		})
	}
}

func benchAppend(b *testing.B, s Store, batch int) {
	recs := make([]*audit.Record, 5000)
	for i := range recs {
		recs[i] = audittest.Record(i, "gw-1")
	}
	var before, after syscall.Rusage
	b.ResetTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	n := 0
	for b.Loop() {
		entries := make([]*chain.Entry, batch)
		for j := range entries {
			r := *recs[(n+j)%len(recs)]
			r.ID = fmt.Sprintf("id-%d-%d", start.UnixNano(), n+j)
			entries[j] = chain.DecisionEntry(&r, false)
		}
		n += batch
		if _, _, err := s.Append(context.Background(), entries, false); err != nil {
			b.Fatal(err)
		}
	}
	wall := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(n)/wall.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/record")
}
