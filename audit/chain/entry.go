// Package chain defines the audit log's entries and how they are chained:
// the stored form of a record, its canonical encoding, and the per-node
// hash chain that makes any edit, deletion, insertion or reordering show.
package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit"
)

// The audit log is a list of entries, chained per gateway node. An entry is
// immutable once written. There are three kinds:
//
//   - a decision entry is the audit record of one decision, written before
//     the request is forwarded (bytes are 0, duration_us is the decision
//     time);
//   - a completion entry is written when a forwarded exchange or tunnel
//     ends. It carries the decision's id, bytes_up, bytes_down and the
//     exchange's duration_us, and nothing else. Queries present one record
//     per decision, with the bytes and duration of its completion when
//     there is one. A gateway killed mid-tunnel loses only the completion.
//     When the exchange ends before its decision was written (batched
//     mode holds a decision briefly for that), the two are one decision
//     entry instead (see Merge): its bytes and duration are the
//     exchange's, and its detail says "completed" and keeps the decision
//     time. That saves a write per exchange and loses nothing;
//   - a checkpoint entry is written by retention when it purges the oldest
//     entries of a chain: it names the last purged entry and its hash, so
//     what remains is still verifiable.
const (
	KindDecision   = "decision"
	KindCompletion = "completion"
	KindCheckpoint = "checkpoint"
)

// GenesisHash is the prev_hash of the first entry of every chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Entry is one row of the chained audit log, as stored. Addresses,
// Reasons and Detail hold JSON text; the hash covers the stored text, so
// anyone can recompute it from the columns (see Canonical).
type Entry struct {
	Node string `json:"node"`
	// Seq is the position in the node's chain: 1, 2, 3... It is assigned
	// when the entry is written to the store; 0 before.
	Seq  int64  `json:"seq,omitempty"`
	Kind string `json:"kind"`
	// ID is the decision id (for a completion, the id of the decision it
	// completes; for a checkpoint, its own id).
	ID string `json:"id"`
	// Time is in microseconds since the Unix epoch (UTC): the decision time,
	// the end of the exchange for a completion, the purge time for a
	// checkpoint.
	Time           int64  `json:"time"`
	App            string `json:"app,omitempty"`
	SourceIP       string `json:"source_ip,omitempty"`
	Method         string `json:"method,omitempty"`
	Scheme         string `json:"scheme,omitempty"`
	Host           string `json:"host,omitempty"`
	Port           int64  `json:"port,omitempty"`
	Path           string `json:"path,omitempty"`
	Addresses      string `json:"addresses,omitempty"`
	Verdict        string `json:"verdict,omitempty"`
	Action         string `json:"action,omitempty"`
	Mode           string `json:"mode,omitempty"`
	Reasons        string `json:"reasons,omitempty"`
	PolicyRevision string `json:"policy_revision,omitempty"`
	DurationUS     int64  `json:"duration_us,omitempty"`
	BytesUp        int64  `json:"bytes_up,omitempty"`
	BytesDown      int64  `json:"bytes_down,omitempty"`
	Detail         string `json:"detail,omitempty"`
	PrevHash       string `json:"prev_hash,omitempty"`
	Hash           string `json:"hash,omitempty"`
	// Tree holds the Merkle tree hashes this entry's leaf stores (see
	// Tree.Append), 32 bytes each; filled by the store like Hash.
	Tree []byte `json:"-"`

	// tagList caches the index terms of a decision made here, so a batch
	// need not parse its own JSON again.
	tagList []string
	hasTags bool
}

