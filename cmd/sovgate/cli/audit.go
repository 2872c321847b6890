package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/sovgate/sovgate/audit/report"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
)

// defaultAuditStore is where `sovgate egress` records decisions, and where
// the audit commands look when given neither --audit nor --config.
const defaultAuditStore = "./sovgate-data/audit.db"

// Exit statuses of `sovgate audit verify` and `audit verify-proof`: 4 is an
// answer (the log or the proof does not hold), not a failure of the command.
const (
	exitIntact   = 0
	exitTampered = 4
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "audit",
		Usage: "query|report|verify|key|prove|verify-proof [--config FILE | --audit STORE] [...]",
		Short: "Query, report on and verify the audit log (for auditors)",
		Long: `
Every decision of the gateway, allowed or not, is a record of the audit log.
These commands read it; none of them changes it.

  sovgate audit query    list decisions, newest first, with filters
  sovgate audit report   summary of a period: totals, sovereignty
                         violations by app, country, provider and reason,
                         operational refusals, top destinations
  sovgate audit verify   check that no record was edited, deleted, inserted
                         or reordered (exit 0 intact, 4 tampered)
  sovgate audit key      print the verifier key of the gateway's checkpoints
  sovgate audit prove ID print a proof that one decision is in the log,
                         which 'sovgate audit verify-proof' checks with the
                         gateway's key alone (exit 0 valid, 4 not)

The log is found with --audit STORE (a SQLite file, or a postgres:// URL),
or --config FILE (the gateway's Caddyfile: its audit option), else in
./sovgate-data/audit.db, where 'sovgate egress' writes it.

Start with: sovgate audit report --since 2026-10 --until 2026-11
`,
		CobraFunc: func(cmd *cobra.Command) {
			query := &cobra.Command{
				Use:   "query [filters]",
				Short: "List decisions, newest first (exit 0)",
				Long: `
Lists the decisions of the audit log, newest first, as a table, JSON or CSV.
Filters add up (all must match):

  --since, --until   a period: 2026-10-01, 2026-10 (a month), an RFC 3339
                     time, or a duration before now (30d, 12h); since is
                     inclusive, until exclusive
  --app NAME         the calling app
  --host NAME        the destination host; *.example.com for a domain and
                     every name under it
  --country CC       any address of the destination is in this country
  --provider ID      any address belongs to this provider (aws, azure, ovh...)
  --verdict V        allow, or deny (a violation)
  --reason CODE      a reason code (RESIDENCY_NON_EU, JURISDICTION_NON_EU...)
  --action A         forwarded or blocked
  --node NAME, --id ID

Each record shows the decision, and once a forwarded exchange has ended, its
bytes and duration. --limit 0 lists every matching record.

Examples:
  sovgate audit query --since 30d --verdict deny
  sovgate audit query --since 2026-10 --until 2026-11 --country US --format csv > us-october.csv
  sovgate audit query --app etat-civil --reason JURISDICTION_NON_EU --format json
  sovgate audit query --id 019ad5c2-7c1e-7a51-9b0e-4f1e6b2c8d10
  sovgate audit query --audit postgres://auditor@db.example/sovgate --host '*.amazonaws.com'
`,
				Args: cobra.NoArgs,
			}
			addStoreFlags(query)
			addFilterFlags(query)
			query.Flags().String("format", "table", "output format: table, json or csv")
			query.Flags().Int("limit", store.DefaultLimit, "at most this many records; 0 for all")
			query.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runAuditQuery(fl, os.Stdout)
			})

			report := &cobra.Command{
				Use:   "report --since WHEN --until WHEN",
				Short: "Summarise a period: totals, violations, top destinations (exit 0)",
				Long: `
Summarises the decisions of a period. It keeps two kinds of denials apart:

  sovereignty violations  transfers the policy denied: data going outside
                          the EU/EEA, or to an operator under a non-EU law
                          (RESIDENCY_*, JURISDICTION_*, PROFILE_*...)
  operational refusals    requests the gateway refused for its own reasons:
                          a wrong password, a malformed request, a rate
                          limit, a private address, a failure (AUTH_FAILED,
                          BAD_TARGET, RATE_LIMITED...). Not transfers.

It gives the totals (allowed, violations forwarded in monitor mode and
blocked, operational refusals); violations by app, by destination country,
by provider and by reason; refusals by reason and by app; the top
destinations; and the transfers by app x country x provider x verdict.

Formats: md (Markdown, the default), csv (the transfers table, for a
spreadsheet) and html (one self-contained page with charts, to send as is).
With --lang fr the report is in French (countries named, dates written
out; the CSV then has French columns, ';' as separator, as French
spreadsheets expect). Without --since, the period is the 30 days before
--until (default now).

Examples:
  sovgate audit report --since 2026-10 --until 2026-11
  sovgate audit report --since 2026-10 --until 2026-11 --format html -o october.html
  sovgate audit report --since 2026-10 --until 2026-11 --lang fr --format html -o octobre.html
  sovgate audit report --since 7d --format csv > last-week.csv
`,
				Args: cobra.NoArgs,
			}
			addStoreFlags(report)
			report.Flags().String("since", "", "start of the period (inclusive)")
			report.Flags().String("until", "", "end of the period (exclusive); default now")
			report.Flags().String("format", "md", "output format: md, csv or html")
			report.Flags().Int("top", 10, "length of the breakdowns and of the top destinations")
			report.Flags().StringP("output", "o", "", "write to this file instead of standard output")
			addLangFlag(report.Flags())
			report.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runAuditReport(fl, os.Stdout)
			})

			cmd.AddCommand(query, report, newAuditVerifyCommand(), newAuditKeyCommand(), newAuditProveCommand(), newAuditVerifyProofCommand())
		},
	})
}

func addStoreFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringP("config", "c", "", "the gateway's Caddyfile or JSON config, to find its audit store")
	fs.StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile*)")
	fs.String("audit", "", "the audit store: a SQLite file or a postgres:// URL")
	fs.Duration("timeout", 10*time.Minute, "give up after this long")
}

func addFilterFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.String("since", "", "decisions at or after this time (2026-10-01, 2026-10, 30d...)")
	fs.String("until", "", "decisions before this time")
	fs.String("app", "", "the calling app")
	fs.String("host", "", "the destination host (*.example.com for a domain)")
	fs.String("country", "", "a country of the destination's addresses (ISO code)")
	fs.String("provider", "", "a provider of the destination's addresses")
	fs.String("verdict", "", "allow or deny")
	fs.String("reason", "", "a reason code")
	fs.String("action", "", "forwarded or blocked")
	fs.String("node", "", "the gateway node")
	fs.String("id", "", "a decision id")
}

// auditApp reads the gateway's audit settings: from --config (the
// sovereignty app of a Caddyfile or JSON config) when given, with --audit
// on top, else the store 'sovgate egress' writes.
func auditApp(fl caddycmd.Flags) (*sovereignty.App, error) {
	app := new(sovereignty.App)
	if flagString(fl, "config") != "" {
		var err error
		if app, err = loadApp(fl); err != nil {
			return nil, err
		}
		if app.Audit == "" && flagString(fl, "audit") == "" {
			return nil, fmt.Errorf("%s configures no audit store (sovereignty option audit)", flagString(fl, "config"))
		}
	}
	if location := flagString(fl, "audit"); location != "" {
		app.Audit = location
	}
	if app.Audit == "" {
		if _, err := os.Stat(defaultAuditStore); err != nil {
			return nil, fmt.Errorf("no audit store: give --audit STORE (a SQLite file or a postgres:// URL) or --config FILE; %s does not exist", defaultAuditStore)
		}
		app.Audit = defaultAuditStore
	}
	return app, nil
}

