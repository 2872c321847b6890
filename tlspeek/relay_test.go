package tlspeek_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sovgate/sovgate/tlspeek"
)

// teeConn keeps a copy of everything written to the connection.
type teeConn struct {
	net.Conn
	mu   sync.Mutex
	sent bytes.Buffer
}

func (c *teeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.sent.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *teeConn) Sent() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.sent.Bytes())
}

type peeked struct {
	hello    *tlspeek.ClientHello
	consumed []byte
	err      error
}

// gateway accepts one connection on ln, peeks at its ClientHello as the
// egress handler does after "200 Connection established", forwards the
// consumed bytes to upstream and then relays both ways.
func gateway(t *testing.T, ln net.Listener, upstream string) <-chan peeked {
	out := make(chan peeked, 1)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // no t.Errorf after the test
	wg.Go(func() {
		client, err := ln.Accept()
		if err != nil {
			out <- peeked{err: err}
			return
		}
		defer client.Close()
		client.SetDeadline(time.Now().Add(10 * time.Second))
		hello, consumed, err := tlspeek.Read(client, 0)
		out <- peeked{hello, consumed, err}
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			t.Errorf("dial upstream: %v", err)
			return
		}
		defer up.Close()
		up.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := up.Write(consumed); err != nil {
			t.Errorf("forward ClientHello: %v", err)
			return
		}
		done := make(chan struct{})
		go func() {
			io.Copy(client, up)
			client.(*net.TCPConn).CloseWrite()
			close(done)
		}()
		io.Copy(up, client)
		up.(*net.TCPConn).CloseWrite()
		<-done
	})
	return out
}

// TestRelay runs real TLS clients through a gateway that uses Read, to a
// real TLS server: forwarding the consumed bytes and then copying must give
// a working TLS session, the consumed bytes must be exactly the client's
// ClientHello records, and what Read reports must be what the server saw.
func TestRelay(t *testing.T) {
	pki := newTestPKI(t, "api.example.com", "inner.example", "public.example")
	echList, echKey := newECHKey(t, "public.example")

	cases := []struct {
		name      string
		client    *tls.Config
		wantSNI   string // what the gateway sees
		serverSNI string // what the server sees
		wantProto string
		wantECH   bool
	}{
		{name: "tls13-h2", client: &tls.Config{ServerName: "api.example.com", NextProtos: []string{"h2", "http/1.1"}},
			wantSNI: "api.example.com", serverSNI: "api.example.com", wantProto: "h2"},
		{name: "tls12-http1", client: &tls.Config{ServerName: "api.example.com", NextProtos: []string{"http/1.1"}, MaxVersion: tls.VersionTLS12},
			wantSNI: "api.example.com", serverSNI: "api.example.com", wantProto: "http/1.1"},
		{name: "ip-no-sni", client: &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true},
			wantSNI: "", serverSNI: ""},
		// With ECH the gateway sees the public name and the server the real
		// one: exactly why a mismatch with the CONNECT target is refused.
		{name: "ech", client: &tls.Config{ServerName: "inner.example", EncryptedClientHelloConfigList: echList, NextProtos: []string{"h2"}},
			wantSNI: "public.example", serverSNI: "inner.example", wantProto: "h2", wantECH: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan *tls.ClientHelloInfo, 1)
			serverCfg := &tls.Config{
				Certificates:             []tls.Certificate{pki.cert},
				NextProtos:               []string{"h2", "http/1.1"},
				EncryptedClientHelloKeys: []tls.EncryptedClientHelloKey{echKey},
				GetConfigForClient: func(info *tls.ClientHelloInfo) (*tls.Config, error) {
					seen <- info
					return nil, nil
				},
			}
			srvLn := listen(t)
			var wg sync.WaitGroup
			t.Cleanup(wg.Wait)
			wg.Go(func() {
				c, err := srvLn.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				sc := tls.Server(c, serverCfg)
				line, err := bufio.NewReader(sc).ReadString('\n')
				if err != nil {
					t.Errorf("server: %v", err)
					return
				}
				io.WriteString(sc, "echo: "+line)
				sc.Close()
			})
			gwLn := listen(t)
			result := gateway(t, gwLn, srvLn.Addr().String())

			raw, err := net.Dial("tcp", gwLn.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			tee := &teeConn{Conn: raw}
			cfg := tc.client.Clone()
			cfg.RootCAs = pki.pool
			conn := tls.Client(tee, cfg)
			if _, err := io.WriteString(conn, "ping\n"); err != nil {
				t.Fatalf("client handshake through the gateway: %v", err)
			}
			reply, err := io.ReadAll(conn)
			if err != nil || string(reply) != "echo: ping\n" {
				t.Fatalf("client read %q, %v", reply, err)
			}
			st := conn.ConnectionState()
			if st.NegotiatedProtocol != tc.wantProto || st.ECHAccepted != tc.wantECH {
				t.Errorf("negotiated %q, ECH %v; want %q, %v", st.NegotiatedProtocol, st.ECHAccepted, tc.wantProto, tc.wantECH)
			}

			p := <-result
			if p.err != nil {
				t.Fatalf("gateway Read: %v", p.err)
			}
			sent := tee.Sent()
			end, _ := clientHelloEnd(t, sent)
			if !bytes.Equal(p.consumed, sent[:end]) {
				t.Errorf("consumed %d bytes; the client's ClientHello records are %d of the %d it sent", len(p.consumed), end, len(sent))
			}
			if p.hello.ServerName != tc.wantSNI || p.hello.HasECH != tc.wantECH {
				t.Errorf("gateway saw SNI %q, ECH %v; want %q, %v", p.hello.ServerName, p.hello.HasECH, tc.wantSNI, tc.wantECH)
			}
			info := <-seen
			if info.ServerName != tc.serverSNI {
				t.Errorf("server saw SNI %q, want %q", info.ServerName, tc.serverSNI)
			}
			if !tc.wantECH {
				// Without ECH the server parsed the same ClientHello.
				if !reflect.DeepEqual(p.hello.ALPN, info.SupportedProtos) && len(p.hello.ALPN)+len(info.SupportedProtos) > 0 {
					t.Errorf("gateway saw ALPN %q, server %q", p.hello.ALPN, info.SupportedProtos)
				}
				if want := slices.Max(info.SupportedVersions); p.hello.Version != want {
					t.Errorf("gateway saw version %#04x, server's highest %#04x", p.hello.Version, want)
				}
			}
		})
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
