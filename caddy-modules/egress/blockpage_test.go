package egress

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/internal/lang"
	"github.com/sovgate/sovgate/policy"
)

func TestBlockedBodyInTheReadersLanguage(t *testing.T) {
	target, err := decision.ParseConnectTarget("api.example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	out := &decision.Outcome{
		ID: "019ad5c2-7f3e-7b61-9a1c-3c2f5e9d1a40", Target: target, Status: http.StatusForbidden,
		Verdict: audit.Deny, Action: audit.Blocked,
		Reasons: []audit.Code{audit.CodeResidencyNonEU, audit.CodeJurisdictionNonEU, audit.CodeSNIMismatch},
		Decision: &policy.Decision{Profile: "sovereign", Reasons: []policy.Reason{
			{Code: "RESIDENCY_NON_EU", Message: "203.0.113.7 is in US, outside the EU/EEA",
				Messages: map[string]string{"fr": "203.0.113.7 est aux États-Unis, hors de l'UE/EEE"}},
			{Code: "JURISDICTION_NON_EU", Message: "aws is subject to US law"}, // no French: the message stands
		}},
		Detail: audit.OtherServerName("evil.example", "api.example.com"),
	}
	en := blockedBody(out, lang.English)
	if want := "sovgate refused CONNECT api.example.com:443 (403 Forbidden)\n" +
		"decision id: 019ad5c2-7f3e-7b61-9a1c-3c2f5e9d1a40\n" +
		"- RESIDENCY_NON_EU: 203.0.113.7 is in US, outside the EU/EEA\n" +
		"- JURISDICTION_NON_EU: aws is subject to US law\n" +
		"- SNI_MISMATCH: the ClientHello names \"evil.example\", not the CONNECT target \"api.example.com\"\n" +
		"Ask your data protection team about this decision id.\n"; en != want {
		t.Errorf("English\n got %q\nwant %q", en, want)
	}
	fr := blockedBody(out, lang.French)
	if want := "sovgate a refusé CONNECT api.example.com:443 (403 Interdit)\n" +
		"identifiant de la décision : 019ad5c2-7f3e-7b61-9a1c-3c2f5e9d1a40\n" +
		"- RESIDENCY_NON_EU : 203.0.113.7 est aux États-Unis, hors de l'UE/EEE\n" +
		"- JURISDICTION_NON_EU : aws is subject to US law\n" +
		"- SNI_MISMATCH : le ClientHello TLS nomme « evil.example », et non la cible du CONNECT « api.example.com »\n" +
		"Communiquez cet identifiant de décision à votre délégué à la protection des données (DPD).\n"; fr != want {
		t.Errorf("French\n got %q\nwant %q", fr, want)
	}

	for header, want := range map[string]string{
		"fr-FR,fr;q=0.9,en;q=0.8": "fr", "": "en", "de-DE": "en", "en;q=0.2, fr;q=0.8": "fr", "fr;q=0, en": "en",
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://api.example.com/", nil)
		if header != "" {
			req.Header.Set("Accept-Language", header)
		}
		writeBlocked(rec, req, out)
		res := rec.Result()
		body := rec.Body.String()
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Content-Language") != want || res.Header.Get("Vary") != "Accept-Language" ||
			res.Header.Get("Sovgate-Reasons") != "RESIDENCY_NON_EU,JURISDICTION_NON_EU,SNI_MISMATCH" ||
			res.Header.Get("Sovgate-Decision") != "deny" || strings.HasPrefix(body, "sovgate a refusé") != (want == "fr") {
			t.Errorf("Accept-Language %q: %d %v\n%s", header, res.StatusCode, res.Header, body)
		}
	}
}
