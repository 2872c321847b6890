package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sovgate/sovgate/audit/chain"
)

// How a batch gets in. The audit writer appends small batches often (a
// gateway at one request at a time commits every few milliseconds), so
// what a batch costs beyond its rows matters as much as the rows:
//
//   - the head and Merkle tree frontier of each chain are kept in memory
//     after a commit, so the next batch reads no tree hashes; a batch
//     checks that the chain did not move meanwhile (another writer, a
//     purge) and reads it again when it did;
//   - SQLite: the writer has a connection of its own, and its INSERT
//     statements are prepared once, in a few fixed sizes (a batch of 37
//     rows is 16+16+4+1): preparing one for every batch size costs more
//     than the insert, and keeping one per size costs hundreds of MB;
//   - PostgreSQL: a batch is one round trip: the rows travel as arrays
//     (unnest) in a pipeline whose last statement moves the head only if
//     it is still where this writer left it, in one implicit transaction.

// appender is the write state of a store, shared by its snapshot views;
// mu serialises appends and purges.
type appender struct {
	mu sync.Mutex
	// chains holds each node's head and tree as of this store's last
	// commit.
	chains map[string]*knownChain

	// SQLite
	conn  *sql.Conn
	stmts map[stmtKey]*sql.Stmt
	// raw are the INSERT statements prepared on conn's driver connection,
	// and named the driver values of one execution (see execRaw).
	raw   map[stmtKey]rawStmt
	named []driver.NamedValue
	args  []any
	tags  []tagRow

	// PostgreSQL
	cols pgColumns
	// forceLocked makes every PostgreSQL append take the locked path
	// (benchmarks compare the two).
	forceLocked bool
}

type knownChain struct {
	head chain.Head
	tree chain.Tree
}

type stmtKey struct {
	table string
	rows  int
}

type tagRow struct {
	tag  string
	time int64
	id   string
}

// insertChunks are the row counts of the prepared INSERT statements,
// largest first; a batch is cut into chunks of these sizes. SQLite keeps a
// prepared statement's program and parameters in its own memory, outside
// Go's heap: a 256-row chunk (6,144 parameters) held 1.2 MiB more under
// load than the largest chunk of 64, and appended no faster
// (BenchmarkAppend: 21,600 against 21,900 records/s).
var insertChunks = [...]int{64, 16, 4, 1}

// forget drops what is known of the chains of a failed batch: the next one
// reads them from the store.
func (a *appender) forget(order []string) {
	for _, node := range order {
		delete(a.chains, node)
	}
}

// remember keeps the chains of a committed batch.
func (a *appender) remember(heads []chain.Head, trees []chain.Tree) {
	if a.chains == nil {
		a.chains = make(map[string]*knownChain)
	}
	for i, h := range heads {
		a.chains[h.Node] = &knownChain{head: h, tree: trees[i]}
	}
}

func (s *sqlStore) Append(ctx context.Context, entries []*chain.Entry, dedupe bool) ([]chain.Head, int, error) {
	if len(entries) == 0 {
		return nil, 0, nil
	}
	a := s.app
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.pool != nil {
		return s.appendPG(ctx, entries, dedupe)
	}
	return s.appendSQLite(ctx, entries, dedupe)
}

// appendSQLite writes a batch in one transaction on the writer's
// connection.
func (s *sqlStore) appendSQLite(ctx context.Context, entries []*chain.Entry, dedupe bool) ([]chain.Head, int, error) {
	a := s.app
	if a.conn == nil {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return nil, 0, err
		}
		a.conn = conn
	}
	heads, trees, n, err := s.appendSQLiteTx(ctx, a.conn, entries, dedupe)
	if err != nil {
		// The connection may be broken: take another next time.
		a.closeConn()
		order, _ := groupByNode(entries)
		a.forget(order)
		return nil, 0, err
	}
	a.remember(heads, trees)
	return heads, n, nil
}

