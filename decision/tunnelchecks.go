package decision

import (
	"errors"
	"net/http"
	"slices"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/tlspeek"
)

// TunnelChecks are what the gateway verifies about a CONNECT tunnel beyond
// its destination.
type TunnelChecks struct {
	// ConnectPorts restricts CONNECT to these ports; empty allows any.
	ConnectPorts []uint16
	// TLSPorts are the ports where the tunnel must start with a TLS
	// ClientHello (with RequireTLS, other bytes are refused); the gateway
	// peeks at it without terminating TLS.
	TLSPorts []uint16
	// SNI refuses a ClientHello whose server name is not the CONNECT
	// target (or is missing for a host-name target), on every port: a
	// ClientHello is checked wherever it appears.
	SNI bool
	// RequireTLS refuses a tunnel to a TLS port whose first bytes are not
	// TLS.
	RequireTLS bool
}

// ExpectsTLSAt reports whether a tunnel to port must start with a TLS
// ClientHello, read before the tunnel's decision is recorded and before
// any byte goes upstream.
func (c TunnelChecks) ExpectsTLSAt(port uint16) bool {
	return (c.SNI || c.RequireTLS) && slices.Contains(c.TLSPorts, port)
}

// WatchesAt reports whether the first bytes of a tunnel to port, which
// need not be TLS, are looked at for a ClientHello once the tunnel is open.
// The other direction is not held meanwhile: protocols where the server
// speaks first work as before.
func (c TunnelChecks) WatchesAt(port uint16) bool {
	return c.SNI && !c.ExpectsTLSAt(port)
}

// JudgeClientHello applies the tunnel checks to what tlspeek read from the
// client at the start of a tunnel to a TLS port. A failed check is a
// violation like a policy denial: enforce mode blocks the tunnel, monitor
// mode forwards it and records the violation. It reports whether the
// tunnel may go on.
func (p *Pipeline) JudgeClientHello(out *Outcome, hello *tlspeek.ClientHello, err error, checks TunnelChecks) bool {
	if code, detail := clientHelloViolation(out.Target, hello, err, checks, true); code != "" {
		p.violate(out, code, detail)
	}
	return !out.Blocked()
}

// JudgeWatchedClientHello judges the first bytes of a tunnel to a port
// where TLS is not required (see WatchesAt). The tunnel's decision was
// recorded when it opened, so a failed check is a new decision about the
// same tunnel: it returns that outcome, to record and apply (enforce mode
// blocks), or nil when the bytes pass: a valid ClientHello for the
// target, or no TLS at all.
func (p *Pipeline) JudgeWatchedClientHello(open *Outcome, hello *tlspeek.ClientHello, err error, checks TunnelChecks) *Outcome {
	code, detail := clientHelloViolation(open.Target, hello, err, checks, false)
	if code == "" {
		return nil
	}
	now := p.now()
	out := &Outcome{
		ID: newID(now), Start: now, Target: open.Target, Caller: open.Caller, Mode: p.mode,
		Verdict: open.Verdict, Action: open.Action, Reasons: open.Reasons, Addrs: open.Addrs, refusal: open.refusal,
		Destination: open.Destination, Decision: open.Decision, categories: open.categories, PolicyRevision: open.PolicyRevision,
	}
	p.count(out)
	p.violate(out, code, detail)
	return out
}

// clientHelloViolation returns the code and detail of a failed check, or
// "" when the bytes pass. tlsPort says whether TLS was required.
func clientHelloViolation(t Target, hello *tlspeek.ClientHello, err error, checks TunnelChecks, tlsPort bool) (audit.Code, audit.Message) {
	switch {
	case err != nil && errors.Is(err, tlspeek.ErrNotTLS):
		if tlsPort && checks.RequireTLS {
			return audit.CodeNotTLS, audit.NotTLS(t.HostPort(), err)
		}
	case err != nil:
		// Malformed, too large, or the client went away or stayed silent
		// after starting a handshake: a ClientHello the gateway cannot
		// read may name any server, so it is not forwarded unchecked.
		return audit.CodeNotTLS, audit.NoClientHello(t.HostPort(), err)
	case checks.SNI:
		if msg := sniMismatch(t, hello.ServerName); !msg.IsZero() {
			return audit.CodeSNIMismatch, msg
		}
	}
	return "", audit.Message{}
}

// sniMismatch compares the ClientHello's server name with the target.
func sniMismatch(t Target, serverName string) audit.Message {
	switch {
	case serverName == "" && !t.IP.IsValid():
		return audit.NoServerName(t.Host)
	case serverName == "":
		return audit.Message{} // clients send no SNI to an IP address
	case serverName != t.Host:
		return audit.OtherServerName(serverName, t.Host)
	}
	return audit.Message{}
}

// violate records a failed tunnel check on an outcome and applies the mode.
func (p *Pipeline) violate(out *Outcome, code audit.Code, detail audit.Message) {
	wasDenied := out.Verdict == audit.Deny
	if wasDenied {
		p.stats.byClass(out.Class()).Add(-1)
	} else {
		p.stats.Allowed.Add(-1)
		p.stats.Denied.Add(1)
	}
	out.Verdict = audit.Deny
	out.Reasons = append(append([]audit.Code(nil), out.Reasons...), code)
	out.refusal = audit.ClassOf(out.Reasons) == audit.Operational
	p.stats.byClass(out.Class()).Add(1)
	out.Detail = detail
	if p.mode == Enforce {
		out.Action = audit.Blocked
		out.Status = http.StatusForbidden
		out.Addrs = nil
		p.stats.Blocked.Add(1)
	}
}
