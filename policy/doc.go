// Package policy loads, checks, tests and evaluates sovgate's Rego policies
// with Open Policy Agent. It knows nothing about HTTP: the gateway, `sovgate
// check` and the tests all call Evaluate with the same Input.
//
// A policy bundle (see Bundle) is compiled once into an Engine, which is
// immutable: a reload builds a new Engine and the caller swaps a pointer, so
// a broken policy never replaces a working one. A running gateway takes a
// new revision only through LoadTested: the revision's files are read once
// (Bundle.Snapshot), its own tests run, and the same bytes are loaded.
// Evaluate asks for data.sovgate.decision (Query) and returns a Decision;
// anything else the policy returns, or nothing, is an error, which the
// gateway records as POLICY_ERROR and, in enforce mode, blocks. Explain
// gives the same decision with the rules that made it (OPA's tracer: never
// on the request path).
//
// The app registry (data.sovgate.apps) is indexed at load (Apps): the
// gateway identifies apps by source network or certificate name with a map
// lookup, and the registry changes with the revision.
//
// Check (`sovgate policy check`) and RunTests (`sovgate policy test`) report
// problems as Diagnostics in the file:line:col form, with file names as the
// user knows them. Format is `opa fmt`. WriteBundle and ReadSignedBundle
// build and verify the signed OPA bundles that carry a policy to every
// gateway.
package policy
