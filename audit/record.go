// Package audit holds the decision record that every component agrees on:
// the gateway makes one per decision, the audit log keeps it, auditors read
// it back. Its JSON names are a public contract: auditors' tools, exports
// and saved queries depend on them, so a name never changes meaning.
//
// The log itself lives in the packages below this one, each with one job:
//
//	chain       the stored entry, its canonical encoding, the per-node
//	            hash chain and Merkle tree
//	store       the SQLite and PostgreSQL backends, and queries
//	ingest      the write path: queue, batches, spool while the store is down
//	checkpoint  signed checkpoints of the trees, sent off the box as they
//	            are made (a directory, witnesses)
//	witness     a witness that cosigns consistent checkpoints only
//	verify      the tamper-evidence check an auditor runs
//	proof       the proof of one decision, checked with a key alone
//	report      summaries and exports for auditors
//
// The request path (package decision) needs only this one.
package audit

import "time"

// Record is one decision of the gateway, allowed or not. A record whose
// Verdict is Deny is a violation when its reasons are of the sovereignty
// class, an operational refusal otherwise (see Record.Class); in monitor
// mode a violation's Action is Forwarded.
type Record struct {
	// ID is a UUIDv7: unique, and sortable by creation time.
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Node names the gateway instance that decided (several replicas may
	// share one store).
	Node     string `json:"node"`
	App      string `json:"app"`
	SourceIP string `json:"source_ip"`
	Method   string `json:"method"`
	Scheme   string `json:"scheme"`
	Host     string `json:"host"`
	Port     uint16 `json:"port"`
	// Path is the request path of an absolute-form request, without the
	// query string. The audit store keeps it only with record_path.
	Path string `json:"path,omitempty"`
	// Addresses are the vetted addresses and what was known of each.
	Addresses []Address `json:"addresses"`
	Verdict   Verdict   `json:"verdict"`
	Action    Action    `json:"action"`
	// Mode is the gateway mode that turned the verdict into the action.
	Mode string `json:"mode"`
	// Reasons are the decision's reason codes (RESIDENCY_NON_EU, ...).
	Reasons []Code `json:"reasons"`
	// Exceptions are the ids of the exceptions (data.sovgate.exceptions)
	// that allowed the request: one per EXCEPTION_APPLIED reason, in the
	// same order. Empty otherwise.
	Exceptions []string `json:"exceptions,omitempty"`
	// Profile is the profile the policy applied: the app's own, or a
	// stricter one its data categories require. Empty when the policy was
	// not asked (a request refused before).
	Profile string `json:"profile,omitempty"`
	// Categories are the data categories the app registry lists for the
	// app (personal, health, civil-status...), which chose the profile.
	Categories     []string `json:"categories,omitempty"`
	PolicyRevision string   `json:"policy_revision"`
	// DurationUS is the time from the arrival of the request to this record:
	// the decision time when the record is made before forwarding, the
	// whole exchange when it is completed after the tunnel or response ends.
	DurationUS int64 `json:"duration_us"`
	BytesUp    int64 `json:"bytes_up"`
	BytesDown  int64 `json:"bytes_down"`
	// Count is how many identical refusals the record stands for, when
	// more than one: the gateway records the first refusal of a source,
	// reason and minute, and completes that record with the count of the
	// minute (Time is the first one's, Last the last one's, DurationUS the
	// span between them). Zero means one.
	Count int64     `json:"count,omitempty"`
	Last  time.Time `json:"last,omitzero"`
	// PrevHash and Hash chain the records of one node (filled by the store).
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// Address is the part of a classified address an auditor needs.
type Address struct {
	IP       string `json:"ip"`
	Country  string `json:"country"`
	ASN      uint32 `json:"asn"`
	Provider string `json:"provider"`
	Region   string `json:"region"`
	// MatchedBy says how the operator was recognised: range, asn or
	// domain (a catalogue entry), registration (inferred from where the
	// network is registered); empty when nothing is known.
	MatchedBy string `json:"matched_by,omitempty"`
	// Internal marks an address of the city's own networks.
	Internal bool `json:"internal,omitempty"`
}

// Stored is a record as read back from the store: the decision with the
// bytes and duration of its completion, when the exchange has ended.
type Stored struct {
	Record
	// Completed is true when the completion entry of a forwarded exchange
	// was written: bytes_up, bytes_down and duration_us are then final.
	Completed bool `json:"completed"`
}

// Weight is how many decisions the record stands for: its Count when it
// summarises identical refusals, otherwise one.
func (r *Record) Weight() int64 { return max(1, r.Count) }
