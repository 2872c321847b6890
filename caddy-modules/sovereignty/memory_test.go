package sovereignty

import (
	"testing"

	"go.uber.org/zap"
)

// Calls made while a release runs coalesce into exactly one more release,
// and no call is left without a release after it.
func TestReleaseMemoryCoalesces(t *testing.T) {
	running := make(chan struct{})
	proceed := make(chan struct{})
	done := make(chan struct{}, 10)
	old := release
	t.Cleanup(func() { release = old })
	release = func(*zap.Logger) {
		running <- struct{}{}
		<-proceed
		done <- struct{}{}
	}

	releaseMemory(nil)
	<-running // the first release is under way
	for range 5 {
		releaseMemory(nil)
	}
	proceed <- struct{}{}
	<-done
	<-running // exactly one more for the five calls
	proceed <- struct{}{}
	<-done
	// Nothing was asked since: the next call starts a new release at once.
	releaseMemory(nil)
	<-running
	proceed <- struct{}{}
	<-done
	select {
	case <-running:
		t.Fatal("a release ran that no call asked for")
	default:
	}
	if n := releasePending.Load(); n != 0 {
		t.Fatalf("pending releases = %d after the last one finished", n)
	}
}
