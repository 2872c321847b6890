package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/internal/appdirs"
)

func init() {
	replacedCommands["validate"] = caddycmd.Command{
		Name:  "validate",
		Usage: "[--config FILE] [--adapter NAME]",
		Short: "Checks a configuration without running it, and without writing anything",
		Long: `
Loads the configuration (default: ./Caddyfile) and prepares every part of
it as 'sovgate run' would, without serving: the policy is compiled and its
tests run, the GeoIP and provider databases are opened, the credentials file
is read, the audit store is reached. An error names the file, the line and
the option.

Validation writes nothing: a log file, an audit database or a spool
directory that does not exist yet is not created; sovgate checks instead
that it could create it (its directory exists or can be made, and is
writable by this user). Run validate as the user the gateway runs as
(sudo -u sovgate sovgate validate --config /etc/sovgate/Caddyfile) to check
that user's rights.

Exit status: 0 valid, 1 invalid.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().StringP("config", "c", "", "configuration file (default: ./Caddyfile)")
			cmd.Flags().StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile*)")
			cmd.Args = cobra.NoArgs
			cmd.RunE = runCommandFunc(cmdValidate)
		},
	}
}

func cmdValidate(fl caddycmd.Flags) (int, error) {
	configFile := fl.String("config")
	if configFile == "" {
		if _, err := os.Stat("Caddyfile"); err != nil {
			return exitUsage, fmt.Errorf("no configuration to validate: give --config FILE (there is no Caddyfile in this directory)")
		}
		configFile = "Caddyfile"
	}
	cfgJSON, _, _, err := caddycmd.LoadConfig(configFile, fl.String("adapter"))
	if err != nil {
		return exitError, err
	}
	var cfg *caddy.Config
	if err := caddy.StrictUnmarshalJSON(caddy.RemoveMetaFields(cfgJSON), &cfg); err != nil {
		return exitError, fmt.Errorf("%s: decoding the configuration: %w", configFile, err)
	}
	if err := checkLogWriters(cfg); err != nil {
		return exitError, fmt.Errorf("%s: %w", configFile, err)
	}
	sovereignty.CheckOnly()
	err = caddy.Validate(cfg)
	// Provisioning installed the configuration's own logger; errors of
	// this command are plain lines again.
	usePlainErrorLog(os.Stderr)
	if err != nil {
		return exitError, err
	}
	fmt.Println("Valid configuration")
	return exitOK, nil
}

// checkLogWriters checks that every log file the configuration names could
// be written, then sends those logs nowhere for the validation, since
// opening a log file creates it. The default log, which only carries
// provisioning chatter here, goes nowhere too: an error is what the admin
// needs, and this command prints it.
func checkLogWriters(cfg *caddy.Config) error {
	if cfg.Logging == nil {
		cfg.Logging = new(caddy.Logging)
	}
	if cfg.Logging.Logs == nil {
		cfg.Logging.Logs = map[string]*caddy.CustomLog{}
	}
	if _, ok := cfg.Logging.Logs[caddy.DefaultLoggerName]; !ok {
		cfg.Logging.Logs[caddy.DefaultLoggerName] = new(caddy.CustomLog)
	}
	names := make([]string, 0, len(cfg.Logging.Logs))
	for name := range cfg.Logging.Logs {
		names = append(names, name)
	}
	slices.Sort(names)
	discard := json.RawMessage(`{"output":"discard"}`)
	for _, name := range names {
		l := cfg.Logging.Logs[name]
		var w struct {
			Output   string `json:"output"`
			Filename string `json:"filename"`
		}
		if len(l.WriterRaw) > 0 {
			if err := json.Unmarshal(l.WriterRaw, &w); err != nil {
				return fmt.Errorf("log %s: writer: %w", name, err)
			}
		}
		if w.Output == "file" {
			if err := checkLogFile(w.Filename); err != nil {
				return fmt.Errorf("log %s: %w", name, err)
			}
		}
		if w.Output == "file" || name == caddy.DefaultLoggerName {
			l.WriterRaw = discard
		}
	}
	return nil
}

func checkLogFile(path string) error {
	if path == "" {
		return errors.New("output file has no file name")
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("output file %s is a directory", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("output file %s: %w", path, err)
	}
	if err := appdirs.CheckWritable(path); err != nil {
		return fmt.Errorf("output file: %w", err)
	}
	return nil
}
