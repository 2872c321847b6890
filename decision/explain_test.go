package decision

import (
	"reflect"
	"testing"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/internal/lang"
	"github.com/sovgate/sovgate/policy"
)

func TestExplain(t *testing.T) {
	decided := &policy.Decision{Reasons: []policy.Reason{
		{Code: "RESIDENCY_NON_EU", Message: "in US", Messages: map[string]string{"fr": "aux États-Unis"}},
		{Code: "EXCEPTION_APPLIED", Message: "exception 2026-014"},
	}}
	for _, tc := range []struct {
		name string
		out  *Outcome
		l    lang.Lang
		want []Explanation
	}{
		{"the policy's, in French", &Outcome{Decision: decided, Reasons: []audit.Code{audit.CodeResidencyNonEU, audit.CodeExceptionApplied}}, lang.French,
			[]Explanation{{audit.CodeResidencyNonEU, "aux États-Unis"}, {audit.CodeExceptionApplied, "exception 2026-014"}}},
		{"the policy's, in English", &Outcome{Decision: decided, Reasons: []audit.Code{audit.CodeResidencyNonEU}}, lang.English,
			[]Explanation{{audit.CodeResidencyNonEU, "in US"}}},
		{"a tunnel check after the policy", &Outcome{Decision: decided, Detail: audit.NoServerName("api.example"),
			Reasons: []audit.Code{audit.CodeResidencyNonEU, audit.CodeExceptionApplied, audit.CodeSNIMismatch}}, lang.French,
			[]Explanation{{audit.CodeResidencyNonEU, "aux États-Unis"}, {audit.CodeExceptionApplied, "exception 2026-014"},
				{audit.CodeSNIMismatch, "le ClientHello TLS pour api.example ne nomme aucun serveur"}}},
		{"an allowed decision the audit log could not take", &Outcome{Decision: decided, Detail: audit.NotRecorded(),
			Reasons: []audit.Code{audit.CodeAuditUnavailable}}, lang.English,
			[]Explanation{{audit.CodeAuditUnavailable, "the decision could not be recorded in the audit log"}}},
		{"a refusal without detail", &Outcome{Reasons: []audit.Code{audit.CodeRateLimited}}, lang.French,
			[]Explanation{{audit.CodeRateLimited, "Débit de requêtes au-delà de la part de l'application"}}},
	} {
		if got := tc.out.Explain(tc.l); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