// DecisionEntry makes the decision entry of a record. The path is kept
// only when recordPath is true; nothing else of the request (query string,
// headers, credentials) is ever part of a record.
func DecisionEntry(rec *audit.Record, recordPath bool) *Entry {
	e := &Entry{
		Node:           rec.Node,
		Kind:           KindDecision,
		ID:             rec.ID,
		Time:           rec.Time.UnixMicro(),
		App:            rec.App,
		SourceIP:       rec.SourceIP,
		Method:         rec.Method,
		Scheme:         rec.Scheme,
		Host:           rec.Host,
		Port:           int64(rec.Port),
		Addresses:      addressesJSON(rec.Addresses),
		Verdict:        string(rec.Verdict),
		Action:         string(rec.Action),
		Mode:           rec.Mode,
		Reasons:        reasonsJSON(rec.Reasons),
		PolicyRevision: rec.PolicyRevision,
		DurationUS:     rec.DurationUS,
		BytesUp:        rec.BytesUp,
		BytesDown:      rec.BytesDown,
	}
	if recordPath {
		e.Path = recordedPath(rec)
	}
	if len(rec.Exceptions) > 0 || rec.Profile != "" || len(rec.Categories) > 0 {
		// What the policy applied (the profile, the app's categories, the
		// exceptions that allowed the request) rides in the decision's
		// detail column, so the chain's encoding needs no new column.
		e.Detail = decisionDetailJSON(rec)
	}
	e.tagList, e.hasTags = recordTags(rec.Addresses, rec.Reasons), true
	return e
}

// decisionDetail is the detail column of a decision entry.
type decisionDetail struct {
	// Exceptions are the ids of the exceptions (data.sovgate.exceptions)
	// that allowed the request.
	Exceptions []string `json:"exceptions,omitempty"`
	// Profile and Categories are the record's (see audit.Record).
	Profile    string   `json:"profile,omitempty"`
	Categories []string `json:"categories,omitempty"`
	// Completed is set on a decision entry that holds its completion (see
	// Merge): duration_us, bytes_up and bytes_down are then the whole
	// exchange's, and DecisionUS is the decision time, which duration_us
	// holds in a decision entry alone.
	Completed  bool  `json:"completed,omitempty"`
	DecisionUS int64 `json:"decision_us,omitempty"`
}

// decisionDetailJSON is the detail column of a decision: what
// json.Marshal writes of its decisionDetail, written by hand in the usual
// case (strings that need no escaping), since every decision has one.
func decisionDetailJSON(rec *audit.Record) string {
	d := decisionDetail{Exceptions: rec.Exceptions, Profile: rec.Profile, Categories: rec.Categories}
	size := 48 + len(d.Profile)
	plain := plainJSON(d.Profile)
	for _, list := range [][]string{d.Exceptions, d.Categories} {
		for _, s := range list {
			plain = plain && plainJSON(s)
			size += len(s) + 3
		}
	}
	if !plain {
		b, _ := json.Marshal(d)
		return string(b)
	}
	// One allocation: the builder's buffer becomes the string.
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	writeStrings(&b, "exceptions", d.Exceptions)
	if d.Profile != "" {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`"profile":"`)
		b.WriteString(d.Profile)
		b.WriteByte('"')
	}
	writeStrings(&b, "categories", d.Categories)
	b.WriteByte('}')
	return b.String()
}

// writeStrings writes "name":["a","b"] into an object being written, when
// list is not empty.
func writeStrings(b *strings.Builder, name string, list []string) {
	if len(list) == 0 {
		return
	}
	if b.Len() > 1 {
		b.WriteByte(',')
	}
	b.WriteByte('"')
	b.WriteString(name)
	b.WriteString(`":[`)
	for i, s := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
	}
	b.WriteByte(']')
}

// plainJSON reports whether encoding/json writes s between quotes as it
// is: printable ASCII without the characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// CompletionEntry makes the completion entry of a finished exchange: the
// decision's id, the bytes each way and the whole exchange's duration.
// Its time is the end of the exchange. A summary of refusals completes its
// record the same way, with the count and the time of the last refusal in
// the detail column.
func CompletionEntry(rec *audit.Record) *Entry {
	e := &Entry{
		Node:       rec.Node,
		Kind:       KindCompletion,
		ID:         rec.ID,
		Time:       rec.Time.UnixMicro() + rec.DurationUS,
		DurationUS: rec.DurationUS,
		BytesUp:    rec.BytesUp,
		BytesDown:  rec.BytesDown,
	}
	if rec.Count > 1 {
		b, _ := json.Marshal(completionDetail{Count: rec.Count, Last: rec.Last.UTC()})
		e.Detail = string(b)
	}
	return e
}

