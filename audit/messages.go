package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sovgate/sovgate/internal/lang"
)

// Message explains a decision the gateway took itself (a code it decided
// outside the policy). It keeps the facts apart from the words, so that
// each reader gets it in their language: the decision log, the audit
// record and `sovgate check --format json` in English (String), a French
// browser's block page in French (In). A technical detail that comes from
// a library (a resolver's error, a TLS parser's) is part of the facts and
// is shown as it is.
//
// The policy explains its own codes: its reasons carry a message per
// language.
//
// A Message is one pointer: outcomes carry one, and stay small.
type Message struct{ m *filled }

// filled is a message of the catalogue with its facts.
type filled struct {
	text *messageText
	args []any
}

// messageText is one message of the catalogue, as a format in each
// language.
type messageText struct{ en, fr string }

// String is the message in English.
func (m Message) String() string { return m.In(lang.English) }

// In is the message in l.
func (m Message) In(l lang.Lang) string {
	if m.m == nil {
		return ""
	}
	format := m.m.text.en
	if l == lang.French {
		format = m.m.text.fr
	}
	args := make([]any, len(m.m.args))
	for i, a := range m.m.args {
		if t, ok := a.(localized); ok {
			a = t.in(l)
		}
		args[i] = a
	}
	return fmt.Sprintf(format, args...)
}

// IsZero reports whether there is no message.
func (m Message) IsZero() bool { return m.m == nil }

func message(text *messageText, args ...any) Message {
	return Message{&filled{text: text, args: args}}
}

// localized is a fact whose words depend on the language.
type localized interface{ in(lang.Lang) string }

// The catalogue. English is what the decision log has always said; the
// French is what a French user reads.
var (
	msgLookupAbandoned = &messageText{
		"lookup abandoned by the caller: %[2]s",
		"résolution de %[1]s abandonnée par le client : %[2]s"}
	msgLookupFailed = &messageText{
		"%[2]s",
		"le nom %[1]s n'a pas pu être résolu : %[2]s"}
	msgNoAddress = &messageText{
		"no address for %s",
		"aucune adresse pour %s"}
	msgSelfAddress = &messageText{
		"%s resolves to %s, where this gateway itself listens on port %d",
		"%s pointe vers %s, où la passerelle elle-même écoute sur le port %d"}
	msgReservedAddress = &messageText{
		"%s resolves to %s, a %s address",
		"%s pointe vers %s, une adresse %s, à laquelle la passerelle ne se connecte jamais"}
	msgPolicyFailed = &messageText{
		"%s",
		"la politique n'a pas pu décider : %s"}
	msgRateByApp = &messageText{
		"app %s sends more than %s requests per second",
		"l'application %s envoie plus de %s requêtes par seconde"}
	msgRateBySource = &messageText{
		"source %s (not identified by a certificate, a checked password or a registered network) sends more than %s requests per second",
		"l'adresse source %s (qu'aucun certificat, mot de passe vérifié ou réseau enregistré n'identifie) envoie plus de %s requêtes par seconde"}
	msgGatewayTunnels = &messageText{
		"the gateway has %d tunnels open, its limit",
		"la passerelle a %d tunnels ouverts, sa limite"}
	msgAppTunnels = &messageText{
		"app %s has %d tunnels open, its limit",
		"l'application %s a %d tunnels ouverts, sa limite"}
	msgSourceTunnels = &messageText{
		"source %s (not identified by a certificate, a checked password or a registered network) has %d tunnels open, its limit",
		"l'adresse source %s (qu'aucun certificat, mot de passe vérifié ou réseau enregistré n'identifie) a %d tunnels ouverts, sa limite"}
	msgPortNotAllowed = &messageText{
		"CONNECT to port %d is not allowed (allowed: %s)",
		"CONNECT vers le port %d n'est pas autorisé (ports autorisés : %s)"}
	msgMalformed = &messageText{
		"%s",
		"requête mal formée : %s"}
	msgNotTLS = &messageText{
		"the tunnel to %s does not start with TLS: %s",
		"le tunnel vers %s ne commence pas par TLS : %s"}
	msgNoClientHello = &messageText{
		"no valid TLS ClientHello for %s: %s",
		"aucun ClientHello TLS valide pour %s : %s"}
	msgNoServerName = &messageText{
		"the ClientHello for %s names no server",
		"le ClientHello TLS pour %s ne nomme aucun serveur"}
	msgOtherServerName = &messageText{
		"the ClientHello names %q, not the CONNECT target %q",
		"le ClientHello TLS nomme « %s », et non la cible du CONNECT « %s »"}
	msgWrongPassword = &messageText{
		"wrong proxy credentials for app %q",
		"identifiants de proxy erronés pour l'application « %s »"}
	msgCertTwoApps = &messageText{
		"the client certificate names two apps, %q and %q",
		"le certificat client désigne deux applications, « %s » et « %s »"}
	msgNameNotEnough = &messageText{
		"app %q is identified by its client certificate or source network (identified_by), not by an unchecked proxy user name",
		"l'application « %s » s'identifie par son certificat client ou son réseau source (identified_by), pas par un nom d'utilisateur de proxy non vérifié"}
	msgCertAndPassword = &messageText{
		"the client certificate identifies app %q and the proxy credentials app %q",
		"le certificat client identifie l'application « %s » et les identifiants de proxy l'application « %s »"}
	msgThrottledSource = &messageText{
		"too many failed logins from source %s: retry in %s",
		"trop d'échecs d'authentification depuis l'adresse source %s : réessayez dans %s"}
	msgThrottledApp = &messageText{
		"too many failed logins from app %s: retry in %s",
		"trop d'échecs d'authentification pour l'application %s : réessayez dans %s"}
	msgIdentityRequired = &messageText{
		"this gateway requires every app to identify itself (client certificate, proxy credentials or registered source network)",
		"cette passerelle exige que chaque application s'identifie (certificat client, identifiants de proxy ou réseau source enregistré)"}
	msgNotRecorded = &messageText{
		"the decision could not be recorded in the audit log",
		"la décision n'a pas pu être enregistrée dans le journal d'audit"}
)

