package sovereignty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/ingest"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/internal/appdirs"
)

// The audit trail: the store named by the audit option, behind a writer
// (queue, batches, spool), and the publisher of signed checkpoints of this
// node's chain. Both live in sharedResources, so a reload keeps the queue,
// the spool, the database connections and the witnesses' state.

type pooledAudit struct {
	w   *ingest.Writer
	pub *checkpoint.Publisher
}

// Destruct flushes what is queued (to the store, or the spool), signs a
// last checkpoint of what the store holds, and closes the store, when the
// last configuration using them is gone.
func (p pooledAudit) Destruct() error {
	err := p.w.Close()
	p.pub.Close()
	if cerr := p.w.Store().Close(); err == nil {
		err = cerr
	}
	return err
}

// AuditWitness is one witness of the audit_witness option.
type AuditWitness struct {
	// URL is the witness's submission prefix: checkpoints are POSTed to
	// URL/add-checkpoint.
	URL string `json:"url"`
	// Key is the witness's verifier key; when given, an answer not signed
	// by it counts as a failure.
	Key string `json:"key,omitempty"`
}

// parseAuditWitness reads `audit_witness URL [KEY]`.
func parseAuditWitness(args []string) (AuditWitness, error) {
	if len(args) == 0 || len(args) > 2 {
		return AuditWitness{}, fmt.Errorf("want the witness's URL, and optionally its verifier key")
	}
	w := AuditWitness{URL: args[0]}
	if len(args) == 2 {
		w.Key = args[1]
	}
	_, err := checkpoint.NewWitnessClient(w.URL, w.Key)
	return w, err
}

// NodeName names this gateway in records and checkpoints: the node
// option, else the host name.
func (a *App) NodeName() string {
	if a.Node != "" {
		return a.Node
	}
	host, _ := os.Hostname()
	return host
}

// AuditSigningKeyFile is the key that signs checkpoints: the
// audit_signing_key option, else beside a SQLite store (audit.db.key),
// else, for PostgreSQL, in sovgate's state directory (/var/lib/sovgate for
// a service), one per node.
func (a *App) AuditSigningKeyFile() (string, error) {
	if a.AuditSigningKey != "" {
		return filepath.Abs(a.AuditSigningKey)
	}
	kind, target, err := store.ParseLocation(a.Audit)
	if err != nil {
		return "", err
	}
	if kind == "sqlite" {
		return filepath.Abs(target + ".key")
	}
	return filepath.Join(appdirs.Data(), "audit-signing-"+url.PathEscape(a.NodeName())+".key"), nil
}

// signingKeyFile checks that node can name checkpoints, and finds the
// key file.
func (a *App) signingKeyFile(node string) (string, error) {
	if !checkpoint.ValidOrigin(node) {
		return "", fmt.Errorf("sovereignty: node %q cannot name this gateway's signed audit checkpoints (no space or plus sign): set the node option", node)
	}
	path, err := a.AuditSigningKeyFile()
	if err != nil {
		return "", fmt.Errorf("sovereignty: audit_signing_key: %w", err)
	}
	return path, nil
}

// checkKeyName refuses a key named after another node.
func checkKeyName(key checkpoint.Key, path, node string) error {
	if name := key.Signer.Name(); name != node {
		return fmt.Errorf("sovereignty: audit_signing_key: the key in %s is named %q, but this gateway's node is %q: checkpoints are signed by a key named after their node (set node %s, or give another key file; a missing one is generated)", path, name, node, name)
	}
	return nil
}

// probeCheckpoints checks the checkpoint settings, creating nothing (see
// CheckOnly): a key file that exists must be a good key of this node, one
// that does not must be creatable, and so must the checkpoint directory.
func (a *App) probeCheckpoints(node string) error {
	path, err := a.signingKeyFile(node)
	if err != nil {
		return err
	}
	key, err := checkpoint.ReadKey(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := appdirs.CheckWritable(path); err != nil {
			return fmt.Errorf("sovereignty: audit_signing_key: %w", err)
		}
	case err != nil:
		return fmt.Errorf("sovereignty: audit_signing_key: %w", err)
	default:
		if err := checkKeyName(key, path, node); err != nil {
			return err
		}
	}
	if a.AuditCheckpoints != "" {
		if err := appdirs.CheckWritable(a.AuditCheckpoints); err != nil {
			return fmt.Errorf("sovereignty: audit_checkpoints: %w", err)
		}
	}
	for _, w := range a.AuditWitnesses {
		if _, err := checkpoint.NewWitnessClient(w.URL, w.Key); err != nil {
			return fmt.Errorf("sovereignty: audit_witness: %w", err)
		}
	}
	return nil
}