// Merge returns the decision entry d with its completion c in it: one
// entry for the whole exchange, which reads back as the same record as
// the two entries would (with Completed set), and whose detail keeps the
// decision time. It applies only to a decision not yet in the chain, and
// to a plain completion (a summary of refusals, with a count, stays an
// entry of its own); ok is false otherwise. d is left as it was: see
// MergeInto for the entry's owner.
func Merge(d, c *Entry) (merged *Entry, ok bool) {
	m := *d
	if !MergeInto(&m, c) {
		return nil, false
	}
	return &m, true
}

// MergeInto is Merge into d itself, for the owner of d (the audit writer,
// which holds a decision until its completion comes): the entry is
// completed where it is rather than copied, which saves the gateway an
// entry's allocation per forwarded exchange. d is left as it was when the
// two cannot merge.
func MergeInto(d, c *Entry) bool {
	if d.Kind != KindDecision || c.Kind != KindCompletion || d.ID != c.ID || d.Node != c.Node ||
		c.Detail != "" || d.Seq != 0 || d.Hash != "" {
		return false
	}
	detail, ok := completedDetail(d.Detail, d.DurationUS)
	if !ok {
		return false
	}
	d.DurationUS, d.BytesUp, d.BytesDown = c.DurationUS, c.BytesUp, c.BytesDown
	d.Detail = detail
	return true
}

// Completed reports whether a decision entry holds its completion (see
// Merge).
func (e *Entry) Completed() bool {
	return e.Kind == KindDecision && strings.Contains(e.Detail, `"completed":true`)
}

// completedDetail adds "completed" and "decision_us" to a decision's
// detail: what json.Marshal writes of its decisionDetail with them set,
// since they are its last fields. A detail that is not an object this
// package wrote, or that is already completed, is refused.
func completedDetail(detail string, decisionUS int64) (string, bool) {
	inner := ""
	if detail != "" {
		if len(detail) < 2 || detail[0] != '{' || detail[len(detail)-1] != '}' || strings.Contains(detail, `"completed":`) {
			return "", false
		}
		inner = detail[1 : len(detail)-1]
	}
	b := make([]byte, 0, len(detail)+48)
	b = append(b, '{')
	b = append(b, inner...)
	if inner != "" {
		b = append(b, ',')
	}
	b = append(b, `"completed":true`...)
	if decisionUS != 0 {
		b = append(b, `,"decision_us":`...)
		b = strconv.AppendInt(b, decisionUS, 10)
	}
	b = append(b, '}')
	return string(b), true
}

// completionDetail is the detail column of a completion entry.
type completionDetail struct {
	// Count and Last summarise identical refusals (see audit.Record.Count).
	Count int64     `json:"count,omitempty"`
	Last  time.Time `json:"last,omitzero"`
}

