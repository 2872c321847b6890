package decision

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/tlspeek"
)

// The counters keep sovereignty violations and operational refusals
// apart: a failed login is not a transfer outside the EU.
func TestStatsSeparateClasses(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.pipeline(t, Enforce)
	checks := TunnelChecks{SNI: true, RequireTLS: true, TLSPorts: []uint16{443}}
	want := func(step string, allowed, violations, refusals int64) {
		t.Helper()
		st := p.Stats()
		if st.Allowed.Load() != allowed || st.Violations.Load() != violations || st.Refusals.Load() != refusals ||
			st.Denied.Load() != violations+refusals || st.Decisions.Load() != allowed+violations+refusals {
			t.Fatalf("%s: allowed %d, violations %d, refusals %d, denied %d, decisions %d; want %d, %d, %d",
				step, st.Allowed.Load(), st.Violations.Load(), st.Refusals.Load(), st.Denied.Load(), st.Decisions.Load(),
				allowed, violations, refusals)
		}
	}

	us := p.Decide(ctx, connect(t, hostUS+":443"), etatCivil)
	if us.Class() != audit.Sovereignty {
		t.Fatalf("US destination: class %q, reasons %v", us.Class(), us.Reasons)
	}
	want("a US destination", 0, 1, 0)
	p.Decide(ctx, connect(t, hostUS+":443"), etatCivil) // the same, from the cache
	want("the same, cached", 0, 2, 0)

	refused := p.Refuse(Target{Method: "CONNECT", Host: "x"}, etatCivil,
		&Refusal{Status: http.StatusProxyAuthRequired, Code: audit.CodeAuthFailed, Detail: audit.WrongPassword("etat-civil")})
	if refused.Class() != audit.Operational {
		t.Fatalf("AUTH_FAILED: class %q", refused.Class())
	}
	want("a wrong password", 0, 2, 1)
	p.Decide(ctx, connect(t, hostPrivate+":443"), etatCivil)
	want("a private address", 0, 2, 2)

	// A tunnel the policy allowed, whose ClientHello names another host.
	fr := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
	want("a French destination", 1, 2, 2)
	if p.JudgeClientHello(fr, &tlspeek.ClientHello{ServerName: "elsewhere.example"}, nil, checks) || fr.Class() != audit.Sovereignty {
		t.Fatalf("SNI mismatch: class %q, reasons %v", fr.Class(), fr.Reasons)
	}
	want("SNI_MISMATCH", 0, 3, 2)
	// One that does not start with TLS.
	fr = p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
	if p.JudgeClientHello(fr, nil, fmt.Errorf("peek: %w", tlspeek.ErrNotTLS), checks) || fr.Class() != audit.Operational {
		t.Fatalf("not TLS: class %q, reasons %v", fr.Class(), fr.Reasons)
	}
	want("NOT_TLS", 0, 3, 3)
	// A decision the audit log could not take.
	fr = p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
	p.RefuseUnrecorded(fr)
	if !fr.Blocked() || fr.Status != http.StatusServiceUnavailable || fr.Class() != audit.Operational || fr.Detail.IsZero() {
		t.Fatalf("unrecorded: %+v", fr)
	}
	want("AUDIT_UNAVAILABLE", 0, 3, 4)
	if got := p.Stats().Blocked.Load(); got != 7 {
		t.Errorf("blocked %d, want 7", got)
	}
}