// provisionCheckpoints loads (or makes) the signing key and gives the
// publisher this configuration's checkpoint settings.
func (a *App) provisionCheckpoints(pub *checkpoint.Publisher, node string, logger *zap.Logger) error {
	path, err := a.signingKeyFile(node)
	if err != nil {
		return err
	}
	key, created, err := checkpoint.LoadOrCreateKey(path, node)
	if err != nil {
		return fmt.Errorf("sovereignty: audit_signing_key: %w", err)
	}
	if err := checkKeyName(key, path, node); err != nil {
		return err
	}
	if created {
		logger.Warn("audit signing key generated: give its verifier key to the auditors and witnesses (sovgate audit key prints it)",
			zap.String("file", path), zap.String("verifier_key", key.Verifier))
	}
	cfg := checkpoint.Config{Node: node, Key: key, Interval: time.Duration(a.AuditCheckpointInterval), Logger: logger}
	if a.AuditCheckpoints != "" {
		if cfg.Dir, err = filepath.Abs(a.AuditCheckpoints); err != nil {
			return fmt.Errorf("sovereignty: audit_checkpoints: %w", err)
		}
	}
	for _, w := range a.AuditWitnesses {
		c, err := checkpoint.NewWitnessClient(w.URL, w.Key)
		if err != nil {
			return fmt.Errorf("sovereignty: audit_witness: %w", err)
		}
		cfg.Witnesses = append(cfg.Witnesses, c)
	}
	pub.Configure(cfg)
	a.auditPublisher = pub
	return nil
}

// AuditSpoolDir is where records wait while the store is unreachable: the
// audit_spool option, else beside a SQLite store (audit.db.spool), else,
// for PostgreSQL, in sovgate's state directory (/var/lib/sovgate for a
// service).
func (a *App) AuditSpoolDir() (string, error) {
	if a.AuditSpool != "" {
		return filepath.Abs(a.AuditSpool)
	}
	kind, target, err := store.ParseLocation(a.Audit)
	if err != nil {
		return "", err
	}
	if kind == "sqlite" {
		return filepath.Abs(target + ".spool")
	}
	sum := sha256.Sum256([]byte(store.Redact(a.Audit)))
	return filepath.Join(appdirs.Data(), "audit-spool-"+hex.EncodeToString(sum[:6])), nil
}

// provisionAudit opens the audit store (a bad store fails the
// configuration, and `sovgate validate`) and gives the journal its
// recorder.
func (a *App) provisionAudit(ctx caddy.Context, node string) error {
	if a.Audit == "" {
		if a.AuditSync != "" || a.Retention != 0 || a.RecordPath || a.AuditSpool != "" || a.AuditCheckpoints != "" || a.AuditSigningKey != "" || len(a.AuditWitnesses) > 0 {
			a.logger.Warn("audit_sync, retention, record_path, audit_spool and the audit checkpoint options apply to the audit store, and no audit store is configured (option audit); decisions go to the sovgate.decision log only")
		}
		return nil
	}
	strict, err := parseAuditSync(a.AuditSync)
	if err != nil {
		return fmt.Errorf("sovereignty: audit_sync: %w", err)
	}
	if a.Retention < 0 {
		return fmt.Errorf("sovereignty: retention must be positive (e.g. 400d)")
	}
	spool, err := a.AuditSpoolDir()
	if err != nil {
		return fmt.Errorf("sovereignty: audit: %w", err)
	}
	if checkOnly.Load() {
		if err := probeAudit(ctx, a.Audit, spool); err != nil {
			return err
		}
		return a.probeCheckpoints(node)
	}
	logger := a.logger.Named("audit")
	key := "audit|" + a.Audit + "|" + spool
	val, _, err := sharedResources.LoadOrNew(key, func() (caddy.Destructor, error) {
		openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := store.Open(openCtx, a.Audit)
		if err != nil {
			return nil, err
		}
		w := ingest.NewWriter(s, ingest.WriterConfig{
			SpoolDir:     spool,
			HeadInterval: time.Duration(a.AuditHeadInterval),
			Logger:       logger,
		})
		return pooledAudit{w, checkpoint.NewPublisher(s, w.Heads)}, nil
	})
	if err != nil {
		return fmt.Errorf("sovereignty: %w", err)
	}
	a.pooled = append(a.pooled, key)
	pooled := val.(pooledAudit)
	w := pooled.w
	w.SetLogger(logger)
	w.SetRetention(node, time.Duration(a.Retention), 0)
	if err := a.provisionCheckpoints(pooled.pub, node, logger); err != nil {
		return err
	}
	for _, register := range []func(prometheus.Registerer) error{ingest.RegisterMetrics, checkpoint.RegisterMetrics} {
		if err := register(ctx.GetMetricsRegistry()); err != nil {
			return fmt.Errorf("sovereignty: audit metrics: %w", err)
		}
	}
	a.auditWriter = w
	a.journal.Recorder = w.Recorder(ingest.RecorderConfig{Strict: strict, RecordPath: a.RecordPath})
	a.logger.Info("audit store ready",
		zap.String("store", w.Store().Describe()), zap.String("spool", spool),
		zap.Bool("strict", strict), zap.Duration("retention", time.Duration(a.Retention)), zap.Bool("record_path", a.RecordPath),
		zap.String("checkpoints", a.AuditCheckpoints), zap.Int("witnesses", len(a.AuditWitnesses)))
	return nil
}

