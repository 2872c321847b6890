package audit

import "github.com/sovgate/sovgate/internal/lang"

// The vocabulary of a record: its verdict, its action and its reason
// codes. They are here, beside the record whose fields they type, so that
// every package that makes, stores or reads decisions (the pipeline, the
// egress handler, the audit store, the reports, the command line) shares
// one registry and imports nothing it does not already import. Their
// string values are a public contract: auditors' saved queries, exports
// and alerts name them.

// Verdict is what was concluded about a request.
type Verdict string

const (
	Allow Verdict = "allow"
	// Deny is a violation when its reasons are of the sovereignty class,
	// an operational refusal otherwise (see ClassOf).
	Deny Verdict = "deny"
)

// Action is what the gateway did with the request: the verdict, through
// the mode (monitor mode forwards a violation).
type Action string

const (
	Forwarded Action = "forwarded"
	Blocked   Action = "blocked"
)

// Code is a reason code. The policy may return codes of its own beyond
// the ones below (a DPO's rule, a later bundle); they are codes all the
// same, of the sovereignty class (see Code.Class).
type Code string

func (c Code) String() string { return string(c) }

// Class separates what reports and metrics must never add up: a transfer
// the policy found contrary to the rules of sovereignty, and a request the
// gateway refused for its own reasons (a wrong password, a malformed
// request, a rate limit), where nothing was sent anywhere.
type Class string

const (
	// Sovereignty: about where the data goes and whose law reaches it.
	// Every code the policy returns is of this class, and so is
	// SNI_MISMATCH: the tunnel was headed for another host than the one
	// the policy judged.
	Sovereignty Class = "sovereignty"
	// Operational: about the request itself or the gateway's own
	// protection: identity, syntax, limits, guards, failures. No
	// destination was judged, or the one judged was never at fault.
	Operational Class = "operational"
)

// The codes the policy bundle returns.
const (
	// CodeResidencyNonEU: an address of the destination is outside the
	// EU/EEA (or outside what the app's profile accepts).
	CodeResidencyNonEU Code = "RESIDENCY_NON_EU"
	// CodeResidencyUnknown: no country is known for an address.
	CodeResidencyUnknown Code = "RESIDENCY_UNKNOWN"
	// CodeJurisdictionNonEU: an operator of the destination is subject to
	// the law of a country outside the EU/EEA (the US CLOUD Act reaches a
	// US provider's Paris region).
	CodeJurisdictionNonEU Code = "JURISDICTION_NON_EU"
	// CodeJurisdictionUnknown: nothing says whose law reaches the
	// operator.
	CodeJurisdictionUnknown Code = "JURISDICTION_UNKNOWN"
	// CodeResidencyNonFR: an address is in the EU/EEA, but outside the
	// member state the app's profile keeps the data in (France, for
	// civil-status records and elections).
	CodeResidencyNonFR Code = "RESIDENCY_NON_FR"
	// CodeJurisdictionNonFR: an operator is subject to the law of another
	// EU/EEA member state than the one the app's profile requires.
	CodeJurisdictionNonFR Code = "JURISDICTION_NON_FR"
	// CodeQualificationMissing: the app's profile needs an offer holding a
	// qualification in force (SecNumCloud, HDS), and nothing in the
	// catalogue says the destination is one.
	CodeQualificationMissing Code = "QUALIFICATION_MISSING"
	// CodeProfileUnknown: the app's profile does not exist; the policy
	// denies rather than guess.
	CodeProfileUnknown Code = "PROFILE_UNKNOWN"
	// CodeExceptionApplied: an exception in force tolerated the
	// violations listed beside it.
	CodeExceptionApplied Code = "EXCEPTION_APPLIED"
	// CodeAllowedForApp: the app registry allows this host for the app,
	// which tolerated the violations listed beside it.
	CodeAllowedForApp Code = "ALLOWED_FOR_APP"
)

