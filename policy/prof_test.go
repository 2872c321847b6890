package policy

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/profiler"
	"github.com/open-policy-agent/opa/v1/rego"
)

func TestProfileScratch(t *testing.T) {
	dir := os.Getenv("POLICY_DIR")
	if dir == "" {
		t.Skip()
	}
	e, err := LoadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	p := profiler.New()
	const n = 500
	for range n {
		_, err := e.query.Eval(context.Background(), rego.EvalParsedInput(inputValue(benchCases[idx()].in)), rego.EvalQueryTracer(p))
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range p.ReportTopNResults(30, []string{"total_time_ns"}) {
		fmt.Fprintf(os.Stdout, "%8d ns  eval=%4d redo=%4d %s\n", s.ExprTimeNs/n, s.NumEval/n, s.NumRedo/n, s.Location)
	}
}

func idx() int {
	if os.Getenv("CASE") == "" {
		return 0
	}
	return int(os.Getenv("CASE")[0] - '0')
}
