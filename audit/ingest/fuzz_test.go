package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"

	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/chain"
)

// FuzzSpoolFrames feeds arbitrary bytes to the spool's frame reader: it
// must never panic, and every entry it returns must encode back to the
// bytes it came from.
func FuzzSpoolFrames(f *testing.F) {
	// Deterministic seeds: the fuzzing workers must see the same corpus.
	var seed []byte
	for i := range 2 {
		rec := audittest.Record(i, "gw-1")
		rec.ID = fmt.Sprintf("0190a000-0000-7000-8000-00000000000%d", i)
		seed, _ = appendFrame(seed, chain.DecisionEntry(rec, false))
	}
	comp := audittest.Record(1, "gw-1")
	comp.ID, comp.BytesUp = "0190a000-0000-7000-8000-000000000001", 42
	seed, _ = appendFrame(seed, chain.CompletionEntry(comp))
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		off := 0
		for {
			e, n, err := readFrame(r)
			if err != nil {
				return
			}
			again, err := appendFrame(nil, e)
			if err != nil {
				t.Fatal(err)
			}
			if n <= spoolFrameHeader || off+n > len(data) {
				t.Fatalf("frame size %d at %d of %d", n, off, len(data))
			}
			if e2, _, err := readFrame(bufio.NewReader(bytes.NewReader(again))); err != nil || e2.ID != e.ID || e2.Kind != e.Kind {
				t.Fatalf("re-encoded frame does not read back: %v", err)
			}
			off += n
		}
	})
}
