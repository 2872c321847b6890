package tlspeek_test

import (
	"bytes"
	"crypto/tls"
	"testing"

	"github.com/sovgate/sovgate/tlspeek"
)

// BenchmarkRead measures the work added to every new CONNECT tunnel. The
// ClientHellos are real crypto/tls ones; "go-tls13" (SNI, ALPN h2 and
// http/1.1, post-quantum key share, about 1.5 KB) is the typical case.
//
//	go test -run='^$' -bench=BenchmarkRead -benchmem ./tlspeek/
func BenchmarkRead(b *testing.B) {
	tls13 := captureClientHello(b, &tls.Config{ServerName: "api.example.com", NextProtos: []string{"h2", "http/1.1"}})
	tls12 := captureClientHello(b, &tls.Config{ServerName: "api.example.com", NextProtos: []string{"http/1.1"}, MaxVersion: tls.VersionTLS12})
	_, msg := clientHelloEnd(b, tls13)
	streams := []struct {
		name string
		in   []byte
	}{
		{"go-tls13", tls13},
		{"go-tls12", tls12},
		{"go-tls13-4-records", fragment(msg, (len(msg)+3)/4)},
	}
	for _, s := range streams {
		b.Run(s.name, func(b *testing.B) {
			r := bytes.NewReader(s.in)
			b.SetBytes(int64(len(s.in)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(s.in)
				hello, _, err := tlspeek.Read(r, 0)
				if err != nil || hello.ServerName != "api.example.com" {
					b.Fatalf("Read = %v, %v", hello, err)
				}
			}
		})
	}
}
