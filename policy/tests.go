package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestOptions select and present the tests RunTests runs.
type TestOptions struct {
	// Run is a regular expression; only the tests whose name (package and
	// rule, e.g. data.sovgate_test.test_us_address_denied) matches run. Empty
	// runs all. Same as `opa test --run`.
	Run string
	// Verbose lists every test, not only failures, and prints the trace of
	// each failure. Same as `opa test --verbose`.
	Verbose bool
	// Coverage measures which lines of the policy (test files excepted)
	// the tests evaluate, as `opa test --coverage` does; the result is in
	// TestSummary.Coverage.
	Coverage bool
}

// TestSummary counts the outcome of a test run. A test that errors (a built-in
// that failed, a timeout) is neither passed nor failed.
type TestSummary struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Errored int `json:"errored"`
	Skipped int `json:"skipped"`
	// Coverage is set when TestOptions.Coverage asked for it.
	Coverage *Coverage `json:"coverage,omitempty"`
}

// Coverage says which lines of the policy files the tests evaluated.
type Coverage struct {
	// Percent is covered lines over lines that count, for all files.
	Percent         float64        `json:"coverage"`
	CoveredLines    int            `json:"covered_lines"`
	NotCoveredLines int            `json:"not_covered_lines"`
	Files           []FileCoverage `json:"files"`
}

// FileCoverage is the coverage of one policy file.
type FileCoverage struct {
	File            string  `json:"file"`
	Percent         float64 `json:"coverage"`
	CoveredLines    int     `json:"covered_lines"`
	NotCoveredLines int     `json:"not_covered_lines"`
	// NotCovered are the line ranges no test evaluated.
	NotCovered []LineRange `json:"not_covered,omitempty"`
}

// LineRange is the lines Start to End, both included.
type LineRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

func (r LineRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// Total is the number of tests run or skipped.
func (s TestSummary) Total() int { return s.Passed + s.Failed + s.Errored + s.Skipped }

// OK reports whether no test failed or errored. A run with no test is OK:
// callers that require tests (reload gating) check Passed themselves.
func (s TestSummary) OK() bool { return s.Failed == 0 && s.Errored == 0 }

// RunTests runs the Rego unit tests of src (rules named test_* in any
// module, usually in *_test.rego files) with OPA's test runner, as `opa test`
// does, and writes the report to w in the same format: failures (with the
// failing line) always, every test when Verbose, then "PASS: n/m" and
// "FAIL: n/m" lines. It is `sovgate policy test`.
//
// Test results are printed in file and line order, so two runs give the same
// report. Files that do not parse or compile give an error wrapping
// Diagnostics and no summary.
func RunTests(ctx context.Context, src Bundle, opts TestOptions, w io.Writer) (TestSummary, error) {
	return runTests(ctx, src, opts, w, true)
}

// runTests runs the tests; trace gives each failure its failing line, and
// costs about a third of the run.
func runTests(ctx context.Context, src Bundle, opts TestOptions, w io.Writer, trace bool) (TestSummary, error) {
	files, diags, err := readSource(src, true)
	if err != nil {
		return TestSummary{}, err
	}
	b, parseDiags := parseFiles(files)
	diags = append(diags, parseDiags...)
	if len(diags) > 0 {
		return TestSummary{}, fmt.Errorf("test policies from %s: %w", src.Name(), sortedDiagnostics(diags))
	}
	if len(b.modules) == 0 {
		return TestSummary{}, fmt.Errorf("test policies from %s: %w", src.Name(),
			Diagnostics{errorf(src.Name(), CodeLoadError, "no policy files (*.rego) found")})
	}

	store := newStore(b.data)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return TestSummary{}, fmt.Errorf("test policies from %s: open data store: %w", src.Name(), err)
	}
	compiler := newCompiler(compileOptions{print: true}).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	var cov *cover.Cover
	runner := tester.NewRunner()
	if opts.Coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	runner = runner.
		SetCompiler(compiler).
		SetStore(store).
		SetModules(b.modules).
		SetDefaultRegoVersion(ast.RegoV1).
		Filter(opts.Run).
		CapturePrintOutput(true).
		// Traces give the failing line of each failure, which is what a
		// DPO needs first; tests are few, so the cost does not matter. OPA
		// cannot trace and measure coverage in the same run.
		EnableTracing(trace && cov == nil)
	ch, err := runner.RunTests(ctx, nil)
	// The runner compiles before RunTests returns; the transaction only
	// served the path conflict check.
	store.Abort(ctx, txn)
	if err != nil {
		if _, ok := errors.AsType[ast.Errors](err); ok {
			return TestSummary{}, fmt.Errorf("test policies from %s: %w", src.Name(),
				sortedDiagnostics(diagnosticsFromError(src.Name(), err)))
		}
		return TestSummary{}, fmt.Errorf("test policies from %s: %w", src.Name(), err)
	}

	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	slices.SortFunc(results, compareResults)

	var sum TestSummary
	for _, r := range results {
		switch {
		case r.Skip:
			sum.Skipped++
		case r.Error != nil:
			sum.Errored++
		case len(r.SubResults) > 0:
			// Tests with sub-cases (test.case) count each leaf, as opa
			// test does.
			for _, sr := range r.SubResults.Iter {
				if len(sr.SubResults) == 0 {
					if sr.Fail {
						sum.Failed++
					} else {
						sum.Passed++
					}
				}
			}
		case r.Fail:
			sum.Failed++
		default:
			sum.Passed++
		}
	}

	if cov != nil {
		sum.Coverage = coverageOf(cov, b, files)
	}
	if len(results) == 0 {
		_, err := fmt.Fprintln(w, "no tests found")
		return sum, err
	}
	replay := make(chan *tester.Result, len(results))
	for _, r := range results {
		replay <- r
	}
	close(replay)
	reporter := tester.PrettyReporter{Output: w, Verbose: opts.Verbose, FailureLine: true}
	if err := reporter.Report(replay); err != nil {
		return sum, fmt.Errorf("write test report: %w", err)
	}
	return sum, nil
}

