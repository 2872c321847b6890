package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/term"

	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/verify"
	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
)

func newAuditVerifyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify [--checkpoints DIR]... [--key VERIFIERKEY]... [--from NODE:SIZE]... [--anchor NODE:SEQ:HASH]...",
		Short: "Check that the audit log was not altered (exit 0 intact, 4 tampered)",
		Long: `
Walks every chain of the audit log (one per gateway node), recomputes each
record's SHA-256 hash and the chain's Merkle tree, and compares the log with
the signed checkpoints kept outside the database.

Any record edited, deleted, inserted or reordered breaks the chain: verify
prints the first broken record and exits 4. Records purged by the retention
option are accounted for by a retention checkpoint record.

The chain alone cannot show a rewrite by someone with write access to the
database: the end of the log cut and its head moved back, a record deleted
and every later one re-hashed, or every table emptied. The signed
checkpoints can. The gateway signs the size and root hash of its chain every
10 seconds and appends each checkpoint to its audit_checkpoints directory
(kept on another machine) and sends it to witnesses. Give that directory, or
a witness's, with --checkpoints (default: the audit_checkpoints of --config):
the log must agree with every checkpoint whose signature holds. If it does
not, verify exits 4 naming the node and the tree size where the log and the
checkpoint part.

Signatures are checked with the gateways' verifier keys: --key (a key, or a
file of keys; 'sovgate audit key' prints them), else the key of --config's
gateway when it can be read.

A full verify reads the whole log. --from NODE:SIZE starts after the tree
size of a checkpoint verified earlier (the end of the last run prints it):
only the records added since are read. Run a full verify now and then: it
also checks the index the query filters use.

Exit status: 0 intact, 4 tampered, 1 error (store unreachable, bad option).

Examples:
  sovgate audit verify --config /etc/caddy/Caddyfile
  sovgate audit verify --audit postgres://auditor@db/sovgate --checkpoints /mnt/witness --key gateways.txt
  sovgate audit verify --config /etc/caddy/Caddyfile --from gw-lyon-1:4811203
  sovgate audit verify --anchor gw-lyon-1:48213:9f2c...e1
`,
		Args: cobra.NoArgs,
	}
	addStoreFlags(cmd)
	fs := cmd.Flags()
	fs.StringArray("checkpoints", nil, "directory (or file) of signed checkpoints to compare the log with (repeatable; default: the audit_checkpoints of --config)")
	fs.StringArray("key", nil, "verifier key of a gateway, or a file of them (repeatable; default: the key of --config's gateway)")
	fs.StringArray("from", nil, "start after the checkpoint of NODE at tree SIZE, verified earlier (repeatable: one per node)")
	fs.StringArray("anchor", nil, "a chain head recorded elsewhere, as node:seq:hash (repeatable)")
	fs.String("format", "text", "output format: text or json")
	fs.Bool("progress", true, "show progress on a terminal")
	// Exit status 4 (tampered) is an answer, not a failure.
	cmd.SilenceErrors = true
	cmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
		return runAuditVerify(fl, os.Stdout, os.Stderr)
	})
	return cmd
}

func runAuditVerify(fl caddycmd.Flags, stdout, stderr io.Writer) (int, error) {
	format := fl.String("format")
	if format != "text" && format != "json" {
		return 1, fmt.Errorf("--format %q: use text or json", format)
	}
	var opts verify.Options
	anchors, _ := fl.GetStringArray("anchor")
	for _, a := range anchors {
		h, err := verify.ParseAnchor(a)
		if err != nil {
			return 1, err
		}
		opts.Anchors = append(opts.Anchors, h)
	}
	app, err := auditApp(fl)
	if err != nil {
		return 1, err
	}
	dirs, err := checkpointSources(fl, app, &opts)
	if err != nil {
		return 1, err
	}
	if opts.From, err = parseFrom(fl); err != nil {
		return 1, err
	}
	if f, ok := stderr.(*os.File); ok && fl.Bool("progress") && term.IsTerminal(int(f.Fd())) {
		opts.Progress = progressPrinter(stderr)
	}
	return withAuditStore(fl, func(ctx context.Context, st store.Store) (int, error) {
		res, err := verify.Log(ctx, st, opts)
		if err != nil {
			return 1, fmt.Errorf("verifying the audit store: %w", err)
		}
		if format == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				return 1, err
			}
		} else {
			writeVerifyText(stdout, st.Describe(), dirs, res)
		}
		if !res.OK() {
			return exitTampered, nil
		}
		return exitIntact, nil
	})
}

