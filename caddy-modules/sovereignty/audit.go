package sovereignty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/audit/ingest"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/internal/appdirs"
)

// The audit trail: the store named by the audit option, behind a writer
// (queue, batches, spool) that lives in sharedResources, so a reload keeps
// its queue, its spool and its database connections.

type pooledAudit struct{ w *ingest.Writer }

// Destruct flushes what is queued (to the store, or the spool) and closes
// the store, when the last configuration using it is gone.
func (p pooledAudit) Destruct() error {
	err := p.w.Close()
	if cerr := p.w.Store().Close(); err == nil {
		err = cerr
	}
	return err
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
		if a.AuditSync != "" || a.Retention != 0 || a.RecordPath || a.AuditSpool != "" {
			a.logger.Warn("audit_sync, retention, record_path and audit_spool apply to the audit store, and no audit store is configured (option audit); decisions go to the sovgate.decision log only")
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
		return probeAudit(ctx, a.Audit, spool)
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
		return pooledAudit{w}, nil
	})
	if err != nil {
		return fmt.Errorf("sovereignty: %w", err)
	}
	a.pooled = append(a.pooled, key)
	w := val.(pooledAudit).w
	w.SetLogger(logger)
	w.SetRetention(node, time.Duration(a.Retention), 0)
	if err := ingest.RegisterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("sovereignty: audit metrics: %w", err)
	}
	a.auditWriter = w
	a.journal.Recorder = w.Recorder(ingest.RecorderConfig{Strict: strict, RecordPath: a.RecordPath})
	a.logger.Info("audit store ready",
		zap.String("store", w.Store().Describe()), zap.String("spool", spool),
		zap.Bool("strict", strict), zap.Duration("retention", time.Duration(a.Retention)), zap.Bool("record_path", a.RecordPath))
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

// auditStatus adds the audit counters to the status document.
func (a *App) auditStatus(st *Status) {
	if a.auditWriter == nil {
		return
	}
	s := a.auditWriter.Stats()
	st.Audit = &s
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
