package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/chain"
)

// sqlStore is the Store of both backends: they share tables and queries,
// and differ in placeholders, row locking and a few types.
type sqlStore struct {
	db       *sql.DB
	pool     *pgxpool.Pool // PostgreSQL only: COPY for appends
	postgres bool
	desc     string

	// app is the write state: known chains, prepared statements, buffers.
	app *appender

	// rd, when set, is the read transaction of a snapshot (see Snapshot).
	rd *sql.Tx
}

type reader interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *sqlStore) reader() reader {
	if s.rd != nil {
		return s.rd
	}
	return s.db
}

// Snapshot returns a view of the store inside one read-only transaction:
// every read sees the log as it was at the first one, while the gateway
// goes on appending (verification must not take new entries for
// tampering). release ends the transaction.
func (s *sqlStore) Snapshot(ctx context.Context) (Store, func(), error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	view := &sqlStore{db: s.db, postgres: s.postgres, desc: s.desc, rd: tx, app: s.app}
	return view, func() { _ = tx.Rollback() }, nil
}

// entryColumns are the columns of audit_log in Canonical's order, then the
// entry's Merkle tree hashes.
const entryColumns = `node, seq, kind, id, time, app, source_ip, method, scheme, host, port, path, addresses, verdict, action, mode, reasons, policy_revision, duration_us, bytes_up, bytes_down, detail, prev_hash, hash, tree`

const entryColumnCount = 25

var entryColumnNames = strings.Split(strings.ReplaceAll(entryColumns, " ", ""), ",")

func (s *sqlStore) Describe() string { return s.desc }

func (s *sqlStore) Close() error {
	s.app.mu.Lock()
	s.app.closeConn()
	for _, st := range s.app.stmts {
		st.Close()
	}
	s.app.stmts = nil
	s.app.mu.Unlock()
	err := s.db.Close()
	if s.pool != nil {
		s.pool.Close()
	}
	return err
}

func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Optimize refreshes the query planner's statistics (SQLite; PostgreSQL's
// autovacuum does it by itself), so filtered queries keep choosing the
// right index as the log grows.
func (s *sqlStore) Optimize(ctx context.Context) error {
	if s.postgres {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `PRAGMA optimize`)
	return err
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *sqlStore) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// entryValues appends the columns of e, in entryColumns order.
func entryValues(e *chain.Entry, dst []any) []any {
	return append(dst, e.Node, e.Seq, e.Kind, e.ID, e.Time, e.App, e.SourceIP, e.Method, e.Scheme, e.Host, e.Port,
		e.Path, e.Addresses, e.Verdict, e.Action, e.Mode, e.Reasons, e.PolicyRevision, e.DurationUS, e.BytesUp,
		e.BytesDown, e.Detail, e.PrevHash, e.Hash, e.Tree)
}

// entryTargets are the scan targets of entryColumns into e.
func entryTargets(e *chain.Entry) []any {
	return []any{&e.Node, &e.Seq, &e.Kind, &e.ID, &e.Time, &e.App, &e.SourceIP, &e.Method, &e.Scheme, &e.Host, &e.Port,
		&e.Path, &e.Addresses, &e.Verdict, &e.Action, &e.Mode, &e.Reasons, &e.PolicyRevision, &e.DurationUS, &e.BytesUp,
		&e.BytesDown, &e.Detail, &e.PrevHash, &e.Hash, &e.Tree}
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// lockHead reads a node's chain head and, on PostgreSQL, locks it until
// the transaction ends, so two writers of one node (which a correct
// deployment never has) serialise instead of forking the chain.
func (s *sqlStore) lockHead(ctx context.Context, tx execer, node string) (chain.Head, error) {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_heads (node, seq, hash, time) VALUES (?, 0, ?, 0) ON CONFLICT (node) DO NOTHING`), node, chain.GenesisHash); err != nil {
		return chain.Head{}, err
	}
	query := `SELECT seq, hash, time, root FROM audit_heads WHERE node = ?`
	if s.postgres {
		query += ` FOR UPDATE`
	}
	h := chain.Head{Node: node}
	var root []byte
	if err := tx.QueryRowContext(ctx, s.q(query), node).Scan(&h.Seq, &h.Hash, &h.Time, &root); err != nil {
		return h, err
	}
	copy(h.Root[:], root)
	return h, nil
}

// extend chains entries after head, reading the tree's frontier from the
// store, and returns the new head.
func (s *sqlStore) extend(ctx context.Context, query queryFunc, head chain.Head, entries []*chain.Entry) (chain.Head, error) {
	tree, err := chain.TreeAt(head.Seq, s.hashReader(ctx, query, head.Node))
	if err != nil {
		return head, fmt.Errorf("node %s: reading the Merkle tree of its %d entries: %w", head.Node, head.Seq, err)
	}
	return chain.Extend(head, tree, entries)
}

// updateHead records a chain's new head.
func (s *sqlStore) updateHead(ctx context.Context, tx execer, h chain.Head) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE audit_heads SET seq = ?, hash = ?, time = ?, root = ? WHERE node = ?`), h.Seq, h.Hash, h.Time, h.Root[:], h.Node)
	return err
}

