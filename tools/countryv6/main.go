// Command countryv6 rebuilds geo/embedded/country6.bin, the IPv6 half of the
// embedded IP2Location LITE country data, from the copy the Go module
// github.com/phuslu/iploc carries (the version go.mod requires).
//
//	go run ./tools/countryv6 [-out geo/embedded/country6.bin]
//
// iploc ships its IPv6 table gzip-compressed and inflates it into the heap
// on the first IPv6 lookup: 710,234 ranges of 16 bytes, 11 MiB that a
// gateway then holds for its lifetime. sovgate reads this file in place
// instead, so only the pages a lookup touches are ever loaded. The file
// drops the ranges inside ::ffff:0:0/96 (the IPv4-mapped addresses, which
// the classifier unmaps and looks up in iploc's IPv4 table) and keeps the
// native IPv6 ranges; geo's tests check it answers as iploc does.
//
// Layout: "SGC6", then the iploc version as a length-prefixed string (one
// byte of length), padding to a multiple of 16, then N range starts of 16
// bytes (big-endian, ascending), then N two-letter country codes. A range
// runs from its start to the next one.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	out := flag.String("out", "geo/embedded/country6.bin", "file to write")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	dir, version, err := iplocModule()
	if err != nil {
		return err
	}
	starts, err := readGzip(filepath.Join(dir, "ipv6le.gz"))
	if err != nil {
		return err
	}
	codes, err := os.ReadFile(filepath.Join(dir, "ipv6.txt"))
	if err != nil {
		return fmt.Errorf("reading iploc's IPv6 countries: %w", err)
	}
	n := len(starts) / 16
	if len(starts)%16 != 0 || len(codes) != 2*n {
		return fmt.Errorf("iploc %s: %d bytes of IPv6 starts and %d of countries do not make whole ranges", version, len(starts), len(codes))
	}
	table := buildTable(starts, codes, version)
	if err := os.WriteFile(out, table, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Fprintf(os.Stderr, "%s: %d IPv6 ranges of %d from iploc %s (%d bytes)\n", out, (len(table)-headerSize(version))/18, n, version, len(table))
	return nil
}

// buildTable turns iploc's little-endian (high, low) pairs into the
// big-endian layout above, without the IPv4-mapped ranges. The range that
// ends the IPv4-mapped block goes on from ::1:0:0:0, the first address
// after it, so addresses between that block and the first native range
// keep iploc's answer.
func buildTable(starts, codes []byte, version string) []byte {
	type rng struct {
		start [16]byte
		code  [2]byte
	}
	var kept []rng
	var lastMapped *rng
	for i := 0; i < len(starts)/16; i++ {
		var r rng
		hi := binary.LittleEndian.Uint64(starts[16*i:])
		lo := binary.LittleEndian.Uint64(starts[16*i+8:])
		binary.BigEndian.PutUint64(r.start[:8], hi)
		binary.BigEndian.PutUint64(r.start[8:], lo)
		copy(r.code[:], codes[2*i:])
		if hi == 0 && lo>>32 == 0xffff {
			lastMapped = &r
			continue
		}
		if lastMapped != nil && (hi != 0 || lo >= 1<<48) {
			after := rng{code: lastMapped.code}
			binary.BigEndian.PutUint64(after.start[8:], 1<<48)
			if after.start != r.start {
				kept = append(kept, after)
			}
			lastMapped = nil
		}
		kept = append(kept, r)
	}
	var b bytes.Buffer
	b.WriteString("SGC6")
	b.WriteByte(byte(len(version)))
	b.WriteString(version)
	for b.Len()%16 != 0 {
		b.WriteByte(0)
	}
	for _, r := range kept {
		b.Write(r.start[:])
	}
	for _, r := range kept {
		b.Write(r.code[:])
	}
	return b.Bytes()
}

func headerSize(version string) int { return (5 + len(version) + 15) / 16 * 16 }

// iplocModule finds the iploc module go.mod requires, in the module cache.
func iplocModule() (dir, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/phuslu/iploc")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("finding the iploc module (go list -m, run from the repository): %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || f[0] == "" {
		return "", "", fmt.Errorf("go list -m github.com/phuslu/iploc printed %q; run `go mod download github.com/phuslu/iploc` first", strings.TrimSpace(string(b)))
	}
	return f[0], f[1], nil
}

func readGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, nil
}
