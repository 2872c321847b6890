package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/proof"
	"github.com/sovgate/sovgate/audit/store"
)

func newAuditProveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prove ID [--config FILE | --audit STORE] [--checkpoints DIR] [-o FILE]",
		Short: "Print the proof that one decision is in the audit log (exit 0)",
		Long: `
Prints a self-contained proof, in JSON, that the decision ID is in the audit
log as it is: the record, the entries it was stored as (the decision, and the
bytes and duration of its exchange once it ended), the proof that each is in
the Merkle tree of its gateway's chain, and the signed checkpoint of that
tree (with the witnesses' cosignatures).

Send the file to whoever needs to check that one decision (an auditor, the
CNIL, for a complaint): 'sovgate audit verify-proof --key VERIFIERKEY FILE'
checks it with the gateway's verifier key alone, without access to the store
or the configuration. Any change to any byte of the file makes it fail.

The checkpoint is the latest the store keeps that covers the decision, or one
of --checkpoints DIR. A decision made in the last seconds has none yet: the
gateway signs one every audit_checkpoint_interval (10s by default).

Examples:
  sovgate audit prove 019ad5c2-7c1e-7a51-9b0e-4f1e6b2c8d10 --config /etc/caddy/Caddyfile -o decision.proof.json
  sovgate audit query --id 019ad5c2-7c1e-7a51-9b0e-4f1e6b2c8d10   # the same record, unproved
`,
		Args: cobra.ExactArgs(1),
	}
	addStoreFlags(cmd)
	cmd.Flags().StringArray("checkpoints", nil, "directory (or file) of signed checkpoints to take the checkpoint from (repeatable)")
	cmd.Flags().StringP("output", "o", "", "write the proof to this file instead of standard output")
	cmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
		return runAuditProve(fl, fl.Arg(0), os.Stdout)
	})
	return cmd
}

func runAuditProve(fl caddycmd.Flags, id string, stdout io.Writer) (int, error) {
	dirs, _ := fl.GetStringArray("checkpoints")
	extra, err := readCheckpoints(dirs, os.Stderr)
	if err != nil {
		return 1, err
	}
	return withAuditStore(fl, func(ctx context.Context, st store.Store) (int, error) {
		view, release, err := st.Snapshot(ctx)
		if err != nil {
			return 1, err
		}
		defer release()
		p, err := proof.Build(ctx, view, strings.TrimSpace(id), extra)
		if err != nil {
			return 1, err
		}
		data, err := p.Encode()
		if err != nil {
			return 1, err
		}
		if path := fl.String("output"); path != "" {
			return writeFile(path, data)
		}
		_, err = stdout.Write(data)
		return 0, err
	})
}

func writeFile(path string, data []byte) (int, error) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return 1, err
	}
	return 0, nil
}

func newAuditVerifyProofCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify-proof --key VERIFIERKEY FILE",
		Short: "Check the proof of one decision, with no store and no configuration (exit 0 valid, 4 not)",
		Long: `
Checks a proof made by 'sovgate audit prove': that the checkpoint in it is
signed by the gateway's key (and every cosignature by its witness's), that
each entry is the one its hash says, that each is in the tree of the
checkpoint, and that the record shown is the one the entries hold. It needs
nothing but the file and the verifier keys: no store, no configuration, no
network.

--key is the gateway's verifier key ('sovgate audit key' prints it), or a
file of keys, one a line; give the key of each witness that cosigned too
(the error names them). Get the keys from the city by another way than the
proof itself.

FILE is the proof ('-' reads standard input). The file must be exactly as
prove wrote it: a change to any byte, even one that would leave the JSON
meaning the same, makes it fail.

Exit status: 0 valid, 4 not valid, 1 error (file or key unreadable).

Example:
  sovgate audit verify-proof --key gw-lyon-1+3b1c9a2e+AWq... decision.proof.json
`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringArray("key", nil, "verifier key of the gateway (and of each witness), or a file of them (repeatable; required)")
	cmd.Flags().String("format", "text", "output format: text or json (the proof's record)")
	cmd.SilenceErrors = true
	cmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
		return runAuditVerifyProof(fl, fl.Arg(0), os.Stdin, os.Stdout)
	})
	return cmd
}

func runAuditVerifyProof(fl caddycmd.Flags, file string, stdin io.Reader, stdout io.Writer) (int, error) {
	args, _ := fl.GetStringArray("key")
	if len(args) == 0 {
		return 1, errors.New("give the gateway's verifier key with --key (sovgate audit key prints it)")
	}
	keys, err := checkpoint.ParseVerifiers(args)
	if err != nil {
		return 1, err
	}
	format := fl.String("format")
	if format != "text" && format != "json" {
		return 1, fmt.Errorf("--format %q: use text or json", format)
	}
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 16<<20))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return 1, err
	}
	v, err := proof.Check(data, note.VerifierList(keys...))
	if err != nil {
		fmt.Fprintf(stdout, "PROOF NOT VALID (%s): %v\n", file, err)
		return exitTampered, nil
	}
	if format == "json" {
		enc, err := json.MarshalIndent(v.Proof.Record, "", "  ")
		if err == nil {
			_, err = stdout.Write(append(enc, '\n'))
		}
		return 0, err
	}
	r := v.Proof.Record
	fmt.Fprintf(stdout, "proof valid: decision %s is entry %d of the audit log of %s, in the tree of %d entries signed by %s\n",
		r.ID, v.Proof.Entries[0].Entry.Seq, v.Signed.Origin, v.Signed.Size, strings.Join(v.Signed.Signers, ", "))
	fmt.Fprintf(stdout, "  %s  app %s  %s %s:%d  verdict %s, %s (%s mode)", r.Time.UTC().Format(time.RFC3339), r.App, r.Method, r.Host, r.Port, r.Verdict, r.Action, r.Mode)
	if len(r.Reasons) > 0 {
		fmt.Fprintf(stdout, "  reasons %s", joinCodes(r.Reasons))
	}
	fmt.Fprintln(stdout)
	if r.Completed {
		fmt.Fprintf(stdout, "  exchange ended: %d bytes up, %d bytes down, %d µs\n", r.BytesUp, r.BytesDown, r.DurationUS)
	}
	return 0, nil
}