func (s *sqlStore) appendSQLiteTx(ctx context.Context, conn *sql.Conn, entries []*chain.Entry, dedupe bool) ([]chain.Head, []chain.Tree, int, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, 0, err
	}
	defer tx.Rollback()
	if dedupe {
		if entries, err = s.withoutExisting(ctx, tx, entries); err != nil {
			return nil, nil, 0, err
		}
		if len(entries) == 0 {
			return nil, nil, 0, tx.Commit()
		}
	}
	order, byNode := groupByNode(entries)
	heads := make([]chain.Head, len(order))
	trees := make([]chain.Tree, len(order))
	for i, node := range order {
		head, err := s.readHead(ctx, tx, node)
		if err != nil {
			return nil, nil, 0, err
		}
		if err := s.treeOf(ctx, sqlQuery(tx), head, &trees[i]); err != nil {
			return nil, nil, 0, err
		}
		if heads[i], err = chain.Extend(head, &trees[i], byNode[node]); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := s.insertSQLite(ctx, tx, conn, entries); err != nil {
		return nil, nil, 0, err
	}
	move, err := s.stmt(ctx, `UPDATE audit_heads SET seq = ?, hash = ?, time = ?, root = ? WHERE node = ?`)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, h := range heads {
		if _, err := tx.StmtContext(ctx, move).ExecContext(ctx, h.Seq, h.Hash, h.Time, h.Root[:], h.Node); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, 0, err
	}
	return heads, trees, len(entries), nil
}

