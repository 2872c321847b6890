package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// The cells of scripts/load.sh's grid: which proxy, configured how, under
// which load. Every cell runs on a fresh proxy process.
const (
	cellHop50         = "caddy-hop-50"
	cellHop1          = "caddy-hop-1"
	cellSQLite50      = "sqlite-50"
	cellSQLite1       = "sqlite-1"
	cellNoStore50     = "nostore-50"
	cellNoStore1      = "nostore-1"
	cellPostgres50    = "postgres-50"
	cellPostgres1     = "postgres-1"
	cellStrict50      = "strict-50"
	cellConnect50     = "connect-sqlite-50"
	cellConnectNone50 = "connect-nostore-50"
	cellFPForward50   = "forwardproxy-50"
	cellFPConnect50   = "forwardproxy-connect-50"
	cellIngestSQLite  = "ingest-sqlite"
	cellIngestPG      = "ingest-postgres"
)

// cellNames describes each cell in the summary's first table.
var cellNames = []struct{ cell, what string }{
	{cellHop50, "Caddy `reverse_proxy` (the reference hop), 50 clients"},
	{cellHop1, "Caddy `reverse_proxy`, 1 client"},
	{cellSQLite50, "sovgate, audit on (SQLite, batched), 50 clients"},
	{cellSQLite1, "sovgate, audit on (SQLite, batched), 1 client"},
	{cellNoStore50, "sovgate, same without the store, 50 clients"},
	{cellNoStore1, "sovgate, same without the store, 1 client"},
	{cellPostgres50, "sovgate, audit on (PostgreSQL, batched), 50 clients"},
	{cellPostgres1, "sovgate, audit on (PostgreSQL, batched), 1 client"},
	{cellStrict50, "sovgate, audit on (SQLite, strict), 50 clients"},
	{cellConnect50, "sovgate, new CONNECT tunnel per GET, audit on (SQLite), 50 clients"},
	{cellConnectNone50, "sovgate, new CONNECT tunnel per GET, without the store, 50 clients"},
	{cellFPForward50, "Caddy + forwardproxy, 50 clients"},
	{cellFPConnect50, "Caddy + forwardproxy, new CONNECT tunnel per GET, 50 clients"},
}

// summary reads the JSON lines of scripts/load.sh and prints, in Markdown,
// the median of each cell and the targets of issue 14 with pass or fail.
func summary(args []string) error {
	fs := flag.NewFlagSet("summary", flag.ExitOnError)
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: load summary results.jsonl")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	results, err := readResults(f)
	if err != nil {
		return fmt.Errorf("reading %s: %w", fs.Arg(0), err)
	}
	printSummary(os.Stdout, results)
	return nil
}

func readResults(r io.Reader) (map[string][]result, error) {
	byCell := map[string][]result{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var res result
		if err := json.Unmarshal([]byte(text), &res); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if res.Cell != "" {
			byCell[res.Cell] = append(byCell[res.Cell], res)
		}
	}
	return byCell, sc.Err()
}

// median of the values; 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func values(rs []result, f func(result) float64) []float64 {
	out := make([]float64, 0, len(rs))
	for _, r := range rs {
		out = append(out, f(r))
	}
	return out
}

func cpu(r result) float64 { return r.ProxyCPUus }

// pairedDelta is the median, over the repetitions both cells ran in, of
// the cell's CPU per request minus the reference's in the same
// repetition: interleaving puts the two close in time, so the difference
// cancels most of the drift of a shared machine.
func pairedDelta(cell, ref []result) (float64, bool) {
	refByRep := map[int]float64{}
	for _, r := range ref {
		refByRep[r.Rep] = r.ProxyCPUus
	}
	var d []float64
	for _, r := range cell {
		if v, ok := refByRep[r.Rep]; ok {
			d = append(d, r.ProxyCPUus-v)
		}
	}
	if len(d) == 0 {
		return 0, false
	}
	return median(d), true
}

