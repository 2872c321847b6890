package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sovgate/sovgate/audit/chain"
)

// buildTrees is the step of schema 2 that gives the chains of an existing
// store their Merkle trees: it walks each chain in seq order and writes
// the tree hashes of every entry, then each head's root. Entries purged by
// retention before the upgrade are gone; each stands in the tree as a
// fixed leaf (chain.PurgedLeaf), and the hashes of the subtrees they form
// are kept in audit_tree. The first signed checkpoint after the upgrade
// commits to the result.
func buildTrees(ctx context.Context, s *sqlStore, tx *sql.Tx) error {
	nodes, err := (&sqlStore{db: s.db, postgres: s.postgres, rd: tx}).Nodes(ctx)
	if err != nil {
		return err
	}
	for _, node := range nodes {
		if err := buildTree(ctx, s, tx, node); err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
	}
	return nil
}

func buildTree(ctx context.Context, s *sqlStore, tx *sql.Tx, node string) error {
	const chunk = 5000
	var tree *chain.Tree
	var after int64
	for {
		seqs, hashes, err := readChunk(ctx, s, tx, node, after, chunk)
		if err != nil {
			return err
		}
		if len(seqs) == 0 {
			break
		}
		if tree == nil {
			var indexes []int64
			var kept []any
			tree, indexes, kept = purgedFrontier(seqs[0] - 1)
			for i, idx := range indexes {
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_tree (node, idx, hash) VALUES (?, ?, ?)`), node, idx, kept[i]); err != nil {
					return err
				}
			}
		}
		trees := make([][]byte, len(seqs))
		for i, seq := range seqs {
			// A gap (entries deleted behind the store's back) keeps leaf
			// n at seq n+1; verification reports the gap itself.
			for tree.Size() < seq-1 {
				if _, err := tree.Append(chain.PurgedLeaf()); err != nil {
					return err
				}
			}
			leaf, err := (&chain.Entry{Node: node, Seq: seq, Hash: hashes[i]}).LeafHash()
			if err != nil {
				leaf = chain.PurgedLeaf() // an edited hash: verification reports it
			}
			stored, err := tree.Append(leaf)
			if err != nil {
				return err
			}
			trees[i] = chain.EncodeHashes(stored)
		}
		if err := writeTrees(ctx, s, tx, node, seqs, trees); err != nil {
			return err
		}
		after = seqs[len(seqs)-1]
	}
	if tree == nil {
		return nil
	}
	root, err := tree.Root()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE audit_heads SET root = ? WHERE node = ? AND seq = ?`), root[:], node, tree.Size())
	return err
}

// purgedFrontier is the tree of the entries purged before the upgrade,
// and its frontier hashes as column values.
func purgedFrontier(size int64) (*chain.Tree, []int64, []any) {
	tree, indexes, hashes := chain.PurgedTree(size)
	values := make([]any, len(hashes))
	for i := range hashes {
		values[i] = hashes[i][:]
	}
	return tree, indexes, values
}

func readChunk(ctx context.Context, s *sqlStore, tx *sql.Tx, node string, after int64, limit int) ([]int64, []string, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT seq, hash FROM audit_log WHERE node = ? AND seq > ? ORDER BY seq LIMIT ?`), node, after, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var seqs []int64
	var hashes []string
	for rows.Next() {
		var seq int64
		var hash string
		if err := rows.Scan(&seq, &hash); err != nil {
			return nil, nil, err
		}
		seqs, hashes = append(seqs, seq), append(hashes, hash)
	}
	return seqs, hashes, rows.Err()
}

func writeTrees(ctx context.Context, s *sqlStore, tx *sql.Tx, node string, seqs []int64, trees [][]byte) error {
	if s.postgres {
		_, err := tx.ExecContext(ctx, `UPDATE audit_log AS a SET tree = u.tree FROM unnest($1::bigint[], $2::bytea[]) AS u(seq, tree) WHERE a.node = $3 AND a.seq = u.seq`, seqs, trees, node)
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `UPDATE audit_log SET tree = ? WHERE node = ? AND seq = ?`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, seq := range seqs {
		if _, err := stmt.ExecContext(ctx, trees[i], node, seq); err != nil {
			return err
		}
	}
	return nil
}
