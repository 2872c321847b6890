// Package handoff is the listener wrapper `sovgate_handoff`: it makes a
// configuration reload lose no request on a plain-HTTP listener.
//
// During a reload Caddy starts the new servers, then shuts the old ones
// down. Go's HTTP server drops, without an answer, a request it finishes
// reading after its shutdown began (net/http's conn.serve checks
// shuttingDown after readRequest): a client that connected in the instant
// before the reload sees its connection closed. For a proxy that is a
// failed CONNECT, which no client retries.
//
// This wrapper remembers, per connection, the bytes read since the last
// byte written. When the old server closes a connection that still has
// such an unanswered request, and a newer server listens on the same
// address, the connection is not closed: it is handed to the newer server,
// which reads the request again from the remembered bytes and answers it.
//
// The kernel side is separate: Caddy binds each configuration's socket with
// SO_REUSEPORT, and Linux resets the connections queued on a socket that
// closes unless net.ipv4.tcp_migrate_req=1 moves them to the new socket.
// See docs/admin-guide.md.
package handoff

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Wrapper{})
}

// Wrapper is the `sovgate_handoff` listener wrapper. It has no options. It
// works on plain-HTTP servers only: a TLS connection's bytes cannot be
// replayed to another server.
type Wrapper struct{}

// CaddyModule returns the Caddy module information.
func (Wrapper) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.listeners.sovgate_handoff",
		New: func() caddy.Module { return new(Wrapper) },
	}
}

// Provision hooks the server's connection states: a hijacked connection
// (a CONNECT tunnel) carries tunnel bytes, not requests, and is never
// handed over.
func (w *Wrapper) Provision(ctx caddy.Context) error {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil {
		return nil
	}
	if len(srv.TLSConnPolicies) > 0 {
		return errors.New("sovgate_handoff works on plain-HTTP listeners only; remove it from servers with TLS")
	}
	srv.RegisterConnState(func(c net.Conn, state http.ConnState) {
		if state == http.StateHijacked {
			if hc, ok := c.(*conn); ok {
				hc.stopRecording()
			}
		}
	})
	return nil
}

// WrapListener makes ln the newest acceptor for its address.
func (w *Wrapper) WrapListener(ln net.Listener) net.Listener {
	a := &acceptor{
		Listener: ln,
		key:      ln.Addr().Network() + "/" + ln.Addr().String(),
		accepted: make(chan net.Conn),
		handed:   make(chan net.Conn, 64),
		errs:     make(chan error, 1),
		done:     make(chan struct{}),
	}
	acceptors.register(a)
	return a
}

// UnmarshalCaddyfile reads `sovgate_handoff` (no arguments).
func (w *Wrapper) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("sovgate_handoff takes no arguments")
	}
	return nil
}

// acceptors knows the newest acceptor of each address.
var acceptors = &registry{newest: make(map[string]*acceptor)}

type registry struct {
	mu     sync.Mutex
	newest map[string]*acceptor
}

func (r *registry) register(a *acceptor) {
	r.mu.Lock()
	r.newest[a.key] = a
	r.mu.Unlock()
}

func (r *registry) unregister(a *acceptor) {
	r.mu.Lock()
	if r.newest[a.key] == a {
		delete(r.newest, a.key)
	}
	r.mu.Unlock()
}

// newer returns the newest acceptor of a's address if it is not a.
func (r *registry) newer(a *acceptor) *acceptor {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.newest[a.key]; n != nil && n != a {
		return n
	}
	return nil
}

// acceptor is one server's listener. Its Accept returns the connections of
// its own socket and those handed over by older servers.
type acceptor struct {
	net.Listener
	key       string
	pumpOnce  sync.Once
	accepted  chan net.Conn
	handed    chan net.Conn
	errs      chan error
	done      chan struct{}
	closeOnce sync.Once
	// pumped, when set (tests only), is called each time the pump takes a
	// connection from the socket, before it offers it to Accept: a test
	// that closes the acceptor while a connection waits there must know the
	// pump holds it, not the kernel's queue.
	pumped func()
}

// Accept waits for the next connection.
func (a *acceptor) Accept() (net.Conn, error) {
	a.pumpOnce.Do(func() { go a.pump() })
	select {
	case c := <-a.handed:
		return c, nil
	default:
	}
	select {
	case c := <-a.accepted:
		return c, nil
	case c := <-a.handed:
		return c, nil
	case err := <-a.errs:
		return nil, err
	case <-a.done:
		return nil, net.ErrClosed
	}
}