// The codes the gateway decides itself, before or after the policy.
const (
	// CodeSNIMismatch: the TLS ClientHello of a tunnel names another
	// server than the CONNECT target, or none for a host name (domain
	// fronting): the data was headed for a host nobody judged.
	CodeSNIMismatch Code = "SNI_MISMATCH"

	// CodeBadTarget: the request or its target is malformed (400).
	CodeBadTarget Code = "BAD_TARGET"
	// CodeDNSFailure: the destination's name did not resolve (502).
	CodeDNSFailure Code = "DNS_FAILURE"
	// CodeDestinationPrivate: the destination resolves to a private,
	// loopback, link-local (cloud metadata) or otherwise reserved address
	// the gateway never connects to (403, every mode).
	CodeDestinationPrivate Code = "DESTINATION_PRIVATE"
	// CodeDestinationSelf: the destination is an address the gateway
	// itself listens on (403, every mode).
	CodeDestinationSelf Code = "DESTINATION_SELF"
	// CodePortNotAllowed: CONNECT to a port outside connect_ports (403).
	CodePortNotAllowed Code = "PORT_NOT_ALLOWED"
	// CodeNotTLS: a tunnel to a TLS port does not start with a TLS
	// ClientHello the gateway can read.
	CodeNotTLS Code = "NOT_TLS"
	// CodeRateLimited: the app sends more requests per second than its
	// share (429).
	CodeRateLimited Code = "RATE_LIMITED"
	// CodeTooManyTunnels: the gateway, or the app, has as many tunnels
	// open as it may (429).
	CodeTooManyTunnels Code = "TOO_MANY_TUNNELS"
	// CodeAuthFailed: the client's credentials do not hold (407).
	CodeAuthFailed Code = "AUTH_FAILED"
	// CodeAuthRateLimited: the source or the app failed to log in too
	// often; the password is not checked (429).
	CodeAuthRateLimited Code = "AUTH_RATE_LIMITED"
	// CodeIdentityRequired: require_identity is on and nothing identified
	// the client (407).
	CodeIdentityRequired Code = "IDENTITY_REQUIRED"
	// CodePolicyError: the policy could not decide (enforce: 503 and
	// blocked; monitor: forwarded and recorded).
	CodePolicyError Code = "POLICY_ERROR"
	// CodeAuditUnavailable: enforce mode refused a request whose decision
	// could not be recorded (503).
	CodeAuditUnavailable Code = "AUDIT_UNAVAILABLE"
)

// CodeInfo is what the registry knows of a code.
type CodeInfo struct {
	Code  Code
	Class Class
	// ByPolicy is true for the codes the policy bundle returns, false for
	// the ones the gateway decides itself.
	ByPolicy bool
	// title names the code for a report, in English and in French.
	title [2]string
}

// Title names the code for a person, in l: "Address outside the
// EU/EEA".
func (i CodeInfo) Title(l lang.Lang) string {
	return lang.Choose(l, i.title[0], i.title[1])
}

