package tlspeek

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// DefaultMaxBytes is the limit Read uses when maxBytes is not positive: one
// record of the largest size TLS allows (16 KiB of payload and its header).
// Real ClientHellos are 0.3 to 2 KiB (post-quantum key shares included) and
// a few KiB at most with resumption tickets, so this refuses none of them
// while bounding what a client that never finishes its ClientHello can make
// the gateway hold per connection.
const DefaultMaxBytes = recordHeaderLen + maxRecordPayload

const (
	recordHeaderLen     = 5
	handshakeHeaderLen  = 4
	maxRecordPayload    = 1 << 14 // RFC 8446 section 5.1: TLSPlaintext.length MUST NOT exceed 2^14
	recordTypeHandshake = 22
	typeClientHello     = 1

	// initialBufSize covers a typical ClientHello in one allocation.
	initialBufSize = 2048
	// maxPrealloc bounds the buffer reserved for a fragmented ClientHello
	// on the strength of its announced length alone.
	maxPrealloc = 64 << 10
	// maxEmptyReads mirrors bufio: a reader that keeps returning 0, nil is
	// broken, and waiting for it would hang the tunnel forever.
	maxEmptyReads = 100
)

// ClientHello holds what the gateway needs from a ClientHello.
type ClientHello struct {
	// ServerName is the SNI host_name with ASCII letters lower-cased and one
	// trailing dot removed, otherwise as sent (it may be an IP literal or hold
	// bytes that are not host-name characters; see the package
	// documentation). It is "" when the client sent no server_name
	// extension, which crypto/tls does for IP-address targets.
	ServerName string
	// ALPN lists the application protocols offered, as sent, in order; nil
	// without the extension.
	ALPN []string
	// Version is the highest TLS version the client offers: the highest
	// supported_versions entry in 0x0300-0x03FF (GREASE skipped), or
	// LegacyVersion when there is no such entry. 0x0304 is TLS 1.3.
	Version uint16
	// LegacyVersion is the ClientHello's legacy_version field (0x0303 for
	// TLS 1.2 and 1.3 clients).
	LegacyVersion uint16
	// HasECH reports an encrypted_client_hello extension. ServerName is then
	// the ECH provider's public name, unless the extension is GREASE.
	HasECH bool
}

// Read reads TLS records from r until one complete ClientHello handshake
// message has been read, and returns it with every byte consumed from r, so
// the caller can forward them unchanged before relaying the rest of r.
//
// The ClientHello may span several records and records may arrive in many
// small reads. Read never reads past the end of the record that completes the
// ClientHello, and more than maxBytes bytes are never read: when the
// ClientHello would need more, the error wraps ErrTooLarge. A maxBytes of 0
// or less means DefaultMaxBytes.
//
// Errors, all with context, are tested with errors.Is:
//   - ErrNotTLS: the first bytes are not a TLS handshake record;
//   - ErrTooLarge: the ClientHello would exceed maxBytes;
//   - ErrMalformed (a *FormatError): a framing or ClientHello rule is broken;
//   - io.EOF: r ended before its first byte;
//   - io.ErrUnexpectedEOF: r ended later, before the ClientHello was complete;
//   - io.ErrNoProgress: r returned no data and no error 100 times in a row;
//   - otherwise the error r returned (a deadline, a reset), wrapped.
//
// On error, the bytes read so far are returned with it. On success the
// ClientHello is non-nil and the error is nil; an error r returned together
// with the last bytes needed is dropped, as io.ReadFull does, and a reader
// such as net.Conn reports it again on the next Read.
func Read(r io.Reader, maxBytes int) (*ClientHello, []byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	p := peeker{r: r, max: maxBytes}
	hello, err := p.run()
	if len(p.buf) == 0 {
		return hello, nil, err
	}
	return hello, p.buf, err
}

// peeker accumulates everything read from r in buf.
type peeker struct {
	r   io.Reader
	max int
	buf []byte
}

func (p *peeker) run() (*ClientHello, error) {
	// msg collects the handshake message when it spans records; a
	// ClientHello in one record is parsed in place in buf.
	var msg []byte
	for rec := 1; ; rec++ {
		start := len(p.buf)
		if err := p.fill(recordHeaderLen, rec == 1); err != nil {
			return nil, err
		}
		hdr := p.buf[start:]
		n := int(hdr[3])<<8 | int(hdr[4])
		if err := checkRecordHeader(rec, hdr, n); err != nil {
			return nil, err
		}
		if total := len(p.buf) + n; total > p.max {
			return nil, fmt.Errorf("%w: record %d of %d bytes would bring the total to %d bytes, over the limit of %d",
				ErrTooLarge, rec, n, total, p.max)
		}
		if err := p.fill(n, false); err != nil {
			return nil, err
		}
		body := p.buf[start+recordHeaderLen:]

		hs := body
		if msg != nil || !holdsMessage(body) {
			if msg == nil && len(body) >= handshakeHeaderLen {
				// Sized for the whole message, but the length is only the
				// client's claim: never beyond the limit, nor 64 KiB
				// (crypto/tls's limit for a handshake message) until the bytes
				// actually arrive.
				msg = make([]byte, 0, min(handshakeHeaderLen+handshakeLen(body), p.max, maxPrealloc))
			}
			msg = append(msg, body...)
			hs = msg
		}

		if hs[0] != typeClientHello {
			return nil, malformed("handshake header", "message type %d, want ClientHello (1)", hs[0])
		}
		if len(hs) < handshakeHeaderLen {
			continue
		}
		want := handshakeHeaderLen + handshakeLen(hs)
		if missing := want - len(hs); missing > 0 {
			// At least one more record header and the missing bytes.
			if least := len(p.buf) + recordHeaderLen + missing; least > p.max {
				return nil, fmt.Errorf("%w: ClientHello of %d bytes needs at least %d bytes of records, over the limit of %d",
					ErrTooLarge, want, least, p.max)
			}
			continue
		}
		if extra := len(hs) - want; extra > 0 {
			return nil, malformed(recordField(rec),
				"%d bytes after the end of the ClientHello; it must end at a record boundary", extra)
		}
		return parseClientHello(hs)
	}
}