// coverageOf reports the coverage of the policy modules (test files are
// left out: they are covered by running).
func coverageOf(cov *cover.Cover, b *parsedBundle, files []sourceFile) *Coverage {
	modules := map[string]*ast.Module{}
	for _, f := range files {
		if f.kind == kindModule {
			if m := b.modules[f.display]; m != nil {
				modules[f.display] = m
			}
		}
	}
	report := cov.Report(modules)
	c := &Coverage{}
	for file := range modules {
		fr := report.Files[file]
		if fr == nil {
			continue
		}
		fc := FileCoverage{File: file, Percent: fr.Coverage, CoveredLines: fr.CoveredLines, NotCoveredLines: fr.NotCoveredLines}
		for _, r := range fr.NotCovered {
			fc.NotCovered = append(fc.NotCovered, LineRange{Start: r.Start.Row, End: r.End.Row})
		}
		slices.SortFunc(fc.NotCovered, func(a, b LineRange) int { return a.Start - b.Start })
		c.CoveredLines += fc.CoveredLines
		c.NotCoveredLines += fc.NotCoveredLines
		c.Files = append(c.Files, fc)
	}
	slices.SortFunc(c.Files, func(a, b FileCoverage) int { return cmp.Compare(a.File, b.File) })
	if total := c.CoveredLines + c.NotCoveredLines; total > 0 {
		c.Percent = 100 * float64(c.CoveredLines) / float64(total)
	}
	return c
}

func compareResults(a, b *tester.Result) int {
	var af, bf string
	var ar, br int
	if a.Location != nil {
		af, ar = a.Location.File, a.Location.Row
	}
	if b.Location != nil {
		bf, br = b.Location.File, b.Location.Row
	}
	return cmp.Or(cmp.Compare(af, bf), cmp.Compare(ar, br),
		cmp.Compare(a.Package, b.Package), cmp.Compare(a.Name, b.Name))
}
