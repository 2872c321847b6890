package audit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/internal/lang"
)

// The codes' string values are a public contract: saved queries, alerts
// and exports name them.
func TestCodeValues(t *testing.T) {
	want := map[Code]Class{
		"RESIDENCY_NON_EU": Sovereignty, "RESIDENCY_UNKNOWN": Sovereignty, "JURISDICTION_NON_EU": Sovereignty,
		"JURISDICTION_UNKNOWN": Sovereignty, "RESIDENCY_NON_FR": Sovereignty, "JURISDICTION_NON_FR": Sovereignty,
		"QUALIFICATION_MISSING": Sovereignty, "PROFILE_UNKNOWN": Sovereignty, "EXCEPTION_APPLIED": Sovereignty,
		"ALLOWED_FOR_APP": Sovereignty, "SNI_MISMATCH": Sovereignty,
		"DESTINATION_PRIVATE": Operational, "DESTINATION_SELF": Operational, "BAD_TARGET": Operational,
		"DNS_FAILURE": Operational, "PORT_NOT_ALLOWED": Operational, "NOT_TLS": Operational,
		"RATE_LIMITED": Operational, "TOO_MANY_TUNNELS": Operational, "AUTH_FAILED": Operational,
		"AUTH_RATE_LIMITED": Operational, "IDENTITY_REQUIRED": Operational, "POLICY_ERROR": Operational,
		"AUDIT_UNAVAILABLE": Operational,
	}
	codes := Codes()
	if len(codes) != len(want) {
		t.Errorf("the registry has %d codes, want %d", len(codes), len(want))
	}
	for _, info := range codes {
		class, ok := want[info.Code]
		if !ok {
			t.Errorf("%s: not a code of the contract", info.Code)
			continue
		}
		if info.Class != class || info.Code.Class() != class {
			t.Errorf("%s: class %s, want %s", info.Code, info.Class, class)
		}
		if info.ByPolicy != (info.Class == Sovereignty && info.Code != CodeSNIMismatch) {
			t.Errorf("%s: ByPolicy %v", info.Code, info.ByPolicy)
		}
		en, fr := info.Title(lang.English), info.Title(lang.French)
		if en == "" || fr == "" || en == fr || en == string(info.Code) {
			t.Errorf("%s: titles %q, %q", info.Code, en, fr)
		}
	}
}

func TestUnknownCodeIsThePolicys(t *testing.T) {
	c := Code("HDS_CERTIFICATION_MISSING")
	info := c.Info()
	if info.Class != Sovereignty || !info.ByPolicy || info.Title(lang.French) != string(c) {
		t.Errorf("%+v", info)
	}
}

func TestClassOf(t *testing.T) {
	for _, tc := range []struct {
		reasons []Code
		want    Class
	}{
		{nil, Sovereignty}, // the policy denied without a reason
		{[]Code{CodeResidencyNonEU}, Sovereignty},
		{[]Code{CodeAuthFailed}, Operational},
		{[]Code{CodePolicyError}, Operational},
		{[]Code{CodeDestinationPrivate}, Operational},
		{[]Code{CodeSNIMismatch}, Sovereignty},
		{[]Code{CodeNotTLS}, Operational},
		// A tunnel the policy denied, then found not to start with TLS:
		// still a violation.
		{[]Code{CodeJurisdictionNonEU, CodeNotTLS}, Sovereignty},
		{[]Code{"A_DPO_RULE"}, Sovereignty},
	} {
		if got := ClassOf(tc.reasons); got != tc.want {
			t.Errorf("ClassOf(%v) = %s, want %s", tc.reasons, got, tc.want)
		}
	}
	allowed := &Record{Verdict: Allow, Reasons: []Code{CodeResidencyNonEU, CodeExceptionApplied}}
	refused := &Record{Verdict: Deny, Reasons: []Code{CodeRateLimited}}
	if allowed.Class() != "" || refused.Class() != Operational {
		t.Errorf("record classes %q, %q", allowed.Class(), refused.Class())
	}
}