// LookupAbandoned: the client went away before host was resolved
// (DNS_FAILURE).
func LookupAbandoned(host string, err error) Message {
	return message(msgLookupAbandoned, host, err.Error())
}

// LookupFailed: host did not resolve; err is the resolver's (DNS_FAILURE).
func LookupFailed(host string, err error) Message {
	return message(msgLookupFailed, host, err.Error())
}

// NoAddress: host resolved to no address (DNS_FAILURE).
func NoAddress(host string) Message { return message(msgNoAddress, host) }

// SelfAddress: host resolves to ip, where the gateway listens on port
// (DESTINATION_SELF).
func SelfAddress(host, ip string, port uint16) Message {
	return message(msgSelfAddress, host, ip, port)
}

// ReservedAddress: host resolves to ip, in a range the guard refuses;
// category names the range as the guard does ("private", "loopback",
// "link-local"...) (DESTINATION_PRIVATE).
func ReservedAddress(host, ip, category string) Message {
	return message(msgReservedAddress, host, ip, addressRange(category))
}

// PolicyFailed: the policy returned an error (POLICY_ERROR).
func PolicyFailed(err error) Message { return message(msgPolicyFailed, err.Error()) }

// RateExceededByApp: an identified app is over its request rate
// (RATE_LIMITED).
func RateExceededByApp(app string, perSecond float64) Message {
	return message(msgRateByApp, app, rate(perSecond))
}

// RateExceededBySource: a client nothing identified is over the request
// rate of its source address (RATE_LIMITED).
func RateExceededBySource(ip string, perSecond float64) Message {
	return message(msgRateBySource, ip, rate(perSecond))
}

// GatewayTunnelsFull: every tunnel the gateway may hold is open
// (TOO_MANY_TUNNELS).
func GatewayTunnelsFull(limit int) Message { return message(msgGatewayTunnels, limit) }

// AppTunnelsFull: an identified app holds as many tunnels as it may
// (TOO_MANY_TUNNELS).
func AppTunnelsFull(app string, limit int) Message { return message(msgAppTunnels, app, limit) }

// SourceTunnelsFull: a source address nothing identified holds as many
// tunnels as it may (TOO_MANY_TUNNELS).
func SourceTunnelsFull(ip string, limit int) Message { return message(msgSourceTunnels, ip, limit) }

// PortNotAllowed: CONNECT to a port outside connect_ports
// (PORT_NOT_ALLOWED).
func PortNotAllowed(port uint16, allowed []uint16) Message {
	list := make([]string, len(allowed))
	for i, p := range allowed {
		list[i] = strconv.Itoa(int(p))
	}
	return message(msgPortNotAllowed, port, "["+strings.Join(list, " ")+"]")
}

// Malformed: the request could not be read; err says why (BAD_TARGET).
func Malformed(err error) Message { return message(msgMalformed, err.Error()) }

