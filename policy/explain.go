package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// RuleHit is one policy rule that produced a value while the decision was
// made: the rules `sovgate check --explain` shows.
type RuleHit struct {
	// Rule is the rule's name as Rego refers to it (data.sovgate.decision).
	Rule string `json:"rule"`
	// File, Row and Col locate the rule, or the branch of an else chain,
	// that produced the value.
	File string `json:"file"`
	Row  int    `json:"row"`
	Col  int    `json:"col"`
	// Text is the first line of that rule or branch.
	Text string `json:"text"`
	// Decided is true for the branch of data.sovgate.decision that gave
	// the decision.
	Decided bool `json:"decided,omitempty"`
}

// Where is "file:row".
func (h RuleHit) Where() string { return fmt.Sprintf("%s:%d", h.File, h.Row) }

// Explanation is a decision with the rules that made it.
type Explanation struct {
	Decision *Decision `json:"decision"`
	// Rules are the rules that produced a value, in the order evaluation
	// finished them (the decision last), each listed once.
	Rules []RuleHit `json:"rules"`
}

// Explain evaluates the decision for in like Evaluate, with OPA's tracer
// on, and returns the rules that produced it. Tracing makes an evaluation
// several times slower: it is for `sovgate check --explain`, never for the
// request path.
func (e *Engine) Explain(ctx context.Context, in *Input) (*Explanation, error) {
	if in == nil {
		return nil, errors.New("explain policy: nil input")
	}
	in = e.completeSource(in)
	tracer := topdown.NewBufferTracer()
	rs, err := e.query.Eval(ctx,
		rego.EvalParsedInput(inputValue(in)),
		rego.EvalBaseCache(e.data),
		rego.EvalQueryTracer(tracer),
	)
	if err != nil {
		return nil, fmt.Errorf("explain %s (policy %s): %w", Query, e.revision, err)
	}
	ex := &Explanation{Rules: rulesHit(*tracer)}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return ex, fmt.Errorf("explain %s (policy %s): %w", Query, e.revision, ErrUndefinedDecision)
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return ex, fmt.Errorf("explain %s: unexpected result type %T", Query, rs[0].Expressions[0].Value)
	}
	if ex.Decision, err = decisionFromValue(t.Value); err != nil {
		return ex, fmt.Errorf("explain %s (policy %s): %w", Query, e.revision, err)
	}
	return ex, nil
}

// rulesHit keeps the trace's exits from rules (a rule, or one branch of an
// else chain, that produced a value), once per location.
func rulesHit(events []*topdown.Event) []RuleHit {
	var hits []RuleHit
	seen := map[string]bool{}
	for _, ev := range events {
		if ev.Op != topdown.ExitOp || ev.Location == nil {
			continue
		}
		r, ok := ev.Node.(*ast.Rule)
		if !ok {
			continue
		}
		key := fmt.Sprintf("%s:%d:%d", ev.Location.File, ev.Location.Row, ev.Location.Col)
		if seen[key] {
			continue
		}
		seen[key] = true
		name := r.Head.Ref().String()
		if r.Module != nil && r.Module.Package != nil {
			name = r.Module.Package.Path.String() + "." + name
		}
		text, _, _ := strings.Cut(string(ev.Location.Text), "\n")
		hits = append(hits, RuleHit{
			Rule: name, File: ev.Location.File, Row: ev.Location.Row, Col: ev.Location.Col,
			Text:    strings.TrimSpace(text),
			Decided: name == Query,
		})
	}
	return hits
}