// holdsMessage reports whether b starts with a complete handshake message.
func holdsMessage(b []byte) bool {
	return len(b) >= handshakeHeaderLen && len(b) >= handshakeHeaderLen+handshakeLen(b)
}

// handshakeLen is the uint24 length in a handshake header.
func handshakeLen(b []byte) int {
	return int(b[1])<<16 | int(b[2])<<8 | int(b[3])
}

// recordField names record rec (1-based) in a FormatError.
func recordField(rec int) string { return "record " + strconv.Itoa(rec) }

// checkRecordHeader applies the record-layer rules to a complete header.
// The first record's type and version were checked while it arrived.
func checkRecordHeader(rec int, hdr []byte, n int) error {
	if rec > 1 {
		if hdr[0] != recordTypeHandshake {
			return malformed(recordField(rec), "content type %d before the ClientHello was complete; handshake records must not be interleaved with other types", hdr[0])
		}
		if hdr[1] != 3 || hdr[2] > 4 {
			return malformed(recordField(rec), "record version 0x%02x%02x, want 0x0300 to 0x0304", hdr[1], hdr[2])
		}
	}
	switch {
	case n == 0:
		return malformed(recordField(rec), "zero-length handshake record")
	case n > maxRecordPayload:
		return malformed(recordField(rec), "length %d exceeds the TLS maximum of %d", n, maxRecordPayload)
	}
	return nil
}

// fill reads exactly n more bytes into buf. When first is set (the first
// record header), it checks the bytes after every read, so that a client
// speaking another protocol is recognised from its first byte.
func (p *peeker) fill(n int, first bool) error {
	start := len(p.buf)
	end := start + n
	if end > p.max {
		return fmt.Errorf("%w: %d bytes read and at least %d more needed, over the limit of %d",
			ErrTooLarge, start, n, p.max)
	}
	if p.buf == nil {
		p.buf = make([]byte, 0, max(n, min(p.max, initialBufSize)))
	} else {
		p.buf = slices.Grow(p.buf, n)
	}
	for empty := 0; len(p.buf) < end; {
		m, err := p.r.Read(p.buf[len(p.buf):end])
		if m < 0 || m > end-len(p.buf) {
			return fmt.Errorf("tlspeek: reader returned an invalid count %d after %d bytes", m, len(p.buf))
		}
		p.buf = p.buf[:len(p.buf)+m]
		if first {
			if err := checkFirstHeader(p.buf[start:]); err != nil {
				return err
			}
		}
		if len(p.buf) == end {
			return nil
		}
		if err != nil {
			return p.readError(err)
		}
		if m > 0 {
			empty = 0
		} else if empty++; empty >= maxEmptyReads {
			return fmt.Errorf("tlspeek: reader returned no data %d times after %d bytes: %w",
				empty, len(p.buf), io.ErrNoProgress)
		}
	}
	return nil
}

func (p *peeker) readError(err error) error {
	if errors.Is(err, io.EOF) {
		if len(p.buf) == 0 {
			return fmt.Errorf("tlspeek: connection closed before sending anything: %w", io.EOF)
		}
		return fmt.Errorf("tlspeek: connection closed after %d bytes, before the ClientHello was complete: %w",
			len(p.buf), io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("tlspeek: reading the ClientHello after %d bytes: %w", len(p.buf), err)
}

// checkFirstHeader checks a prefix (1 to 5 bytes) of the first record header:
// content type handshake, legacy_record_version 0x0300 to 0x0304.
func checkFirstHeader(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if b[0] != recordTypeHandshake {
		return fmt.Errorf("%w: %s", ErrNotTLS, describeFirstByte(b))
	}
	if len(b) >= 2 && b[1] != 3 {
		return fmt.Errorf("%w: handshake record type followed by version byte 0x%02x, want 0x03", ErrNotTLS, b[1])
	}
	if len(b) >= 3 && b[2] > 4 {
		return fmt.Errorf("%w: record version 0x03%02x, want 0x0300 to 0x0304", ErrNotTLS, b[2])
	}
	return nil
}

// describeFirstByte says what a stream starting with b (b[0] not 22) probably
// is, for the decision log.
func describeFirstByte(b []byte) string {
	switch c := b[0]; {
	case c == 20:
		return "a change_cipher_spec record (type 20), not a handshake"
	case c == 21:
		return "an alert record (type 21), not a handshake"
	case c == 23:
		return "an application_data record (type 23), not a handshake"
	case c == 24:
		return "a heartbeat record (type 24), not a handshake"
	case c&0x80 != 0:
		return fmt.Sprintf("first byte 0x%02x: an SSLv2-compatible ClientHello (not supported) or another binary protocol", c)
	case c >= 0x20 && c < 0x7f:
		return fmt.Sprintf("plain text starting %q (an HTTP request, an SSH banner, ...)", b)
	default:
		return fmt.Sprintf("first byte 0x%02x is not a TLS record type", c)
	}
}
