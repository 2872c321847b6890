package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/sovgate/sovgate/geo"
)

// Query is the document the gateway asks the policy for on every request.
const Query = "data.sovgate.decision"

var decisionRef = ast.MustParseRef(Query)

var noMetrics = metrics.NoOp()

var emptyStore = inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))

// Errors Evaluate wraps, so callers can tell a policy that decided nothing or
// nonsense from a failure to evaluate. The caller records every error as
// POLICY_ERROR (blocked in enforce mode): a policy that cannot say "allow"
// clearly has not allowed.
var (
	// ErrUndefinedDecision: data.sovgate.decision has no value for the input.
	ErrUndefinedDecision = errors.New("the policy decision is undefined")
	// ErrMalformedDecision: the value is not {"allow": bool, "profile":
	// string, "reasons": [{"code": string, "message": string, ...}]}.
	ErrMalformedDecision = errors.New("the policy decision is malformed")
)

// unsafeBuiltins are left out of the compiler's capabilities, so a policy
// that calls one does not compile. The policy runs on every request inside the
// gateway: a network call from Rego would add latency and could reach
// destinations the gateway itself has not vetted, and opa.runtime would expose
// the process environment (secrets) to policy authors.
var unsafeBuiltins = map[string]struct{}{
	"http.send":          {},
	"net.lookup_ip_addr": {},
	"opa.runtime":        {},
}

// capabilities are OPA's built-ins minus unsafeBuiltins.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(slices.Clone(c.Builtins), func(b *ast.Builtin) bool {
		_, unsafe := unsafeBuiltins[b.Name]
		return unsafe
	})
	return c
}

// Engine is one compiled policy revision, ready to evaluate. It never changes
// after Load, so a reload builds a new Engine and swaps the pointer; requests
// in flight finish on the revision they started with. All methods are safe for
// concurrent use.
type Engine struct {
	source   string
	revision string
	query    rego.PreparedEvalQuery
	data     dataCache
	// inputReads says which input fields the policy can read (see
	// ReadsInput), for the gateway's decision-cache key.
	inputReads inputReads
	// apps is the app registry (data.sovgate.apps), indexed for
	// identification.
	apps *Apps
	// knowledge is the operator catalogue and the EU/EEA territory
	// (data.sovgate.operators, eu_countries, ...), indexed for the
	// classifier.
	knowledge *geo.Knowledge
	// providerTerms caches the input objects of the providers this
	// revision sees (see providerTerms).
	providerTerms *providerTerms
	// profiles is the effective profile of each app (see
	// EffectiveProfile).
	profiles *profileMemo
	// dataProblems are what data.sovgate.data_problems reports (see
	// DataProblems).
	dataProblems Diagnostics
	// digest and tests are set by LoadTested.
	digest string
	tests  TestSummary
}

// Load reads, compiles and prepares the policy bundle of src. Test files
// (*_test.rego) are left out: they cannot change a decision, and RunTests
// reads them itself. A broken bundle gives an error wrapping Diagnostics.
func Load(ctx context.Context, src Bundle) (*Engine, error) {
	files, diags, err := readSource(src, false)
	if err != nil {
		return nil, err
	}
	b, parseDiags := parseFiles(files)
	diags = append(diags, parseDiags...)
	if len(diags) > 0 {
		return nil, fmt.Errorf("load policies from %s: %w", src.Name(), diags)
	}
	store := newStore(b.data)
	compiler, diags := compile(ctx, src, b, store, compileOptions{})
	if len(diags) > 0 {
		return nil, fmt.Errorf("load policies from %s: %w", src.Name(), diags)
	}
	apps, diags := buildApps(b)
	if len(diags) > 0 {
		return nil, fmt.Errorf("load policies from %s: %w", src.Name(), diags)
	}
	knowledge, diags := buildKnowledge(b, time.Time{})
	if len(diags) > 0 {
		return nil, fmt.Errorf("load policies from %s: %w", src.Name(), sortedDiagnostics(diags))
	}
	// A host pattern that covers a public suffix would open every site
	// under it: the revision is refused, like an ambiguous app registry.
	if diags := hostPatternProblems(b); len(diags) > 0 {
		return nil, fmt.Errorf("load policies from %s: %w", src.Name(), diags)
	}
	problems, err := dataProblems(ctx, src, b, compiler, store)
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: %w", src.Name(), err)
	}
	profiles, err := computeProfiles(ctx, compiler, store, apps)
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: %w", src.Name(), err)
	}
	e, err := prepare(ctx, src, b, compiler)
	if err != nil {
		return nil, err
	}
	e.apps, e.knowledge, e.dataProblems, e.profiles = apps, knowledge, sortedDiagnostics(problems), profiles
	return e, nil
}

