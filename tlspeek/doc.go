// Package tlspeek reads the TLS ClientHello at the start of a CONNECT tunnel
// without terminating TLS, so the gateway can check that the name the client
// is about to present (SNI) is the name it asked to CONNECT to. That check is
// what stops domain fronting: "CONNECT allowed.example:443" followed by a
// ClientHello for "blocked.example" is the same tunnel to a CDN, but not the
// same destination.
//
// The gateway uses it like this, after answering 200 to the CONNECT:
//
//	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // server-first protocols send nothing
//	hello, consumed, err := tlspeek.Read(conn, tlspeek.DefaultMaxBytes)
//	conn.SetReadDeadline(time.Time{})
//	switch {
//	case errors.Is(err, tlspeek.ErrNotTLS): // not TLS: refuse, or forward consumed in a permissive mode
//	case err != nil:                        // malformed, too large, closed, timed out
//	case hello.ServerName != target.Host:   // domain fronting (or ECH, or no SNI)
//	}
//	upstream.Write(consumed) // the exact bytes read, unchanged
//	// then copy conn <-> upstream as usual
//
// # What Read consumes
//
// Read reads whole TLS records and never reads past the end of the record
// that completes the ClientHello: it asks r for the 5-byte record header and
// then exactly the record's payload, so it needs no buffering and leaves
// everything after the ClientHello (the client's next flight, early data) in
// r. The returned bytes are therefore exactly what the client sent up to the
// end of the ClientHello; writing them to the upstream and then copying the
// rest of r reproduces the client's stream byte for byte. On error, the bytes
// read so far are returned too, so a caller that lets unrecognised traffic
// through (an open or report mode) can still forward them.
//
// The cost of not reading ahead is two Read calls per record (header, then
// payload); a ClientHello is almost always one record.
//
// # Rules
//
// Record layer (RFC 8446 section 5.1, RFC 5246 section 6.2):
//
//   - The first record must have content type 22 (handshake) and a
//     legacy_record_version of 0x0300 to 0x0304 (0x0301 is what clients
//     send). Anything else is ErrNotTLS, decided as early as the first byte,
//     so a plain-text protocol (an HTTP request, an SSH banner) or a TLS
//     alert (type 21) is reported without waiting for five bytes.
//   - An SSLv2-compatible ClientHello (first byte with the high bit set, as in
//     0x80) is ErrNotTLS: no TLS 1.0+ server accepts it any more and it has no
//     extensions, so there is no SNI to check.
//   - Later records, until the ClientHello is complete, must also be type 22
//     with a version in the same range; a record of another type interleaved
//     with the ClientHello fragments is malformed (RFC 8446 forbids it).
//   - A record payload is 1 to 16384 (2^14) bytes. Zero-length handshake
//     records are malformed: RFC 5246 and RFC 8446 forbid sending them, Go's
//     crypto/tls refuses them, and no real client sends them.
//   - The ClientHello may be fragmented across any number of records
//     (including a handshake header split across records) and each record may
//     arrive in any number of reads.
//   - The ClientHello must end at a record boundary. RFC 8446 requires it
//     (a ClientHello can precede a key change) and in TLS 1.2 nothing may
//     follow it before the server answers, so handshake bytes after the
//     ClientHello in its last record are malformed.
//
// Handshake layer:
//
//   - The first handshake message must be a ClientHello (type 1); the
//     handshake length is checked against maxBytes as soon as it is known,
//     so a claimed 16 MB message is refused without reading it.
//   - legacy_session_id is at most 32 bytes, cipher_suites is a non-empty
//     even number of bytes, legacy_compression_methods is non-empty, and the
//     extensions block, when present, fills the rest of the message exactly.
//     No extensions at all is allowed (TLS 1.2).
//   - Every extension's length must fit. The four extensions Read interprets
//     must each appear at most once (RFC 8446 section 4.2): with two SNI
//     extensions, the gateway and the upstream could each believe a
//     different one. Other extensions are only checked for framing; their
//     contents are the upstream's business.
//
// Extensions:
//
//   - server_name (0, RFC 6066): the list must hold exactly one entry, of
//     type host_name (0), non-empty, and fill the extension exactly. RFC 6066
//     allows other name types in principle, but none exists and OpenSSL
//     refuses them; accepting only one shape leaves no room for the gateway
//     and the upstream to read different names. ServerName is the host_name
//     with ASCII letters lower-cased and one trailing dot removed (RFC 6066
//     forbids the dot and Go's server refuses it, but other servers accept it
//     and the CONNECT target is normalised without it). A name that is empty
//     or still ends in a dot after that is malformed, because "" means "no
//     SNI" and the result must stay comparable. Nothing else is changed or
//     validated: bytes that are not host-name characters, non-ASCII bytes and
//     IP literals (which RFC 6066 forbids in SNI) are returned as sent, for
//     the caller to compare with the CONNECT target, which is canonical ASCII
//     and so never equals such a value. Quote ServerName when logging it.
//   - application_layer_protocol_negotiation (16, RFC 7301): a non-empty list
//     of non-empty names, filling the extension exactly. Names are returned
//     as sent, in order.
//   - supported_versions (43, RFC 8446 section 4.2.1): 2 to 254 bytes, an
//     even number. Version is the highest entry in the TLS range
//     0x0300-0x03FF, which skips GREASE values (0x?A?A) and drafts; without
//     the extension (or without such an entry) it is the ClientHello's
//     legacy_version. LegacyVersion is always the legacy_version.
//   - encrypted_client_hello (0xfe0d): only its presence is reported, as
//     HasECH. With ECH, ServerName is the outer, public name of the ECH
//     provider, not the real destination. Chrome also sends a GREASE ECH
//     extension, indistinguishable on the wire from a real one, whenever it
//     has no ECH configuration, so HasECH alone does not prove the real
//     destination is hidden; a ServerName equal to the CONNECT target does
//     prove the outer name matches.
//
// Read also does not hang on a misbehaving reader: more than 100 consecutive
// empty reads with no error end in io.ErrNoProgress. It does hang, like any
// read, on a client that sends nothing, so the caller sets a read deadline;
// server-first protocols (SMTP, FTP, MySQL) look exactly like that.
package tlspeek