// pump accepts from the socket. A connection accepted as the acceptor
// closes goes to the newer server rather than being dropped.
func (a *acceptor) pump() {
	for {
		c, err := a.Listener.Accept()
		if err != nil {
			select {
			case a.errs <- err:
			case <-a.done:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if a.pumped != nil {
			a.pumped()
		}
		wrapped := &conn{Conn: c, acc: a}
		select {
		case a.accepted <- wrapped:
		case <-a.done:
			if !wrapped.handOver(nil) {
				c.Close()
			}
		}
	}
}

// Close stops the acceptor. Connections handed to it but not yet accepted
// go on to a newer acceptor, or are closed.
func (a *acceptor) Close() error {
	var err error
	a.closeOnce.Do(func() {
		close(a.done)
		acceptors.unregister(a)
		err = a.Listener.Close()
		for {
			select {
			case c := <-a.handed:
				if hc, ok := c.(*conn); !ok || !hc.handOver(nil) {
					c.Close()
				}
			default:
				return
			}
		}
	})
	return err
}

// maxRecorded bounds the bytes remembered per connection: a request with
// larger headers is not handed over (it is answered or dropped as Go's
// server decides).
const maxRecorded = 16 << 10

// conn remembers the bytes read since the last write, so an unanswered
// request can be replayed to a newer server.
type conn struct {
	net.Conn
	acc *acceptor

	mu       sync.Mutex
	replay   []byte // bytes to serve before the socket's (after a handoff)
	recorded []byte // read since the last write
	overflow bool   // more than maxRecorded since the last write
	// used is set at the first byte read or written: an unused connection
	// can always go to another server.
	used bool
	// hijacked connections carry tunnel bytes, never requests to replay.
	hijacked  bool
	closed    bool
	handedOff bool
}

func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		c.record(p[:n])
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.record(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// record keeps read bytes; the caller holds c.mu.
func (c *conn) record(b []byte) {
	c.used = true
	if c.overflow || c.hijacked {
		return
	}
	if len(c.recorded)+len(b) > maxRecorded {
		c.overflow, c.recorded = true, nil
		return
	}
	c.recorded = append(c.recorded, b...)
}

func (c *conn) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.mu.Lock()
		c.recorded, c.overflow, c.used = c.recorded[:0], false, true
		c.mu.Unlock()
	}
	return c.Conn.Write(p)
}

func (c *conn) stopRecording() {
	c.mu.Lock()
	c.hijacked = true
	c.recorded, c.replay = nil, nil
	c.mu.Unlock()
}

// Close closes the connection, unless it holds an unanswered request and a
// newer server can answer it: then it is handed over instead.
func (c *conn) Close() error {
	if c.handOver(nil) {
		return nil
	}
	c.mu.Lock()
	if c.handedOff || c.closed {
		// The socket now belongs to the newer server (or is closed).
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// handOver passes the connection, with its unanswered bytes, to a newer
// acceptor (to, or the newest one). It reports whether it did.
func (c *conn) handOver(to *acceptor) bool {
	c.mu.Lock()
	unanswered := len(c.recorded) > 0 || len(c.replay) > 0
	if c.closed || c.handedOff || c.hijacked || c.overflow || (c.used && !unanswered) {
		c.mu.Unlock()
		return false
	}
	if to == nil {
		to = acceptors.newer(c.acc)
	}
	if to == nil {
		c.mu.Unlock()
		return false
	}
	next := &conn{Conn: c.Conn, acc: to, replay: append([]byte(nil), c.recorded...)}
	next.replay = append(next.replay, c.replay...)
	c.handedOff = true
	c.mu.Unlock()
	// The old server's deadlines are not the new server's.
	_ = c.Conn.SetDeadline(time.Time{})
	select {
	case to.handed <- next:
		return true
	case <-to.done:
	default:
	}
	c.mu.Lock()
	c.handedOff = false
	c.mu.Unlock()
	return false
}

func (c *conn) String() string { return fmt.Sprintf("handoff conn %s", c.RemoteAddr()) }

// Interface guards
var (
	_ caddy.ListenerWrapper = (*Wrapper)(nil)
	_ caddy.Provisioner     = (*Wrapper)(nil)
	_ caddyfile.Unmarshaler = (*Wrapper)(nil)
)