// DataProblems are the problems the policy's data_problems rule finds in
// its data (see Check): they never stop a revision from loading (a mistake
// never opens the gate: an incomplete exception does not apply), but the
// gateway logs them when it activates the revision, so that an exception of
// the earlier format, say, is seen at every load.
func (e *Engine) DataProblems() Diagnostics { return e.dataProblems }

// prepare builds the Engine for a compiled bundle.
func prepare(ctx context.Context, src Bundle, b *parsedBundle, compiler *ast.Compiler) (*Engine, error) {
	pq, err := rego.New(
		rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(decisionRef)))),
		rego.Compiler(compiler),
		// Evaluation reads data through dataCache (see Evaluate); what it
		// does not find there does not exist, which an empty store answers
		// fastest.
		rego.Store(emptyStore),
		// Hand the result over as AST: decisionFromValue reads it directly,
		// which saves converting it to Go maps on every request.
		rego.GenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: prepare %s: %w", src.Name(), Query, err)
	}
	data, err := ast.InterfaceToValue(evaluatedData(b.data, compiler))
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: convert data: %w", src.Name(), err)
	}
	return &Engine{
		source: src.Name(), revision: b.revision, query: pq, data: dataCache{data},
		inputReads: analyseInputReads(compiler), providerTerms: newProviderTerms(),
	}, nil
}

// evaluatedData is the data the request path evaluates against. The
// operator catalogue is read by the classifier (Knowledge); the request
// path gets only what its rules read of it. The default rules test that
// an operator has an entry and read the qualifications of its offers (the
// DPF certification, for the gdpr-transfer profile): the rest of each
// entry (sources, ASNs, domain suffixes, parents) is for the classifier
// and for people, and kept as AST for every revision it would make up
// most of the policy's memory. A policy that never reads the catalogue
// evaluates without it; one that reads an entry as a whole, or the whole
// catalogue, gets all of it.
func evaluatedData(data map[string]any, c *ast.Compiler) map[string]any {
	sovgate, ok := data[operatorsPath[0]].(map[string]any)
	if !ok || sovgate[operatorsPath[1]] == nil {
		return data
	}
	reads := readsCollection(c, operatorsPath)
	operators, isObject := sovgate[operatorsPath[1]].(map[string]any)
	if reads.whole || (reads.any && !isObject) {
		return data
	}
	out := maps.Clone(data)
	pruned := maps.Clone(sovgate)
	out[operatorsPath[0]] = pruned
	if !reads.any {
		delete(pruned, operatorsPath[1])
		return out
	}
	entries := make(map[string]any, len(operators))
	for id, entry := range operators {
		fields, ok := entry.(map[string]any)
		if !ok {
			entries[id] = entry
			continue
		}
		kept := make(map[string]any, len(reads.fields))
		for f := range reads.fields {
			if v, ok := fields[f]; ok {
				kept[f] = v
			}
		}
		entries[id] = kept
	}
	pruned[operatorsPath[1]] = entries
	return out
}

// LoadDir loads the policy directory dir (see Bundle for the layout).
func LoadDir(ctx context.Context, dir string) (*Engine, error) {
	return Load(ctx, DirBundle(dir))
}

// LoadEmbedded loads the default policy bundle compiled into the binary.
func LoadEmbedded(ctx context.Context) (*Engine, error) {
	return Load(ctx, EmbeddedBundle())
}

// Revision identifies the policy: the first 12 hex digits of a SHA-256 over
// the names and bytes of every module and data file the engine was built from
// (test files excluded). Equal bytes give equal revisions on every node, so
// audit records from a cluster can be matched with the policy that decided.
func (e *Engine) Revision() string { return e.revision }

// Source is where the policy came from: its directory, or "embedded".
func (e *Engine) Source() string { return e.source }

// Evaluate asks the policy for data.sovgate.decision about in. It never
// traces; use it on the request path. An undefined or malformed decision is
// an error (ErrUndefinedDecision, ErrMalformedDecision).
func (e *Engine) Evaluate(ctx context.Context, in *Input) (*Decision, error) {
	if in == nil {
		return nil, errors.New("evaluate policy: nil input")
	}
	// OPA notices a cancellation only while it evaluates; a request that is
	// already gone need not be decided.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", Query, err)
	}
	in = e.completeSource(in)
	rs, err := e.query.Eval(ctx,
		rego.EvalParsedInput(inputValueWith(in, e.providerTerms)),
		// Metrics are never read on this path; the no-op saves allocations.
		rego.EvalMetrics(noMetrics),
		rego.EvalBaseCache(e.data),
	)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s (policy %s): %w", Query, e.revision, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, fmt.Errorf("evaluate %s (policy %s): %w", Query, e.revision, ErrUndefinedDecision)
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("evaluate %s (policy %s): unexpected result type %T", Query, e.revision, rs[0].Expressions[0].Value)
	}
	d, err := decisionFromValue(t.Value)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s (policy %s): %w", Query, e.revision, err)
	}
	return d, nil
}

