package audittest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Relay is a TCP relay to a server (PostgreSQL) that a test can silence:
// Hold stops forwarding bytes either way and keeps every connection open,
// as a firewall that drops packets does (the client sees no reset, only
// silence, until its own timeout); Release forwards again, held bytes
// first.
type Relay struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	held   bool
	resume chan struct{} // closed by Release
	conns  map[net.Conn]struct{}
}

// NewRelay relays a loopback port to target (host:port) until the test
// ends.
func NewRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go r.serve()
	t.Cleanup(r.close)
	return r
}

// RelayPostgres relays the server of a postgres:// URL and returns the
// relay and the URL that goes through it.
func RelayPostgres(t testing.TB, pgURL string) (*Relay, string) {
	t.Helper()
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRelay(t, u.Host)
	u.Host = r.ln.Addr().String()
	return r, u.String()
}

// Hold stops forwarding: what either side sends waits in the relay.
func (r *Relay) Hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.held {
		r.held, r.resume = true, make(chan struct{})
	}
}

// Release forwards again.
func (r *Relay) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		r.held = false
		close(r.resume)
	}
}

// wait blocks while the relay holds traffic.
func (r *Relay) wait() {
	r.mu.Lock()
	held, resume := r.held, r.resume
	r.mu.Unlock()
	if held {
		<-resume
	}
}

func (r *Relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.relay(c)
	}
}

func (r *Relay) relay(client net.Conn) {
	server, err := net.Dial("tcp", r.target)
	if err != nil {
		client.Close()
		return
	}
	r.mu.Lock()
	r.conns[client], r.conns[server] = struct{}{}, struct{}{}
	r.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { r.pipe(server, client); done <- struct{}{} }()
	go func() { r.pipe(client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
	r.mu.Lock()
	delete(r.conns, client)
	delete(r.conns, server)
	r.mu.Unlock()
}

// pipe copies src to dst, holding each chunk while the relay holds.
func (r *Relay) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.wait()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *Relay) close() {
	r.ln.Close()
	r.Release()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
}
