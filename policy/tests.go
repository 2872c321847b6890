package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
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
}

// TestSummary counts the outcome of a test run. A test that errors (a built-in
// that failed, a timeout) is neither passed nor failed.
type TestSummary struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Errored int `json:"errored"`
	Skipped int `json:"skipped"`
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
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(b.modules).
		SetDefaultRegoVersion(ast.RegoV1).
		Filter(opts.Run).
		CapturePrintOutput(true).
		// Traces give the failing line of each failure, which is what a
		// DPO needs first; tests are few, so the cost does not matter.
		EnableTracing(true)
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