// completeSource fills in what the caller left to the registry of this
// revision: with no categories, the app's categories and its effective
// profile. The caller's Input is not modified (it may be shared).
func (e *Engine) completeSource(in *Input) *Input {
	if in.Source.Categories != nil {
		return in
	}
	completed := *in
	completed.Source.Categories = e.apps.Categories(in.Source.App)
	if completed.Source.Profile == "" {
		completed.Source.Profile = e.EffectiveProfile(in.Source.App, in.Source.IdentifiedBy)
	}
	return &completed
}

// newStore holds the bundle's data as AST values, so reads during evaluation
// need no conversion.
func newStore(data map[string]any) storage.Store {
	return inmem.NewFromObjectWithOpts(data,
		inmem.OptRoundTripOnWrite(false),
		inmem.OptReturnASTValuesOnRead(true),
	)
}

type compileOptions struct {
	// strict turns on OPA's strict mode (unused variables and imports,
	// deprecated built-ins, ...): what `policy check` reports.
	strict bool
	// print keeps print() calls (tests show their output); production
	// erases them at compile time.
	print bool
	// noDecisionCheck skips the check that data.sovgate.decision exists.
	noDecisionCheck bool
}

func newCompiler(opts compileOptions) *ast.Compiler {
	c := ast.NewCompiler().
		WithDefaultRegoVersion(ast.RegoV1).
		WithCapabilities(capabilities()).
		WithStrict(opts.strict).
		WithEnablePrintStatements(opts.print)
	// Report every error at once: DPO staff fix them in one go.
	c.SetErrorLimit(0)
	return c
}

// compile compiles the bundle's modules against its data. Rules that would
// hide data (a rule "apps" next to data.sovgate.apps) are errors, as in OPA.
func compile(ctx context.Context, src Bundle, b *parsedBundle, store storage.Store, opts compileOptions) (*ast.Compiler, Diagnostics) {
	if len(b.modules) == 0 {
		return nil, Diagnostics{errorf(src.Name(), CodeLoadError, "no policy files (*.rego) found")}
	}
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, Diagnostics{errorf(src.Name(), CodeLoadError, "open data store: %v", err)}
	}
	defer store.Abort(ctx, txn)
	c := newCompiler(opts).WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	c.Compile(b.modules)
	// The check is done; the prepared query keeps the compiler for the
	// revision's lifetime, and must not keep the store (a copy of all the
	// data) alive through it.
	c.WithPathConflictsCheck(nil)
	if c.Failed() {
		return nil, sortedDiagnostics(diagnosticsFromError(src.Name(), c.Errors))
	}
	if !opts.noDecisionCheck {
		if d := checkDecisionRule(src, c); d != nil {
			return nil, Diagnostics{*d}
		}
	}
	return c, nil
}

// checkDecisionRule makes sure some rule produces data.sovgate.decision. A
// package renamed by mistake would otherwise compile, and then leave every
// request undefined.
func checkDecisionRule(src Bundle, c *ast.Compiler) *Diagnostic {
	if len(c.GetRulesWithPrefix(decisionRef)) > 0 {
		return nil
	}
	d := errorf(src.Name(), CodeLoadError,
		"no rule defines %s, which the gateway asks for on every request (is the package still \"package sovgate\"?)", Query)
	return &d
}

func sortedDiagnostics(ds Diagnostics) Diagnostics {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Row != b.Row {
			return a.Row - b.Row
		}
		return a.Col - b.Col
	})
	return ds
}

// dataCache serves reads of data from the bundle's data, converted to AST
// once at load. OPA asks its base cache before the store and fills it after
// each store read; with every document already there, a read is a lookup in
// an immutable value, with no store transaction path or per-request cache.
// It is shared by concurrent evaluations: Get only reads, Put does nothing.
type dataCache struct {
	root ast.Value
}

func (c dataCache) Get(ref ast.Ref) ast.Value {
	v, err := c.root.Find(ref[1:])
	if err != nil {
		return nil
	}
	return v
}

func (dataCache) Put(ast.Ref, ast.Value) {}