// readHead reads a node's chain head in a SQLite write transaction (which
// holds the database's write lock), making the genesis head of a new chain.
func (s *sqlStore) readHead(ctx context.Context, tx *sql.Tx, node string) (chain.Head, error) {
	h := chain.Head{Node: node}
	var root []byte
	stmt, err := s.stmt(ctx, `SELECT seq, hash, time, root FROM audit_heads WHERE node = ?`)
	if err != nil {
		return h, err
	}
	err = tx.StmtContext(ctx, stmt).QueryRowContext(ctx, node).Scan(&h.Seq, &h.Hash, &h.Time, &root)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_heads (node, seq, hash, time) VALUES (?, 0, ?, 0)`, node, chain.GenesisHash)
		return chain.Head{Node: node, Hash: chain.GenesisHash}, err
	}
	copy(h.Root[:], root)
	return h, err
}

// treeOf sets tree to the Merkle tree of head's chain: the one kept from
// the last commit when the chain has not moved since, else read from the
// store.
func (s *sqlStore) treeOf(ctx context.Context, query queryFunc, head chain.Head, tree *chain.Tree) error {
	if k := s.app.chains[head.Node]; k != nil && k.head.Seq == head.Seq && k.head.Hash == head.Hash && k.tree.Size() == head.Seq {
		*tree = k.tree
		return nil
	}
	t, err := chain.TreeAt(head.Seq, s.hashReader(ctx, query, head.Node))
	if err != nil {
		return fmt.Errorf("node %s: reading the Merkle tree of its %d entries: %w", head.Node, head.Seq, err)
	}
	*tree = *t
	return nil
}

// insertSQLite inserts a batch's entries and their tags with the prepared
// statements of insertChunks, reusing one argument buffer. conn is the
// writer's connection when tx is its transaction: the statements then run
// on its driver connection directly (see execRaw); a transaction of
// another connection (a purge's checkpoint) passes nil and goes through
// database/sql.
func (s *sqlStore) insertSQLite(ctx context.Context, tx *sql.Tx, conn *sql.Conn, entries []*chain.Entry) error {
	if conn == nil {
		return s.insertChunks(entries, func(table string, rows int, args []any) error {
			stmt, err := s.insertStmt(ctx, table, rows)
			if err != nil {
				return err
			}
			_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
			return err
		})
	}
	return conn.Raw(func(dc any) error {
		return s.insertChunks(entries, func(table string, rows int, args []any) error {
			return s.execRaw(ctx, dc, table, rows, args)
		})
	})
}

// insertChunks cuts a batch's entries, then their tags, into chunks of
// insertChunks rows, and has exec insert each chunk.
func (s *sqlStore) insertChunks(entries []*chain.Entry, exec func(table string, rows int, args []any) error) error {
	a := s.app
	defer clear(a.args[:cap(a.args)]) // do not keep the batch's strings alive
	for start := 0; start < len(entries); {
		rows := chunkFor(len(entries) - start)
		args := a.args[:0]
		for _, e := range entries[start : start+rows] {
			args = entryValues(e, args)
		}
		a.args = args
		if err := exec("audit_log", rows, args); err != nil {
			return err
		}
		start += rows
	}
	tags := a.tags[:0]
	for _, e := range entries {
		list, _ := e.Tags() // entries are built here: their JSON is valid
		for _, t := range list {
			tags = append(tags, tagRow{t, e.Time, e.ID})
		}
	}
	a.tags = tags
	for start := 0; start < len(tags); {
		rows := chunkFor(len(tags) - start)
		args := a.args[:0]
		for _, t := range tags[start : start+rows] {
			args = append(args, t.tag, t.time, t.id)
		}
		a.args = args
		if err := exec("audit_tags", rows, args); err != nil {
			return err
		}
		start += rows
	}
	return nil
}

// execRaw runs the INSERT of rows rows into table on the writer's driver
// connection dc, with a statement prepared there once. database/sql would
// copy every argument into a new slice of driver values on each execution
// (1,600 for a 64-row chunk), which costs the gateway about a kilobyte of
// garbage per record; here the slice is the appender's, reused. The
// values are entryValues' strings, integers and bytes: driver values
// already, which database/sql's conversion would leave as they are.
func (s *sqlStore) execRaw(ctx context.Context, dc any, table string, rows int, args []any) error {
	a := s.app
	key := stmtKey{table, rows}
	st := a.raw[key]
	if st == nil {
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("preparing the insert of %d rows into %s: the SQLite driver's connection (%T) cannot prepare with a context", rows, table, dc)
		}
		prepared, err := prep.PrepareContext(ctx, s.insertQuery(table, rows))
		if err != nil {
			return fmt.Errorf("preparing the insert of %d rows into %s: %w", rows, table, err)
		}
		if st, ok = prepared.(rawStmt); !ok {
			prepared.Close()
			return fmt.Errorf("preparing the insert of %d rows into %s: the SQLite driver's statement (%T) cannot execute with a context", rows, table, prepared)
		}
		if a.raw == nil {
			a.raw = make(map[stmtKey]rawStmt)
		}
		a.raw[key] = st
	}
	named := a.named[:0]
	for i, v := range args {
		named = append(named, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	a.named = named
	defer clear(named)
	_, err := st.ExecContext(ctx, named)
	return err
}

// rawStmt is a driver statement that executes with a context, as the
// SQLite driver's do: checked once, when it is prepared.
type rawStmt interface {
	driver.Stmt
	driver.StmtExecContext
}

// closeConn closes the writer's connection, and first the driver
// statements prepared on it (execRaw).
func (a *appender) closeConn() {
	if a.conn == nil {
		return
	}
	if len(a.raw) > 0 {
		// A broken connection refuses Raw; its statements go with it.
		_ = a.conn.Raw(func(any) error {
			for _, st := range a.raw {
				st.Close()
			}
			return nil
		})
	}
	a.raw = nil
	a.conn.Close()
	a.conn = nil
}

// chunkFor is the largest chunk size that n rows fill.
func chunkFor(n int) int {
	for _, c := range insertChunks {
		if n >= c {
			return c
		}
	}
	return 1
}

// stmt returns a statement of the writer, prepared once per store.
func (s *sqlStore) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	a := s.app
	key := stmtKey{table: query}
	if st := a.stmts[key]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if a.stmts == nil {
		a.stmts = make(map[stmtKey]*sql.Stmt)
	}
	a.stmts[key] = st
	return st, nil
}

// insertStmt returns the INSERT statement of rows rows into table,
// prepared once per store.
func (s *sqlStore) insertStmt(ctx context.Context, table string, rows int) (*sql.Stmt, error) {
	a := s.app
	key := stmtKey{table, rows}
	if st := a.stmts[key]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.insertQuery(table, rows))
	if err != nil {
		return nil, fmt.Errorf("preparing the insert of %d rows into %s: %w", rows, table, err)
	}
	if a.stmts == nil {
		a.stmts = make(map[stmtKey]*sql.Stmt)
	}
	a.stmts[key] = st
	return st, nil
}

// insertQuery is the INSERT of rows rows into table (audit_log or
// audit_tags).
func (s *sqlStore) insertQuery(table string, rows int) string {
	columns, ncols := entryColumns, entryColumnCount
	if table == "audit_tags" {
		columns, ncols = "tag, time, id", 3
	}
	return s.insertSQL(table, columns, ncols, rows)
}

// appendPG writes a batch to PostgreSQL: in one pipelined round trip when
// the chains are known, else (first batch, a replay that must skip what
// the store has, a chain that moved) in a transaction that locks the
// heads and reads the trees.
func (s *sqlStore) appendPG(ctx context.Context, entries []*chain.Entry, dedupe bool) ([]chain.Head, int, error) {
	a := s.app
	order, byNode := groupByNode(entries)
	if !dedupe && !a.forceLocked {
		heads, trees, ok, err := s.appendPipelined(ctx, entries, order, byNode)
		if err == nil && ok {
			a.remember(heads, trees)
			return heads, len(entries), nil
		}
		a.forget(order)
		var pgErr *pgconn.PgError
		if err != nil && !errors.As(err, &pgErr) {
			// Not an answer of the server (a broken connection): the
			// batch may or may not be in; the caller spools it and the
			// replay skips what is.
			return nil, 0, err
		}
		// Unknown chains, or the server refused the batch (a chain moved
		// under this writer): the locked path reads them afresh.
	}
	heads, trees, n, err := s.appendLocked(ctx, entries, dedupe)
	if err != nil {
		a.forget(order)
		return nil, 0, err
	}
	a.remember(heads, trees)
	return heads, n, nil
}

// The statements of a pipelined append. The head moves only from where
// this writer left it: otherwise 1/count(*) divides by zero, which aborts
// the batch's implicit transaction.
const (
	insertLogPG = `INSERT INTO audit_log (` + entryColumns + `) SELECT * FROM unnest(
	$1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
	$11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::bigint[], $20::bigint[],
	$21::bigint[], $22::text[], $23::text[], $24::text[], $25::bytea[])`
	insertTagsPG = `INSERT INTO audit_tags (tag, time, id) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`
	moveHeadPG   = `WITH moved AS (UPDATE audit_heads SET seq = $1, hash = $2, time = $3, root = $4 WHERE node = $5 AND seq = $6 AND hash = $7 RETURNING 1)
SELECT 1 / count(*) FROM moved`
)

// appendPipelined sends a batch in one round trip; ok is false when a
// chain of the batch is not known yet.
func (s *sqlStore) appendPipelined(ctx context.Context, entries []*chain.Entry, order []string, byNode map[string][]*chain.Entry) ([]chain.Head, []chain.Tree, bool, error) {
	a := s.app
	heads := make([]chain.Head, len(order))
	trees := make([]chain.Tree, len(order))
	for i, node := range order {
		k := a.chains[node]
		if k == nil {
			return nil, nil, false, nil
		}
		trees[i] = k.tree
		var err error
		if heads[i], err = chain.Extend(k.head, &trees[i], byNode[node]); err != nil {
			return nil, nil, false, err
		}
	}
	c := &a.cols
	c.fill(entries)
	defer c.release()
	b := &pgx.Batch{}
	b.Queue(insertLogPG, c.node, c.seq, c.kind, c.id, c.ts, c.app, c.sourceIP, c.method, c.scheme, c.host, c.port, c.path, c.addrs,
		c.verdict, c.action, c.mode, c.reasons, c.rev, c.dur, c.up, c.down, c.detail, c.prev, c.hash, c.tree)
	if len(c.tagTag) > 0 {
		b.Queue(insertTagsPG, c.tagTag, c.tagTime, c.tagID)
	}
	for i, h := range heads {
		was := a.chains[order[i]].head
		b.Queue(moveHeadPG, h.Seq, h.Hash, h.Time, h.Root[:], h.Node, was.Seq, was.Hash)
	}
	br := s.pool.SendBatch(ctx, b)
	for range b.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, nil, false, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, nil, false, err
	}
	return heads, trees, true, nil
}

// pgColumns are a batch's columns as arrays, reused from batch to batch.
type pgColumns struct {
	node, kind, id, app, sourceIP, method, scheme, host, path, addrs []string
	verdict, action, mode, reasons, rev, detail, prev, hash          []string
	seq, ts, port, dur, up, down                                     []int64
	tree                                                             [][]byte
	tagTag, tagID                                                    []string
	tagTime                                                          []int64
}

func (c *pgColumns) fill(entries []*chain.Entry) {
	for _, e := range entries {
		c.node, c.seq, c.kind, c.id, c.ts = append(c.node, e.Node), append(c.seq, e.Seq), append(c.kind, e.Kind), append(c.id, e.ID), append(c.ts, e.Time)
		c.app, c.sourceIP, c.method, c.scheme = append(c.app, e.App), append(c.sourceIP, e.SourceIP), append(c.method, e.Method), append(c.scheme, e.Scheme)
		c.host, c.port, c.path, c.addrs = append(c.host, e.Host), append(c.port, e.Port), append(c.path, e.Path), append(c.addrs, e.Addresses)
		c.verdict, c.action, c.mode, c.reasons = append(c.verdict, e.Verdict), append(c.action, e.Action), append(c.mode, e.Mode), append(c.reasons, e.Reasons)
		c.rev, c.dur, c.up, c.down = append(c.rev, e.PolicyRevision), append(c.dur, e.DurationUS), append(c.up, e.BytesUp), append(c.down, e.BytesDown)
		c.detail, c.prev, c.hash, c.tree = append(c.detail, e.Detail), append(c.prev, e.PrevHash), append(c.hash, e.Hash), append(c.tree, e.Tree)
		tags, _ := e.Tags()
		for _, t := range tags {
			c.tagTag, c.tagTime, c.tagID = append(c.tagTag, t), append(c.tagTime, e.Time), append(c.tagID, e.ID)
		}
	}
}

// release empties the columns, keeping their room and dropping what they
// referenced.
func (c *pgColumns) release() {
	for _, s := range []*[]string{&c.node, &c.kind, &c.id, &c.app, &c.sourceIP, &c.method, &c.scheme, &c.host, &c.path, &c.addrs,
		&c.verdict, &c.action, &c.mode, &c.reasons, &c.rev, &c.detail, &c.prev, &c.hash, &c.tagTag, &c.tagID} {
		clear(*s)
		*s = (*s)[:0]
	}
	for _, n := range []*[]int64{&c.seq, &c.ts, &c.port, &c.dur, &c.up, &c.down, &c.tagTime} {
		*n = (*n)[:0]
	}
	clear(c.tree)
	c.tree = c.tree[:0]
}

// appendLocked is Append on PostgreSQL in a transaction that locks each
// chain's head (two writers of one node, which a correct deployment never
// has, serialise instead of forking it) and reads its tree; the rows
// travel with COPY.
func (s *sqlStore) appendLocked(ctx context.Context, entries []*chain.Entry, dedupe bool) ([]chain.Head, []chain.Tree, int, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, nil, 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if dedupe {
		if entries, err = existingPG(ctx, tx, entries); err != nil {
			return nil, nil, 0, err
		}
		if len(entries) == 0 {
			return nil, nil, 0, tx.Commit(ctx)
		}
	}
	order, byNode := groupByNode(entries)
	heads := make([]chain.Head, len(order))
	trees := make([]chain.Tree, len(order))
	for i, node := range order {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_heads (node, seq, hash, time) VALUES ($1, 0, $2, 0) ON CONFLICT (node) DO NOTHING`, node, chain.GenesisHash); err != nil {
			return nil, nil, 0, err
		}
		h := chain.Head{Node: node}
		var root []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash, time, root FROM audit_heads WHERE node = $1 FOR UPDATE`, node).Scan(&h.Seq, &h.Hash, &h.Time, &root); err != nil {
			return nil, nil, 0, err
		}
		copy(h.Root[:], root)
		if err := s.treeOf(ctx, pgxQuery(tx), h, &trees[i]); err != nil {
			return nil, nil, 0, err
		}
		if heads[i], err = chain.Extend(h, &trees[i], byNode[node]); err != nil {
			return nil, nil, 0, err
		}
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
		return nil, nil, 0, err
	}
	if len(tagRows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_tags"}, []string{"tag", "time", "id"}, pgx.CopyFromRows(tagRows)); err != nil {
			return nil, nil, 0, err
		}
	}
	for _, h := range heads {
		if _, err := tx.Exec(ctx, `UPDATE audit_heads SET seq = $1, hash = $2, time = $3, root = $4 WHERE node = $5`, h.Seq, h.Hash, h.Time, h.Root[:], h.Node); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, 0, err
	}
	return heads, trees, len(entries), nil
}

// existingPG drops the entries already in the store (same kind and id),
// and duplicates within the batch.
func existingPG(ctx context.Context, tx pgx.Tx, entries []*chain.Entry) ([]*chain.Entry, error) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	rows, err := tx.Query(ctx, `SELECT kind, id FROM audit_log WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	existing := make(map[[2]string]bool)
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			rows.Close()
			return nil, err
		}
		existing[[2]string{k, id}] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	kept := entries[:0:0]
	for _, e := range entries {
		k := [2]string{e.Kind, e.ID}
		if !existing[k] {
			existing[k] = true
			kept = append(kept, e)
		}
	}
	return kept, nil
}
