package policy

import (
	"context"
	"os"
	"syscall"
	"testing"
)

func cpuNow() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkScratch(b *testing.B) {
	dir := os.Getenv("POLICY_DIR")
	if dir == "" {
		b.Skip()
	}
	e, err := LoadDir(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			d, err := e.Evaluate(context.Background(), bc.in)
			if err != nil || d.Allow != bc.allow {
				b.Fatalf("Evaluate = %+v, %v", d, err)
			}
			b.ReportAllocs()
			start := cpuNow()
			for b.Loop() {
				e.Evaluate(context.Background(), bc.in)
			}
			b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