// checkpointSources reads the checkpoints verify compares the log with,
// and the keys that check them; it returns the places they came from.
func checkpointSources(fl caddycmd.Flags, app *sovereignty.App, opts *verify.Options) ([]string, error) {
	dirs, _ := fl.GetStringArray("checkpoints")
	if len(dirs) == 0 && app.AuditCheckpoints != "" && flagString(fl, "config") != "" {
		dirs = []string{app.AuditCheckpoints}
	}
	if len(dirs) == 0 {
		return nil, nil
	}
	var err error
	if opts.Checkpoints, err = readCheckpoints(dirs, os.Stderr); err != nil {
		return nil, err
	}
	keys, err := verifierKeys(fl, app)
	if err != nil {
		return nil, err
	}
	opts.Keys = note.VerifierList(keys...)
	return dirs, nil
}

// readCheckpoints reads the checkpoints of directories (or files); the
// damaged parts of a file are warnings, written to warn.
func readCheckpoints(dirs []string, warn io.Writer) ([]checkpoint.Raw, error) {
	var all []checkpoint.Raw
	for _, dir := range dirs {
		raws, problems, err := checkpoint.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		all = append(all, raws...)
		for _, p := range problems {
			fmt.Fprintf(warn, "warning: %s\n", p)
		}
	}
	return all, nil
}

// verifierKeys are the keys given with --key, else the verifier key of the
// configured gateway's signing key (when this user can read it).
func verifierKeys(fl caddycmd.Flags, app *sovereignty.App) ([]note.Verifier, error) {
	args, _ := fl.GetStringArray("key")
	if len(args) > 0 {
		return checkpoint.ParseVerifiers(args)
	}
	path, err := app.AuditSigningKeyFile()
	if err == nil {
		var k checkpoint.Key
		if k, err = checkpoint.ReadKey(path); err == nil {
			return checkpoint.ParseVerifiers([]string{k.Verifier})
		}
	}
	return nil, fmt.Errorf("give the gateways' verifier keys with --key (sovgate audit key prints them): %v", err)
}

// parseFrom reads --from NODE:SIZE.
func parseFrom(fl caddycmd.Flags) (map[string]int64, error) {
	args, _ := fl.GetStringArray("from")
	return parseFromArgs(args)
}

func parseFromArgs(args []string) (map[string]int64, error) {
	if len(args) == 0 {
		return nil, nil
	}
	from := make(map[string]int64, len(args))
	for _, arg := range args {
		i := strings.LastIndexByte(arg, ':')
		size, err := strconv.ParseInt(arg[i+1:], 10, 64)
		if i <= 0 || err != nil || size < 1 {
			return nil, fmt.Errorf("--from %q: want NODE:SIZE, as the last verify printed it", arg)
		}
		from[arg[:i]] = size
	}
	return from, nil
}

