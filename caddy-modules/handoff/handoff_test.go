package handoff

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// twoGenerations returns an old and a newer acceptor on one address, as a
// reload leaves them: two sockets (SO_REUSEPORT in Caddy; here the newer one
// wraps a second listener registered under the same key).
func twoGenerations(t *testing.T) (old, newer *acceptor, addr string) {
	t.Helper()
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &Wrapper{}
	old = w.WrapListener(ln1).(*acceptor)
	newer = w.WrapListener(ln2).(*acceptor)
	// Same address in Caddy; here, make the registry see them as one.
	acceptors.mu.Lock()
	delete(acceptors.newest, newer.key)
	newer.key = old.key
	acceptors.newest[old.key] = newer
	acceptors.mu.Unlock()
	t.Cleanup(func() { old.Close(); newer.Close() })
	return old, newer, ln1.Addr().String()
}

func acceptWithin(t *testing.T, a *acceptor) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() { c, err := a.Accept(); ch <- result{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func TestUnansweredRequestGoesToTheNewerServer(t *testing.T) {
	old, newer, addr := twoGenerations(t)
	client, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const req = "CONNECT eu.test:443 HTTP/1.1\r\nHost: eu.test:443\r\n\r\n"
	io.WriteString(client, req)

	// The old server reads the request, then closes without answering, as
	// net/http does when its shutdown began meanwhile.
	oc := acceptWithin(t, old)
	got, err := http.ReadRequest(bufio.NewReader(oc))
	if err != nil || got.Method != http.MethodConnect {
		t.Fatalf("old server read %v, %v", got, err)
	}
	if err := oc.Close(); err != nil {
		t.Fatal(err)
	}
	oc.Close() // a second Close must not close the socket the newer server has

	nc := acceptWithin(t, newer)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	again, err := http.ReadRequest(bufio.NewReader(nc))
	if err != nil || again.Method != http.MethodConnect || again.Host != "eu.test:443" {
		t.Fatalf("newer server read %v, %v", again, err)
	}
	io.WriteString(nc, "HTTP/1.1 200 Connection Established\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(client), &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("client got %v, %v", resp, err)
	}
}

func TestAnsweredOrHijackedConnectionsClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(c *conn)
	}{
		{"answered", func(c *conn) { io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n") }},
		{"hijacked", func(c *conn) { c.stopRecording() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, newer, addr := twoGenerations(t)
			client, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			io.WriteString(client, "GET http://eu.test/ HTTP/1.1\r\nHost: eu.test\r\n\r\n")
			oc := acceptWithin(t, old).(*conn)
			buf := make([]byte, 512)
			if _, err := oc.Read(buf); err != nil {
				t.Fatal(err)
			}
			tc.before(oc)
			oc.Close()
			select {
			case c := <-newer.handed:
				t.Fatalf("%s connection handed over: %v", tc.name, c)
			default:
			}
			client.SetReadDeadline(time.Now().Add(5 * time.Second))
			rest, _ := io.ReadAll(client)
			if tc.name == "answered" && !strings.HasPrefix(string(rest), "HTTP/1.1 204") {
				t.Fatalf("client read %q", rest)
			}
		})
	}
}

func TestWithoutNewerServerTheConnectionCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := (&Wrapper{}).WrapListener(ln).(*acceptor)
	defer a.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	io.WriteString(client, "GET http://eu.test/ HTTP/1.1\r\nHost: eu.test\r\n\r\n")
	c := acceptWithin(t, a)
	buf := make([]byte, 512)
	c.Read(buf)
	c.Close()
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(buf); err == nil {
		t.Fatal("the connection stayed open with no server to answer it")
	}
}

func TestConnectionsQueuedAtCloseGoToTheNewerServer(t *testing.T) {
	old, newer, addr := twoGenerations(t)
	// The pump must hold the second connection when the old acceptor
	// closes: one still in the kernel's queue is the kernel's to reset or
	// migrate (tcp_migrate_req), which this test does not cover.
	pumped := make(chan struct{}, 2)
	old.pumped = func() { pumped <- struct{}{} }
	// The old server serves one connection (starting its pump), then stops.
	client1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client1.Close()
	first := acceptWithin(t, old)
	io.WriteString(first, "HTTP/1.1 400 Bad Request\r\n\r\n")
	first.Close()
	// This connection is accepted by the pump while nobody calls Accept on
	// the old acceptor; closing the old acceptor must not drop it.
	client2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client2.Close()
	io.WriteString(client2, "GET http://eu.test/queued HTTP/1.1\r\nHost: eu.test\r\n\r\n")
	for i := 0; i < 2; i++ {
		select {
		case <-pumped:
		case <-time.After(5 * time.Second):
			t.Fatal("the old acceptor's pump did not take the queued connection")
		}
	}
	old.Close()
	nc := acceptWithin(t, newer)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(nc))
	if err != nil || req.URL.Path != "/queued" {
		t.Fatalf("newer server read %v, %v", req, err)
	}
}
