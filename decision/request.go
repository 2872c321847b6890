package decision

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/sovgate/sovgate/audit"
)

// Request is a proxy request as the gateway received it: what the client
// asks for, and who it claims to be.
type Request struct {
	// Target is the destination; when TargetErr is set, the target could
	// not be parsed and Target holds what can be recorded of it.
	Target    Target
	TargetErr error

	// Caller is who the request comes from, as far as is known without an
	// expensive check: an app named by a verified client certificate, a
	// registered network or a password already checked (Verified), or a
	// claim not checked yet. Its share of the limits is spent before
	// anything else is done.
	Caller Caller
	// Identify completes the identification (a password to check, a
	// claim to reconcile with a certificate) and returns the caller, or
	// the refusal of a request whose identity does not hold. Nil: Caller
	// stands.
	Identify func(context.Context) (Caller, *Refusal)

	// Tunnel is true for CONNECT: the request holds a tunnel slot for as
	// long as the tunnel is open.
	Tunnel bool
	// Checks are the admin's restrictions on tunnels (connect_ports).
	Checks TunnelChecks
}

// Refusal is a request refused before its destination is looked at.
type Refusal struct {
	Status int
	Code   audit.Code
	Detail audit.Message
	// RetryAfter tells the client when to try again (429).
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return string(r.Code) + ": " + r.Detail.String() }

// DecideRequest is the gateway's single entry point for a proxy request.
// Its steps run in an order that matters:
//
//  1. admission: the caller's request rate, then, for a tunnel, a tunnel
//     slot. A client over its share gets 429 whatever its request, so a
//     flood of malformed or unauthenticated requests costs nothing past
//     this step (and is summarised in the audit, see Journal);
//  2. the target (400 BAD_TARGET);
//  3. the identity (407, or 429 while a source or an app guesses
//     passwords), so no password is checked for a request refused anyway;
//  4. the admin's port restriction (403 PORT_NOT_ALLOWED);
//  5. the destination: resolve, refuse the gateway's own and private
//     addresses, classify, evaluate the policy, apply the mode (Decide).
//
// It never returns nil. The caller answers a blocked outcome, or forwards
// to Outcome.Addrs; a tunnel must call Outcome.Release when it closes.
func (p *Pipeline) DecideRequest(ctx context.Context, req Request) *Outcome {
	release, refused := p.admit(req.Target, req.Caller, req.Tunnel)
	if refused != nil {
		return refused
	}
	out := p.decideAdmitted(ctx, req, &release)
	if out.Blocked() && release != nil {
		release()
		release = nil
	}
	out.release = release
	return out
}

// admit spends one request of the caller's share and, for a tunnel,
// reserves a slot (whose release it returns), or returns the refusal.
func (p *Pipeline) admit(t Target, c Caller, tunnel bool) (release func(), refused *Outcome) {
	if wait, ok := p.admission.allow(admissionKey(c), p.now()); !ok {
		return nil, p.refuse(t, c, &Refusal{
			Status: http.StatusTooManyRequests, Code: audit.CodeRateLimited, RetryAfter: wait,
			Detail: rateExceeded(c, p.admission.limits.RatePerApp),
		})
	}
	if !tunnel {
		return nil, nil
	}
	release, refusal := p.admission.acquireTunnel(c)
	if release == nil {
		return nil, p.refuse(t, c, &Refusal{
			Status: http.StatusTooManyRequests, Code: audit.CodeTooManyTunnels, Detail: refusal, RetryAfter: time.Second,
		})
	}
	return release, nil
}

// decideAdmitted runs the steps after admission. release is the tunnel
// slot, moved to the app's share when the identity proves to be another
// share than the one claimed.
func (p *Pipeline) decideAdmitted(ctx context.Context, req Request, release *func()) *Outcome {
	if req.TargetErr != nil {
		return p.Refuse(req.Target, req.Caller, req.TargetErr)
	}
	caller := req.Caller
	if req.Identify != nil {
		var refusal *Refusal
		if caller, refusal = req.Identify(ctx); refusal != nil {
			// What the client claimed is in the detail; the record names
			// no app it could not prove.
			anonymous := Caller{App: UnknownApp, IP: req.Caller.IP, IdentifiedBy: "none"}
			return p.refuse(req.Target, anonymous, refusal)
		}
		if admissionKey(caller) != admissionKey(req.Caller) {
			// The identity is proved (a password checked for the first
			// time): from now on the request is the app's, and spends
			// the app's share.
			moved, refused := p.admit(req.Target, caller, req.Tunnel)
			if refused != nil {
				return refused
			}
			if *release != nil {
				(*release)()
			}
			*release = moved
		}
	}
	if refusal := refusePort(req.Target, req.Checks); refusal != nil {
		return p.refuse(req.Target, caller, refusal)
	}
	return p.Decide(ctx, req.Target, caller)
}

// refusePort refuses a CONNECT to a port outside ConnectPorts (403
// PORT_NOT_ALLOWED in every mode: the restriction is the admin's, not the
// policy's).
func refusePort(t Target, checks TunnelChecks) *Refusal {
	if t.Method != http.MethodConnect || len(checks.ConnectPorts) == 0 || slices.Contains(checks.ConnectPorts, t.Port) {
		return nil
	}
	return &Refusal{Status: http.StatusForbidden, Code: audit.CodePortNotAllowed,
		Detail: audit.PortNotAllowed(t.Port, checks.ConnectPorts)}
}

// Refuse makes the outcome of a request refused before its destination was
// looked at: err is a *Refusal, or any other error for a target that could
// not be parsed (400 BAD_TARGET). The request is answered and recorded.
func (p *Pipeline) Refuse(t Target, c Caller, err error) *Outcome {
	var refusal *Refusal
	if !errors.As(err, &refusal) {
		refusal = &Refusal{Status: http.StatusBadRequest, Code: audit.CodeBadTarget, Detail: audit.Malformed(err)}
	}
	return p.refuse(t, c, refusal)
}

func (p *Pipeline) refuse(t Target, c Caller, r *Refusal) *Outcome {
	now := p.now()
	out := &Outcome{ID: newID(now), Start: now, Target: t, Caller: c, Mode: p.mode, RefusedEarly: true}
	out.block(r.Status, r.Code, r.Detail)
	out.RetryAfter = r.RetryAfter
	out.PolicyRevision = p.policy.Load().Revision()
	p.count(out)
	return out
}
