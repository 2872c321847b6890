package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestPairedDelta: differences are taken within a repetition, so a drift
// common to both cells cancels.
func TestPairedDelta(t *testing.T) {
	cell := []result{{Rep: 1, ProxyCPUus: 110}, {Rep: 2, ProxyCPUus: 160}, {Rep: 3, ProxyCPUus: 125}}
	ref := []result{{Rep: 1, ProxyCPUus: 100}, {Rep: 2, ProxyCPUus: 150}, {Rep: 3, ProxyCPUus: 100}}
	if d, ok := pairedDelta(cell, ref); !ok || d != 10 {
		t.Errorf("paired delta %v %v, want 10", d, ok)
	}
	if _, ok := pairedDelta(cell, []result{{Rep: 9}}); ok {
		t.Error("no common repetition, yet a delta")
	}
}

// TestSummary: the targets table of a run, from its JSON lines, with the
// verdicts the figures imply; and the before/after table when baseline
// cells ran.
func TestSummary(t *testing.T) {
	lines := `# a comment line
{"cell":"caddy-hop-50","rep":1,"proxy_cpu_us_per_request":100}
{"cell":"caddy-hop-50","rep":2,"proxy_cpu_us_per_request":120}
{"cell":"sqlite-50","rep":1,"proxy_cpu_us_per_request":115,"proxy_vmhwm_mib":60}
{"cell":"sqlite-50","rep":2,"proxy_cpu_us_per_request":150,"proxy_vmhwm_mib":110,"proxy_load_peak_mib":75,"proxy_rss_anon_mib":40,"proxy_rss_file_mib":33}
{"cell":"nostore-50","rep":1,"proxy_cpu_us_per_request":90,"proxy_vmhwm_mib":58}
{"cell":"connect-sqlite-50","rep":1,"proxy_cpu_us_per_request":200}
{"cell":"forwardproxy-connect-50","rep":1,"proxy_cpu_us_per_request":210}
{"cell":"ingest-sqlite","scenario":"ingest","per_second":21000}
{"cell":"ingest-postgres","scenario":"ingest","per_second":0,"failure":"written 182996 spooled 17004 dropped 0 of 200000 at 22000 records/s offered (/tmp/x/ingest-postgres.txt)"}
`
	results, err := readResults(strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printSummary(&out, results)
	text := out.String()
	for _, want := range []string{
		// paired deltas +15 and +30: median +22.5, over the 20 µs allowed
		"| proxy CPU per forwarded request, audit on (SQLite, batched), 50 clients | ≤ Caddy hop + 20 µs | 132 µs, hop 110 µs: +22 µs | 90 µs (-10 µs) | **FAIL** |",
		"| the same, 1 client | ≤ Caddy hop + 40 µs | not measured |  | – |",
		"| CPU per new CONNECT tunnel, audit on | ≤ Caddy + forwardproxy | 200 µs, forwardproxy 210 µs: -10 µs |  | **pass** |",
		"| peak memory (VmHWM) under the 50-client load, audit on | ≤ 70 MiB | 75.0 MiB (largest of 2 runs); at the end 40.0 MiB anonymous + 33.0 MiB of the binary; 110.0 MiB since start | 58.0 MiB | **FAIL** |",
		"| audit ingest, SQLite | > 20,000 records/s | 21000 records/s |  | **pass** |",
		// A benchmark that failed says why, rather than "not run".
		"| audit ingest, PostgreSQL | > 20,000 records/s | failed: written 182996 spooled 17004 dropped 0 of 200000 at 22000 records/s offered (/tmp/x/ingest-postgres.txt) |  | **FAIL** |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing row\n%s\nin\n%s", want, text)
		}
	}

	results["sqlite-50"+baselineSuffix] = []result{{Rep: 1, ProxyCPUus: 200}, {Rep: 2, ProxyCPUus: 240}}
	out.Reset()
	printSummary(&out, results)
	want := "| proxy CPU per forwarded request, audit on (SQLite, batched), 50 clients | ≤ Caddy hop + 20 µs | 220 µs, hop 110 µs: +110 µs | **FAIL** | 132 µs, hop 110 µs: +22 µs | 90 µs (-10 µs) | **FAIL** |"
	if !strings.Contains(out.String(), want) {
		t.Errorf("missing before/after row\n%s\nin\n%s", want, out.String())
	}
}