// NotTLS: a tunnel to a TLS port does not start with TLS (NOT_TLS).
func NotTLS(target string, err error) Message { return message(msgNotTLS, target, err.Error()) }

// NoClientHello: a tunnel started a TLS handshake the gateway cannot read
// (NOT_TLS).
func NoClientHello(target string, err error) Message {
	return message(msgNoClientHello, target, err.Error())
}

// NoServerName: the ClientHello for a host name names no server
// (SNI_MISMATCH).
func NoServerName(host string) Message { return message(msgNoServerName, host) }

// OtherServerName: the ClientHello names another server than the CONNECT
// target (SNI_MISMATCH).
func OtherServerName(serverName, host string) Message {
	return message(msgOtherServerName, serverName, host)
}

// WrongPassword: the proxy credentials of app do not hold (AUTH_FAILED).
func WrongPassword(app string) Message { return message(msgWrongPassword, app) }

// CertificateNamesTwoApps: a client certificate's names point at two apps
// (AUTH_FAILED).
func CertificateNamesTwoApps(first, second string) Message {
	return message(msgCertTwoApps, first, second)
}

// NameNotEnough: an app the registry identifies by certificate or network
// was claimed by an unchecked proxy user name (AUTH_FAILED).
func NameNotEnough(app string) Message { return message(msgNameNotEnough, app) }

// CertificateAndPasswordDisagree: the client certificate and the proxy
// credentials name two apps (AUTH_FAILED).
func CertificateAndPasswordDisagree(certApp, basicApp string) Message {
	return message(msgCertAndPassword, certApp, basicApp)
}

// LoginsThrottledFromSource: a source address failed to log in too often
// (AUTH_RATE_LIMITED).
func LoginsThrottledFromSource(ip string, retry time.Duration) Message {
	return message(msgThrottledSource, ip, wait(retry))
}

// LoginsThrottledForApp: logins as app failed too often
// (AUTH_RATE_LIMITED).
func LoginsThrottledForApp(app string, retry time.Duration) Message {
	return message(msgThrottledApp, app, wait(retry))
}

// IdentityRequired: require_identity is on and nothing identified the
// client (IDENTITY_REQUIRED).
func IdentityRequired() Message { return message(msgIdentityRequired) }

// NotRecorded: the decision could not be recorded, and enforce mode fails
// closed (AUDIT_UNAVAILABLE).
func NotRecorded() Message { return message(msgNotRecorded) }

// addressRange is a guard category, named in each language: "a private
// address", "une adresse privée (RFC 1918)".
type addressRange string

var frenchRanges = map[addressRange]string{
	"unspecified":     "non spécifiée",
	"this-network":    "du réseau « ce réseau » (0.0.0.0/8)",
	"loopback":        "de bouclage (loopback)",
	"private":         "privée (RFC 1918)",
	"cgnat":           "partagée par un opérateur (CGNAT)",
	"link-local":      "lien-local (dont les métadonnées des clouds, 169.254.169.254)",
	"ietf-protocol":   "réservée aux protocoles de l'IETF",
	"benchmarking":    "réservée aux tests de performance",
	"multicast":       "de multidiffusion (multicast)",
	"reserved":        "réservée",
	"broadcast":       "de diffusion (broadcast)",
	"ula":             "locale unique IPv6 (ULA)",
	"site-local":      "IPv6 site-local (obsolète)",
	"ipv4-mapped":     "IPv4 transposée en IPv6",
	"ipv4-compatible": "IPv6 compatible IPv4 (obsolète)",
	"nat64":           "NAT64 contenant une adresse privée",
	"6to4":            "6to4 contenant une adresse privée",
	"teredo":          "Teredo contenant une adresse privée",
	"discard":         "de rejet (discard)",
	"invalid":         "invalide",
}

func (r addressRange) in(l lang.Lang) string {
	if l == lang.French {
		if fr, ok := frenchRanges[r]; ok {
			return fr
		}
	}
	return string(r)
}

// rate is a number of requests per second.
type rate float64

func (r rate) in(l lang.Lang) string {
	s := strconv.FormatFloat(float64(r), 'g', -1, 64)
	if l == lang.French {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// wait is how long until a client may try again.
type wait time.Duration

func (w wait) in(l lang.Lang) string {
	d := time.Duration(w).Round(time.Second)
	if l == lang.French {
		return strconv.Itoa(int(d.Seconds())) + " s"
	}
	return d.String()
}
