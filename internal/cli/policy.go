package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/sovgate/sovgate/policy"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "policy",
		Usage: "test|check [DIR]",
		Short: "Test and check Rego policies (for DPO staff)",
		Long: `
Work on the Rego policies that decide every transfer.

  sovgate policy test [DIR]    run the policy's unit tests, like 'opa test'
  sovgate policy check [DIR]   compile strictly and report problems as
                               file:line:col: message

DIR is a policy directory laid out like the embedded bundle (sovgate/*.rego,
sovgate/data.json, tests in *_test.rego). Without DIR, the directory comes
from --policies, else from the policies option of --config, else the
embedded default bundle is used.

A gateway only activates a policy whose tests pass, so run both commands
before deploying a change.
`,
		CobraFunc: func(cmd *cobra.Command) {
			test := &cobra.Command{
				Use:   "test [DIR]",
				Short: "Run the Rego unit tests of a policy directory (exit 0 pass, 1 fail)",
				Long: `
Runs every rule named test_* of the policy directory with OPA's test runner
and prints a report in the format of 'opa test': failures always, every test
with --verbose, then the PASS/FAIL counts.

Exit status: 0 when every test passes, 1 when one fails or errors, or when
the files do not compile (problems are printed as file:line:col: message).

Examples:
  sovgate policy test policies/
  sovgate policy test --run exception -v /etc/sovgate/policies
`,
				Args: cobra.MaximumNArgs(1),
			}
			test.Flags().StringP("run", "r", "", "only run tests whose name matches this regular expression")
			test.Flags().BoolP("verbose", "v", false, "list every test, not only failures")
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
exception without an expiry date). Each problem is printed as

  file:line:col: code: message

Exit status: 0 when there is nothing to report, 1 otherwise.
`,
				Args: cobra.MaximumNArgs(1),
			}
			addPolicySourceFlags(check)
			check.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runPolicyCheck(fl, os.Stdout)
			})
			cmd.AddCommand(test, check)
		},
	})
}

func addPolicySourceFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("config", "c", "", "Caddyfile or JSON config whose sovereignty block names the policy directory")
	cmd.Flags().StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile*)")
	cmd.Flags().String("policies", "", "policy directory (same as DIR)")
}

// policySource finds the bundle a policy command works on.
func policySource(fl caddycmd.Flags) (policy.Bundle, error) {
	dir := fl.Arg(0)
	if dir == "" {
		dir = fl.String("policies")
	}
	if dir == "" && fl.String("config") != "" {
		app, err := loadApp(fl)
		if err != nil {
			return policy.Bundle{}, err
		}
		dir = app.Policies
	}
	if dir == "" {
		return policy.EmbeddedBundle(), nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return policy.Bundle{}, fmt.Errorf("policy directory: %w", err)
	}
	if !st.IsDir() {
		return policy.Bundle{}, fmt.Errorf("policy directory %s: not a directory", dir)
	}
	return policy.DirBundle(dir), nil
}

func runPolicyTest(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	src, err := policySource(fl)
	if err != nil {
		return 1, err
	}
	verbose, _ := fl.GetBool("verbose")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	summary, err := policy.RunTests(ctx, src, policy.TestOptions{Run: fl.String("run"), Verbose: verbose}, stdout)
	if err != nil {
		var diags policy.Diagnostics
		if errors.As(err, &diags) {
			for _, d := range diags {
				fmt.Fprintln(stdout, d.String())
			}
			return 1, fmt.Errorf("%s does not compile: %d problem(s)", src.Name(), len(diags))
		}
		return 1, err
	}
	if summary.Total() == 0 {
		return 1, fmt.Errorf("%s has no tests (rules named test_* in *_test.rego files)", src.Name())
	}
	if !summary.OK() {
		// Caddy's command runner turns status 1 into 0 unless an error
		// comes with it.
		return 1, fmt.Errorf("%d of %d policy tests failed or errored", summary.Failed+summary.Errored, summary.Total())
	}
	return 0, nil
}

func runPolicyCheck(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	src, err := policySource(fl)
	if err != nil {
		return 1, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	diags, err := policy.Check(ctx, src)
	if err != nil {
		return 1, err
	}
	for _, d := range diags {
		fmt.Fprintln(stdout, d.String())
	}
	if len(diags) > 0 {
		return 1, fmt.Errorf("%s: %d problem(s)", src.Name(), len(diags))
	}
	fmt.Fprintf(stdout, "%s: ok\n", src.Name())
	return 0, nil
}
