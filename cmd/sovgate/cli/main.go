package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sovgate/sovgate/internal/appdirs"
)

// Exit statuses shared by every command, with exitError (1). A command may
// add its own above these (check: 3 denied; audit verify: 4 tampered).
const (
	exitOK    = 0
	exitUsage = 2 // unknown command or flag, wrong arguments
)

// removedCommands are Caddy commands that have no place in sovgate:
// upgrade, add-package and remove-package download a stock Caddy build
// from Caddy's servers and put it in the place of this binary, which would
// silently remove the gateway's policy checks.
var removedCommands = []string{"upgrade", "add-package", "remove-package"}

// Main runs the sovgate command line and exits. It replaces caddycmd.Main:
// the command tree is sovgate's (its own version, validate and help, no
// commands that would replace the binary), errors are one plain line on
// stderr, and sovgate keeps its own directories.
func Main() {
	sampleHeapOnlyWhenAsked()
	useSovgateDirectories()
	log := usePlainErrorLog(os.Stderr)
	root := newRootCommand()
	cmd, err := root.ExecuteC()
	os.Exit(reportError(cmd, err, log, os.Stderr))
}

// sampleHeapOnlyWhenAsked turns Go's heap profiler off unless GODEBUG
// sets memprofilerate. The profiler samples one allocation in every
// 512 KiB by default and records its call stack for good: under a gateway's
// load, its hash table of stacks and their records kept about 1 MiB
// resident (docs/PERFORMANCE.md). Heap profiles, from the admin endpoint's
// /debug/pprof/heap, need the gateway started with, for example,
// GODEBUG=memprofilerate=524288 (docs/admin-guide.md).
func sampleHeapOnlyWhenAsked() {
	if !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		runtime.MemProfileRate = 0
	}
}

// useSovgateDirectories points Caddy's data and configuration directories
// (storage, autosave, instance id) into sovgate's own: under
// /var/lib/sovgate for a service, ~/.local/share/sovgate and
// ~/.config/sovgate for a user. Caddy reads XDG_DATA_HOME and
// XDG_CONFIG_HOME each time it needs a directory, so setting them covers
// every module; the SOVGATE_* variables keep a child process (sovgate
// start runs sovgate run) on the same directories.
func useSovgateDirectories() {
	data, config := appdirs.Data(), appdirs.Config()
	os.Setenv(appdirs.DataEnv, data)
	os.Setenv(appdirs.ConfigEnv, config)
	os.Setenv("XDG_DATA_HOME", data)
	os.Setenv("XDG_CONFIG_HOME", config)
	caddy.ConfigAutosavePath = filepath.Join(config, "autosave.json")
	caddy.DefaultStorage = &certmagic.FileStorage{Path: caddy.AppDataDir()}
}

// usePlainErrorLog makes Caddy's default logger, until a configuration
// installs its own, print warnings and errors as plain lines
// ("sovgate: ...") and drop informational chatter: the command-line tools
// report errors through that logger, and an admin at a terminal or a
// script reading stderr wants a sentence, not a JSON object. A gateway
// that starts serving logs as its configuration says.
func usePlainErrorLog(w io.Writer) *plainLog {
	log := &plainLog{w: zapcore.AddSync(w)}
	caddy.BufferedLog()
	caddy.UnbufferDefaultLogger(zap.New(plainCore{log: log}))
	return log
}

// plainLog is where the plain log writes; it remembers the last error it
// wrote, so that the same error is not printed twice.
type plainLog struct {
	mu        sync.Mutex
	w         zapcore.WriteSyncer
	lastError string
}

func (l *plainLog) wrote(msg string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastError == msg
}

// plainCore is a zap core that writes "sovgate: message (key: value)" for
// warnings and errors.
type plainCore struct {
	log    *plainLog
	fields []zapcore.Field
}

func (c plainCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

func (c plainCore) With(fields []zapcore.Field) zapcore.Core {
	return plainCore{log: c.log, fields: append(slices.Clip(c.fields), fields...)}
}

func (c plainCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c plainCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(slices.Clip(c.fields), fields...) {
		f.AddTo(enc)
	}
	var b strings.Builder
	b.WriteString("sovgate: ")
	if e.Level == zapcore.WarnLevel {
		b.WriteString("warning: ")
	}
	b.WriteString(oneLine(e.Message))
	if v, ok := enc.Fields["error"]; ok {
		fmt.Fprintf(&b, ": %s", oneLine(fmt.Sprint(v)))
		delete(enc.Fields, "error")
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(&b, "%s%s: %v", sep, k, enc.Fields[k])
		if i == len(keys)-1 {
			b.WriteString(")")
		}
	}
	b.WriteString("\n")
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	if e.Level >= zapcore.ErrorLevel {
		c.log.lastError = oneLine(e.Message)
	}
	_, err := io.WriteString(c.log.w, b.String())
	return err
}

func (c plainCore) Sync() error { return c.log.w.Sync() }

// oneLine folds a multi-line message onto one line, so that one error is
// one line of stderr.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// cliError is an error with the exit status it calls for.
type cliError struct {
	status int
	err    error
}

func (e *cliError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.status)
	}
	return e.err.Error()
}
func (e *cliError) Unwrap() error { return e.err }

