// Package audit holds the decision record that every component agrees on.
// The durable, tamper-evident store behind it lands with the audit-trail
// issue; the record's JSON names are the public contract of PRODUCT.md
// ("Audit record"), which auditors' tools and queries depend on.
package audit

import "time"

// Record is one decision of the gateway, allowed or not. A violation is a
// record whose Verdict is "deny"; in monitor mode its Action is "forwarded".
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
	// Verdict is "allow" or "deny"; Action is "forwarded" or "blocked".
	Verdict string `json:"verdict"`
	Action  string `json:"action"`
	// Mode is the gateway mode that turned the verdict into the action.
	Mode string `json:"mode"`
	// Reasons are the decision's reason codes (RESIDENCY_NON_EU, ...).
	Reasons []string `json:"reasons"`
	// Exceptions are the ids of the exceptions (dérogations, in
	// data.sovgate.exceptions) that allowed the request: one per
	// EXCEPTION_APPLIED reason, in the same order. Empty otherwise.
	Exceptions     []string `json:"exceptions,omitempty"`
	PolicyRevision string   `json:"policy_revision"`
	// DurationUS is the time from the arrival of the request to this record:
	// the decision time when the record is made before forwarding, the
	// whole exchange when it is completed after the tunnel or response ends.
	DurationUS int64 `json:"duration_us"`
	BytesUp    int64 `json:"bytes_up"`
	BytesDown  int64 `json:"bytes_down"`
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

// Verdicts and actions, as written in records.
const (
	VerdictAllow    = "allow"
	VerdictDeny     = "deny"
	ActionForwarded = "forwarded"
	ActionBlocked   = "blocked"
)
