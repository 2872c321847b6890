package tlspeek

import (
	"errors"
	"fmt"
)

var (
	// ErrNotTLS means the first bytes are not a TLS handshake record: a
	// plain-text protocol (HTTP, SSH), another TLS record type (an alert), an
	// SSLv2-compatible hello or binary data. The gateway usually refuses the
	// tunnel, since a tunnel to port 443 that does not speak TLS is not what
	// the CONNECT was allowed for.
	ErrNotTLS = errors.New("tlspeek: not a TLS handshake record")

	// ErrTooLarge means more than maxBytes would have to be read before the
	// ClientHello is complete. It is reported as soon as a record or
	// handshake length makes it certain, before those bytes are read.
	ErrTooLarge = errors.New("tlspeek: ClientHello larger than the limit")

	// ErrMalformed is wrapped by every *FormatError: the stream starts like
	// TLS but breaks a framing or ClientHello rule (see the package
	// documentation).
	ErrMalformed = errors.New("tlspeek: malformed ClientHello")
)

// FormatError says which part of a TLS stream that started like a handshake
// is wrong, so a refused tunnel can be explained in the decision log.
// errors.Is(err, ErrMalformed) holds for it.
type FormatError struct {
	// Field names the place: "record 2", "handshake header",
	// "cipher_suites", "extension server_name", ...
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (e *FormatError) Error() string {
	return ErrMalformed.Error() + ": " + e.Field + ": " + e.Reason
}

// Unwrap lets errors.Is(err, ErrMalformed) match every FormatError.
func (e *FormatError) Unwrap() error { return ErrMalformed }

func malformed(field, format string, args ...any) error {
	return &FormatError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
