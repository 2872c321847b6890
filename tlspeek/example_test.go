package tlspeek_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/sovgate/sovgate/tlspeek"
)

// The egress handler, after answering a CONNECT for api.example.com:443,
// reads the ClientHello and checks its SNI before dialling the upstream.
func Example() {
	clientSide, gatewaySide := net.Pipe()
	go func() {
		// A client that asks for one name in CONNECT and fronts another.
		tls.Client(clientSide, &tls.Config{ServerName: "blocked.example", NextProtos: []string{"h2"}}).Handshake()
		clientSide.Close()
	}()

	connectHost := "api.example.com"
	hello, consumed, err := tlspeek.Read(gatewaySide, tlspeek.DefaultMaxBytes)
	gatewaySide.Close()
	switch {
	case errors.Is(err, tlspeek.ErrNotTLS):
		fmt.Println("refused: not TLS:", err)
	case err != nil:
		fmt.Println("refused:", err)
	case hello.ServerName != connectHost:
		fmt.Printf("refused: SNI %q is not the CONNECT target %q (ALPN %q)\n", hello.ServerName, connectHost, hello.ALPN)
	default:
		fmt.Printf("forward %d bytes, then relay\n", len(consumed))
	}

	// Plain HTTP sent into a tunnel is recognised from its first byte.
	_, _, err = tlspeek.Read(strings.NewReader("GET / HTTP/1.1\r\n\r\n"), 0)
	fmt.Println(errors.Is(err, tlspeek.ErrNotTLS))
	// Output:
	// refused: SNI "blocked.example" is not the CONNECT target "api.example.com" (ALPN ["h2"])
	// true
}
