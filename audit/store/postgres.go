package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sovgate/sovgate/audit/chain"
)

// openPostgres connects to the PostgreSQL store at a postgres:// URL and
// migrates its schema. Errors never show the password.
func openPostgres(ctx context.Context, location string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(location)
	if err != nil {
		return nil, fmt.Errorf("audit store %s: %s", Redact(location), redactErr(err, location))
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit store %s: %s", Redact(location), redactErr(err, location))
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &sqlStore{db: db, pool: pool, postgres: true, desc: Redact(location)}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("audit store %s: %s", s.desc, redactErr(err, location))
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("audit store %s: %s", s.desc, redactErr(err, location))
	}
	return s, nil
}

// appendPG is Append on PostgreSQL: the batch travels with COPY (binary),
// the fastest way in.
func (s *sqlStore) appendPG(ctx context.Context, entries []*chain.Entry, dedupe bool) ([]chain.Head, int, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if dedupe {
		ids := make([]string, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		rows, err := tx.Query(ctx, `SELECT kind, id FROM audit_log WHERE id = ANY($1)`, ids)
		if err != nil {
			return nil, 0, err
		}
		existing := make(map[[2]string]bool)
		for rows.Next() {
			var k, id string
			if err := rows.Scan(&k, &id); err != nil {
				rows.Close()
				return nil, 0, err
			}
			existing[[2]string{k, id}] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
		kept := entries[:0:0]
		for _, e := range entries {
			k := [2]string{e.Kind, e.ID}
			if !existing[k] {
				existing[k] = true
				kept = append(kept, e)
			}
		}
		entries = kept
		if len(entries) == 0 {
			return nil, 0, tx.Commit(ctx)
		}
	}
	order, byNode := groupByNode(entries)
	heads := make([]chain.Head, 0, len(order))
	for _, node := range order {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_heads (node, seq, hash, time) VALUES ($1, 0, $2, 0) ON CONFLICT (node) DO NOTHING`, node, chain.GenesisHash); err != nil {
			return nil, 0, err
		}
		h := chain.Head{Node: node}
		var root []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash, time, root FROM audit_heads WHERE node = $1 FOR UPDATE`, node).Scan(&h.Seq, &h.Hash, &h.Time, &root); err != nil {
			return nil, 0, err
		}
		copy(h.Root[:], root)
		h, err := s.extend(ctx, pgxQuery(tx), h, byNode[node])
		if err != nil {
			return nil, 0, err
		}
		heads = append(heads, h)
	}
	rows := make([][]any, len(entries))
	var tagRows [][]any
	for i, e := range entries {
		rows[i] = entryValues(e, make([]any, 0, entryColumnCount))
		tags, _ := e.Tags()
		for _, t := range tags {
			tagRows = append(tagRows, []any{t, e.Time, e.ID})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_log"}, entryColumnNames, pgx.CopyFromRows(rows)); err != nil {
		return nil, 0, err
	}
	if len(tagRows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_tags"}, []string{"tag", "time", "id"}, pgx.CopyFromRows(tagRows)); err != nil {
			return nil, 0, err
		}
	}
	for _, h := range heads {
		if _, err := tx.Exec(ctx, `UPDATE audit_heads SET seq = $1, hash = $2, time = $3, root = $4 WHERE node = $5`, h.Seq, h.Hash, h.Time, h.Root[:], h.Node); err != nil {
			return nil, 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, err
	}
	return heads, len(entries), nil
}
