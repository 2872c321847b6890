package policy

import (
	"maps"
	"slices"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// The host patterns of exceptions and allowed hosts ("*.example.com") may
// be no broader than a registrable domain: "*.com", "*.co.uk" or "*.test"
// would open every site under a public suffix to an app (or to every
// app). The policy cannot tell a public suffix from a domain (Rego has no
// Public Suffix List), so the gateway checks the patterns itself: `policy
// check` reports them, and a revision that has one does not load.

// hostPatternProblems lists the host patterns of data.sovgate.exceptions
// and of the allowed_hosts of data.sovgate.apps that cover a whole public
// suffix.
func hostPatternProblems(b *parsedBundle) Diagnostics {
	var diags Diagnostics
	check := func(where string, host any, at []any) {
		pattern, _ := host.(string)
		if problem := tooBroadPattern(pattern); problem != "" {
			diags = append(diags, b.diagAtPath(at, "%s: host %q %s", where, pattern, problem))
		}
	}
	raw, _ := lookupData(b.data, exceptionsPath)
	exceptions, _ := raw.(map[string]any)
	for _, id := range slices.Sorted(maps.Keys(exceptions)) {
		e, _ := exceptions[id].(map[string]any)
		check(`exceptions["`+id+`"]`, e["host"], []any{"sovgate", "exceptions", id, "host"})
	}
	raw, _ = lookupData(b.data, appsPath)
	apps, _ := raw.(map[string]any)
	for _, app := range slices.Sorted(maps.Keys(apps)) {
		entry, _ := apps[app].(map[string]any)
		hosts, _ := entry["allowed_hosts"].([]any)
		for i, h := range hosts {
			at := []any{"sovgate", "apps", app, "allowed_hosts", i}
			if record, ok := h.(map[string]any); ok {
				h = record["host"]
				at = append(at, "host")
			}
			check(`apps["`+app+`"]: allowed_hosts`, h, at)
		}
	}
	return diags
}

// tooBroadPattern says why a "*.suffix" pattern covers more than a
// registrable domain, or "" when it does not (or is no wildcard: an exact
// host name names one host, whatever it is).
func tooBroadPattern(pattern string) string {
	suffix, ok := strings.CutPrefix(strings.ToLower(pattern), "*.")
	if !ok || suffix == "" || strings.Contains(suffix, "*") {
		return "" // not a wildcard, or malformed: data_problems says so
	}
	suffix = strings.TrimSuffix(suffix, ".")
	if _, err := publicsuffix.EffectiveTLDPlusOne(suffix); err != nil {
		ps, _ := publicsuffix.PublicSuffix(suffix)
		return "covers every domain registered under the public suffix " + strings.TrimPrefix(ps, ".") +
			": a wildcard may cover at most one registrable domain (\"*.example.com\")"
	}
	return ""
}
