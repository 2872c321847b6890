package tlspeek

// Extension types Read interprets.
const (
	extServerName        = 0      // RFC 6066
	extALPN              = 16     // RFC 7301
	extSupportedVersions = 43     // RFC 8446 section 4.2.1
	extECH               = 0xfe0d // encrypted_client_hello (draft-ietf-tls-esni)

	nameTypeHostName = 0
)

// cursor reads big-endian TLS presentation-language fields. Each method
// reports false, consuming nothing useful, when the input is too short.
type cursor []byte

func (c *cursor) u8() (uint8, bool) {
	if len(*c) < 1 {
		return 0, false
	}
	v := (*c)[0]
	*c = (*c)[1:]
	return v, true
}

func (c *cursor) u16() (uint16, bool) {
	if len(*c) < 2 {
		return 0, false
	}
	v := uint16((*c)[0])<<8 | uint16((*c)[1])
	*c = (*c)[2:]
	return v, true
}

func (c *cursor) take(n int) (cursor, bool) {
	if len(*c) < n {
		return nil, false
	}
	v := (*c)[:n:n]
	*c = (*c)[n:]
	return v, true
}

// vec8 reads an opaque<..2^8-1> vector.
func (c *cursor) vec8() (cursor, bool) {
	n, ok := c.u8()
	if !ok {
		return nil, false
	}
	return c.take(int(n))
}

// vec16 reads an opaque<..2^16-1> vector.
func (c *cursor) vec16() (cursor, bool) {
	n, ok := c.u16()
	if !ok {
		return nil, false
	}
	return c.take(int(n))
}

// parseClientHello parses a complete ClientHello handshake message (header
// included), RFC 8446 section 4.1.2:
//
//	uint16 legacy_version; opaque random[32];
//	opaque legacy_session_id<0..32>;
//	CipherSuite cipher_suites<2..2^16-2>;
//	opaque legacy_compression_methods<1..2^8-1>;
//	Extension extensions<0..2^16-1>;  (absent in some TLS 1.2 ClientHellos)
func parseClientHello(msg []byte) (*ClientHello, error) {
	s := cursor(msg[handshakeHeaderLen:])
	h := &ClientHello{}
	var ok bool
	if h.LegacyVersion, ok = s.u16(); !ok {
		return nil, malformed("legacy_version", "truncated")
	}
	if _, ok = s.take(32); !ok {
		return nil, malformed("random", "truncated")
	}
	sid, ok := s.vec8()
	switch {
	case !ok:
		return nil, malformed("legacy_session_id", "truncated")
	case len(sid) > 32:
		return nil, malformed("legacy_session_id", "%d bytes, more than 32", len(sid))
	}
	suites, ok := s.vec16()
	switch {
	case !ok:
		return nil, malformed("cipher_suites", "truncated")
	case len(suites) == 0 || len(suites)%2 != 0:
		return nil, malformed("cipher_suites", "%d bytes; want a non-empty list of 2-byte suites", len(suites))
	}
	comp, ok := s.vec8()
	switch {
	case !ok:
		return nil, malformed("legacy_compression_methods", "truncated")
	case len(comp) == 0:
		return nil, malformed("legacy_compression_methods", "empty")
	}
	h.Version = h.LegacyVersion
	if len(s) == 0 {
		return h, nil // no extensions: a TLS 1.2 (or older) client without SNI
	}
	exts, ok := s.vec16()
	switch {
	case !ok:
		return nil, malformed("extensions", "block longer than the rest of the message (%d bytes)", len(s))
	case len(s) != 0:
		return nil, malformed("extensions", "%d bytes after the extensions block", len(s))
	}
	var seenSNI, seenALPN, seenVersions bool
	for len(exts) > 0 {
		typ, ok := exts.u16()
		if !ok {
			return nil, malformed("extensions", "1 byte left, too short for an extension")
		}
		data, ok := exts.vec16()
		if !ok {
			return nil, malformed("extensions", "extension %d longer than the extensions block", typ)
		}
		var err error
		switch typ {
		case extServerName:
			if seenSNI {
				return nil, malformed("extension server_name", "present twice")
			}
			seenSNI = true
			h.ServerName, err = parseServerName(data)
		case extALPN:
			if seenALPN {
				return nil, malformed("extension application_layer_protocol_negotiation", "present twice")
			}
			seenALPN = true
			h.ALPN, err = parseALPN(data)
		case extSupportedVersions:
			if seenVersions {
				return nil, malformed("extension supported_versions", "present twice")
			}
			seenVersions = true
			err = parseSupportedVersions(data, h)
		case extECH:
			if h.HasECH {
				return nil, malformed("extension encrypted_client_hello", "present twice")
			}
			h.HasECH = true
		}
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

// parseServerName parses the server_name extension (RFC 6066 section 3):
//
//	struct { NameType name_type; select (name_type) { case host_name: HostName; } name; } ServerName;
//	ServerName server_name_list<1..2^16-1>;  HostName opaque<1..2^16-1>;
//
// and accepts only a list of exactly one host_name (see the package
// documentation for why).
func parseServerName(data cursor) (string, error) {
	const field = "extension server_name"
	list, ok := data.vec16()
	switch {
	case !ok:
		return "", malformed(field, "server_name_list longer than the extension")
	case len(data) != 0:
		return "", malformed(field, "%d bytes after server_name_list", len(data))
	case len(list) == 0:
		return "", malformed(field, "empty server_name_list")
	}
	typ, _ := list.u8()
	if typ != nameTypeHostName {
		return "", malformed(field, "name_type %d; only host_name (0) is accepted", typ)
	}
	name, ok := list.vec16()
	switch {
	case !ok:
		return "", malformed(field, "host_name longer than server_name_list")
	case len(list) != 0:
		return "", malformed(field, "more than one entry in server_name_list; one host_name is allowed")
	case len(name) == 0:
		return "", malformed(field, "empty host_name")
	}
	// One trailing dot is the fully-qualified spelling of the same name; an
	// empty name would read as "no SNI", and "a.." still ends in a dot.
	host := name
	if host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	if len(host) == 0 || host[len(host)-1] == '.' {
		return "", malformed(field, "host_name %q is empty or ends in an empty label", []byte(name))
	}
	return lowerASCII(host), nil
}

// lowerASCII returns b as a string with only A-Z lower-cased: other bytes,
// including invalid UTF-8, stay exactly as sent (strings.ToLower would
// rewrite them).
func lowerASCII(b []byte) string {
	upper := false
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			upper = true
			break
		}
	}
	if !upper {
		return string(b)
	}
	l := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	return string(l)
}

