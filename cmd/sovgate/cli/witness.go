package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/witness"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "witness",
		Usage: "--dir DIR --key FILE --log VERIFIERKEY... [--listen ADDR] [--name NAME]",
		Short: "Run a witness that cosigns the gateways' audit checkpoints",
		Long: `
Runs a small witness for the audit logs of sovgate gateways. Any other
department of the city (or the auditor) can run one, on a machine of its
own: the gateway's database administrators then cannot rewrite the log
unseen.

Each gateway sends the witness every checkpoint it signs (the size and root
hash of its audit chain, option audit_witness), with a proof that the new
chain extends the last one the witness cosigned. The witness checks the
gateway's signature and the proof, keeps the checkpoint, and answers with its
cosignature. It refuses a checkpoint that is smaller than the last one it
cosigned, or that comes with no valid consistency proof: a log cut or
rewritten after the fact gets no cosignature, and the refused checkpoint is
kept as evidence. The protocol is add-checkpoint of C2SP tlog-witness
(POST /add-checkpoint); GET /checkpoint/<node> shows the latest cosigned.

--dir DIR holds the witness's state: per gateway, the latest checkpoint it
cosigned and every one it cosigned (DIR/<node>/<day>.checkpoints), which
'sovgate audit verify --checkpoints DIR' reads. Back it up; a witness that
loses it must be replaced, not restarted empty.

--key FILE is the witness's own signing key, made at first start (mode 0600)
when absent. Its verifier key is printed at start: give it to the gateways
(audit_witness URL KEY) and to the auditors.

--log names a gateway the witness accepts, by its verifier key ('sovgate
audit key' prints it on the gateway), or a file of such keys, one a line.

Example:
  sovgate witness --dir /var/lib/sovgate-witness --key /etc/sovgate-witness/witness.key \
      --log gw-lyon-1+3b1c9a2e+AWq... --log /etc/sovgate-witness/gateways.txt --listen :7380
`,
		CobraFunc: func(cmd *cobra.Command) {
			fs := cmd.Flags()
			fs.String("dir", "", "directory of the witness's state and of the checkpoints it cosigned (required)")
			fs.String("key", "", "the witness's signing key file, made at first start when absent (required)")
			fs.StringArray("log", nil, "verifier key of a gateway to accept, or a file of them (repeatable; at least one)")
			fs.String("listen", "127.0.0.1:7380", "address to listen on (:7380 to accept gateways on other machines)")
			host, _ := os.Hostname()
			fs.String("name", host+"-witness", "name of the witness's key, when it is made")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdWitness)
		},
	})
}

func cmdWitness(fl caddycmd.Flags) (int, error) {
	dir, keyFile := fl.String("dir"), fl.String("key")
	if dir == "" || keyFile == "" {
		return 1, errors.New("give --dir DIR (the witness's state) and --key FILE (its signing key)")
	}
	logKeys, _ := fl.GetStringArray("log")
	logs, err := checkpoint.ParseVerifiers(logKeys)
	if err != nil {
		return 1, err
	}
	if len(logs) == 0 {
		return 1, errors.New("give the verifier key of each gateway to accept with --log (sovgate audit key prints it on the gateway)")
	}
	key, created, err := checkpoint.LoadOrCreateKey(keyFile, fl.String("name"))
	if err != nil {
		return 1, err
	}
	logger := caddy.Log().Named("sovgate.witness")
	w, err := witness.New(filepath.Clean(dir), key, logs, logger)
	if err != nil {
		return 1, err
	}
	ln, err := net.Listen("tcp", fl.String("listen"))
	if err != nil {
		return 1, fmt.Errorf("--listen: %w", err)
	}
	made := ""
	if created {
		made = " (new key, written to " + keyFile + ")"
	}
	fmt.Printf("sovgate witness %s listening on %s\nverifier key%s: %s\naccepting:", key.Signer.Name(), ln.Addr(), made, key.Verifier)
	for _, l := range logs {
		fmt.Printf(" %s", l.Name())
	}
	fmt.Println()
	srv := &http.Server{
		Handler:           w,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(logger),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return 1, err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return 1, err
	}
	return 0, nil
}
