package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// migration is one step of the schema. Steps are applied in order, each in
// its own transaction, and recorded in audit_schema_migrations; a store
// is never downgraded.
type migration struct {
	version     int
	description string
	// sql holds the statements; {{rowid}} is replaced by " WITHOUT ROWID"
	// on SQLite, "" on PostgreSQL, and {{blob}} by BLOB or BYTEA.
	sql []string
	// run, when set, runs after the statements, in the same transaction:
	// the steps that compute new columns of existing rows.
	run func(ctx context.Context, s *sqlStore, tx *sql.Tx) error
}

// migrations of the audit schema. Never edit a released step: add one.
//
// audit_log holds every chained entry of every node. The hash of an entry
// covers its columns (Entry.Canonical), so an edit of any column is found
// by verification; its tree column holds the Merkle tree hashes its leaf
// stored. audit_tags indexes the multi-valued filters (country, provider,
// reason) of decision entries; verification checks that it matches the
// entries. audit_heads keeps each chain's head and tree root. audit_tree
// keeps the tree hashes that purged entries took with them and that later
// proofs still need. audit_checkpoints keeps the signed checkpoints, with
// the cosignatures of witnesses, that proofs of single records use (they
// are signed: the copy here is for convenience, not trust).
var migrations = []migration{
	{
		version:     1,
		description: "audit log, tag index, chain heads",
		sql: []string{
			`CREATE TABLE audit_log (
	node TEXT NOT NULL,
	seq BIGINT NOT NULL,
	kind TEXT NOT NULL,
	id TEXT NOT NULL,
	time BIGINT NOT NULL,
	app TEXT NOT NULL DEFAULT '',
	source_ip TEXT NOT NULL DEFAULT '',
	method TEXT NOT NULL DEFAULT '',
	scheme TEXT NOT NULL DEFAULT '',
	host TEXT NOT NULL DEFAULT '',
	port BIGINT NOT NULL DEFAULT 0,
	path TEXT NOT NULL DEFAULT '',
	addresses TEXT NOT NULL DEFAULT '',
	verdict TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL DEFAULT '',
	mode TEXT NOT NULL DEFAULT '',
	reasons TEXT NOT NULL DEFAULT '',
	policy_revision TEXT NOT NULL DEFAULT '',
	duration_us BIGINT NOT NULL DEFAULT 0,
	bytes_up BIGINT NOT NULL DEFAULT 0,
	bytes_down BIGINT NOT NULL DEFAULT 0,
	detail TEXT NOT NULL DEFAULT '',
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,
	PRIMARY KEY (node, seq)
)`,
			`CREATE UNIQUE INDEX audit_log_id ON audit_log (id, kind)`,
			`CREATE INDEX audit_log_time ON audit_log (time, id) WHERE kind = 'decision'`,
			`CREATE INDEX audit_log_app ON audit_log (app, time) WHERE kind = 'decision'`,
			`CREATE INDEX audit_log_host ON audit_log (host, time) WHERE kind = 'decision'`,
			`CREATE INDEX audit_log_verdict ON audit_log (verdict, time) WHERE kind = 'decision'`,
			`CREATE TABLE audit_tags (
	tag TEXT NOT NULL,
	time BIGINT NOT NULL,
	id TEXT NOT NULL,
	PRIMARY KEY (tag, time, id)
){{rowid}}`,
			`CREATE TABLE audit_heads (
	node TEXT PRIMARY KEY,
	seq BIGINT NOT NULL,
	hash TEXT NOT NULL,
	time BIGINT NOT NULL
)`,
		},
	},
	{
		version:     2,
		description: "Merkle tree of each chain",
		sql: []string{
			`ALTER TABLE audit_log ADD COLUMN tree {{blob}}`,
			`ALTER TABLE audit_heads ADD COLUMN root {{blob}}`,
			`CREATE TABLE audit_tree (
	node TEXT NOT NULL,
	idx BIGINT NOT NULL,
	hash {{blob}} NOT NULL,
	PRIMARY KEY (node, idx)
){{rowid}}`,
		},
		run: buildTrees,
	},
	{
		version:     3,
		description: "signed checkpoints",
		sql: []string{
			`CREATE TABLE audit_checkpoints (
	node TEXT NOT NULL,
	size BIGINT NOT NULL,
	note TEXT NOT NULL,
	time BIGINT NOT NULL,
	PRIMARY KEY (node, size)
){{rowid}}`,
		},
	},
}

// SchemaVersion is the schema this build writes.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the schema to SchemaVersion. With onlyIfNeeded, a store
// already at the current version is not written to (a read-only auditor
// account can query it).
func (s *sqlStore) migrate(ctx context.Context) error {
	current, err := s.schemaVersion(ctx)
	if err != nil {
		return err
	}
	latest := SchemaVersion()
	if current > latest {
		return fmt.Errorf("the audit store has schema version %d, newer than this sovgate's (%d): upgrade sovgate", current, latest)
	}
	if current == latest {
		return nil
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("audit schema migration %d (%s): %w", m.version, m.description, err)
		}
	}
	return nil
}

func (s *sqlStore) schemaVersion(ctx context.Context) (int, error) {
	var exists bool
	var err error
	if s.postgres {
		err = s.db.QueryRowContext(ctx, `SELECT to_regclass('audit_schema_migrations') IS NOT NULL`).Scan(&exists)
	} else {
		var n int
		err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_schema_migrations'`).Scan(&n)
		exists = n > 0
	}
	if err != nil {
		return 0, fmt.Errorf("reading the audit schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM audit_schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the audit schema version: %w", err)
	}
	return int(v.Int64), nil
}

func (s *sqlStore) apply(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.postgres {
		// Two gateways starting at once: one migrates, the other waits.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7340062101)`); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS audit_schema_migrations (
	version BIGINT PRIMARY KEY,
	description TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`); err != nil {
		return err
	}
	var done int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM audit_schema_migrations WHERE version = ?`), m.version).Scan(&done); err != nil {
		return err
	}
	if done > 0 { // another gateway got there first
		return tx.Commit()
	}
	dialect := strings.NewReplacer("{{rowid}}", "", "{{blob}}", "BYTEA")
	if !s.postgres {
		dialect = strings.NewReplacer("{{rowid}}", " WITHOUT ROWID", "{{blob}}", "BLOB")
	}
	for _, stmt := range m.sql {
		if _, err := tx.ExecContext(ctx, dialect.Replace(stmt)); err != nil {
			return err
		}
	}
	if m.run != nil {
		if err := m.run(ctx, s, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)`),
		m.version, m.description, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}
