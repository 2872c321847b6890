package egress

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sovgate/sovgate/decision"
)

// writeCounter records the writes made to a connection.
type writeCounter struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, bytes.Clone(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// loopbackPair returns the two ends of a real TCP connection on loopback.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestWatchedFirstBytesGoUpstreamInOneWrite: on a port where TLS is not
// required, the client's first bytes are looked at for a ClientHello. The
// watch read one byte, then the copy the rest, so every such tunnel cost
// an extra read and an extra write (a one-byte TCP segment) upstream. Bytes
// that are not TLS now go upstream as they were read, in one write, and
// the copy goes on with what follows.
func TestWatchedFirstBytesGoUpstreamInOneWrite(t *testing.T) {
	h := &Handler{}
	gatewayEnd, upstreamEnd := loopbackPair(t)
	upstream := &writeCounter{Conn: gatewayEnd}
	tun := &tunnel{upstream: upstream, idle: time.Minute, deadline: time.Now().Add(time.Minute)}
	tun.watchFirst = h.watchClientHello(nil, func(time.Duration) {}, io.Discard)

	request := "GET / HTTP/1.1\r\nHost: eu.test\r\n\r\n"
	more := "and what follows"
	// Each Read of the client returns one of its writes, as a socket does.
	client := io.MultiReader(bytes.NewReader([]byte(request)), bytes.NewReader([]byte(more)))
	up, err := tun.copyUp(client, make([]byte, 16<<10))
	if err != nil {
		t.Fatalf("copyUp: %v", err)
	}
	if want := int64(len(request) + len(more)); up != want {
		t.Errorf("counted %d bytes up, want %d", up, want)
	}
	upstream.mu.Lock()
	writes := upstream.writes
	upstream.mu.Unlock()
	if len(writes) != 2 || string(writes[0]) != request || string(writes[1]) != more {
		t.Errorf("upstream writes %q, want the request in one write, then the rest", writes)
	}
	gatewayEnd.Close()
	got, err := io.ReadAll(upstreamEnd)
	if err != nil || string(got) != request+more {
		t.Errorf("upstream received %q (%v)", got, err)
	}
}

// TestWatchedClientClosingEarly: a client that sends a few bytes and
// closes at once (the read that returns its bytes also returns EOF) has
// them forwarded, and the copy ends cleanly; one that sends nothing
// forwards nothing.
func TestWatchedClientClosingEarly(t *testing.T) {
	h := &Handler{}
	for _, sent := range []string{"QUIT\r\n", ""} {
		gatewayEnd, upstreamEnd := loopbackPair(t)
		tun := &tunnel{upstream: gatewayEnd, idle: time.Minute, deadline: time.Now().Add(time.Minute)}
		tun.watchFirst = h.watchClientHello(nil, func(time.Duration) {}, io.Discard)
		up, err := tun.copyUp(&dataThenEOF{data: []byte(sent)}, make([]byte, 16<<10))
		if err != nil || up != int64(len(sent)) {
			t.Errorf("%q: copied %d bytes, %v", sent, up, err)
		}
		gatewayEnd.Close()
		if got, _ := io.ReadAll(upstreamEnd); string(got) != sent {
			t.Errorf("%q: upstream received %q", sent, got)
		}
	}
}

// dataThenEOF returns its data and io.EOF in the same Read, then io.EOF.
type dataThenEOF struct{ data []byte }

func (d *dataThenEOF) Read(p []byte) (int, error) {
	n := copy(p, d.data)
	d.data = d.data[n:]
	if len(d.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// clientHello returns the first record a real TLS client sends for
// serverName: its ClientHello.
func clientHello(t *testing.T, serverName string) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		_ = tls.Client(client, &tls.Config{ServerName: serverName}).Handshake()
		client.Close()
	}()
	header := make([]byte, 5)
	if _, err := io.ReadFull(server, header); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(header[3])<<8|int(header[4]))
	if _, err := io.ReadFull(server, body); err != nil {
		t.Fatal(err)
	}
	return append(header, body...)
}

// TestWatchedClientHelloKeepsWhatFollowsIt: on a port where TLS is not
// required, a tunnel that starts with a ClientHello is checked before it
// goes upstream. The bytes that came in the same read after the
// ClientHello (0-RTT early data), which tlspeek does not read, go upstream
// after it, in order, with the rest of the stream.
func TestWatchedClientHelloKeepsWhatFollowsIt(t *testing.T) {
	h := &Handler{checks: decision.TunnelChecks{SNI: true}}
	open := &decision.Outcome{Target: decision.Target{Method: "CONNECT", Host: "eu.test", Port: 8443}}
	hello := clientHello(t, "eu.test")
	first := append(bytes.Clone(hello), "EARLY"...)
	for _, tc := range []struct {
		name   string
		client io.Reader
		want   string
	}{
		{"more follows", io.MultiReader(bytes.NewReader(first), bytes.NewReader([]byte("rest"))), string(first) + "rest"},
		{"closed at once", &dataThenEOF{data: first}, string(first)},
	} {
		gatewayEnd, upstreamEnd := loopbackPair(t)
		tun := &tunnel{upstream: gatewayEnd, idle: time.Minute, deadline: time.Now().Add(time.Minute)}
		tun.watchFirst = h.watchClientHello(open, func(time.Duration) {}, io.Discard)
		up, err := tun.copyUp(tc.client, make([]byte, 16<<10))
		if err != nil || up != int64(len(tc.want)) {
			t.Errorf("%s: copied %d bytes (%v), want %d", tc.name, up, err, len(tc.want))
		}
		gatewayEnd.Close()
		if got, _ := io.ReadAll(upstreamEnd); string(got) != tc.want {
			t.Errorf("%s: upstream received %d bytes ending %q, want %d ending %q", tc.name, len(got), got[max(0, len(got)-9):], len(tc.want), tc.want[len(tc.want)-9:])
		}
	}
}
