package decision

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/sovgate/sovgate/tlspeek"
)

// Codes of the checks made on CONNECT tunnels.
const (
	// CodeSNIMismatch: the TLS ClientHello names another server than the
	// CONNECT target, or none for a host-name target (domain fronting).
	CodeSNIMismatch = "SNI_MISMATCH"
	// CodeNotTLS: the first bytes of a tunnel to a TLS port are not a TLS
	// ClientHello.
	CodeNotTLS = "NOT_TLS"
	// CodePortNotAllowed: CONNECT to a port outside connect_ports.
	CodePortNotAllowed = "PORT_NOT_ALLOWED"
)

// TunnelChecks are what the gateway verifies about a CONNECT tunnel beyond
// its destination.
type TunnelChecks struct {
	// ConnectPorts restricts CONNECT to these ports; empty allows any.
	ConnectPorts []uint16
	// TLSPorts are the ports where the tunnel must start with a TLS
	// ClientHello; the gateway peeks at it without terminating TLS.
	TLSPorts []uint16
	// SNI refuses a ClientHello whose server name is not the CONNECT
	// target (or is missing for a host-name target).
	SNI bool
	// RequireTLS refuses a tunnel to a TLS port whose first bytes are not
	// TLS.
	RequireTLS bool
}

// PeeksAt reports whether the tunnel's first bytes must be read and
// checked.
func (c TunnelChecks) PeeksAt(port uint16) bool {
	return (c.SNI || c.RequireTLS) && slices.Contains(c.TLSPorts, port)
}

// RefusePort returns the outcome of a CONNECT to a port outside
// ConnectPorts (403 PORT_NOT_ALLOWED in every mode: the restriction is the
// admin's, not the policy's), or nil when the port is allowed.
func (p *Pipeline) RefusePort(t Target, c Caller, checks TunnelChecks) *Outcome {
	if t.Method != http.MethodConnect || len(checks.ConnectPorts) == 0 || slices.Contains(checks.ConnectPorts, t.Port) {
		return nil
	}
	now := p.now()
	out := &Outcome{ID: newID(now), Start: now, Target: t, Caller: c, Mode: p.mode}
	out.block(http.StatusForbidden, CodePortNotAllowed,
		fmt.Sprintf("CONNECT to port %d is not allowed (allowed: %v)", t.Port, checks.ConnectPorts))
	out.PolicyRevision = p.policy.Load().Revision()
	p.count(out)
	return out
}

// JudgeClientHello applies the tunnel checks to what tlspeek read from the
// client. A failed check is a violation like a policy denial: enforce mode
// blocks the tunnel, monitor mode forwards it and records the violation. It
// reports whether the tunnel may go on.
func (p *Pipeline) JudgeClientHello(out *Outcome, hello *tlspeek.ClientHello, err error, checks TunnelChecks) bool {
	switch {
	case err != nil && errors.Is(err, tlspeek.ErrNotTLS):
		if checks.RequireTLS {
			p.violate(out, CodeNotTLS, fmt.Sprintf("the tunnel to %s does not start with TLS: %v", out.Target.HostPort(), err))
		}
	case err != nil:
		// Malformed, too large, or the client went away or stayed silent:
		// nothing sensible can be forwarded.
		p.violate(out, CodeNotTLS, fmt.Sprintf("no valid TLS ClientHello for %s: %v", out.Target.HostPort(), err))
	case checks.SNI:
		if msg := sniMismatch(out.Target, hello.ServerName); msg != "" {
			p.violate(out, CodeSNIMismatch, msg)
		}
	}
	return !out.Blocked()
}

// sniMismatch compares the ClientHello's server name with the target.
func sniMismatch(t Target, serverName string) string {
	switch {
	case serverName == "" && !t.IP.IsValid():
		return fmt.Sprintf("the ClientHello for %s names no server", t.Host)
	case serverName == "":
		return "" // clients send no SNI to an IP address
	case serverName != t.Host:
		return fmt.Sprintf("the ClientHello names %q, not the CONNECT target %q", serverName, t.Host)
	}
	return ""
}

// violate records a failed tunnel check on an outcome and applies the mode.
func (p *Pipeline) violate(out *Outcome, code, detail string) {
	if out.Verdict == "allow" {
		p.stats.Allowed.Add(-1)
		p.stats.Denied.Add(1)
	}
	out.Verdict = "deny"
	out.Reasons = append(append([]string(nil), out.Reasons...), code)
	out.Detail = detail
	if p.mode == Enforce {
		out.Action = "blocked"
		out.Status = http.StatusForbidden
		out.Addrs = nil
		p.stats.Blocked.Add(1)
	}
}
