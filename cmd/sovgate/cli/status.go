package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "status",
		Usage: "[--config FILE] [--address ADDR] [--format text|json] [--quiet]",
		Short: "Shows the state of a running gateway: mode, policy, data, counters, audit store",
		Long: `
Asks a running gateway for its state, through its admin endpoint
(GET /sovereignty/status), and prints it for a person: the mode, the policy
revision in service and any revision refused, the data in use, the decision
counters and the audit store.

The admin endpoint is found as 'sovgate stop' finds it: --address, else the
admin option of --config, else localhost:2019.

Exit status: 0 when the gateway answered, 1 when it could not be reached or
runs no sovereignty app. With --quiet nothing is printed (a health check).
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().StringP("config", "c", "", "configuration file of the gateway, to find its admin endpoint")
			cmd.Flags().StringP("adapter", "a", "", "name of the config adapter of --config")
			cmd.Flags().String("address", "", "address of the admin endpoint (default: from --config, else localhost:2019)")
			cmd.Flags().String("format", "text", "text, or json for the status document as the gateway sends it")
			cmd.Flags().BoolP("quiet", "q", false, "print nothing; the exit status says whether the gateway answered")
			cmd.RunE = runCommandFunc(cmdStatus)
		},
	})
}

func cmdStatus(fl caddycmd.Flags) (int, error) {
	format := fl.String("format")
	if format != "text" && format != "json" {
		return exitUsage, fmt.Errorf("--format %q: use text or json", format)
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
	if err != nil {
		return exitError, fmt.Errorf("finding the admin endpoint: %w", err)
	}
	resp, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, "/sovereignty/status", nil, nil)
	if err != nil {
		return exitError, fmt.Errorf("no gateway answers at %s: %w", addr, unwrapAdminError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return exitError, fmt.Errorf("reading the status from %s: %w", addr, err)
	}
	if fl.Bool("quiet") {
		return exitOK, nil
	}
	if format == "json" {
		_, err := os.Stdout.Write(body)
		return exitOK, err
	}
	var st statusDocument
	if err := json.Unmarshal(body, &st); err != nil {
		return exitError, fmt.Errorf("the status from %s is not a sovgate status document: %w", addr, err)
	}
	writeStatus(os.Stdout, addr, st)
	return exitOK, nil
}

// unwrapAdminError shortens Caddy's admin client error, which repeats the
// request, to its cause.
func unwrapAdminError(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "caddy responded with error: "); i >= 0 {
		return fmt.Errorf("%s", msg[i+len("caddy responded with error: "):])
	}
	return err
}

// statusDocument holds the fields of GET /sovereignty/status that the text
// view shows. It reads the JSON document, the admin API's public contract,
// rather than the app's Go types, so that a gateway of another version is
// shown too.
type statusDocument struct {
	Mode   string `json:"mode"`
	Node   string `json:"node"`
	Policy struct {
		Revision    string    `json:"revision"`
		Source      string    `json:"source"`
		ActivatedAt time.Time `json:"activated_at"`
		Apps        int       `json:"apps"`
		Tests       *struct {
			Passed int `json:"passed"`
		} `json:"tests"`
		Refused *struct {
			Time        time.Time `json:"time"`
			Candidate   string    `json:"candidate"`
			Error       string    `json:"error"`
			Diagnostics []struct {
				Message string `json:"message"`
			} `json:"diagnostics"`
		} `json:"refused"`
	} `json:"policy"`
	Data          any              `json:"data"`
	Counters      map[string]int64 `json:"counters"`
	UptimeSeconds int64            `json:"uptime_seconds"`
	Audit         *struct {
		Written      int64  `json:"written"`
		Spooled      int64  `json:"spooled"`
		Replayed     int64  `json:"replayed"`
		Dropped      int64  `json:"dropped"`
		SpoolPending int64  `json:"spool_pending"`
		StoreUp      bool   `json:"store_up"`
		LastError    string `json:"last_error"`
		Store        string `json:"store"`
	} `json:"audit"`
}

// writeStatus prints a status document as an admin reads it.
func writeStatus(w io.Writer, addr string, st statusDocument) {
	fmt.Fprintf(w, "sovgate %s at %s: %s mode, up %s\n", orDefault(st.Node, "(no node name)"), addr, st.Mode,
		(time.Duration(st.UptimeSeconds) * time.Second).String())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := st.Policy
	tests := ""
	if p.Tests != nil {
		tests = fmt.Sprintf(", %d tests passed", p.Tests.Passed)
	}
	fmt.Fprintf(tw, "policy\trevision %s from %s%s, %d apps registered, in service since %s\n",
		p.Revision, p.Source, tests, p.Apps, p.ActivatedAt.UTC().Format(time.DateTime+" MST"))
	if r := p.Refused; r != nil {
		why := r.Error
		if len(r.Diagnostics) > 0 {
			why = r.Diagnostics[0].Message
		}
		fmt.Fprintf(tw, "\tREFUSED revision %s at %s: %s\n", orDefault(r.Candidate, "(did not compile)"), r.Time.UTC().Format(time.DateTime+" MST"), oneLine(why))
	}
	for _, line := range dataLines(st.Data) {
		fmt.Fprintf(tw, "data\t%s\n", line)
	}
	c := st.Counters
	fmt.Fprintf(tw, "decisions\t%d (allowed %d, denied %d, blocked %d): %d sovereignty violations, %d operational refusals; %d from cache, %d policy errors, %d tunnels open\n",
		c["decisions"], c["allowed"], c["denied"], c["blocked"], c["violations"], c["refusals"], c["cache_hits"], c["policy_errors"], c["open_tunnels"])
	if a := st.Audit; a != nil {
		state := "up"
		if !a.StoreUp {
			state = "DOWN, records go to the spool: " + oneLine(a.LastError)
		}
		fmt.Fprintf(tw, "audit\t%s (%s), %d written, %d spooled, %d replayed, %d waiting in the spool, %d dropped\n",
			a.Store, state, a.Written, a.Spooled, a.Replayed, a.SpoolPending, a.Dropped)
	} else {
		fmt.Fprintf(tw, "audit\tno audit store: decisions go to the sovgate.decision log only\n")
	}
	tw.Flush()
}

// dataLines renders the data section, one line per dataset ("country:
// source iploc, version v1.0.20260915"). The section is read as generic
// JSON: each dataset says what it knows of itself, and new datasets show
// without a change here.
func dataLines(data any) []string {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil
	}
	var sets map[string]json.RawMessage
	if json.Unmarshal(raw, &sets) != nil {
		return []string{string(raw)}
	}
	names := make([]string, 0, len(sets))
	for name := range sets {
		names = append(names, name)
	}
	slices.Sort(names)
	var lines []string
	for _, name := range names {
		var fields map[string]any
		dec := json.NewDecoder(bytes.NewReader(sets[name]))
		dec.UseNumber()
		if dec.Decode(&fields) != nil {
			lines = append(lines, fmt.Sprintf("%s: %s", name, strings.Trim(string(sets[name]), `"`)))
			continue
		}
		keys := make([]string, 0, len(fields))
		for k, v := range fields {
			switch v.(type) {
			case map[string]any, []any:
				continue // nested details: see --format json
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %v", k, fields[k]))
		}
		lines = append(lines, fmt.Sprintf("%s: %s", name, strings.Join(parts, ", ")))
	}
	return lines
}