// parseALPN parses application_layer_protocol_negotiation (RFC 7301 section
// 3.1): ProtocolName protocol_name_list<2..2^16-1>, ProtocolName
// opaque<1..2^8-1>. The names share one string allocation.
func parseALPN(data cursor) ([]string, error) {
	const field = "extension application_layer_protocol_negotiation"
	list, ok := data.vec16()
	switch {
	case !ok:
		return nil, malformed(field, "protocol_name_list longer than the extension")
	case len(data) != 0:
		return nil, malformed(field, "%d bytes after protocol_name_list", len(data))
	case len(list) == 0:
		return nil, malformed(field, "empty protocol_name_list")
	}
	count := 0
	for rest := list; len(rest) > 0; count++ {
		name, ok := rest.vec8()
		switch {
		case !ok:
			return nil, malformed(field, "protocol name %d longer than the list", count+1)
		case len(name) == 0:
			return nil, malformed(field, "protocol name %d is empty", count+1)
		}
	}
	all := string(list)
	protos := make([]string, 0, count)
	for off := 0; off < len(all); {
		n := int(all[off])
		protos = append(protos, all[off+1:off+1+n])
		off += 1 + n
	}
	return protos, nil
}

// parseSupportedVersions parses supported_versions in a ClientHello (RFC 8446
// section 4.2.1): ProtocolVersion versions<2..254>. Version becomes the
// highest entry in 0x0300-0x03FF, which leaves out GREASE (0x?A?A), DTLS and
// draft versions.
func parseSupportedVersions(data cursor, h *ClientHello) error {
	const field = "extension supported_versions"
	list, ok := data.vec8()
	switch {
	case !ok:
		return malformed(field, "version list longer than the extension")
	case len(data) != 0:
		return malformed(field, "%d bytes after the version list", len(data))
	case len(list) < 2 || len(list)%2 != 0:
		return malformed(field, "%d bytes; want 2 to 254, an even number", len(list))
	}
	var best uint16
	for len(list) > 0 {
		v, _ := list.u16()
		if v>>8 == 3 && v > best {
			best = v
		}
	}
	if best != 0 {
		h.Version = best
	}
	return nil
}