// probeAudit checks that the store could be opened and the spool made,
// creating neither (see CheckOnly).
func probeAudit(ctx context.Context, location, spool string) error {
	probeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := store.Probe(probeCtx, location); err != nil {
		return fmt.Errorf("sovereignty: %w", err)
	}
	if err := appdirs.CheckWritable(spool); err != nil {
		return fmt.Errorf("sovereignty: audit spool: %w", err)
	}
	return nil
}

// startAudit launches the writer (it takes the spool's lock: `sovgate
// validate` never gets here).
func (a *App) startAudit() error {
	if a.auditWriter == nil {
		return nil
	}
	if err := a.auditWriter.Start(); err != nil {
		return fmt.Errorf("sovereignty: audit: %w", err)
	}
	a.auditPublisher.Start()
	return nil
}

// AuditWriter returns the audit writer, nil without an audit store.
func (a *App) AuditWriter() *ingest.Writer { return a.auditWriter }

func parseAuditSync(s string) (strict bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "batched":
		return false, nil
	case "strict":
		return true, nil
	}
	return false, fmt.Errorf("%q: use strict (fsync each record before forwarding) or batched (the default: on disk within a second)", s)
}

// AuditStatus is the audit part of the status document: the writer's
// counters, and the checkpoints'.
type AuditStatus struct {
	ingest.Stats
	Checkpoints checkpoint.Stats `json:"checkpoints"`
}

// auditStatus adds the audit counters to the status document.
func (a *App) auditStatus(st *Status) {
	if a.auditWriter == nil {
		return
	}
	s := a.auditWriter.Stats()
	cp := a.auditPublisher.Stats()
	st.Audit = &AuditStatus{Stats: s, Checkpoints: cp}
	st.Counters["audit_checkpoints_signed"] = cp.Signed
	st.Counters["audit_checkpoint_size"] = cp.LastSize
	st.Counters["audit_witness_cosignatures"] = cp.Cosigned
	st.Counters["audit_witness_failures"] = cp.WitnessFailures
	st.Counters["audit_written"] = s.Written
	st.Counters["audit_spooled"] = s.Spooled
	st.Counters["audit_replayed"] = s.Replayed
	st.Counters["audit_dropped"] = s.Dropped
	st.Counters["audit_queue_depth"] = int64(s.QueueDepth)
	st.Counters["audit_spool_pending"] = s.SpoolPending
}

// handleAudit serves GET /sovereignty/audit?<filters>: the decision
// records, newest first, one page at a time (follow next_cursor).
func (a *adminAPI) handleAudit(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed; use GET", r.Method)}
	}
	if a.app == nil || a.app.auditWriter == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no audit store is configured (sovereignty option audit)")}
	}
	f, err := store.FilterFromQuery(r.URL.Query(), time.Now())
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	page, err := a.app.auditWriter.Store().Query(ctx, f)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("querying the audit store: %w", err)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(page)
}