// addressesJSON is the addresses column: what json.Marshal writes of the
// addresses, written by hand in the usual case (strings that need no
// escaping), since every decision has one. Every field of audit.Address is
// written, in its order, as encoding/json would (TestAddressesJSON fills
// every field, by reflection, and compares).
func addressesJSON(addrs []audit.Address) string {
	if len(addrs) == 0 {
		return "[]"
	}
	size := 2
	for i := range addrs {
		a := &addrs[i]
		if !plainJSON(a.IP) || !plainJSON(a.Country) || !plainJSON(a.Provider) || !plainJSON(a.Region) || !plainJSON(a.MatchedBy) {
			b, _ := json.Marshal(addrs) // plain strings, numbers and flags: cannot fail
			return string(b)
		}
		size += 96 + len(a.IP) + len(a.Country) + len(a.Provider) + len(a.Region) + len(a.MatchedBy)
	}
	var b strings.Builder
	b.Grow(size)
	var num [10]byte
	b.WriteByte('[')
	for i := range addrs {
		a := &addrs[i]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"ip":"`)
		b.WriteString(a.IP)
		b.WriteString(`","country":"`)
		b.WriteString(a.Country)
		b.WriteString(`","asn":`)
		b.Write(strconv.AppendUint(num[:0], uint64(a.ASN), 10))
		b.WriteString(`,"provider":"`)
		b.WriteString(a.Provider)
		b.WriteString(`","region":"`)
		b.WriteString(a.Region)
		b.WriteByte('"')
		if a.MatchedBy != "" {
			b.WriteString(`,"matched_by":"`)
			b.WriteString(a.MatchedBy)
			b.WriteByte('"')
		}
		if a.Internal {
			b.WriteString(`,"internal":true`)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String()
}

// reasonsJSON is the reasons column: json.Marshal's, by hand in the usual
// case.
func reasonsJSON(reasons []audit.Code) string {
	if len(reasons) == 0 {
		return "[]"
	}
	size := 2
	for _, r := range reasons {
		if !plainJSON(string(r)) {
			b, _ := json.Marshal(reasons)
			return string(b)
		}
		size += len(r) + 3
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('[')
	for i, r := range reasons {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(string(r))
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// Canonical appends the canonical encoding of the entry to buf: a version
// tag, then every column in a fixed order, each as a netstring
// (<decimal length>:<bytes>,), numbers in decimal, prev_hash last.
// The hash of an entry is the lowercase hex SHA-256 of this encoding.
//
//	v1 node seq kind id time app source_ip method scheme host port path
//	addresses verdict action mode reasons policy_revision duration_us
//	bytes_up bytes_down detail prev_hash
func (e *Entry) Canonical(buf []byte) []byte {
	buf = netstring(buf, "sovgate-audit-v1")
	buf = netstring(buf, e.Node)
	buf = netint(buf, e.Seq)
	buf = netstring(buf, e.Kind)
	buf = netstring(buf, e.ID)
	buf = netint(buf, e.Time)
	buf = netstring(buf, e.App)
	buf = netstring(buf, e.SourceIP)
	buf = netstring(buf, e.Method)
	buf = netstring(buf, e.Scheme)
	buf = netstring(buf, e.Host)
	buf = netint(buf, e.Port)
	buf = netstring(buf, e.Path)
	buf = netstring(buf, e.Addresses)
	buf = netstring(buf, e.Verdict)
	buf = netstring(buf, e.Action)
	buf = netstring(buf, e.Mode)
	buf = netstring(buf, e.Reasons)
	buf = netstring(buf, e.PolicyRevision)
	buf = netint(buf, e.DurationUS)
	buf = netint(buf, e.BytesUp)
	buf = netint(buf, e.BytesDown)
	buf = netstring(buf, e.Detail)
	buf = netstring(buf, e.PrevHash)
	return buf
}

func netstring(buf []byte, s string) []byte {
	buf = strconv.AppendInt(buf, int64(len(s)), 10)
	buf = append(buf, ':')
	buf = append(buf, s...)
	return append(buf, ',')
}

func netint(buf []byte, n int64) []byte {
	var tmp [20]byte
	return netstring(buf, string(strconv.AppendInt(tmp[:0], n, 10)))
}

// ComputeHash returns the hash the entry must carry, given its PrevHash.
// scratch is reused when large enough.
func (e *Entry) ComputeHash(scratch []byte) (string, []byte) {
	scratch = e.Canonical(scratch[:0])
	sum := sha256.Sum256(scratch)
	return hex.EncodeToString(sum[:]), scratch
}

// Extend chains entries after head, whose Merkle tree is tree: it sets
// their seq, prev_hash, hash and tree hashes, appends their leaves to
// tree, and returns the new head.
func Extend(head Head, tree *Tree, entries []*Entry) (Head, error) {
	if tree.Size() != head.Seq {
		return head, fmt.Errorf("node %s: the chain has %d entries but its tree %d leaves", head.Node, head.Seq, tree.Size())
	}
	var scratch []byte
	for _, e := range entries {
		head.Seq++
		e.Seq = head.Seq
		e.PrevHash = head.Hash
		e.Hash, scratch = e.ComputeHash(scratch)
		leaf, err := e.LeafHash()
		if err != nil {
			return head, err
		}
		hashes, err := tree.Append(leaf)
		if err != nil {
			return head, fmt.Errorf("node %s, entry %d: %w", head.Node, e.Seq, err)
		}
		e.Tree = EncodeHashes(hashes)
		head.Hash = e.Hash
		head.Time = e.Time
	}
	root, err := tree.Root()
	if err != nil {
		return head, err
	}
	head.Root = root
	return head, nil
}

// Head is the end of one node's chain: how many entries it ever had (the
// seq of the last one, also the size of its Merkle tree), the last hash
// and the tree's root. A signed checkpoint is a head kept outside the
// database; anchors (logged heads, `audit verify --anchor`) are the older,
// unsigned form.
type Head struct {
	Node string `json:"node"`
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// Time of the last entry, in microseconds since the epoch.
	Time int64 `json:"time"`
	// Root is the root hash of the tree of Seq leaves.
	Root tlog.Hash `json:"root"`
}

// String renders a head as an anchor: node:seq:hash.
func (h Head) String() string {
	return h.Node + ":" + strconv.FormatInt(h.Seq, 10) + ":" + h.Hash
}

// Record turns a decision entry (and its completion, if any) into the
// record auditors see. A decision entry that holds its completion (Merge)
// gives the same record alone.
func (e *Entry) Record(completion *Entry) (audit.Stored, error) {
	var out audit.Stored
	out.Record = audit.Record{
		ID:             e.ID,
		Time:           time.UnixMicro(e.Time).UTC(),
		Node:           e.Node,
		App:            e.App,
		SourceIP:       e.SourceIP,
		Method:         e.Method,
		Scheme:         e.Scheme,
		Host:           e.Host,
		Port:           uint16(e.Port),
		Path:           e.Path,
		Verdict:        audit.Verdict(e.Verdict),
		Action:         audit.Action(e.Action),
		Mode:           e.Mode,
		PolicyRevision: e.PolicyRevision,
		DurationUS:     e.DurationUS,
		BytesUp:        e.BytesUp,
		BytesDown:      e.BytesDown,
		PrevHash:       e.PrevHash,
		Hash:           e.Hash,
		Addresses:      []audit.Address{},
		Reasons:        []audit.Code{},
	}
	rec := &out.Record
	if e.Addresses != "" {
		if err := json.Unmarshal([]byte(e.Addresses), &rec.Addresses); err != nil {
			return out, err
		}
	}
	if e.Reasons != "" {
		if err := json.Unmarshal([]byte(e.Reasons), &rec.Reasons); err != nil {
			return out, err
		}
	}
	if e.Kind == KindDecision && e.Detail != "" {
		var d decisionDetail
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			return out, err
		}
		rec.Exceptions, rec.Profile, rec.Categories = d.Exceptions, d.Profile, d.Categories
		// A decision entry that holds its completion (Merge): its bytes
		// and duration are already the exchange's.
		out.Completed = d.Completed
	}
	if completion != nil {
		rec.DurationUS = completion.DurationUS
		rec.BytesUp = completion.BytesUp
		rec.BytesDown = completion.BytesDown
		out.Completed = true
		if completion.Detail != "" {
			var d completionDetail
			if err := json.Unmarshal([]byte(completion.Detail), &d); err != nil {
				return out, fmt.Errorf("completion: %w", err)
			}
			rec.Count, rec.Last = d.Count, d.Last
		}
	}
	return out, nil
}

func recordedPath(rec *audit.Record) string {
	p := rec.Path
	// A query string never belongs in the record, even with record_path.
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if len(p) > 2048 {
		p = p[:2048]
	}
	return p
}

// PurgeDetail is the detail of a retention checkpoint entry: which entries
// of the chain retention purged, and the hash of the last one, which the
// first remaining entry names as its prev_hash.
type PurgeDetail struct {
	PurgedFrom    int64  `json:"purged_from"`
	PurgedThrough int64  `json:"purged_through"`
	PurgedCount   int64  `json:"purged_count"`
	LastHash      string `json:"last_hash"`
	// Before is the retention cutoff, in microseconds since the epoch.
	Before int64 `json:"before"`
}