// insertEntries inserts entries in a transaction of the store's own (a
// purge's checkpoint); the caller holds the appender's lock.
func (s *sqlStore) insertEntries(ctx context.Context, tx *sql.Tx, entries []*chain.Entry) error {
	if s.postgres {
		return s.insertEntriesPG(ctx, tx, entries)
	}
	return s.insertSQLite(ctx, tx, nil, entries)
}

// insertEntriesPG inserts a batch with one statement per table: the
// columns travel as arrays and unnest turns them into rows, so PostgreSQL
// parses one short statement whatever the batch size.
func (s *sqlStore) insertEntriesPG(ctx context.Context, tx *sql.Tx, entries []*chain.Entry) error {
	n := len(entries)
	var (
		node, kind, id, app, sourceIP, method, scheme, host, path, addrs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		verdict, action, mode, reasons, rev, detail, prev, hash          = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seq, ts, port, dur, up, down                                     = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		tree                                                             = make([][]byte, n)
		tagTag, tagID                                                    []string
		tagTime                                                          []int64
	)
	for i, e := range entries {
		node[i], seq[i], kind[i], id[i], ts[i] = e.Node, e.Seq, e.Kind, e.ID, e.Time
		app[i], sourceIP[i], method[i], scheme[i], host[i], port[i], path[i] = e.App, e.SourceIP, e.Method, e.Scheme, e.Host, e.Port, e.Path
		addrs[i], verdict[i], action[i], mode[i], reasons[i], rev[i] = e.Addresses, e.Verdict, e.Action, e.Mode, e.Reasons, e.PolicyRevision
		dur[i], up[i], down[i], detail[i], prev[i], hash[i], tree[i] = e.DurationUS, e.BytesUp, e.BytesDown, e.Detail, e.PrevHash, e.Hash, e.Tree
		tags, _ := e.Tags()
		for _, t := range tags {
			tagTag, tagTime, tagID = append(tagTag, t), append(tagTime, e.Time), append(tagID, e.ID)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+entryColumns+`) SELECT * FROM unnest(
	$1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
	$11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::bigint[], $20::bigint[],
	$21::bigint[], $22::text[], $23::text[], $24::text[], $25::bytea[])`,
		node, seq, kind, id, ts, app, sourceIP, method, scheme, host, port, path, addrs, verdict, action, mode, reasons, rev, dur, up, down, detail, prev, hash, tree); err != nil {
		return err
	}
	if len(tagTag) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_tags (tag, time, id) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`, tagTag, tagTime, tagID)
	return err
}

func (s *sqlStore) insertSQL(table, columns string, ncols, nrows int) string {
	var b strings.Builder
	b.Grow(len(table) + len(columns) + nrows*(ncols*4+4) + 32)
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(columns)
	b.WriteString(") VALUES ")
	n := 0
	for r := range nrows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range ncols {
			if c > 0 {
				b.WriteByte(',')
			}
			n++
			if s.postgres {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// withoutExisting drops the entries already in the store (same kind and
// id), and duplicates within the batch.
func (s *sqlStore) withoutExisting(ctx context.Context, tx execer, entries []*chain.Entry) ([]*chain.Entry, error) {
	type key struct{ kind, id string }
	seen := make(map[key]bool, len(entries))
	const chunk = 500
	for start := 0; start < len(entries); start += chunk {
		part := entries[start:min(start+chunk, len(entries))]
		args := make([]any, len(part))
		for i, e := range part {
			args[i] = e.ID
		}
		query := `SELECT kind, id FROM audit_log WHERE id IN (?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := tx.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.kind, &k.id); err != nil {
				rows.Close()
				return nil, err
			}
			seen[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := entries[:0:0]
	for _, e := range entries {
		k := key{e.Kind, e.ID}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return out, nil
}

// Query columns: the decision entry, then its completion.
const queryColumns = `d.node, d.seq, d.kind, d.id, d.time, d.app, d.source_ip, d.method, d.scheme, d.host, d.port, d.path, d.addresses, d.verdict, d.action, d.mode, d.reasons, d.policy_revision, d.duration_us, d.bytes_up, d.bytes_down, d.detail, d.prev_hash, d.hash, d.tree, c.duration_us, c.bytes_up, c.bytes_down, c.id, c.detail`

// selectSQL builds the query of a filter. When the filter has a country,
// provider or reason, the tag index drives the scan (newest first), so a
// rare value is found without reading every record.
func (s *sqlStore) selectSQL(f *Filter, newestFirst bool, paged bool) (string, []any) {
	var tags []string
	if f.Country != "" {
		tags = append(tags, chain.TagCountry+f.Country)
	}
	if f.Provider != "" {
		tags = append(tags, chain.TagProvider+f.Provider)
	}
	if f.Reason != "" {
		tags = append(tags, chain.TagReason+f.Reason)
	}
	var b strings.Builder
	var args []any
	order := "ASC"
	if newestFirst {
		order = "DESC"
	}
	timeCol, idCol := "d.time", "d.id"
	b.WriteString("SELECT " + queryColumns + " FROM ")
	if len(tags) > 0 {
		timeCol, idCol = "t.time", "t.id"
		b.WriteString("audit_tags t JOIN audit_log d ON d.id = t.id AND d.kind = 'decision'")
	} else {
		b.WriteString("audit_log d")
	}
	b.WriteString(" LEFT JOIN audit_log c ON c.id = d.id AND c.kind = 'completion' WHERE d.kind = 'decision'")
	if len(tags) > 0 {
		b.WriteString(" AND t.tag = ?")
		args = append(args, tags[0])
		for _, tag := range tags[1:] {
			b.WriteString(" AND EXISTS (SELECT 1 FROM audit_tags x WHERE x.tag = ? AND x.time = d.time AND x.id = d.id)")
			args = append(args, tag)
		}
	}
	if !f.Since.IsZero() {
		b.WriteString(" AND " + timeCol + " >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		b.WriteString(" AND " + timeCol + " < ?")
		args = append(args, f.Until.UnixMicro())
	}
	for _, c := range []struct{ col, val string }{
		{"d.app", f.App}, {"d.verdict", f.Verdict}, {"d.action", f.Action}, {"d.node", f.Node}, {"d.id", f.ID},
	} {
		if c.val != "" {
			b.WriteString(" AND " + c.col + " = ?")
			args = append(args, c.val)
		}
	}
	if f.Host != "" {
		if suffix, ok := strings.CutPrefix(f.Host, "*."); ok {
			b.WriteString(` AND (d.host = ? OR d.host LIKE ? ESCAPE '\')`)
			args = append(args, suffix, "%."+likeEscape(suffix))
		} else {
			b.WriteString(" AND d.host = ?")
			args = append(args, f.Host)
		}
	}
	if paged && f.Cursor != "" {
		ts, id, _ := decodeCursor(f.Cursor)
		cmp := ">"
		if newestFirst {
			cmp = "<"
		}
		fmt.Fprintf(&b, " AND (%s %s ? OR (%s = ? AND %s %s ?))", timeCol, cmp, timeCol, idCol, cmp)
		args = append(args, ts, ts, id)
	}
	fmt.Fprintf(&b, " ORDER BY %s %s, %s %s", timeCol, order, idCol, order)
	if paged {
		b.WriteString(" LIMIT ?")
		args = append(args, f.Limit+1)
	}
	return s.q(b.String()), args
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func (s *sqlStore) Query(ctx context.Context, f Filter) (Page, error) {
	if err := f.Normalize(); err != nil {
		return Page{}, err
	}
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	query, args := s.selectSQL(&f, true, true)
	page := Page{Records: []audit.Stored{}}
	err := s.scanRecords(ctx, query, args, func(rec *audit.Stored) error {
		if len(page.Records) == f.Limit {
			last := page.Records[len(page.Records)-1]
			page.NextCursor = encodeCursor(last.Time.UnixMicro(), last.ID)
			return errStop
		}
		page.Records = append(page.Records, *rec)
		return nil
	})
	return page, err
}

var errStop = errors.New("stop")

func (s *sqlStore) Scan(ctx context.Context, f Filter, fn func(*audit.Stored) error) error {
	if err := f.Normalize(); err != nil {
		return err
	}
	query, args := s.selectSQL(&f, false, false)
	return s.scanRecords(ctx, query, args, fn)
}

func (s *sqlStore) scanRecords(ctx context.Context, query string, args []any, fn func(*audit.Stored) error) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var d chain.Entry
	var cDur, cUp, cDown sql.NullInt64
	var cID, cDetail sql.NullString
	targets := append(entryTargets(&d), &cDur, &cUp, &cDown, &cID, &cDetail)
	for rows.Next() {
		if err := rows.Scan(targets...); err != nil {
			return err
		}
		var comp *chain.Entry
		if cID.Valid {
			comp = &chain.Entry{DurationUS: cDur.Int64, BytesUp: cUp.Int64, BytesDown: cDown.Int64, Detail: cDetail.String}
		}
		rec, err := d.Record(comp)
		if err != nil {
			return fmt.Errorf("record %s: %w", d.ID, err)
		}
		if err := fn(&rec); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
	}
	return rows.Err()
}

func (s *sqlStore) Nodes(ctx context.Context) ([]string, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT node FROM audit_heads UNION SELECT DISTINCT node FROM audit_log ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var nodes []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, rows.Err()
}

func (s *sqlStore) Walk(ctx context.Context, node string, from, to int64, fn func(*chain.Entry) error) error {
	if to <= 0 {
		to = math.MaxInt64
	}
	rows, err := s.reader().QueryContext(ctx, s.q(`SELECT `+entryColumns+` FROM audit_log WHERE node = ? AND seq >= ? AND seq <= ? ORDER BY seq`), node, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	var e chain.Entry
	targets := entryTargets(&e)
	for rows.Next() {
		if err := rows.Scan(targets...); err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqlStore) Entries(ctx context.Context, id string) ([]*chain.Entry, error) {
	rows, err := s.reader().QueryContext(ctx, s.q(`SELECT `+entryColumns+` FROM audit_log WHERE id = ? AND kind IN ('decision', 'completion') ORDER BY node, seq`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chain.Entry
	for rows.Next() {
		e := new(chain.Entry)
		if err := rows.Scan(entryTargets(e)...); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqlStore) Span(ctx context.Context, node string) (first, last int64, err error) {
	var lo, hi sql.NullInt64
	err = sqlQueryRow(ctx, s.reader(), s.q(`SELECT min(seq), max(seq) FROM audit_log WHERE node = ?`), []any{node}, &lo, &hi)
	return lo.Int64, hi.Int64, err
}

func (s *sqlStore) WalkTags(ctx context.Context, fn func(tag, id string) error) error {
	rows, err := s.reader().QueryContext(ctx, `SELECT tag, id FROM audit_tags`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var tag, id string
	for rows.Next() {
		if err := rows.Scan(&tag, &id); err != nil {
			return err
		}
		if err := fn(tag, id); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqlStore) Heads(ctx context.Context) ([]chain.Head, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT node, seq, hash, time, root FROM audit_heads ORDER BY node`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var heads []chain.Head
	for rows.Next() {
		var h chain.Head
		var root []byte
		if err := rows.Scan(&h.Node, &h.Seq, &h.Hash, &h.Time, &root); err != nil {
			return nil, err
		}
		copy(h.Root[:], root)
		heads = append(heads, h)
	}
	return heads, rows.Err()
}

func (s *sqlStore) Purge(ctx context.Context, node string, before time.Time, max int) (*chain.Entry, chain.Head, error) {
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	// The chain moves: the next append reads it afresh.
	s.app.forget([]string{node})
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, chain.Head{}, err
	}
	defer tx.Rollback()
	head, err := s.lockHead(ctx, tx, node)
	if err != nil {
		return nil, chain.Head{}, err
	}
	cutoff := before.UnixMicro()
	// The prefix of the chain older than the cutoff: stop at the first
	// entry that is not, so what remains is one unbroken chain.
	rows, err := tx.QueryContext(ctx, s.q(`SELECT seq, kind, id, time, addresses, reasons, hash FROM audit_log WHERE node = ? ORDER BY seq LIMIT ?`), node, max)
	if err != nil {
		return nil, chain.Head{}, err
	}
	type purged struct {
		seq        int64
		kind, id   string
		time       int64
		addr, reas string
		hash       string
	}
	var victims []purged
	for rows.Next() {
		var p purged
		if err := rows.Scan(&p.seq, &p.kind, &p.id, &p.time, &p.addr, &p.reas, &p.hash); err != nil {
			rows.Close()
			return nil, chain.Head{}, err
		}
		// Never purge the head: the chain must keep a last entry.
		if p.time >= cutoff || p.seq >= head.Seq {
			break
		}
		victims = append(victims, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, chain.Head{}, err
	}
	if len(victims) == 0 {
		return nil, chain.Head{}, nil
	}
	first, last := victims[0], victims[len(victims)-1]
	delTag, err := tx.PrepareContext(ctx, s.q(`DELETE FROM audit_tags WHERE tag = ? AND time = ? AND id = ?`))
	if err != nil {
		return nil, chain.Head{}, err
	}
	defer delTag.Close()
	for _, v := range victims {
		if v.kind != chain.KindDecision {
			continue
		}
		e := chain.Entry{Kind: v.kind, Addresses: v.addr, Reasons: v.reas}
		tags, _ := e.Tags()
		for _, t := range tags {
			if _, err := delTag.ExecContext(ctx, t, v.time, v.id); err != nil {
				return nil, chain.Head{}, err
			}
		}
	}
	if err := s.keepFrontier(ctx, tx, node, last.seq); err != nil {
		return nil, chain.Head{}, fmt.Errorf("keeping the Merkle tree hashes of the purged entries: %w", err)
	}
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM audit_log WHERE node = ? AND seq <= ?`), node, last.seq)
	if err != nil {
		return nil, chain.Head{}, err
	}
	n, _ := res.RowsAffected()
	detail, _ := json.Marshal(chain.PurgeDetail{
		PurgedFrom: first.seq, PurgedThrough: last.seq, PurgedCount: n, LastHash: last.hash, Before: cutoff,
	})
	id, err := uuid.NewV7()
	if err != nil {
		return nil, chain.Head{}, err
	}
	cp := &chain.Entry{Node: node, Kind: chain.KindCheckpoint, ID: id.String(), Time: time.Now().UnixMicro(), Detail: string(detail)}
	if head, err = s.extend(ctx, sqlQuery(tx), head, []*chain.Entry{cp}); err != nil {
		return nil, chain.Head{}, err
	}
	if err := s.insertEntries(ctx, tx, []*chain.Entry{cp}); err != nil {
		return nil, chain.Head{}, err
	}
	if err := s.updateHead(ctx, tx, head); err != nil {
		return nil, chain.Head{}, err
	}
	if err := tx.Commit(); err != nil {
		return nil, chain.Head{}, err
	}
	return cp, head, nil
}

// groupByNode splits a batch by chain: the nodes in the order they first
// appear, and each node's entries in batch order.
func groupByNode(entries []*chain.Entry) (order []string, byNode map[string][]*chain.Entry) {
	byNode = make(map[string][]*chain.Entry)
	for _, e := range entries {
		if _, ok := byNode[e.Node]; !ok {
			order = append(order, e.Node)
		}
		byNode[e.Node] = append(byNode[e.Node], e)
	}
	return order, byNode
}