// reportError prints err as one line, unless the command already logged
// it, and returns the exit status.
func reportError(cmd *cobra.Command, err error, log *plainLog, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	status, silent := exitStatus(err)
	if strings.HasPrefix(err.Error(), "unknown command ") {
		status = exitUsage // cobra's own error, of no type of its own
	}
	// Caddy's command wrapper logs the error itself, through the plain log.
	alreadyReported := silent || log.wrote(oneLine(err.Error()))
	if !alreadyReported {
		fmt.Fprintf(stderr, "sovgate: %s\n", oneLine(err.Error()))
		if status == exitUsage && cmd != nil {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return status
}

// exitStatus finds the status an error carries, and whether it is a bare
// status with nothing to say (check's "denied" is an answer, not an
// error). Caddy's command wrapper returns an unexported error type with
// ExitCode and Err fields for statuses above 1; they are read by
// reflection, since Caddy offers no accessor.
func exitStatus(err error) (status int, silent bool) {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.status, ce.err == nil
	}
	if v := reflect.ValueOf(err); v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		code, inner := v.Elem().FieldByName("ExitCode"), v.Elem().FieldByName("Err")
		if code.IsValid() && code.CanInt() {
			return int(code.Int()), inner.IsValid() && inner.Kind() == reflect.Interface && inner.IsNil()
		}
	}
	return exitError, false
}

// newRootCommand builds sovgate's command tree: Caddy's commands that make
// sense for a gateway, with their help speaking of sovgate, and sovgate's
// own.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sovgate",
		Short: "A data-sovereignty egress gateway",
		Long:  strings.TrimSpace(longDescription),
		Example: `  $ sovgate egress
  $ sovgate run --config /etc/sovgate/Caddyfile
  $ sovgate check https://bucket.s3.eu-west-3.amazonaws.com/
  $ sovgate status`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(readVersion()),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &cliError{status: exitUsage, err: err}
	})
	root.CompletionOptions.DisableDefaultCmd = true

	commands := caddycmd.Commands()
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(removedCommands, name) {
			continue
		}
		c := commands[name]
		if own, ok := replacedCommands[name]; ok {
			c = own
		}
		cmd := toCobra(c)
		if writtenForCaddy(c) {
			speakOfSovgate(cmd)
		}
		root.AddCommand(cmd)
	}
	root.AddCommand(manpageCommand(root), completionCommand())
	return root
}

// replacedCommands are Caddy commands whose sovgate version differs.
var replacedCommands = map[string]caddycmd.Command{}

// toCobra turns a registered command into a cobra command, as Caddy does,
// except that a plain CommandFunc reports its error as one line.
func toCobra(c caddycmd.Command) *cobra.Command {
	cmd := &cobra.Command{Use: c.Name + " " + c.Usage, Short: c.Short, Long: c.Long}
	if c.CobraFunc != nil {
		c.CobraFunc(cmd)
		return cmd
	}
	cmd.Flags().AddGoFlagSet(c.Flags)
	cmd.RunE = runCommandFunc(c.Func)
	return cmd
}

// runCommandFunc adapts a CommandFunc: its error, if any, becomes a
// cliError with the status it returned (1 when it returned 0 or 1 with an
// error), and a status above 1 without an error still exits with it.
func runCommandFunc(f caddycmd.CommandFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		status, err := f(caddycmd.Flags{FlagSet: cmd.Flags()})
		switch {
		case err != nil && status <= exitError:
			return &cliError{status: exitError, err: err}
		case err != nil || status > exitError:
			return &cliError{status: status, err: err}
		}
		return nil
	}
}

// writtenForCaddy tells whether a command comes from one of Caddy's
// packages, by the package of its function.
func writtenForCaddy(c caddycmd.Command) bool {
	var f any = c.Func
	if c.CobraFunc != nil {
		f = c.CobraFunc
	}
	fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer())
	return fn != nil && strings.HasPrefix(fn.Name(), "github.com/caddyserver/")
}

var (
	caddyWord      = regexp.MustCompile(`\bCaddy\b`)
	caddyCommand   = regexp.MustCompile(`\bcaddy (\w)`)
	caddyDocsLines = regexp.MustCompile(`(?m)^.*caddyserver\.com.*\n?`)
)

// speakOfSovgate rewrites the help of a command written for Caddy so it
// names sovgate ("Starts the sovgate process", "$ sovgate run") and drops
// links to Caddy's website, which documents a different product. The
// Caddyfile keeps its name: it is sovgate's configuration format too.
func speakOfSovgate(cmd *cobra.Command) {
	rewrite := func(s string) string {
		s = caddyDocsLines.ReplaceAllString(s, "")
		s = caddyCommand.ReplaceAllString(s, "sovgate $1")
		return caddyWord.ReplaceAllString(s, "sovgate")
	}
	cmd.Short = rewrite(cmd.Short)
	cmd.Long = rewrite(cmd.Long)
	cmd.Example = rewrite(cmd.Example)
	for _, sub := range cmd.Commands() {
		speakOfSovgate(sub)
	}
}
