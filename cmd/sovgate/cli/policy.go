package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/sovgate/sovgate/internal/lang"
	"github.com/sovgate/sovgate/policy"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "policy",
		Usage: "init|test|check|fmt|bundle [DIR]",
		Short: "Test, check, format and bundle Rego policies (for DPO staff)",
		Long: `
Work on the Rego policies that decide every transfer.

  sovgate policy init DIR       start a policy directory from the default one
  sovgate policy test [DIR]     run the policy's unit tests, like 'opa test'
                                (--coverage: which lines the tests reach)
  sovgate policy check [DIR]    compile strictly and report problems as
                                file:line:col: message, and warn about
                                exceptions that expired or expire soon
  sovgate policy fmt [PATH...]  format Rego files like 'opa fmt'
  sovgate policy bundle DIR --signing-key KEY
                                build a signed bundle for gateways that
                                fetch their policy from a web server

DIR is a policy directory laid out like the embedded bundle (sovgate/*.rego,
sovgate/data.json, tests in *_test.rego). Without DIR, the directory comes
from --policies, else from the policies option of --config, else the
embedded default bundle is used.

A gateway only activates a policy that compiles and whose tests pass, so
run test and check before deploying a change.
`,
		CobraFunc: func(cmd *cobra.Command) {
			test := &cobra.Command{
				Use:   "test [DIR]",
				Short: "Run the Rego unit tests of a policy directory (exit 0 pass, 1 fail)",
				Long: `
Runs every rule named test_* of the policy directory with OPA's test runner
and prints a report in the format of 'opa test': failures always, every test
with --verbose, then the PASS/FAIL counts. With --coverage it then lists,
for each policy file, the share of its lines the tests evaluated and the
lines they never reached.

With --lang fr the report is in French (RÉUSSIS, ÉCHOUÉS, the coverage);
test names, the lines of the policy and OPA's own messages stay as they
are written.

Exit status: 0 when every test passes, 1 when one fails or errors, or when
the files do not compile (problems are printed as file:line:col: message).

Examples:
  sovgate policy test policies/
  sovgate policy test --run exception -v /etc/sovgate/policies
  sovgate policy test --coverage /etc/sovgate/policies
  sovgate policy test --lang fr /etc/sovgate/policies
`,
				Args: cobra.MaximumNArgs(1),
			}
			test.Flags().StringP("run", "r", "", "only run tests whose name matches this regular expression")
			test.Flags().BoolP("verbose", "v", false, "list every test, not only failures")
			test.Flags().Bool("coverage", false, "report which lines of the policy the tests evaluate")
			test.Flags().String("format", "text", "output format: text, or json (the summary and coverage as JSON)")
			addLangFlag(test.Flags())
			addPolicySourceFlags(test)
			test.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runPolicyTest(fl, os.Stdout)
			})

			check := &cobra.Command{
				Use:   "check [DIR]",
				Short: "Compile and lint a policy directory (exit 0 ok, 1 errors)",
				Long: `
Parses and compiles every file of the policy directory in OPA's strict mode
(unused variables, shadowed names, deprecated built-ins are errors) and
reports mistakes in its data (an app with a profile that does not exist, an
exception without an expiry date, a network given to two apps) and in the
operator catalogue (sovgate/operators/data.json: a misspelt field, a
reserved or private ASN, a domain suffix that is a public suffix such as
"co.uk" or "gouv.fr", an ASN, suffix or operator id written twice). Each
problem is printed as

  file:line:col: code: message

It also warns about exceptions that have expired (they no longer apply:
someone is about to be blocked) or expire within 30 days, about offer
qualifications (SecNumCloud, HDS, DPF...) whose end date has passed, and
about adequacy decisions past their valid_until date:

  file:line:col: warning: message

Exit status: 0 when there is no error (warnings do not count, unless
--fail-on-warning), 1 otherwise.
`,
				Args: cobra.MaximumNArgs(1),
			}
			check.Flags().Bool("fail-on-warning", false, "exit 1 on warnings too (for a CI job that must see no expiring exception)")
			check.Flags().String("now", "", "check exception expiry as of this date (YYYY-MM-DD) instead of today")
			check.Flags().Duration("expiry-warning", policy.DefaultExpiryWarning, "warn about exceptions that expire within this long")
			addPolicySourceFlags(check)
			check.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runPolicyCheck(fl, os.Stdout)
			})

			format := &cobra.Command{
				Use:   "fmt [PATH...]",
				Short: "Format Rego files in the canonical style of 'opa fmt'",
				Long: `
Formats Rego files (*.rego) in the canonical style of 'opa fmt', so that a
change shows only what it changes. PATH is a file or a directory (searched
recursively); without PATH, the policy directory (--policies, --config).

Like gofmt, it prints the formatted files to standard output unless told:

  -l, --list    list the files whose formatting differs
  -d, --diff    print the changes as a unified diff
  -w, --write   rewrite the files in place
      --fail    exit 1 when a file is not formatted (for CI)

Exit status: 0, or 1 on a file that does not parse (its problems are
printed as file:line:col: message) or, with --fail, a file to format.
`,
			}
			format.Flags().BoolP("list", "l", false, "list files whose formatting differs")
			format.Flags().BoolP("diff", "d", false, "print a unified diff of the changes")
			format.Flags().BoolP("write", "w", false, "write the formatted files in place")
			format.Flags().Bool("fail", false, "exit 1 when a file is not formatted")
			addPolicySourceFlags(format)
			format.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runPolicyFmt(fl, os.Stdout)
			})

			bundleCmd := &cobra.Command{
				Use:   "bundle DIR --signing-key KEY",
				Short: "Build a signed policy bundle (OPA bundle format) from a policy directory",
				Long: `
Builds a signed OPA bundle (.tar.gz) from a policy directory, for gateways
whose policies option is the bundle's URL. The directory must pass the
gate a gateway applies (it compiles and its tests pass), so a bundle that
would be refused is never built.

The bundle holds the policy files (tests included: every gateway runs them
again before activating the bundle), a .manifest naming the revision, and a
.signatures.json: a JWT over the digest of every file, signed with the
private key KEY (PEM, RSA or ECDSA). Gateways verify it with the public key
(option policy_public_key) and refuse unsigned or wrongly signed bundles.

Serve the file from any web server that sends an ETag (Caddy's
file_server, nginx, Apache, an object store); see the policy guide.

Examples:
  sovgate policy bundle /etc/sovgate/policies --signing-key dpo-signing.pem
  sovgate policy bundle policies/ --signing-key k.pem --output /srv/bundles/sovgate.tar.gz
`,
				Args: cobra.MaximumNArgs(1),
			}
			bundleCmd.Flags().String("signing-key", "", "PEM private key (RSA or ECDSA) to sign the bundle with (required)")
			bundleCmd.Flags().String("signing-alg", "", "JWS algorithm (default: RS256 for RSA keys, ES256/ES384/ES512 for ECDSA keys by curve)")
			bundleCmd.Flags().StringP("output", "o", "bundle.tar.gz", "where to write the bundle")
			addPolicySourceFlags(bundleCmd)
			bundleCmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runPolicyBundle(fl, os.Stdout)
			})
			initCmd := &cobra.Command{
				Use:   "init DIR",
				Short: "Write a copy of the default policy to a new directory",
				Long: `
Writes the default policy bundle built into sovgate (sovgate/*.rego, their
tests and sovgate/data.json) to DIR, to start a policy of your own: edit it,
test it, and point the gateway's policies option at DIR. Existing files are
never overwritten.
`,
				Args: cobra.ExactArgs(1),
			}
			initCmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runPolicyInit(fl, os.Stdout)
			})
			cmd.AddCommand(test, check, format, bundleCmd, initCmd)
		},
	})
}

func addPolicySourceFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("config", "c", "", "Caddyfile or JSON config whose sovereignty block names the policy directory")
	cmd.Flags().StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile*)")
	cmd.Flags().String("policies", "", "policy directory (same as DIR)")
}

// policyDir finds the directory a policy command works on: DIR, --policies,
// the policies option of --config; "" for the embedded bundle.
func policyDir(fl caddycmd.Flags) (string, error) {
	dir := fl.Arg(0)
	if dir == "" {
		dir = fl.String("policies")
	}
	if dir == "" && fl.String("config") != "" {
		app, err := loadApp(fl)
		if err != nil {
			return "", err
		}
		dir = app.Policies
		if strings.HasPrefix(dir, "https://") || strings.HasPrefix(dir, "http://") {
			return "", fmt.Errorf("the policies of %s come from the bundle server %s: run this command on the policy directory the bundle is built from", fl.String("config"), dir)
		}
	}
	if dir == "" {
		return "", nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("policy directory: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("policy directory %s: not a directory", dir)
	}
	return dir, nil
}

// policySource finds the bundle a policy command works on.
func policySource(fl caddycmd.Flags) (policy.Bundle, error) {
	dir, err := policyDir(fl)
	if err != nil {
		return policy.Bundle{}, err
	}
	if dir == "" {
		return policy.EmbeddedBundle(), nil
	}
	return policy.DirBundle(dir), nil
}

// printDiagnostics prints policy problems, one per line, and says how many.
func printDiagnostics(w io.Writer, src policy.Bundle, err error, l lang.Lang) error {
	if diags, ok := errors.AsType[policy.Diagnostics](err); ok {
		for _, d := range diags {
			fmt.Fprintln(w, d.String())
		}
		return fmt.Errorf(lang.Choose(l, "%s does not compile: %d problem(s)", "%s ne compile pas : %d problème(s)"), src.Name(), len(diags))
	}
	return err
}

func runPolicyTest(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	src, err := policySource(fl)
	if err != nil {
		return 1, err
	}
	verbose, _ := fl.GetBool("verbose")
	coverage, _ := fl.GetBool("coverage")
	format := fl.String("format")
	if format != "text" && format != "json" {
		return 1, fmt.Errorf("--format %q: use text or json", format)
	}
	l, err := langFlag(fl)
	if err != nil {
		return 1, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var report io.Writer = stdout
	if format == "json" {
		report = io.Discard
	} else if l == lang.French {
		fr := &frenchTestReport{w: stdout}
		defer fr.Flush()
		report = fr
	}
	summary, err := policy.RunTests(ctx, src, policy.TestOptions{Run: fl.String("run"), Verbose: verbose, Coverage: coverage}, report)
	if f, ok := report.(*frenchTestReport); ok {
		f.Flush()
	}
	if err != nil {
		return 1, printDiagnostics(stdout, src, err, l)
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(summary); err != nil {
			return 1, err
		}
	} else if summary.Coverage != nil {
		writeCoverage(stdout, summary.Coverage, l)
	}
	if summary.Total() == 0 {
		return 1, fmt.Errorf(lang.Choose(l, "%s has no tests (rules named test_* in *_test.rego files)",
			"%s ne contient aucun test (règles nommées test_* dans des fichiers *_test.rego)"), src.Name())
	}
	if !summary.OK() {
		// Caddy's command runner turns status 1 into 0 unless an error
		// comes with it.
		return 1, fmt.Errorf(lang.Choose(l, "%d of %d policy tests failed or errored",
			"%d tests de la politique sur %d ont échoué ou sont en erreur"), summary.Failed+summary.Errored, summary.Total())
	}
	return 0, nil
}

func writeCoverage(w io.Writer, c *policy.Coverage, l lang.Lang) {
	fmt.Fprintln(w, "--------------------------------------------------------------------------------")
	fmt.Fprintln(w, lang.Choose(l, "COVERAGE (lines of the policy the tests evaluated)",
		"COUVERTURE (lignes de la politique que les tests évaluent)"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range c.Files {
		ranges := make([]string, len(f.NotCovered))
		for i, r := range f.NotCovered {
			ranges[i] = r.String()
		}
		missed := ""
		if len(ranges) > 0 {
			missed = lang.Choose(l, "not covered: lines ", "non couvertes : lignes ") + strings.Join(ranges, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.File, coveragePercent(l, f.Percent), missed)
	}
	tw.Flush()
	total := c.CoveredLines + c.NotCoveredLines
	if l == lang.French {
		fmt.Fprintf(w, "TOTAL : %s (%d lignes sur %d)\n", coveragePercent(l, c.Percent), c.CoveredLines, total)
		return
	}
	fmt.Fprintf(w, "TOTAL: %.1f%% (%d of %d lines)\n", c.Percent, c.CoveredLines, total)
}

// coveragePercent writes a share of lines: " 93.5%", "93,5 %".
func coveragePercent(l lang.Lang, p float64) string {
	if l == lang.French {
		return strings.Replace(strconv.FormatFloat(p, 'f', 1, 64), ".", ",", 1) + "\u202f%"
	}
	return fmt.Sprintf("%5.1f%%", p)
}

func runPolicyCheck(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	src, err := policySource(fl)
	if err != nil {
		return 1, err
	}
	opts := policy.CheckOptions{ExpiryWarning: fl.Duration("expiry-warning")}
	if opts.ExpiryWarning == 0 {
		opts.ExpiryWarning = -1 // --expiry-warning 0: no warnings
	}
	if now := fl.String("now"); now != "" {
		day, err := time.Parse(time.DateOnly, now)
		if err != nil {
			return 1, fmt.Errorf("--now %q: want a date YYYY-MM-DD", now)
		}
		opts.Now = day
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	diags, err := policy.CheckWithOptions(ctx, src, opts)
	if err != nil {
		return 1, err
	}
	errs, warnings := 0, 0
	for _, d := range diags {
		fmt.Fprintln(stdout, d.String())
		if d.IsWarning() {
			warnings++
		} else {
			errs++
		}
	}
	failOnWarning, _ := fl.GetBool("fail-on-warning")
	switch {
	case errs > 0:
		return 1, fmt.Errorf("%s: %d problem(s), %d warning(s)", src.Name(), errs, warnings)
	case warnings > 0 && failOnWarning:
		return 1, fmt.Errorf("%s: %d warning(s) (--fail-on-warning)", src.Name(), warnings)
	case warnings > 0:
		fmt.Fprintf(stdout, "%s: ok, %d warning(s)\n", src.Name(), warnings)
	default:
		fmt.Fprintf(stdout, "%s: ok\n", src.Name())
	}
	return 0, nil
}

func runPolicyFmt(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	list, _ := fl.GetBool("list")
	diff, _ := fl.GetBool("diff")
	write, _ := fl.GetBool("write")
	fail, _ := fl.GetBool("fail")
	paths := fl.Args()
	if len(paths) == 0 {
		dir, err := policyDir(fl)
		if err != nil {
			return 1, err
		}
		if dir == "" {
			return 1, errors.New("give the files or directories to format (or --policies DIR)")
		}
		paths = []string{dir}
	}
	files, err := regoFiles(paths)
	if err != nil {
		return 1, err
	}
	var broken, unformatted int
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			return 1, err
		}
		out, err := policy.Format(file, src)
		if err != nil {
			broken++
			if diags, ok := errors.AsType[policy.Diagnostics](err); ok {
				for _, d := range diags {
					fmt.Fprintln(stdout, d.String())
				}
			} else {
				fmt.Fprintf(stdout, "%s: %v\n", file, err)
			}
			continue
		}
		changed := !bytes.Equal(src, out)
		if changed {
			unformatted++
		}
		switch {
		case list || diff || write:
			if !changed {
				continue
			}
			if list {
				fmt.Fprintln(stdout, file)
			}
			if diff {
				io.WriteString(stdout, unifiedDiff(file, string(src), string(out)))
			}
			if write {
				st, err := os.Stat(file)
				if err != nil {
					return 1, err
				}
				if err := os.WriteFile(file, out, st.Mode().Perm()); err != nil {
					return 1, err
				}
			}
		default:
			stdout.Write(out)
		}
	}
	switch {
	case broken > 0:
		return 1, fmt.Errorf("%d file(s) do not parse", broken)
	case fail && unformatted > 0:
		return 1, fmt.Errorf("%d file(s) are not formatted (sovgate policy fmt -w to fix)", unformatted)
	}
	return 0, nil
}

// regoFiles expands paths into the .rego files they name, in order (hidden
// directories skipped, as the policy loader does).
func regoFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".rego") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func runPolicyBundle(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	src, err := policySource(fl)
	if err != nil {
		return 1, err
	}
	keyFile := fl.String("signing-key")
	if keyFile == "" {
		return 1, errors.New("--signing-key is required: gateways refuse unsigned bundles")
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return 1, fmt.Errorf("--signing-key: %w", err)
	}
	// One snapshot is tested and bundled: the bytes tested are the bytes
	// shipped.
	snap, err := src.Snapshot()
	if err != nil {
		return 1, printDiagnostics(stdout, src, err, lang.English)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	engine, err := policy.LoadTested(ctx, snap)
	if err != nil {
		if tf, ok := errors.AsType[*policy.TestFailure](err); ok {
			io.WriteString(stdout, tf.Report)
			return 1, fmt.Errorf("%s: %d of %d tests fail: no bundle written (a gateway would refuse it)", src.Name(), tf.Summary.Failed+tf.Summary.Errored, tf.Summary.Total())
		}
		return 1, printDiagnostics(stdout, src, err, lang.English)
	}
	var buf bytes.Buffer
	revision, err := policy.WriteBundle(&buf, snap, policy.SignOptions{PrivateKey: key, Algorithm: fl.String("signing-alg")})
	if err != nil {
		return 1, err
	}
	out := fl.String("output")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 1, err
	}
	// Written next to its final name and renamed: a web server never
	// serves half a bundle.
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return 1, err
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return 1, err
	}
	sum := sha256.Sum256(buf.Bytes())
	fmt.Fprintf(stdout, "%s: revision %s, %d tests passed, signed\n", out, revision, engine.Tests().Passed)
	fmt.Fprintf(stdout, "sha256 %s, %d bytes\n", hex.EncodeToString(sum[:]), buf.Len())
	return 0, nil
}

func runPolicyInit(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	dir := fl.Arg(0)
	src := policy.EmbeddedBundle()
	// Refuse before writing anything: no half-initialised directory.
	err := fs.WalkDir(src.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if _, err := os.Lstat(target); err == nil {
			return fmt.Errorf("%s already exists: init never overwrites a policy", target)
		}
		return nil
	})
	if err != nil {
		return 1, err
	}
	var written []string
	err = fs.WalkDir(src.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(src.FS, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists: init never overwrites a policy", target)
			}
			return err
		}
		if _, err := f.Write(raw); err != nil {
			f.Close()
			return err
		}
		written = append(written, target)
		return f.Close()
	})
	if err != nil {
		return 1, err
	}
	e, err := policy.LoadDir(context.Background(), dir)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "%s: the default policy, revision %s (%d files)\n", dir, e.Revision(), len(written))
	return 0, nil
}
