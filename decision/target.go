package decision

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"

	"github.com/sovgate/sovgate/geo"
)

// Target is what a client asked the gateway to reach, normalised so that
// every later step (cache keys, classification, policy, audit) sees one
// spelling of each destination.
type Target struct {
	// Method is the HTTP method; CONNECT for tunnels.
	Method string
	// Scheme is "http" for absolute-form requests. For CONNECT tunnels it is
	// "https" when the port is 443 and "tcp" otherwise: the gateway cannot
	// see inside a tunnel, so the port is the only hint it has.
	Scheme string
	// Host is lower case, without a trailing dot, IDN converted to punycode.
	// IPv6 literals are written without brackets.
	Host string
	Port uint16
	// Path is the request path of absolute-form requests (no query string);
	// empty for tunnels.
	Path string
	// IP is set when Host is an IP literal; no DNS lookup happens then.
	IP netip.Addr
}

// HostPort returns host:port with IPv6 literals bracketed.
func (t Target) HostPort() string {
	return joinHostPort(t.Host, t.Port)
}

// String renders the target for logs and messages.
func (t Target) String() string {
	if t.Method == "CONNECT" {
		return "CONNECT " + t.HostPort()
	}
	return t.Method + " " + t.Scheme + "://" + t.HostPort() + t.Path
}

func joinHostPort(host string, port uint16) string {
	if strings.IndexByte(host, ':') >= 0 {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}

// TargetError says why a request target was refused (BAD_TARGET, 400).
type TargetError struct {
	Input  string
	Reason string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("bad target %q: %s", truncate(e.Input, 200), e.Reason)
}

func badTarget(input, format string, args ...any) error {
	return &TargetError{Input: input, Reason: fmt.Sprintf(format, args...)}
}

// ParseConnectTarget parses the authority of a CONNECT request
// ("host:port", "[v6]:port"). The port is mandatory: a tunnel without an
// explicit port is ambiguous, so it is refused rather than guessed.
func ParseConnectTarget(authority string) (Target, error) {
	host, port, err := splitAuthority(authority, 0)
	if err != nil {
		return Target{}, err
	}
	t := Target{Method: "CONNECT", Scheme: "tcp", Port: port}
	if port == 443 {
		t.Scheme = "https"
	}
	if t.Host, t.IP, err = NormalizeHost(host); err != nil {
		return Target{}, err
	}
	return t, nil
}

// ParseURLTarget parses the target of an absolute-form proxy request
// ("GET http://host/path"). Only http is forwarded in absolute form: an
// https URL must come through a CONNECT tunnel, so the TLS session stays
// between the client and the server.
func ParseURLTarget(method string, u *url.URL) (Target, error) {
	if u == nil || !u.IsAbs() {
		return Target{}, badTarget("", "not an absolute URL")
	}
	raw := u.Scheme + "://" + u.Host
	switch strings.ToLower(u.Scheme) {
	case "http":
	case "https":
		return Target{}, badTarget(raw, "https URLs must be sent through a CONNECT tunnel (set HTTPS_PROXY)")
	default:
		return Target{}, badTarget(raw, "scheme %q is not supported; only http, or CONNECT for tunnels", u.Scheme)
	}
	if u.User != nil {
		return Target{}, badTarget(raw, "user information in the target is not allowed")
	}
	host, port, err := splitAuthority(u.Host, 80)
	if err != nil {
		return Target{}, err
	}
	t := Target{Method: method, Scheme: "http", Port: port, Path: u.EscapedPath()}
	if t.Path == "" {
		t.Path = "/"
	}
	if t.Host, t.IP, err = NormalizeHost(host); err != nil {
		return Target{}, err
	}
	return t, nil
}

// splitAuthority splits host and port. defaultPort 0 makes the port
// mandatory.
func splitAuthority(authority string, defaultPort uint16) (string, uint16, error) {
	if authority == "" {
		return "", 0, badTarget(authority, "empty host")
	}
	if strings.ContainsAny(authority, "@/?#\\ \t\r\n") {
		return "", 0, badTarget(authority, "the authority must be host:port, without user information, path or spaces")
	}
	var host, portText string
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", 0, badTarget(authority, "unterminated IPv6 literal")
		}
		host = authority[1:end]
		rest := authority[end+1:]
		switch {
		case rest == "":
		case rest[0] == ':':
			portText = rest[1:]
			if portText == "" {
				return "", 0, badTarget(authority, "empty port")
			}
		default:
			return "", 0, badTarget(authority, "unexpected text after the IPv6 literal")
		}
		if !strings.Contains(host, ":") {
			return "", 0, badTarget(authority, "brackets are only for IPv6 literals")
		}
	} else {
		i := strings.LastIndexByte(authority, ':')
		if i >= 0 {
			if strings.IndexByte(authority[:i], ':') >= 0 {
				return "", 0, badTarget(authority, "IPv6 literals must be written in brackets")
			}
			host, portText = authority[:i], authority[i+1:]
			if portText == "" {
				return "", 0, badTarget(authority, "empty port")
			}
		} else {
			host = authority
		}
	}
	if portText == "" {
		if defaultPort == 0 {
			return "", 0, badTarget(authority, "a port is required (host:port)")
		}
		return host, defaultPort, nil
	}
	port, err := parsePort(portText)
	if err != nil {
		return "", 0, badTarget(authority, "%v", err)
	}
	return host, port, nil
}

