package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/chain"
)

// Where the Merkle tree hashes live: each entry's tree column holds the
// hashes its leaf stored (see chain.Tree.Append); the hash of a subtree is
// with the subtree's last entry. When retention purges the first entries
// of a chain, the hashes of the largest subtrees they formed move to the
// audit_tree table first: every later proof and root needs those, and no
// other hash of the purged part.

// rows is what the two drivers' result sets have in common.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// queryFunc runs a query inside whatever transaction the caller holds
// (database/sql or pgx); done releases the rows.
type queryFunc func(ctx context.Context, query string, args ...any) (r rows, done func(), err error)

func sqlQuery(q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) queryFunc {
	return func(ctx context.Context, query string, args ...any) (rows, func(), error) {
		r, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, nil, err
		}
		return r, func() { r.Close() }, nil
	}
}

func pgxQuery(tx pgx.Tx) queryFunc {
	return func(ctx context.Context, query string, args ...any) (rows, func(), error) {
		r, err := tx.Query(ctx, query, args...)
		if err != nil {
			return nil, nil, err
		}
		return r, r.Close, nil
	}
}

// hashReader reads a node's stored tree hashes through query.
func (s *sqlStore) hashReader(ctx context.Context, query queryFunc, node string) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return s.readTreeHashes(ctx, query, node, indexes)
	})
}

// TreeHashes reads stored tree hashes of a node's chain, by tlog stored
// hash index (proofs and roots are computed from them).
func (s *sqlStore) TreeHashes(ctx context.Context, node string, indexes []int64) ([]tlog.Hash, error) {
	return s.readTreeHashes(ctx, sqlQuery(s.reader()), node, indexes)
}

func (s *sqlStore) readTreeHashes(ctx context.Context, query queryFunc, node string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	found := make([]bool, len(indexes))
	seqs := make([]any, 0, len(indexes)+1)
	seqs = append(seqs, node)
	for _, idx := range indexes {
		seq, _ := chain.StoredAt(idx)
		seqs = append(seqs, seq)
	}
	err := scanAll(ctx, query, s.q(`SELECT seq, tree FROM audit_log WHERE node = ? AND seq IN (`+placeholders(len(indexes))+`)`), seqs, func(r rows) error {
		var seq int64
		var tree []byte
		if err := r.Scan(&seq, &tree); err != nil {
			return err
		}
		for i, idx := range indexes {
			if at, level := chain.StoredAt(idx); at == seq {
				out[i], found[i] = chain.StoredHash(tree, level)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var missing []any
	for i, idx := range indexes {
		if !found[i] {
			missing = append(missing, idx)
		}
	}
	if len(missing) > 0 {
		err := scanAll(ctx, query, s.q(`SELECT idx, hash FROM audit_tree WHERE node = ? AND idx IN (`+placeholders(len(missing))+`)`), append([]any{node}, missing...), func(r rows) error {
			var idx int64
			var hash []byte
			if err := r.Scan(&idx, &hash); err != nil {
				return err
			}
			for i, want := range indexes {
				if want == idx && len(hash) == tlog.HashSize {
					copy(out[i][:], hash)
					found[i] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for i, idx := range indexes {
		if !found[i] {
			seq, level := chain.StoredAt(idx)
			return nil, fmt.Errorf("node %s: the Merkle tree hash of level %d stored with entry %d is missing", node, level, seq)
		}
	}
	return out, nil
}

// keepFrontier moves to audit_tree the hashes of the largest subtrees the
// first size entries of a node form, before retention purges them, and
// drops the ones an earlier purge kept that this one makes useless.
func (s *sqlStore) keepFrontier(ctx context.Context, tx *sql.Tx, node string, size int64) error {
	indexes := chain.FrontierIndexes(size)
	hashes, err := s.readTreeHashes(ctx, sqlQuery(tx), node, indexes)
	if err != nil {
		return err
	}
	args := []any{node}
	for _, idx := range indexes {
		args = append(args, idx)
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM audit_tree WHERE node = ? AND idx NOT IN (`+placeholders(len(indexes))+`)`), args...); err != nil {
		return err
	}
	for i, idx := range indexes {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_tree (node, idx, hash) VALUES (?, ?, ?) ON CONFLICT (node, idx) DO NOTHING`), node, idx, hashes[i][:]); err != nil {
			return err
		}
	}
	return nil
}

func scanAll(ctx context.Context, query queryFunc, q string, args []any, fn func(rows) error) error {
	r, done, err := query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer done()
	for r.Next() {
		if err := fn(r); err != nil {
			return err
		}
	}
	return r.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func (s *sqlStore) SaveCheckpoint(ctx context.Context, node string, size int64, signed []byte) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit_checkpoints (node, size, note, time) VALUES (?, ?, ?, ?)
ON CONFLICT (node, size) DO UPDATE SET note = excluded.note, time = excluded.time`), node, size, string(signed), time.Now().UnixMicro())
	return err
}

func (s *sqlStore) Checkpoint(ctx context.Context, node string, minSize int64) ([]byte, error) {
	var msg string
	err := sqlQueryRow(ctx, s.reader(), s.q(`SELECT note FROM audit_checkpoints WHERE node = ? AND size >= ? ORDER BY size DESC LIMIT 1`), []any{node, minSize}, &msg)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []byte(msg), nil
}

func sqlQueryRow(ctx context.Context, r reader, query string, args []any, dest ...any) error {
	rows, err := r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	return rows.Scan(dest...)
}
