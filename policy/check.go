package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// dataProblemsRef is an optional rule of the bundle: a set of messages about
// mistakes in its data (an exception without an expiry date, an app naming a
// profile that does not exist). Such mistakes never open the gate, but they
// silently do nothing, so Check reports them.
var dataProblemsRef = ast.MustParseRef("data.sovgate.data_problems")

// CheckOptions adjust Check.
type CheckOptions struct {
	// Now is the date exceptions are checked against; zero means now.
	Now time.Time
	// ExpiryWarning is how far ahead an exception's expiry is announced;
	// zero means 30 days, a negative value turns the warnings off.
	ExpiryWarning time.Duration
}

// DefaultExpiryWarning is how long before its expiry an exception is
// announced by Check.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// Check reads and compiles every file of src, unit tests included, in OPA's
// strict mode (unused variables and imports, deprecated built-ins, ... are
// errors), checks the app registry (see Apps), and reports the messages of
// data.sovgate.data_problems. It is `sovgate policy check`. It also warns
// about exceptions that have expired or expire within 30 days (warnings:
// Diagnostic.IsWarning). The error is for a source that cannot be read at
// all; problems in the files are the diagnostics, sorted by file and line.
func Check(ctx context.Context, src Bundle) ([]Diagnostic, error) {
	return CheckWithOptions(ctx, src, CheckOptions{})
}

// CheckWithOptions is Check with a clock and a warning horizon.
func CheckWithOptions(ctx context.Context, src Bundle, opts CheckOptions) ([]Diagnostic, error) {
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
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	_, appDiags := buildApps(b)
	_, knowledgeDiags := buildKnowledge(b, now.UTC())
	appDiags = append(appDiags, knowledgeDiags...)
	store := newStore(b.data)
	compiler, diags := compile(ctx, src, b, store, compileOptions{strict: true, print: true})
	if len(diags) > 0 {
		return sortedDiagnostics(append(diags, appDiags...)), nil
	}
	problems, err := dataProblems(ctx, src, b, compiler, store)
	if err != nil {
		return nil, err
	}
	diags = append(appDiags, problems...)
	diags = append(diags, hostPatternProblems(b)...)
	diags = append(diags, expiryWarnings(b, opts)...)
	diags = append(diags, adequacyWarnings(b, now.UTC())...)
	return sortedDiagnostics(diags), nil
}

var exceptionsPath = []string{"sovgate", "exceptions"}

// expiryWarnings announces the exceptions that have expired (they no longer
// apply: someone is probably about to be blocked) or expire within the
// horizon (time to renew them or finish the migration).
func expiryWarnings(b *parsedBundle, opts CheckOptions) Diagnostics {
	horizon := opts.ExpiryWarning
	if horizon == 0 {
		horizon = DefaultExpiryWarning
	}
	if horizon < 0 {
		return nil
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	raw, _ := lookupData(b.data, exceptionsPath)
	exceptions, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	loc := b.locator(exceptionsPath)
	var diags Diagnostics
	for _, id := range slices.Sorted(maps.Keys(exceptions)) {
		e, _ := exceptions[id].(map[string]any)
		expires, _ := e["expires"].(string)
		day, err := time.Parse(time.DateOnly, expires)
		if err != nil {
			continue // data_problems says why
		}
		// Valid through the whole day, in UTC (exceptions.rego): count in
		// calendar days from today.
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		days := int(day.Sub(today).Hours() / 24)
		var msg string
		switch {
		case days < 0:
			msg = fmt.Sprintf("exception %q expired on %s (%s); it no longer applies: renew it or remove it", id, expires, daysText(-days, "ago"))
		case time.Duration(days)*24*time.Hour <= horizon:
			when := "today is its last day"
			if days > 0 {
				when = "in " + daysText(days, "")
			}
			msg = fmt.Sprintf("exception %q expires on %s (%s); renew it or finish the migration", id, expires, when)
		default:
			continue
		}
		d := loc.diag([]string{id}, "%s", msg)
		d.Code, d.Severity = CodeExceptionExpiry, SeverityWarning
		diags = append(diags, d)
	}
	return diags
}

func daysText(n int, suffix string) string {
	s := fmt.Sprintf("%d days", n)
	if n == 1 {
		s = "1 day"
	}
	if suffix != "" {
		s += " " + suffix
	}
	return s
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
		if obj, ok := e.Value.(ast.Object); ok {
			if d, ok := locatedProblem(b, obj); ok {
				diags = append(diags, d)
				return
			}
		}
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

var keySeverity = ast.StringTerm("severity")

// locatedProblem reads a problem of data_problems written as {"path": [...],
// "message": "...", "severity": "warning"}: path is relative to
// data.sovgate, and points the diagnostic at the file and line of the
// entry.
func locatedProblem(b *parsedBundle, obj ast.Object) (Diagnostic, bool) {
	msg, ok := stringOf(obj.Get(keyMessage))
	if !ok {
		return Diagnostic{}, false
	}
	at := []any{"sovgate"}
	if t := obj.Get(keyPath); t != nil {
		steps, ok := t.Value.(*ast.Array)
		if !ok {
			return Diagnostic{}, false
		}
		for i := range steps.Len() {
			switch v := steps.Elem(i).Value.(type) {
			case ast.String:
				at = append(at, string(v))
			case ast.Number:
				n, ok := v.Int()
				if !ok {
					return Diagnostic{}, false
				}
				at = append(at, n)
			default:
				return Diagnostic{}, false
			}
		}
	}
	d := b.diagAtPath(at, "%s", msg)
	if severity, _ := stringOf(obj.Get(keySeverity)); severity == SeverityWarning {
		d.Code, d.Severity = CodeDataWarning, SeverityWarning
	}
	return d, true
}

func stringOf(t *ast.Term) (string, bool) {
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

var adequacyPath = []string{"sovgate", "adequacy"}

// adequacyWarnings announces the adequacy decisions whose valid_until date
// has passed: a country that loses its decision is no longer acceptable
// for personal data, and the data should say so before a transfer relies
// on it.
func adequacyWarnings(b *parsedBundle, now time.Time) Diagnostics {
	raw, _ := lookupData(b.data, adequacyPath)
	decisions, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	loc := b.locator(adequacyPath)
	var diags Diagnostics
	for _, code := range slices.Sorted(maps.Keys(decisions)) {
		d, _ := decisions[code].(map[string]any)
		until, _ := d["valid_until"].(string)
		day, err := time.Parse(time.DateOnly, until)
		if err != nil || !day.Before(today) {
			continue // no end date, or data_problems says what is wrong
		}
		w := loc.diag([]string{code, "valid_until"}, "adequacy decision for %s (%v) ended on %s: the country is no longer acceptable on its strength; check the Commission's list and update or remove the entry", code, d["decision"], until)
		w.Code, w.Severity = CodeAdequacyExpiry, SeverityWarning
		diags = append(diags, w)
	}
	return diags
}