// progressPrinter shows, on one terminal line, how far the walk is.
func progressPrinter(w io.Writer) func(verify.Progress) {
	var last time.Time
	return func(p verify.Progress) {
		if !p.Finished && time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		pct := 100
		if p.Total > 0 {
			pct = int(100 * p.Done / p.Total)
		}
		fmt.Fprintf(w, "\rverifying %s: %s of %s entries (%d%%)   ", p.Node, thousands(p.Done), thousands(p.Total), pct)
		if p.Finished {
			fmt.Fprint(w, "\r\033[K")
		}
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func writeVerifyText(w io.Writer, storeName string, dirs []string, res *verify.Result) {
	for _, ig := range res.Ignored {
		fmt.Fprintf(w, "checkpoint ignored: %s\n", ig)
	}
	if !res.OK() {
		b := res.Break
		fmt.Fprintf(w, "AUDIT LOG TAMPERED (%s)\n", storeName)
		if b.TreeSize > 0 {
			fmt.Fprintf(w, "the log and a signed checkpoint diverge: node %s, tree size %d (checkpoint %s)", b.Node, b.TreeSize, b.Checkpoint)
			if b.AgreesUpTo > 0 {
				fmt.Fprintf(w, "; the log agrees with the checkpoint of tree size %d", b.AgreesUpTo)
			}
			fmt.Fprintln(w)
		} else if b.Node != "" {
			fmt.Fprintf(w, "first broken record: node %s, entry %d\n", b.Node, b.Seq)
		}
		fmt.Fprintf(w, "reason: %s\n", b.Reason)
		if b.Entry != nil {
			raw, err := json.MarshalIndent(b.Entry, "", "  ")
			if err == nil {
				fmt.Fprintf(w, "the record as stored:\n%s\n", raw)
			}
		}
		return
	}
	var entries, decisions int64
	for _, c := range res.Chains {
		entries += c.Entries
		decisions += c.Decisions
	}
	tags := fmt.Sprintf("tag index %d rows", res.TagRows)
	incremental := false
	for _, c := range res.Chains {
		incremental = incremental || c.From > 0
	}
	if incremental {
		tags = "tag index not checked (incremental verify)"
	}
	fmt.Fprintf(w, "audit log intact (%s): %d chain(s), %d entries, %d decisions; %s\n",
		storeName, len(res.Chains), entries, decisions, tags)
	for _, c := range res.Chains {
		span := fmt.Sprintf("entries %d-%d", c.First, c.Last)
		switch {
		case c.From > 0:
			span += fmt.Sprintf(" (1-%d verified before)", c.From)
		case c.First > 1:
			span += fmt.Sprintf(" (1-%d purged by retention)", c.First-1)
		case c.Entries == 0:
			span = "no entries"
		}
		decisions := fmt.Sprintf("%d decisions", c.Decisions)
		if c.Merged > 0 {
			decisions += fmt.Sprintf(" (%d with their completion in the same entry)", c.Merged)
		}
		fmt.Fprintf(w, "  node %s: %s: %s, %d completions, %d retention checkpoints; head %s:%d:%s\n",
			c.Node, span, decisions, c.Completions, c.Checkpoints, c.Node, c.Last, c.Head)
		if len(dirs) > 0 {
			fmt.Fprintf(w, "    agrees with %d signed checkpoint(s) of %s", c.Signed, strings.Join(dirs, ", "))
			if c.Verified > 0 {
				fmt.Fprintf(w, "; next time: --from %s:%d", c.Node, c.Verified)
			}
			fmt.Fprintln(w)
		}
	}
	if len(dirs) == 0 {
		fmt.Fprintln(w, "no signed checkpoints given: a log cut or rewritten by someone with write access to the database would not show (--checkpoints DIR)")
	}
}

func newAuditKeyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key [--config FILE | --audit STORE | --key FILE]",
		Short: "Print the verifier key of the gateway's checkpoint signing key (exit 0)",
		Long: `
Prints the verifier key (name+hash+key, the note format of the Go checksum
database) of the Ed25519 key with which the gateway signs the checkpoints of
its audit chain. Give it to the auditors, who check checkpoints and proofs
with it, and to each witness (sovgate witness --log KEY).

The key file is the audit_signing_key option, else beside a SQLite store
(audit.db.key), else under Caddy's data directory (PostgreSQL); the gateway
makes it at its first start. The private key is never printed.

Examples:
  sovgate audit key --config /etc/caddy/Caddyfile
  sovgate audit key --key /var/lib/sovgate/audit.db.key > gw-lyon-1.vkey
`,
		Args: cobra.NoArgs,
	}
	addStoreFlags(cmd)
	cmd.Flags().String("key", "", "the signing key file (default: from the configuration)")
	cmd.Flags().String("node", "", "the gateway's node name, for the default key file of a PostgreSQL store (default: from the configuration, else the host name)")
	cmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
		return runAuditKey(fl, os.Stdout)
	})
	return cmd
}

func runAuditKey(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	path := fl.String("key")
	if path == "" {
		app, err := auditApp(fl)
		if err != nil {
			return 1, err
		}
		if node := fl.String("node"); node != "" {
			app.Node = node
		}
		if path, err = app.AuditSigningKeyFile(); err != nil {
			return 1, err
		}
	}
	k, err := checkpoint.ReadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 1, fmt.Errorf("no signing key at %s yet: the gateway makes it at its first start with this audit store (or give --key FILE)", path)
	}
	if err != nil {
		return 1, err
	}
	fmt.Fprintln(stdout, k.Verifier)
	return 0, nil
}
