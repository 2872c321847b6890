package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/phuslu/iploc"
	"github.com/spf13/cobra"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/internal/buildinfo"
	"github.com/sovgate/sovgate/policies"
	"github.com/sovgate/sovgate/policy"
)

func init() {
	replacedCommands["version"] = caddycmd.Command{
		Name:  "version",
		Usage: "[--format text|json]",
		Short: "Prints the version of sovgate, of the Caddy and OPA it carries, and of its embedded data",
		Long: `
Prints which sovgate this is: its version (stamped at release, else taken
from the source repository at build time), the commit it was built from,
the versions of Caddy and Open Policy Agent built into it, and the date or
digest of each dataset embedded in the binary (the country data used when no
GeoIP database is configured, the provider ranges and registration data used
when no provider_ranges directory is, the operator catalogue of the default
policy).

Quote this output when you report a problem or when an auditor asks which
software made a decision.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("format", "text", "text or json")
			cmd.RunE = runCommandFunc(cmdVersion)
		},
	}
}

// versionReport is what `sovgate version` prints.
type versionReport struct {
	Sovgate  buildinfo.Info    `json:"sovgate"`
	Caddy    string            `json:"caddy"`
	OPA      string            `json:"opa"`
	Embedded []embeddedDataset `json:"embedded_data"`
}

// embeddedDataset is one dataset compiled into the binary.
type embeddedDataset struct {
	Name    string    `json:"name"`
	Source  string    `json:"source"`
	Date    time.Time `json:"date,omitzero"`    // when the data was published, if known
	Version string    `json:"version,omitzero"` // else its version or digest
}

// embeddedDatasets lists the data compiled into the binary. A package that
// embeds a dataset adds a function here, so that `sovgate version` names
// the data an auditor may ask about.
var embeddedDatasets = []func() embeddedDataset{
	func() embeddedDataset {
		d := embeddedDataset{Name: "country", Source: "IP2Location LITE (github.com/phuslu/iploc " + iploc.Version + ")", Version: iploc.Version}
		// iploc versions end in the date of the IP2Location release.
		if i := strings.LastIndex(iploc.Version, "."); i >= 0 {
			if t, err := time.Parse("20060102", iploc.Version[i+1:]); err == nil {
				d.Date, d.Version = t, ""
			}
		}
		return d
	},
	func() embeddedDataset {
		d := embeddedDataset{Name: "provider ranges", Source: "the providers' own feeds"}
		if p, err := geo.EmbeddedProviderRanges(); err == nil {
			info := p.Info()
			d.Date = info.BuildTime
			d.Source = fmt.Sprintf("the providers' own feeds, %d networks", info.Networks)
		}
		return d
	},
	func() embeddedDataset {
		d := embeddedDataset{Name: "registration", Source: "ASN and registration country"}
		if db, err := geo.EmbeddedRegistration(); err == nil {
			// The sources and their licences are in NOTICE; their names
			// make too long a line.
			d.Date = db.Info().BuildTime
			d.Source = fmt.Sprintf("ASN and registration country of every network, %d sources (see NOTICE)", len(db.Manifest().Sources))
		}
		return d
	},
	func() embeddedDataset {
		raw, err := fs.ReadFile(policies.FS(), "sovgate/operators/data.json")
		sum := sha256.Sum256(raw)
		d := embeddedDataset{Name: "operator catalogue", Version: "sha256:" + hex.EncodeToString(sum[:6])}
		if k, kerr := policy.EmbeddedKnowledge(); err == nil && kerr == nil {
			d.Source = fmt.Sprintf("default policy, %d operators", k.Operators.Len())
		}
		return d
	},
}

func readVersion() versionReport {
	info := buildinfo.Read()
	r := versionReport{
		Sovgate: info,
		Caddy:   info.Dependency(buildinfo.CaddyModule),
		OPA:     info.Dependency(buildinfo.OPAModule),
	}
	for _, f := range embeddedDatasets {
		r.Embedded = append(r.Embedded, f())
	}
	return r
}

// versionLine is the first line of `sovgate version`, and all of
// `sovgate --version`.
func versionLine(r versionReport) string {
	s := "sovgate " + r.Sovgate.Version
	var details []string
	if r.Sovgate.Revision != "" {
		rev := r.Sovgate.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if r.Sovgate.Modified {
			rev += "+modified"
		}
		details = append(details, "commit "+rev)
	}
	if !r.Sovgate.Time.IsZero() {
		details = append(details, r.Sovgate.Time.UTC().Format(time.DateOnly))
	}
	if len(details) > 0 {
		s += " (" + strings.Join(details, ", ") + ")"
	}
	return s
}

func cmdVersion(fl caddycmd.Flags) (int, error) {
	r := readVersion()
	switch fl.String("format") {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return exitOK, enc.Encode(r)
	case "text", "":
		writeVersion(os.Stdout, r)
		return exitOK, nil
	default:
		return exitUsage, fmt.Errorf("--format %q: use text or json", fl.String("format"))
	}
}

func writeVersion(w io.Writer, r versionReport) {
	fmt.Fprintln(w, versionLine(r))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  built with\t%s %s\n", r.Sovgate.GoVersion, r.Sovgate.Platform)
	fmt.Fprintf(tw, "  Caddy\t%s\n", orDefault(r.Caddy, "unknown"))
	fmt.Fprintf(tw, "  Open Policy Agent\t%s\n", orDefault(r.OPA, "unknown"))
	tw.Flush()
	fmt.Fprintln(w, "embedded data:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range r.Embedded {
		when := d.Version
		if !d.Date.IsZero() {
			when = d.Date.Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Name, when, d.Source)
	}
	tw.Flush()
}
