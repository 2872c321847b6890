package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// dataProblemsRef is an optional rule of the bundle: a set of messages about
// mistakes in its data (an exception without an expiry date, an app naming a
// profile that does not exist). Such mistakes never open the gate, but they
// silently do nothing, so Check reports them.
var dataProblemsRef = ast.MustParseRef("data.sovgate.data_problems")

// Check reads and compiles every file of src, unit tests included, in OPA's
// strict mode (unused variables and imports, deprecated built-ins, ... are
// errors), and reports the messages of data.sovgate.data_problems. It is
// `sovgate policy check`. The error is for a source that cannot be read at
// all; problems in the files are the diagnostics, sorted by file and line.
func Check(ctx context.Context, src Bundle) ([]Diagnostic, error) {
	files, diags, err := readSource(src, true)
	if err != nil {
		return nil, err
	}
	b, parseDiags := parseFiles(files)
	diags = append(diags, parseDiags...)
	if len(diags) > 0 {
		// Compiling what parsed would report errors caused by the files
		// that did not (undefined functions...): show the cause only.
		return sortedDiagnostics(diags), nil
	}
	store := newStore(b.data)
	compiler, diags := compile(ctx, src, b, store, compileOptions{strict: true, print: true})
	if len(diags) > 0 {
		return diags, nil
	}
	return dataProblems(ctx, src, b, compiler, store)
}

func dataProblems(ctx context.Context, src Bundle, b *parsedBundle, c *ast.Compiler, store storage.Store) (Diagnostics, error) {
	if len(c.GetRulesExact(dataProblemsRef)) == 0 {
		return nil, nil
	}
	file := src.Name()
	if f, ok := b.dataFiles["sovgate"]; ok {
		file = f
	}
	rs, err := rego.New(
		rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(dataProblemsRef)))),
		rego.Compiler(c),
		rego.Store(store),
		rego.GenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }),
	).Eval(ctx)
	if err != nil {
		return Diagnostics{errorf(file, CodeDataProblem, "evaluate %s: %v", dataProblemsRef, err)}, nil
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("evaluate %s: unexpected result type %T", dataProblemsRef, rs[0].Expressions[0].Value)
	}
	var diags Diagnostics
	add := func(e *ast.Term) {
		msg := e.String()
		if s, ok := e.Value.(ast.String); ok {
			msg = string(s)
		}
		diags = append(diags, Diagnostic{File: file, Code: CodeDataProblem, Message: msg})
	}
	switch v := t.Value.(type) {
	case ast.Set:
		// Sets iterate in sorted order: the output is stable.
		v.Foreach(add)
	case *ast.Array:
		v.Foreach(add)
	default:
		add(t)
	}
	return diags, nil
}
