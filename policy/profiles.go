package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// The effective profile of an app (the strictest of the profile it names
// and the minimum profiles of its data categories) depends on the app's
// entry in the registry and on the policy data, never on the request. The
// default policy computes it in data.sovgate.effective_profile; Load
// evaluates that rule once per app of the registry, and the gateway passes
// the result to every request as input.source.profile, so that the policy
// does not compare profiles again on each one. A policy without the rule
// gets no profile in its input (""), and decides as it likes.

var effectiveProfileRef = ast.MustParseRef("data.sovgate.effective_profile")

// profileMemo is the effective profile of each app of a revision.
type profileMemo struct {
	// byApp holds the apps of the registry; unlisted, an identified app
	// the registry does not list; unidentified, the traffic nobody
	// identified (app "unknown", identified_by "none").
	byApp                  map[string]string
	unlisted, unidentified string
}

// EffectiveProfile is the profile the policy applies to app, identified
// by identifiedBy ("none" for traffic nobody identified), with its
// categories from the registry of this revision: what the gateway passes as
// input.source.profile. "" when the policy does not compute one.
func (e *Engine) EffectiveProfile(app, identifiedBy string) string {
	m := e.profiles
	if m == nil {
		return ""
	}
	if identifiedBy == "none" {
		if app == unknownApp {
			return m.unidentified
		}
		return ""
	}
	if p, ok := m.byApp[app]; ok {
		return p
	}
	return m.unlisted
}

// unknownApp is the app of requests nobody identified.
const unknownApp = "unknown"

// computeProfiles evaluates data.sovgate.effective_profile for every app of
// the registry, an unlisted app and unidentified traffic. A policy without
// the rule gets a nil memo.
func computeProfiles(ctx context.Context, c *ast.Compiler, store storage.Store, apps *Apps) (*profileMemo, error) {
	if len(c.GetRulesExact(effectiveProfileRef)) == 0 {
		return nil, nil
	}
	pq, err := rego.New(
		rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(effectiveProfileRef)))),
		rego.Compiler(c),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", effectiveProfileRef, err)
	}
	eval := func(app, identifiedBy string, categories []string) (string, error) {
		in := inputValue(&Input{Source: Caller{App: app, IdentifiedBy: identifiedBy, Categories: categories}})
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(in))
		if err != nil {
			return "", fmt.Errorf("evaluate %s for app %q: %w", effectiveProfileRef, app, err)
		}
		if len(rs) == 0 || len(rs[0].Expressions) == 0 {
			return "", nil
		}
		p, _ := rs[0].Expressions[0].Value.(string)
		return p, nil
	}
	m := &profileMemo{byApp: make(map[string]string, apps.Len())}
	for _, id := range apps.IDs() {
		if m.byApp[id], err = eval(id, "basic", apps.Categories(id)); err != nil {
			return nil, err
		}
	}
	// "" is no app id of the registry (ids have 1 to 64 characters).
	if m.unlisted, err = eval("", "basic", noCategories); err != nil {
		return nil, err
	}
	if m.unidentified, err = eval(unknownApp, "none", noCategories); err != nil {
		return nil, err
	}
	return m, nil
}
