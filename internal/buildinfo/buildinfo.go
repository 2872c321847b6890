// Package buildinfo tells which sovgate a binary is: its version, the
// revision it was built from, and the versions of the Caddy and OPA it
// carries. An auditor quotes these when a decision is questioned.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"time"
)

// Version is stamped by a release build:
//
//	go build -ldflags "-X github.com/sovgate/sovgate/internal/buildinfo.Version=v1.2.0" ./cmd/sovgate
//
// Without it, the version the Go toolchain recorded is used: a tag or a
// pseudo-version taken from the repository, else "(devel)".
var Version string

// Commit is stamped by a release build with the commit it was built from,
// for builds where the Go toolchain does not record it (-buildvcs=false,
// or a source tree without its .git directory).
var Commit string

// Module paths of the components whose versions `sovgate version` shows.
const (
	CaddyModule = "github.com/caddyserver/caddy/v2"
	OPAModule   = "github.com/open-policy-agent/opa"
)

// Info is what a binary knows of its own build.
type Info struct {
	Version   string    `json:"version"`
	Revision  string    `json:"revision,omitempty"` // VCS commit
	Time      time.Time `json:"time,omitzero"`      // commit time
	Modified  bool      `json:"modified,omitempty"` // built from a tree with uncommitted changes
	GoVersion string    `json:"go"`
	Platform  string    `json:"platform"`
	deps      map[string]string
}

// Read returns the build information of the running binary.
func Read() Info {
	info := Info{Version: Version, Revision: Commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, deps: map[string]string{}}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if info.Version == "" {
			info.Version = "(unknown)"
		}
		return info
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Revision == "" {
				info.Revision = s.Value
			}
		case "vcs.time":
			info.Time, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		info.deps[d.Path] = d.Version
	}
	return info
}

// Dependency returns the version of a module linked into the binary, or ""
// when it is not.
func (i Info) Dependency(path string) string { return i.deps[path] }
