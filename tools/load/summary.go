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

// baselineSuffix marks the cells run with BASELINE_BIN, the build the
// current one is compared with (scripts/load.sh).
const baselineSuffix = "@baseline"

// loadPeak is a run's peak memory while the load was measured, or since
// the proxy started when the window's peak could not be taken.
func loadPeak(r result) float64 {
	if r.LoadPeakMiB > 0 {
		return r.LoadPeakMiB
	}
	return r.PeakMiB
}

// sinceStart is a run's peak memory since the proxy started.
func sinceStart(r result) float64 { return r.PeakMiB }

func printSummary(w io.Writer, byCell map[string][]result) {
	fmt.Fprintln(w, "| cell | runs | proxy CPU per request, median (min–max) | requests/s, median | p50 / p99, median | errors | peak memory under load (since start), max |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, suffix := range []string{"", baselineSuffix} {
		for _, c := range cellNames {
			rs := byCell[c.cell+suffix]
			if len(rs) == 0 {
				continue
			}
			what := c.what
			if suffix != "" {
				what += " (baseline)"
			}
			cpus := values(rs, cpu)
			var errs int64
			for _, r := range rs {
				errs += r.Errors
			}
			fmt.Fprintf(w, "| %s | %d | %.0f µs (%.0f–%.0f) | %.0f | %.1f / %.1f ms | %d | %.1f MiB (%.1f) |\n",
				what, len(rs), median(cpus), slices.Min(cpus), slices.Max(cpus),
				median(values(rs, func(r result) float64 { return r.PerSecond })),
				median(values(rs, func(r result) float64 { return r.P50us }))/1000,
				median(values(rs, func(r result) float64 { return r.P99us }))/1000,
				errs, slices.Max(values(rs, loadPeak)), slices.Max(values(rs, sinceStart)))
		}
	}
	fmt.Fprintln(w)
	current := targetRows(byCell, "")
	baselineRan := false
	for name := range byCell {
		baselineRan = baselineRan || strings.HasSuffix(name, baselineSuffix)
	}
	if !baselineRan {
		fmt.Fprintln(w, "| what (issue 14) | target | measured (medians of interleaved runs) | without the store | result |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
		for _, r := range current {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.what, r.target, r.measured, r.beside, r.result())
		}
		return
	}
	baseline := targetRows(byCell, baselineSuffix)
	fmt.Fprintln(w, "| what (issue 14) | target | baseline (BASELINE_BIN) | result | this build | without the store | result |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for i, r := range current {
		b := baseline[i]
		before := b.measured
		if b.beside != "" {
			before += "; without the store " + b.beside
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.what, r.target, before, b.result(), r.measured, r.beside, r.result())
	}
}

// targetRow is one row of issue 14's targets: what was measured, and
// whether it holds (nil: not measured, or nothing to compare with).
type targetRow struct {
	what, target, measured, beside string
	pass                           *bool
}

func (r targetRow) result() string {
	if r.pass == nil {
		return "–"
	}
	return verdict(*r.pass)
}

// targetRows works out the targets of issue 14 from the cells of one build
// (suffix "" or baselineSuffix). The references (Caddy's reverse_proxy,
// forwardproxy) are the same binaries for both builds.
func targetRows(byCell map[string][]result, suffix string) []targetRow {
	cell := func(name string) []result { return byCell[name+suffix] }
	pass := func(ok bool) *bool { return &ok }
	var rows []targetRow
	hopRow := func(what, sovgate, noStore, hop string, allowance float64) {
		rs, ref := cell(sovgate), byCell[hop]
		row := targetRow{what: what, target: fmt.Sprintf("≤ Caddy hop + %.0f µs", allowance), measured: "not measured"}
		if len(rs) > 0 && len(ref) > 0 {
			d, _ := pairedDelta(rs, ref)
			row.measured = fmt.Sprintf("%.0f µs, hop %.0f µs: %+.0f µs", median(values(rs, cpu)), median(values(ref, cpu)), d)
			row.pass = pass(d <= allowance)
			if ns := cell(noStore); len(ns) > 0 {
				dn, _ := pairedDelta(ns, ref)
				row.beside = fmt.Sprintf("%.0f µs (%+.0f µs)", median(values(ns, cpu)), dn)
			}
		}
		rows = append(rows, row)
	}
	hopRow("proxy CPU per forwarded request, audit on (SQLite, batched), 50 clients", cellSQLite50, cellNoStore50, cellHop50, 20)
	hopRow("the same, 1 client", cellSQLite1, cellNoStore1, cellHop1, 40)
	hopRow("the same with PostgreSQL, 50 clients", cellPostgres50, cellNoStore50, cellHop50, 30)

	connect := targetRow{what: "CPU per new CONNECT tunnel, audit on", target: "≤ Caddy + forwardproxy", measured: "not measured"}
	if rs, fp := cell(cellConnect50), byCell[cellFPConnect50]; len(rs) > 0 {
		connect.beside = besideMedian(cell(cellConnectNone50))
		if len(fp) == 0 {
			connect.measured = fmt.Sprintf("%.0f µs; forwardproxy not measured (FORWARDPROXY=path)", median(values(rs, cpu)))
		} else {
			d, _ := pairedDelta(rs, fp)
			connect.measured = fmt.Sprintf("%.0f µs, forwardproxy %.0f µs: %+.0f µs", median(values(rs, cpu)), median(values(fp, cpu)), d)
			connect.pass = pass(d <= 0)
		}
	}
	rows = append(rows, connect)
	hopRow("`strict` mode, 50 clients", cellStrict50, "", cellHop50, 60)

	memory := targetRow{what: "peak memory (VmHWM) under the 50-client load, audit on", target: "≤ 70 MiB", measured: "not measured"}
	peak := func(rs []result) float64 { return slices.Max(values(rs, loadPeak)) }
	if rs := cell(cellSQLite50); len(rs) > 0 {
		memory.measured = fmt.Sprintf("%.1f MiB (largest of %d runs)", peak(rs), len(rs))
		if end := rs[len(rs)-1]; end.AnonMiB > 0 {
			memory.measured += fmt.Sprintf("; at the end %.1f MiB anonymous + %.1f MiB of the binary", end.AnonMiB, end.FileMiB)
		}
		if since := slices.Max(values(rs, sinceStart)); since > peak(rs) {
			memory.measured += fmt.Sprintf("; %.1f MiB since start", since)
		}
		memory.pass = pass(peak(rs) <= 70)
		if ns := cell(cellNoStore50); len(ns) > 0 {
			memory.beside = fmt.Sprintf("%.1f MiB", peak(ns))
		}
		if f := byCell[cellFPForward50]; len(f) > 0 {
			memory.beside += fmt.Sprintf("; forwardproxy %.1f MiB", peak(f))
		}
	}
	rows = append(rows, memory)
	for _, in := range []struct{ cell, what string }{{cellIngestSQLite, "SQLite"}, {cellIngestPG, "PostgreSQL"}} {
		row := targetRow{what: "audit ingest, " + in.what, target: "> 20,000 records/s", measured: "not run (INGEST=1)"}
		rs := cell(in.cell)
		failed := slices.IndexFunc(rs, func(r result) bool { return r.Failure != "" })
		switch {
		case failed >= 0:
			row.measured = "failed: " + rs[failed].Failure
			row.pass = pass(false)
		case len(rs) > 0:
			rate := median(values(rs, func(r result) float64 { return r.PerSecond }))
			row.measured = fmt.Sprintf("%.0f records/s", rate)
			row.pass = pass(rate > 20000)
		}
		rows = append(rows, row)
	}
	return rows
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
