// Package policy loads, checks, tests and evaluates sovgate's Rego policies
// with Open Policy Agent. It knows nothing about HTTP: the gateway, `sovgate
// check` and the tests all call Evaluate with the same Input.
//
// A policy bundle (see Bundle) is compiled once into an Engine, which is
// immutable: a reload builds a new Engine and the caller swaps a pointer, so
// a broken policy never replaces a working one. Evaluate asks for
// data.sovgate.decision (Query) and returns a Decision; anything else the
// policy returns, or nothing, is an error, which the gateway records as
// POLICY_ERROR and, in enforce mode, blocks.
//
// Check (`sovgate policy check`) and RunTests (`sovgate policy test`) report
// problems as Diagnostics in the file:line:col form, with file names as the
// user knows them.
package policy