// Every message reads in both languages, with its facts, and the English
// is what the decision log always said.
func TestMessages(t *testing.T) {
	boom := errors.New("lookup api.example on 127.0.0.53:53: no such host")
	for _, tc := range []struct {
		m      Message
		en, fr string
	}{
		{LookupAbandoned("api.example", errors.New("context canceled")), "lookup abandoned by the caller: context canceled",
			"résolution de api.example abandonnée par le client : context canceled"},
		{LookupFailed("api.example", boom), boom.Error(), "le nom api.example n'a pas pu être résolu : " + boom.Error()},
		{NoAddress("api.example"), "no address for api.example", "aucune adresse pour api.example"},
		{SelfAddress("gw.example", "10.0.0.1", 2019), "gw.example resolves to 10.0.0.1, where this gateway itself listens on port 2019",
			"gw.example pointe vers 10.0.0.1, où la passerelle elle-même écoute sur le port 2019"},
		{ReservedAddress("meta.example", "169.254.169.254", "link-local"), "meta.example resolves to 169.254.169.254, a link-local address",
			"meta.example pointe vers 169.254.169.254, une adresse lien-local (dont les métadonnées des clouds, 169.254.169.254), à laquelle la passerelle ne se connecte jamais"},
		{ReservedAddress("x.example", "10.1.1.1", "a-new-category"), "x.example resolves to 10.1.1.1, a a-new-category address",
			"x.example pointe vers 10.1.1.1, une adresse a-new-category, à laquelle la passerelle ne se connecte jamais"},
		{PolicyFailed(errors.New("eval_conflict_error")), "eval_conflict_error", "la politique n'a pas pu décider : eval_conflict_error"},
		{RateExceededByApp("visio", 2.5), "app visio sends more than 2.5 requests per second",
			"l'application visio envoie plus de 2,5 requêtes par seconde"},
		{RateExceededBySource("10.9.9.9", 50), "source 10.9.9.9 (not identified by a certificate, a checked password or a registered network) sends more than 50 requests per second",
			"l'adresse source 10.9.9.9 (qu'aucun certificat, mot de passe vérifié ou réseau enregistré n'identifie) envoie plus de 50 requêtes par seconde"},
		{GatewayTunnelsFull(500), "the gateway has 500 tunnels open, its limit", "la passerelle a 500 tunnels ouverts, sa limite"},
		{AppTunnelsFull("visio", 20), "app visio has 20 tunnels open, its limit", "l'application visio a 20 tunnels ouverts, sa limite"},
		{PortNotAllowed(22, []uint16{443, 8443}), "CONNECT to port 22 is not allowed (allowed: [443 8443])",
			"CONNECT vers le port 22 n'est pas autorisé (ports autorisés : [443 8443])"},
		{OtherServerName("evil.example", "api.example"), `the ClientHello names "evil.example", not the CONNECT target "api.example"`,
			"le ClientHello TLS nomme « evil.example », et non la cible du CONNECT « api.example »"},
		{WrongPassword("etat-civil"), `wrong proxy credentials for app "etat-civil"`, "identifiants de proxy erronés pour l'application « etat-civil »"},
		{LoginsThrottledFromSource("10.6.6.6", 29600*time.Millisecond), "too many failed logins from source 10.6.6.6: retry in 30s",
			"trop d'échecs d'authentification depuis l'adresse source 10.6.6.6 : réessayez dans 30 s"},
		{NotRecorded(), "the decision could not be recorded in the audit log", "la décision n'a pas pu être enregistrée dans le journal d'audit"},
	} {
		if got := tc.m.String(); got != tc.en {
			t.Errorf("English\n got %q\nwant %q", got, tc.en)
		}
		if got := tc.m.In(lang.French); got != tc.fr {
			t.Errorf("French\n got %q\nwant %q", got, tc.fr)
		}
	}
	var none Message
	if !none.IsZero() || none.String() != "" || none.In(lang.French) != "" {
		t.Error("the zero message is not empty")
	}
}

// No message of the catalogue leaves a verb unfilled or a fact unused.
func TestCatalogueFormats(t *testing.T) {
	err := errors.New("e")
	for _, m := range []Message{
		LookupAbandoned("h", err), LookupFailed("h", err), NoAddress("h"), SelfAddress("h", "ip", 1), ReservedAddress("h", "ip", "private"),
		PolicyFailed(err), RateExceededByApp("a", 1), RateExceededBySource("ip", 1), GatewayTunnelsFull(1), AppTunnelsFull("a", 1),
		SourceTunnelsFull("ip", 1), PortNotAllowed(1, nil), Malformed(err), NotTLS("h:1", err), NoClientHello("h:1", err),
		NoServerName("h"), OtherServerName("s", "h"), WrongPassword("a"), CertificateNamesTwoApps("a", "b"), NameNotEnough("a"),
		CertificateAndPasswordDisagree("a", "b"), LoginsThrottledFromSource("ip", time.Second), LoginsThrottledForApp("a", time.Second),
		IdentityRequired(), NotRecorded(),
	} {
		for _, l := range lang.Supported {
			if s := m.In(l); s == "" || strings.Contains(s, "%!") {
				t.Errorf("%s: %q", l, s)
			}
		}
	}
}