// registry lists every code sovgate knows, in the order reports present
// them. Why each is in its class:
//
//   - the policy's codes judge the destination (where, whose law) or say
//     what tolerated a violation: sovereignty;
//   - SNI_MISMATCH: the tunnel was going to a host the policy never
//     judged, so the rules of sovereignty were bypassed: sovereignty;
//   - DESTINATION_PRIVATE and DESTINATION_SELF are guards against
//     server-side request forgery: the data would not have left the city
//     at all; BAD_TARGET, AUTH_*, IDENTITY_REQUIRED and the limits are
//     about the request, not its destination; DNS_FAILURE, POLICY_ERROR and
//     AUDIT_UNAVAILABLE are failures that kept a decision from being made
//     or kept; NOT_TLS and PORT_NOT_ALLOWED enforce the admin's protocol
//     and port restrictions on a destination the policy judged (or would
//     have) like any other: operational.
var registry = []CodeInfo{
	{Code: CodeResidencyNonEU, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"Address outside the EU/EEA", "Adresse hors de l'UE/EEE"}},
	{Code: CodeResidencyUnknown, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"Address in no known country", "Adresse sans pays connu"}},
	{Code: CodeJurisdictionNonEU, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"Operator subject to a non-EU/EEA law", "Opérateur soumis au droit d'un pays hors UE/EEE"}},
	{Code: CodeJurisdictionUnknown, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"Operator's jurisdiction unknown", "Juridiction de l'opérateur inconnue"}},
	{Code: CodeResidencyNonFR, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"Address outside France", "Adresse hors de France"}},
	{Code: CodeJurisdictionNonFR, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"Operator subject to a law other than French", "Opérateur soumis à un autre droit que le droit français"}},
	{Code: CodeQualificationMissing, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"No qualified offer (SecNumCloud, HDS)", "Aucune offre qualifiée (SecNumCloud, HDS)"}},
	{Code: CodeProfileUnknown, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"The app's profile does not exist", "Profil de l'application inexistant"}},
	{Code: CodeExceptionApplied, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"Exception applied", "Exception appliquée"}},
	{Code: CodeAllowedForApp, Class: Sovereignty, ByPolicy: true,
		title: [2]string{"Host allowed for the app", "Hôte autorisé pour l'application"}},
	{Code: CodeSNIMismatch, Class: Sovereignty,
		title: [2]string{"TLS server name other than the target", "Nom de serveur TLS différent de la cible"}},
	{Code: CodeDestinationPrivate, Class: Operational,
		title: [2]string{"Private or reserved address", "Adresse privée ou réservée"}},
	{Code: CodeDestinationSelf, Class: Operational,
		title: [2]string{"Address of the gateway itself", "Adresse de la passerelle elle-même"}},
	{Code: CodeBadTarget, Class: Operational,
		title: [2]string{"Malformed request", "Requête mal formée"}},
	{Code: CodeDNSFailure, Class: Operational,
		title: [2]string{"Name resolution failed", "Échec de la résolution DNS"}},
	{Code: CodePortNotAllowed, Class: Operational,
		title: [2]string{"Port not allowed", "Port non autorisé"}},
	{Code: CodeNotTLS, Class: Operational,
		title: [2]string{"Tunnel not starting with TLS", "Tunnel ne commençant pas par TLS"}},
	{Code: CodeRateLimited, Class: Operational,
		title: [2]string{"Request rate over the app's share", "Débit de requêtes au-delà de la part de l'application"}},
	{Code: CodeTooManyTunnels, Class: Operational,
		title: [2]string{"Too many open tunnels", "Trop de tunnels ouverts"}},
	{Code: CodeAuthFailed, Class: Operational,
		title: [2]string{"Authentication failed", "Échec d'authentification"}},
	{Code: CodeAuthRateLimited, Class: Operational,
		title: [2]string{"Too many failed logins", "Trop d'échecs d'authentification"}},
	{Code: CodeIdentityRequired, Class: Operational,
		title: [2]string{"App not identified", "Application non identifiée"}},
	{Code: CodePolicyError, Class: Operational,
		title: [2]string{"The policy could not decide", "La politique n'a pas pu décider"}},
	{Code: CodeAuditUnavailable, Class: Operational,
		title: [2]string{"Decision could not be recorded", "Décision impossible à enregistrer"}},
}

// byCode indexes the registry.
var byCode = func() map[Code]int {
	m := make(map[Code]int, len(registry))
	for i, info := range registry {
		m[info.Code] = i
	}
	return m
}()

// Codes lists every code the registry knows, in the order reports present
// them.
func Codes() []CodeInfo { return append([]CodeInfo(nil), registry...) }

// Info returns what the registry knows of c. A code it does not know comes
// from the policy (a DPO's own rule): it is of the sovereignty class, and
// its title is the code itself.
func (c Code) Info() CodeInfo {
	if i, ok := byCode[c]; ok {
		return registry[i]
	}
	return CodeInfo{Code: c, Class: Sovereignty, ByPolicy: true, title: [2]string{string(c), string(c)}}
}

// Class returns the class of c (see Info).
func (c Code) Class() Class { return c.Info().Class }

// ClassOf is the class of a denial with these reasons: sovereignty when
// one of them is (a violation of the rules on transfers), operational when
// all of them are (a refusal). A denial without a reason is the policy's,
// hence sovereignty.
func ClassOf(reasons []Code) Class {
	if len(reasons) == 0 {
		return Sovereignty
	}
	for _, r := range reasons {
		if r.Class() == Sovereignty {
			return Sovereignty
		}
	}
	return Operational
}

// Class returns the class of the record's denial (see ClassOf), or "" for
// an allowed request.
func (r *Record) Class() Class {
	if r.Verdict != Deny {
		return ""
	}
	return ClassOf(r.Reasons)
}

// Title names the class for a person, in l.
func (c Class) Title(l lang.Lang) string {
	switch c {
	case Sovereignty:
		return lang.Choose(l, "sovereignty violations", "écarts de souveraineté")
	case Operational:
		return lang.Choose(l, "operational refusals", "refus techniques")
	}
	return string(c)
}
