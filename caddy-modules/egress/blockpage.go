package egress

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/internal/lang"
)

// writeBlocked answers a request that will not be forwarded: the status of
// the outcome, headers that let the app's code react (the same in every
// language), and a short body that a person can read, in the language of
// their browser (Accept-Language: French or English, English by default).
func writeBlocked(w http.ResponseWriter, r *http.Request, out *decision.Outcome) {
	l := lang.FromAcceptLanguage(r.Header.Get("Accept-Language"))
	hdr := w.Header()
	hdr.Set("Sovgate-Decision", string(out.Verdict))
	hdr.Set("Sovgate-Decision-Id", out.ID)
	hdr.Set("Sovgate-Reasons", joinCodes(out.Reasons))
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Content-Language", string(l))
	hdr.Set("Vary", "Accept-Language")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if out.RetryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(int(math.Ceil(out.RetryAfter.Seconds()))))
	}
	if out.Status == http.StatusProxyAuthRequired {
		hdr.Set("Proxy-Authenticate", `Basic realm="sovgate", charset="UTF-8"`)
	}
	w.WriteHeader(out.Status)
	_, _ = w.Write([]byte(blockedBody(out, l)))
}

func joinCodes(codes []audit.Code) string {
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(c))
	}
	return b.String()
}

// blockedBody says what was refused, why (each reason with its message in
// l, see decision.Outcome.Explain), and whom to ask: the data protection team about a violation, the gateway's
// administrators about an operational refusal.
func blockedBody(out *decision.Outcome, l lang.Lang) string {
	var b strings.Builder
	status := fmt.Sprintf("%d %s", out.Status, statusText(l, out.Status))
	if l == lang.French {
		fmt.Fprintf(&b, "sovgate a refusé %s (%s)\n", out.Target.String(), status)
		fmt.Fprintf(&b, "identifiant de la décision : %s\n", out.ID)
	} else {
		fmt.Fprintf(&b, "sovgate refused %s (%s)\n", out.Target.String(), status)
		fmt.Fprintf(&b, "decision id: %s\n", out.ID)
	}
	colon := lang.Choose(l, ": ", " : ")
	for _, e := range out.Explain(l) {
		fmt.Fprintf(&b, "- %s%s%s\n", e.Code, colon, e.Message)
	}
	if out.Class() == audit.Operational {
		b.WriteString(lang.Choose(l,
			"Ask the team that runs the gateway about this decision id.\n",
			"Communiquez cet identifiant de décision à l'équipe qui administre la passerelle.\n"))
	} else {
		b.WriteString(lang.Choose(l,
			"Ask your data protection team about this decision id.\n",
			"Communiquez cet identifiant de décision à votre délégué à la protection des données (DPD).\n"))
	}
	return b.String()
}

// statusText is the reason phrase of the statuses the gateway answers
// with, in l.
func statusText(l lang.Lang, status int) string {
	if l == lang.French {
		switch status {
		case http.StatusBadRequest:
			return "Requête incorrecte"
		case http.StatusForbidden:
			return "Interdit"
		case http.StatusProxyAuthRequired:
			return "Authentification par le proxy requise"
		case http.StatusTooManyRequests:
			return "Trop de requêtes"
		case http.StatusBadGateway:
			return "Mauvaise passerelle"
		case http.StatusServiceUnavailable:
			return "Service indisponible"
		}
	}
	return http.StatusText(status)
}
