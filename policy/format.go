package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
)

// Format returns the Rego source src in the canonical style of `opa fmt`
// (Rego v1), which `sovgate policy fmt` applies. filename names the file in
// diagnostics; a file that does not parse gives an error wrapping
// Diagnostics.
func Format(filename string, src []byte) ([]byte, error) {
	out, err := format.SourceWithOpts(filename, src, format.Opts{
		RegoVersion:   ast.RegoV1,
		ParserOptions: &ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true},
	})
	if err != nil {
		return nil, sortedDiagnostics(diagnosticsFromError(filename, err))
	}
	return out, nil
}
