package cli

import (
	"runtime"
	"testing"
)

// TestHeapProfilerOffUnlessAsked: the gateway samples no allocation for
// heap profiles unless GODEBUG sets memprofilerate, and then keeps the
// rate the runtime read from it.
func TestHeapProfilerOffUnlessAsked(t *testing.T) {
	saved := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = saved })

	runtime.MemProfileRate = 4096
	t.Setenv("GODEBUG", "http2client=0")
	sampleHeapOnlyWhenAsked()
	if runtime.MemProfileRate != 0 {
		t.Errorf("without memprofilerate in GODEBUG, MemProfileRate is %d; want 0", runtime.MemProfileRate)
	}

	runtime.MemProfileRate = 4096
	t.Setenv("GODEBUG", "http2client=0,memprofilerate=4096")
	sampleHeapOnlyWhenAsked()
	if runtime.MemProfileRate != 4096 {
		t.Errorf("with memprofilerate=4096 in GODEBUG, MemProfileRate is %d; want 4096", runtime.MemProfileRate)
	}
}
