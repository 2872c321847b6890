package sovereignty

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// Initialised data lives in a writable segment of the executable, mapped
// from the file: dropping its pages would bring back the file's bytes.
var writableMarker = [8192]byte{0: 1, 8191: 1}

func TestDropCodePagesKeepsWritableData(t *testing.T) {
	writableMarker[4096] = 42
	writableMarker[0] = 7
	before := rssFileKiB(t)
	covered, err := dropCodePages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKiB(t)
	if covered == 0 {
		t.Fatal("no read-only mapping of the executable was found")
	}
	if writableMarker[0] != 7 || writableMarker[4096] != 42 || writableMarker[8191] != 1 {
		t.Fatal("writable data lost its value: a writable mapping was dropped")
	}
	// The code still runs (its pages come back on use) and the file pages
	// mapped went down.
	if strconv.Itoa(123)+strings.ToUpper("ok") != "123OK" {
		t.Fatal("code misbehaved after its pages were dropped")
	}
	if after >= before {
		t.Fatalf("file-backed resident memory %d KiB before, %d KiB after dropping %d bytes of mappings", before, after, covered)
	}
	t.Logf("dropped %d MiB of mappings; file-backed resident %d → %d KiB", covered>>20, before, after)
}

func rssFileKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
