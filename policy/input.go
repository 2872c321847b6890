package policy

import (
	"encoding/json"
	"time"

	"github.com/sovgate/sovgate/geo"
)

// Input is the document the policy sees as `input`. Its JSON shape is the
// public contract documented in the policy guides (docs/policy-guide.*.md):
// DPO staff write rules against these names, so they never change without
// an alias.
type Input struct {
	Request     Request         `json:"request"`
	Source      Caller          `json:"source"`
	Destination geo.Destination `json:"destination"`
	// Time is when the request arrived. Policies compare it with exception
	// expiry dates; it is always shown to them in UTC (RFC 3339).
	Time time.Time `json:"time"`
}

// MarshalJSON encodes the input exactly as the policy sees it (the engine
// builds the same document directly, see inputValue): the time is written in
// UTC whatever the location of Time, as the contract says. Audit records and
// `sovgate check --format json` then show what the policy was given.
func (in Input) MarshalJSON() ([]byte, error) {
	type plain Input // no methods: no recursion
	p := plain(in)
	p.Time = p.Time.UTC()
	return json.Marshal(p)
}

// Request describes what the client asked the gateway to do.
type Request struct {
	// Method is the HTTP method, CONNECT for tunnels.
	Method string `json:"method"`
	// Scheme is "http" for requests forwarded in absolute form. For CONNECT
	// tunnels it is "https" when the port is 443 and "tcp" otherwise: the
	// gateway cannot see inside a tunnel, so the port is its only hint.
	Scheme string `json:"scheme"`
	// Host is the normalised target host name or IP literal.
	Host string `json:"host"`
	Port uint16 `json:"port"`
	// Path is empty for tunnels (the gateway cannot see inside them).
	Path string `json:"path"`
}

// Caller identifies the calling application (input.source).
type Caller struct {
	App string `json:"app"`
	IP  string `json:"ip"`
	// IdentifiedBy is "basic", "mtls", "cidr" or "none".
	IdentifiedBy string `json:"identified_by"`
	// Categories are the data categories the app handles ("personal",
	// "health", "public", ...), as the app registry of the policy data
	// (data.sovgate.apps) lists them; empty for an app it does not list.
	// Engine.Evaluate fills them in from the registry of its own revision
	// when they are nil.
	Categories []string `json:"categories"`
	// Profile is the app's effective profile, the strictest of the
	// profile its registry entry names and the minimum profiles of its
	// categories, as the policy computes it once per revision (see
	// Engine.EffectiveProfile); "" when the policy computes none.
	// Engine.Evaluate fills it in with the categories.
	Profile string `json:"profile"`
}

// Decision is the value of data.sovgate.decision: allow, the profile applied
// and the reasons. Its JSON names are a public contract, like Input's.
type Decision struct {
	Allow   bool     `json:"allow"`
	Profile string   `json:"profile"`
	Reasons []Reason `json:"reasons"`
}

// Reason explains one part of a decision. Code is a stable machine-readable
// identifier (RESIDENCY_NON_EU, ...); Message is for people.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// IP is the address the reason is about, when it is about one.
	IP string `json:"ip,omitempty"`
	// Exception is the id of the exception that applied (EXCEPTION_APPLIED).
	Exception string `json:"exception,omitempty"`
	// Messages are Message in other languages, keyed by language ("fr",
	// "en"); readers fall back to Message for a language it lacks.
	Messages map[string]string `json:"messages,omitempty"`
}
