package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Diagnostic is one problem found in a policy file. DPO staff read these, so
// File is the path as they know it (the policy directory joined with the path
// of the file inside it, or "embedded:sovgate/decision.rego").
type Diagnostic struct {
	File string `json:"file"`
	// Row and Col are 1-based; 0 when the problem is not tied to a position.
	Row int `json:"row"`
	Col int `json:"col"`
	// Code is OPA's error class (rego_parse_error, rego_type_error, ...) or
	// one of sovgate's: sovgate_load_error, sovgate_data_error.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Severity is "" for an error, which stops a policy from loading or
	// `sovgate policy check` from passing, or SeverityWarning for something
	// the DPO should look at soon (an exception about to expire) that
	// changes nothing today.
	Severity string `json:"severity,omitempty"`
}

// SeverityWarning marks a diagnostic that is not an error.
const SeverityWarning = "warning"

// IsWarning reports whether d is a warning rather than an error.
func (d Diagnostic) IsWarning() bool { return d.Severity == SeverityWarning }

// Codes of diagnostics that sovgate, not OPA, produces.
const (
	// CodeLoadError is a file that cannot be read or decoded, or a bundle
	// that lacks what the gateway needs (data.sovgate.decision).
	CodeLoadError = "sovgate_load_error"
	// CodeDataProblem is a mistake in the policy data: one the policy
	// itself reports through data.sovgate.data_problems (see Check), or an
	// app registry the gateway cannot use (see Apps).
	CodeDataProblem = "sovgate_data_error"
	// CodeDataWarning is a warning of data.sovgate.data_problems: something
	// in the data that still works but should be looked at (an exception of
	// the earlier format).
	CodeDataWarning = "sovgate_data_warning"
	// CodeExceptionExpiry is the warning about an exception that has
	// expired or expires soon (see CheckOptions.ExpiryWarning).
	CodeExceptionExpiry = "sovgate_exception_expiry"
	// CodeQualificationExpiry is the warning about an offer's
	// qualification (SecNumCloud, HDS, ...) whose end date has passed.
	CodeQualificationExpiry = "sovgate_qualification_expiry"
	// CodeAdequacyExpiry is the warning about an adequacy decision whose
	// valid_until date has passed.
	CodeAdequacyExpiry = "sovgate_adequacy_expiry"
)

// String formats d as "file:row:col: code: message", the form editors and CI
// systems turn into links; a warning as "file:row:col: warning: message".
// Missing parts are left out.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Row > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(d.Row))
			if d.Col > 0 {
				b.WriteByte(':')
				b.WriteString(strconv.Itoa(d.Col))
			}
		}
		b.WriteString(": ")
	}
	switch {
	case d.IsWarning():
		b.WriteString("warning: ")
	case d.Code != "":
		b.WriteString(d.Code)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Diagnostics is the error Load and RunTests return when policy files are
// broken. Use errors.As to get at the individual problems.
type Diagnostics []Diagnostic

// Error lists one diagnostic per line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// diagnosticsFromError turns an OPA error into diagnostics, keeping each
// ast.Error's position. Any other error becomes one diagnostic about file.
func diagnosticsFromError(file string, err error) Diagnostics {
	if astErrs, ok := errors.AsType[ast.Errors](err); ok {
		ds := make(Diagnostics, 0, len(astErrs))
		for _, e := range astErrs {
			ds = append(ds, diagnosticFromASTError(file, e))
		}
		return ds
	}
	if e, ok := errors.AsType[*ast.Error](err); ok {
		return Diagnostics{diagnosticFromASTError(file, e)}
	}
	return Diagnostics{{File: file, Code: CodeLoadError, Message: err.Error()}}
}

func diagnosticFromASTError(file string, e *ast.Error) Diagnostic {
	d := Diagnostic{File: file, Code: e.Code, Message: e.Message}
	if loc := e.Location; loc != nil {
		if loc.File != "" {
			d.File = loc.File
		}
		d.Row, d.Col = loc.Row, loc.Col
		if d.Row > 0 && d.Col == 0 {
			// OPA gives no column for some errors (end of file): keep the
			// file:line:col form that editors parse.
			d.Col = 1
		}
	}
	// Refused built-ins are missing from the capabilities, which OPA reports
	// as undefined: say why.
	if name, ok := strings.CutPrefix(e.Message, "undefined function "); ok {
		if _, unsafe := unsafeBuiltins[name]; unsafe {
			d.Message += " (sovgate policies may not use network or runtime built-ins)"
		}
	}
	if e.Details != nil {
		for _, line := range e.Details.Lines() {
			d.Message += "\n\t" + line
		}
	}
	return d
}

// errorf builds a diagnostic with no position.
func errorf(file, code, format string, args ...any) Diagnostic {
	return Diagnostic{File: file, Code: code, Message: fmt.Sprintf(format, args...)}
}
