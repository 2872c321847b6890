// Package policies holds sovgate's default policy bundle: the Rego rules, their
// unit tests and the data they read (EU/EEA countries, adequacy decisions,
// apps, exceptions). The gateway uses it when no policy directory is
// configured; DPO staff copy the sovgate/ directory to start their own.
//
// The files are embedded so the binary runs with a sound policy out of the
// box. Loading this directory from disk or the embedded copy gives the same
// data paths: sovgate/data.json becomes data.sovgate, as in an OPA bundle.
package policies

import (
	"embed"
	"io/fs"
)

// Bundle is the embedded policy bundle. Its files appear as sovgate/...
//
//go:embed sovgate
var Bundle embed.FS

// FS returns the embedded bundle, rooted so that its files appear as
// sovgate/decision.rego, sovgate/data.json, and so on.
func FS() fs.FS { return Bundle }