func printSummary(w io.Writer, byCell map[string][]result) {
	fmt.Fprintln(w, "| cell | runs | proxy CPU per request, median (min–max) | requests/s, median | p50 / p99, median | errors | peak memory (VmHWM), max |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, c := range cellNames {
		rs := byCell[c.cell]
		if len(rs) == 0 {
			continue
		}
		cpus := values(rs, cpu)
		var errs int64
		for _, r := range rs {
			errs += r.Errors
		}
		fmt.Fprintf(w, "| %s | %d | %.0f µs (%.0f–%.0f) | %.0f | %.1f / %.1f ms | %d | %.1f MiB |\n",
			c.what, len(rs), median(cpus), slices.Min(cpus), slices.Max(cpus),
			median(values(rs, func(r result) float64 { return r.PerSecond })),
			median(values(rs, func(r result) float64 { return r.P50us }))/1000,
			median(values(rs, func(r result) float64 { return r.P99us }))/1000,
			errs, slices.Max(values(rs, func(r result) float64 { return r.PeakMiB })))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| what (issue 14) | target | measured (medians of interleaved runs) | without the store | result |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	hopRow := func(what string, cell, noStore, hop string, allowance float64) {
		rs, ref := byCell[cell], byCell[hop]
		target := fmt.Sprintf("≤ Caddy hop + %.0f µs", allowance)
		if len(rs) == 0 || len(ref) == 0 {
			fmt.Fprintf(w, "| %s | %s | not measured | | – |\n", what, target)
			return
		}
		d, _ := pairedDelta(rs, ref)
		measured := fmt.Sprintf("%.0f µs, hop %.0f µs: %+.0f µs", median(values(rs, cpu)), median(values(ref, cpu)), d)
		beside := ""
		if ns := byCell[noStore]; len(ns) > 0 {
			dn, _ := pairedDelta(ns, ref)
			beside = fmt.Sprintf("%.0f µs (%+.0f µs)", median(values(ns, cpu)), dn)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", what, target, measured, beside, verdict(d <= allowance))
	}
	hopRow("proxy CPU per forwarded request, audit on (SQLite, batched), 50 clients", cellSQLite50, cellNoStore50, cellHop50, 20)
	hopRow("the same, 1 client", cellSQLite1, cellNoStore1, cellHop1, 40)
	hopRow("the same with PostgreSQL, 50 clients", cellPostgres50, cellNoStore50, cellHop50, 30)

	connect, fp := byCell[cellConnect50], byCell[cellFPConnect50]
	switch {
	case len(connect) == 0:
		fmt.Fprintln(w, "| CPU per new CONNECT tunnel, audit on | ≤ Caddy + forwardproxy | not measured | | – |")
	case len(fp) == 0:
		fmt.Fprintf(w, "| CPU per new CONNECT tunnel, audit on | ≤ Caddy + forwardproxy | %.0f µs; forwardproxy not measured (FORWARDPROXY=path) | %s | – |\n",
			median(values(connect, cpu)), besideMedian(byCell[cellConnectNone50]))
	default:
		d, _ := pairedDelta(connect, fp)
		fmt.Fprintf(w, "| CPU per new CONNECT tunnel, audit on | ≤ Caddy + forwardproxy | %.0f µs, forwardproxy %.0f µs: %+.0f µs | %s | %s |\n",
			median(values(connect, cpu)), median(values(fp, cpu)), d, besideMedian(byCell[cellConnectNone50]), verdict(d <= 0))
	}
	hopRow("`strict` mode, 50 clients", cellStrict50, "", cellHop50, 60)

	if rs := byCell[cellSQLite50]; len(rs) > 0 {
		peak := slices.Max(values(rs, func(r result) float64 { return r.PeakMiB }))
		beside := ""
		if ns := byCell[cellNoStore50]; len(ns) > 0 {
			beside = fmt.Sprintf("%.1f MiB", slices.Max(values(ns, func(r result) float64 { return r.PeakMiB })))
		}
		if f := byCell[cellFPForward50]; len(f) > 0 {
			beside += fmt.Sprintf("; forwardproxy %.1f MiB", slices.Max(values(f, func(r result) float64 { return r.PeakMiB })))
		}
		fmt.Fprintf(w, "| peak memory (VmHWM) under the 50-client load, audit on | ≤ 70 MiB | %.1f MiB (largest of %d runs) | %s | %s |\n",
			peak, len(rs), beside, verdict(peak <= 70))
	} else {
		fmt.Fprintln(w, "| peak memory (VmHWM) under the 50-client load, audit on | ≤ 70 MiB | not measured | | – |")
	}
	for _, in := range []struct{ cell, what string }{{cellIngestSQLite, "SQLite"}, {cellIngestPG, "PostgreSQL"}} {
		rs := byCell[in.cell]
		if len(rs) == 0 {
			fmt.Fprintf(w, "| audit ingest, %s | > 20,000 records/s | not run (INGEST=1) | | – |\n", in.what)
			continue
		}
		rate := median(values(rs, func(r result) float64 { return r.PerSecond }))
		fmt.Fprintf(w, "| audit ingest, %s | > 20,000 records/s | %.0f records/s | | %s |\n", in.what, rate, verdict(rate > 20000))
	}
}

func besideMedian(rs []result) string {
	if len(rs) == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f µs", median(values(rs, cpu)))
}

func verdict(ok bool) string {
	if ok {
		return "**pass**"
	}
	return "**FAIL**"
}
