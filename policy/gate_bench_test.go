package policy

import (
	"context"
	"testing"
)

// BenchmarkLoadTested is the gate a hot reload goes through, for the
// default bundle read from disk: snapshot, run its tests (not cached), load.
func BenchmarkLoadTested(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		clear(passedTests.m)
		if _, err := LoadTested(ctx, DirBundle("../policies")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotDigest is what the periodic check of a policies
// directory costs when nothing changed.
func BenchmarkSnapshotDigest(b *testing.B) {
	for b.Loop() {
		snap, err := DirBundle("../policies").Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := snap.Digest(); err != nil {
			b.Fatal(err)
		}
	}
}