// withAuditStore opens the store the command reads, for the command's
// --timeout, and runs fn with it.
func withAuditStore(fl caddycmd.Flags, fn func(ctx context.Context, st store.Store) (int, error)) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fl.Duration("timeout"))
	defer cancel()
	st, err := openAuditStore(ctx, fl)
	if err != nil {
		return 1, err
	}
	defer st.Close()
	return fn(ctx, st)
}

// openAuditStore finds and opens the store the command reads.
func openAuditStore(ctx context.Context, fl caddycmd.Flags) (store.Store, error) {
	app, err := auditApp(fl)
	if err != nil {
		return nil, err
	}
	return store.OpenExisting(ctx, app.Audit)
}

func filterFromFlags(fl caddycmd.Flags, now time.Time) (store.Filter, error) {
	var f store.Filter
	var err error
	if f.Since, err = store.ParseTime(fl.String("since"), now); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = store.ParseTime(fl.String("until"), now); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	f.App, f.Host, f.Country, f.Provider = fl.String("app"), fl.String("host"), fl.String("country"), fl.String("provider")
	f.Verdict, f.Reason, f.Action = fl.String("verdict"), fl.String("reason"), fl.String("action")
	f.Node, f.ID = fl.String("node"), fl.String("id")
	return f, f.Normalize()
}

func runAuditQuery(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	now := time.Now()
	f, err := filterFromFlags(fl, now)
	if err != nil {
		return 1, err
	}
	limit := fl.Int("limit")
	if limit < 0 {
		return 1, fmt.Errorf("--limit %d: give 0 (all) or more", limit)
	}
	rw, err := report.NewRecordWriter(stdout, fl.String("format"))
	if err != nil {
		return 1, err
	}
	return withAuditStore(fl, func(ctx context.Context, st store.Store) (int, error) {
		const pageSize = 5000
		written := 0
		for {
			f.Limit = pageSize
			if limit > 0 {
				f.Limit = min(pageSize, limit-written)
			}
			page, err := st.Query(ctx, f)
			if err != nil {
				return 1, err
			}
			for i := range page.Records {
				if err := rw.Write(&page.Records[i]); err != nil {
					return 1, err
				}
			}
			written += len(page.Records)
			if page.NextCursor == "" || (limit > 0 && written >= limit) {
				break
			}
			f.Cursor = page.NextCursor
		}
		if err := rw.Close(); err != nil {
			return 1, err
		}
		return 0, nil
	})
}

func runAuditReport(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	now := time.Now()
	format := fl.String("format")
	switch format {
	case "md", "markdown", "csv", "html":
	default:
		return 1, fmt.Errorf("--format %q: use md, csv or html", format)
	}
	l, err := langFlag(fl)
	if err != nil {
		return 1, err
	}
	until, err := store.ParseTime(fl.String("until"), now)
	if err != nil {
		return 1, fmt.Errorf("--until: %w", err)
	}
	if until.IsZero() {
		until = now.UTC()
	}
	since, err := store.ParseTime(fl.String("since"), now)
	if err != nil {
		return 1, fmt.Errorf("--since: %w", err)
	}
	if since.IsZero() {
		since = until.Add(-30 * 24 * time.Hour)
	}
	if !since.Before(until) {
		return 1, fmt.Errorf("--since %s is not before --until %s", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return withAuditStore(fl, func(ctx context.Context, st store.Store) (int, error) {
		rep, err := report.Build(ctx, st, report.Options{Since: since, Until: until, Top: fl.Int("top"), Now: now})
		if err != nil {
			return 1, err
		}
		out := stdout
		if path := fl.String("output"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				return 1, err
			}
			defer f.Close()
			out = f
		}
		if err := rep.Write(out, format, l); err != nil {
			return 1, err
		}
		if c, ok := out.(io.Closer); ok && out != stdout {
			if err := c.Close(); err != nil {
				return 1, err
			}
		}
		return 0, nil
	})
}
