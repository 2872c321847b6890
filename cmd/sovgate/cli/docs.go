package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manpageCommand writes a manual page per command (section 8: sovgate is
// run by administrators), from the same text as --help.
func manpageCommand(root *cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "manpage --directory DIR",
		Short: "Writes the manual pages of sovgate and its commands",
		Long: `
Writes one manual page per command (sovgate.8, sovgate-run.8,
sovgate-check.8, ...) into DIR, creating it if needed. The pages hold the
same text as --help. The Debian package installs them; to read one from a
source build:

	$ sovgate manpage --directory /tmp/man && man /tmp/man/sovgate-check.8
`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := strings.TrimSpace(cmd.Flag("directory").Value.String())
			if dir == "" {
				return &cliError{status: exitUsage, err: fmt.Errorf("--directory is required")}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			header := &doc.GenManHeader{Title: "SOVGATE", Section: "8", Source: "sovgate " + readVersion().Sovgate.Version, Manual: "sovgate manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("writing the manual pages to %s: %w", dir, err)
			}
			return nil
		},
	}
	cmd.Flags().StringP("directory", "o", "", "directory to write the pages into")
	return cmd
}

// completionCommand prints a shell completion script.
func completionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Prints the shell completion script for sovgate",
		Long: `
Prints a script that teaches your shell sovgate's commands and flags. The
Debian package installs the bash, zsh and fish scripts. Otherwise:

	bash:  $ sovgate completion bash > /etc/bash_completion.d/sovgate
	       or, for this shell only: $ source <(sovgate completion bash)
	zsh:   $ sovgate completion zsh > "${fpath[1]}/_sovgate"
	fish:  $ sovgate completion fish > ~/.config/fish/completions/sovgate.fish
`,
		DisableFlagsInUseLine: true,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs)(cmd, args); err != nil {
				return &cliError{status: exitUsage, err: err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return cmd.Root().GenBashCompletionV2(out, true)
			case "zsh":
				return cmd.Root().GenZshCompletion(out)
			case "fish":
				return cmd.Root().GenFishCompletion(out, true)
			default:
				return cmd.Root().GenPowerShellCompletionWithDesc(out)
			}
		},
	}
}