func parsePort(s string) (uint16, error) {
	if len(s) > 5 {
		return 0, errors.New("port out of range 1-65535")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number", s)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, errors.New("port out of range 1-65535")
	}
	return uint16(n), nil
}

// NormalizeHost returns the canonical spelling of a host name or IP
// literal: lower case, no trailing dot, IDN as punycode. It refuses IPv4
// written in anything but canonical dotted decimal (2130706433, 0177.0.0.1,
// 0x7f.0.0.1, 127.1): resolvers and libraries read those differently, which
// is how an attacker makes the gateway check one address and reach another.
func NormalizeHost(host string) (string, netip.Addr, error) {
	input := host
	if host == "" {
		return "", netip.Addr{}, badTarget(input, "empty host")
	}
	if strings.IndexByte(host, ':') >= 0 {
		// Only IPv6 literals contain colons at this point.
		if strings.IndexByte(host, '%') >= 0 {
			return "", netip.Addr{}, badTarget(input, "IPv6 zone identifiers are not allowed")
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return "", netip.Addr{}, badTarget(input, "invalid IPv6 literal")
		}
		ip = ip.Unmap() // ::ffff:a.b.c.d is a.b.c.d, as in geo.CanonicalHost
		return ip.String(), ip, nil
	}
	if strings.HasSuffix(host, ".") {
		host = host[:len(host)-1]
		if host == "" || strings.HasSuffix(host, ".") {
			return "", netip.Addr{}, badTarget(input, "empty label")
		}
	}
	if looksNumeric(lastLabel(host)) {
		// Per the WHATWG URL standard, a host whose last label is a number is
		// an IPv4 address; only the canonical dotted-quad form is accepted.
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is4() {
			return "", netip.Addr{}, badTarget(input, "IPv4 addresses must be written as four decimal numbers (a.b.c.d) without leading zeros")
		}
		return ip.String(), ip, nil
	}
	ascii := strings.ToLower(host)
	if !isASCII(ascii) || strings.Contains(ascii, "xn--") {
		// The lookup profile maps (case-folds, normalises) and validates, so
		// "Bücher.example" and "xn--bcher-kva.example" become one name, and
		// malformed punycode is refused.
		var err error
		ascii, err = idna.Lookup.ToASCII(ascii)
		if err == nil {
			// golang/go#81525: x/net/idna checks the Bidi rule before
			// mapping (U+2135 ALEF SYMBOL becomes Hebrew alef), so it can
			// return an ASCII form it refuses itself. Accept fixed points only.
			var again string
			if again, err = idna.Lookup.ToASCII(ascii); err == nil && again != ascii {
				err = fmt.Errorf("%q changes when converted again", ascii)
			}
		}
		if err != nil {
			return "", netip.Addr{}, badTarget(input, "invalid international domain name: %v", err)
		}
		if looksNumeric(lastLabel(strings.TrimSuffix(ascii, "."))) {
			// Mapping made digits of other scripts ASCII ("８.８.８.８").
			return "", netip.Addr{}, badTarget(input, "IPv4 addresses must be written as four decimal numbers (a.b.c.d) without leading zeros")
		}
	}
	// The resolver's syntax rules (labels, length, characters) are the
	// ones that matter: a name it would refuse is refused here, with 400.
	name, _, err := geo.CanonicalHost(ascii)
	if err != nil {
		return "", netip.Addr{}, badTarget(input, "%v", err)
	}
	return name, netip.Addr{}, nil
}

func lastLabel(host string) string {
	if i := strings.LastIndexByte(host, '.'); i >= 0 {
		return host[i+1:]
	}
	return host
}

// looksNumeric reports whether a label is a number in any base an IPv4
// parser might accept: decimal digits, or 0x followed by hex digits.
func looksNumeric(label string) bool {
	if label == "" {
		return false
	}
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		for i := 2; i < len(label); i++ {
			if !isHex(label[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(label); i++ {
		if label[i] < '0' || label[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
