package verify

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sovgate/sovgate/audit/store"
)

// BenchmarkVerifySegments compares a full verify of the million-record
// store of the audit package's benchmarks (build it with go test ./audit
// -bench VerifyMillion) read in one segment and in two at once.
func BenchmarkVerifySegments(b *testing.B) {
	path := os.Getenv("SOVGATE_BENCH_STORE")
	if path == "" {
		path = filepath.Join(os.TempDir(), "sovgate-bench-audit-1m.db")
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no store at %s: run go test ./audit -run '^$' -bench VerifyMillion first", path)
	}
	s, err := store.OpenExisting(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, seg := range []struct {
		name string
		min  int64
	}{{"one", 1 << 62}, {"two", minSegment}} {
		b.Run(seg.name, func(b *testing.B) {
			saved, cores := minSegment, segmentCores
			minSegment, segmentCores = seg.min, true
			defer func() { minSegment, segmentCores = saved, cores }()
			for b.Loop() {
				res, err := Log(context.Background(), s, Options{})
				if err != nil || !res.OK() {
					b.Fatalf("%v %v", err, res.Break)
				}
			}
		})
	}
}
