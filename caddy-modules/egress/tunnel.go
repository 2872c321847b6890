package egress

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/tlspeek"
)

// copyBuffers are shared by every copy loop. 16 KiB holds a full TLS
// record while keeping the memory of an idle tunnel small (each direction
// holds its buffer while it waits for data).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// tunnel copies bytes both ways between a client and a vetted upstream
// until either side closes, or nothing moves for the idle timeout.
type tunnel struct {
	upstream    net.Conn
	closeClient func() error
	idle        time.Duration
	// deadline is when the tunnel closes whatever its activity
	// (tunnel_max_lifetime).
	deadline time.Time

	// release frees the tunnel's slot in the gateway's tunnel limits.
	release func()
	// watchFirst, when set, reads the client's first bytes before they go
	// upstream (see watchClientHello); the other direction flows
	// meanwhile. It reads into buf, the copy's own buffer, and returns the
	// bytes to forward (in buf or not), false to end the tunnel, and the
	// error of its read (the copy ends with it once the bytes are
	// forwarded).
	watchFirst func(clientR io.Reader, buf []byte) (fwd []byte, ok bool, readErr error)
	// outcome is the decision that opened the tunnel; owner is the
	// configuration whose decision currently keeps it open.
	outcome *decision.Outcome
	owner   atomic.Pointer[sovereignty.App]
	// server is the Caddy server the client connected to; stream is true
	// for HTTP/2 and HTTP/3 tunnels, which live inside that server's
	// connections.
	server *caddyhttp.Server
	stream bool

	// settleMu serialises decisions about the tunnel's ownership (see
	// settle).
	settleMu sync.Mutex

	lastActive atomic.Int64 // unix nanoseconds of the last byte in either direction
	timer      *time.Timer
	closeOnce  sync.Once
	closedBy   atomic.Pointer[error]
}

func (t *tunnel) ownerApp() *sovereignty.App { return t.owner.Load() }

// upstreamIP is the vetted address the tunnel is connected to.
func (t *tunnel) upstreamIP() netip.Addr {
	if ap, err := netip.ParseAddrPort(t.upstream.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
func (t *tunnel) setOwner(app *sovereignty.App) { t.owner.Store(app) }

// Why the gateway closed a tunnel, reported in its "finished" line.
var (
	errIdle     = errors.New("tunnel idle timeout")
	errLifetime = errors.New("tunnel maximum lifetime reached")
	errClosed   = errors.New("tunnel closed by the gateway (reload, shutdown or a new decision)")
)

func (t *tunnel) touch() { t.lastActive.Store(time.Now().UnixNano()) }

// watch closes the tunnel once it has been idle for t.idle. One timer per
// tunnel, re-armed lazily, costs less than a deadline update per read.
func (t *tunnel) watch() {
	t.touch()
	first := t.idle
	if left := time.Until(t.deadline); left < first {
		first = left
	}
	// Armed only once assigned, so checkIdle never sees a nil timer.
	t.timer = time.AfterFunc(time.Duration(math.MaxInt64), t.checkIdle)
	t.timer.Reset(first)
}

func (t *tunnel) checkIdle() {
	now := time.Now()
	if !now.Before(t.deadline) {
		t.closeFor(errLifetime)
		return
	}
	elapsed := time.Duration(now.UnixNano() - t.lastActive.Load())
	if elapsed >= t.idle {
		t.closeFor(errIdle)
		return
	}
	next := t.idle - elapsed
	if left := t.deadline.Sub(now); left < next {
		next = left
	}
	t.timer.Reset(next)
}

// close ends the tunnel from outside (reload, shutdown, new decision).
func (t *tunnel) close() { t.closeFor(errClosed) }

// closeFor closes both sides; a non-nil reason is reported as why the
// gateway ended the tunnel (nil: it ended on its own).
func (t *tunnel) closeFor(reason error) {
	if reason != nil {
		t.closedBy.CompareAndSwap(nil, &reason)
	}
	t.closeOnce.Do(func() {
		if t.timer != nil {
			t.timer.Stop()
		}
		_ = t.upstream.Close()
		if t.closeClient != nil {
			_ = t.closeClient()
		}
	})
}

// run copies until both directions are done and returns the byte counts.
// When the client finishes sending, the upstream gets a half-close and the
// response keeps flowing; when the upstream finishes, the tunnel closes.
func (t *tunnel) run(clientR io.Reader, clientW io.Writer, stats *decision.Stats, log *zap.Logger) (up, down int64, err error) {
	// Watched, then registered only now that both sides can be closed: a
	// reload or a shutdown may close it from here on.
	t.watch()
	openTunnels.add(t)
	stats.OpenTunnels.Add(1)
	defer func() {
		openTunnels.remove(t)
		if t.release != nil {
			t.release()
		}
		stats.OpenTunnels.Add(-1)
	}()
	// A reload may have happened while this tunnel was being set up, after
	// the old configuration settled its tunnels: settle this one now.
	settle(t, log)
	upDone := make(chan error, 1)
	go func() {
		bufp := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(bufp)
		n, err := t.copyUp(clientR, *bufp)
		up = n
		if err == nil {
			if cw, ok := t.upstream.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		} else {
			t.closeFor(nil)
		}
		upDone <- err
	}()
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	down, downErr := t.pipe(clientW, t.upstream, *bufp)
	t.closeFor(nil)
	upErr := <-upDone
	switch reason := t.closedBy.Load(); {
	case reason != nil:
		err = *reason
	case downErr != nil && !isClosedErr(downErr):
		err = downErr
	case upErr != nil && !isClosedErr(upErr):
		err = upErr
	}
	return up, down, err
}

// copyUp copies the client's bytes upstream with buf. The first read, when
// watched (watchFirst), lands in the same buffer as the copy's, so bytes
// that pass the watch go upstream in one write, as they came: no extra
// read or write, nor a split TCP segment, per tunnel. It returns nil at
// EOF; a watch that ends the tunnel closes it and returns nil.
func (t *tunnel) copyUp(clientR io.Reader, buf []byte) (int64, error) {
	if t.watchFirst == nil {
		return t.pipe(t.upstream, clientR, buf)
	}
	fwd, ok, readErr := t.watchFirst(clientR, buf)
	if !ok {
		t.closeFor(nil)
		return 0, nil
	}
	first, done, err := t.forward(t.upstream, fwd, readErr)
	if done {
		return first, err
	}
	n, err := t.pipe(t.upstream, clientR, buf)
	return first + n, err
}

// pipe copies src to dst with buf (the caller's, from copyBuffers),
// recording activity. It returns nil at EOF.
func (t *tunnel) pipe(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var written int64
	for {
		n, readErr := src.Read(buf)
		m, done, err := t.forward(dst, buf[:n], readErr)
		written += m
		if done {
			return written, err
		}
	}
}

// forward writes one read's bytes to dst, recording activity, and says
// whether the copy ends there: at the read's EOF (with a nil error), or on
// the write's or the read's error.
func (t *tunnel) forward(dst io.Writer, b []byte, readErr error) (written int64, done bool, err error) {
	if len(b) > 0 {
		t.touch()
		m, writeErr := dst.Write(b)
		if writeErr != nil {
			return int64(m), true, writeErr
		}
		written = int64(m)
	}
	if readErr == io.EOF {
		return written, true, nil
	}
	return written, readErr != nil, readErr
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, http.ErrBodyReadAfterClose)
}

// tunnel opens a CONNECT tunnel to a vetted address. It records the
// decision itself: after the checks on the tunnel's first bytes, which can
// still turn an allowed tunnel into a violation.
func (h *Handler) tunnel(w http.ResponseWriter, r *http.Request, out *decision.Outcome) error {
	upstream, err := h.dialVetted(r.Context(), out.Addrs, out.Target.Port)
	if err != nil {
		status := http.StatusBadGateway
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status = http.StatusGatewayTimeout
		}
		h.decided(out)
		writeUpstreamError(w, out, status, err)
		h.journal.Finished(out, 0, 0, time.Now(), err)
		return nil
	}
	t := &tunnel{
		upstream: upstream,
		idle:     time.Duration(h.TunnelIdleTimeout),
		deadline: time.Now().Add(time.Duration(h.TunnelMaxLifetime)),
		outcome:  out,
		release:  out.Release,
		server:   h.server,
		stream:   r.ProtoMajor > 1,
	}
	t.setOwner(h.app)

	var up, down int64
	if r.ProtoMajor == 1 {
		up, down, err = h.tunnelHijacked(w, t, out)
	} else {
		up, down, err = h.tunnelStream(w, r, t, out)
	}
	if !out.Blocked() {
		h.journal.Finished(out, up, down, time.Now(), err)
	}
	return nil
}

// tunnelHijacked takes over an HTTP/1.1 connection.
func (h *Handler) tunnelHijacked(w http.ResponseWriter, t *tunnel, out *decision.Outcome) (int64, int64, error) {
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.closeFor(nil)
		h.decided(out)
		writeUpstreamError(w, out, http.StatusInternalServerError, err)
		return 0, 0, err
	}
	// The server's read and write deadlines are for requests, not tunnels.
	_ = client.SetDeadline(time.Time{})
	t.closeClient = client.Close
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection Established\r\nSovgate-Decision-Id: "+out.ID+"\r\n\r\n"); err != nil {
		t.closeFor(nil)
		h.decided(out)
		return 0, 0, err
	}
	// Bytes the client sent right after CONNECT (often its TLS ClientHello)
	// may already sit in the server's buffer: read them first.
	var clientR io.Reader = client
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		clientR = io.MultiReader(bytes.NewReader(bytes.Clone(early)), client)
	}
	clientW := &syncWriter{w: client}
	first, ok, err := h.checkFirstBytes(t, out, clientR, func(d time.Duration) {
		if d == 0 {
			_ = client.SetReadDeadline(time.Time{})
		} else {
			_ = client.SetReadDeadline(time.Now().Add(d))
		}
	}, clientW)
	if !ok {
		return first, 0, err
	}
	up, down, err := t.run(clientR, clientW, h.pipeline.Stats(), h.logger)
	return up + first, down, err
}

// tunnelStream serves a CONNECT over HTTP/2 or HTTP/3: the request body is
// the client's byte stream and the response body goes back to it.
func (h *Handler) tunnelStream(w http.ResponseWriter, r *http.Request, t *tunnel, out *decision.Outcome) (int64, int64, error) {
	t.closeClient = r.Body.Close
	w.Header().Set("Sovgate-Decision-Id", out.ID)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		t.closeFor(nil)
		h.decided(out)
		return 0, 0, err
	}
	// A stream has no read deadline: a timer closes the body instead.
	var timer *time.Timer
	clientW := &syncWriter{w: w, flush: func() { _ = rc.Flush() }}
	first, ok, err := h.checkFirstBytes(t, out, r.Body, func(d time.Duration) {
		if d == 0 {
			timer.Stop()
		} else {
			timer = time.AfterFunc(d, func() { _ = r.Body.Close() })
		}
	}, clientW)
	if !ok {
		return first, 0, err
	}
	up, down, err := t.run(r.Body, clientW, h.pipeline.Stats(), h.logger)
	return up + first, down, err
}

// syncWriter is the client side of a tunnel: the copy from the upstream
// writes to it, and so may the check of the client's first bytes (a TLS
// alert), so writes are serialised. flush, when set, runs after each
// write (an HTTP/2 stream).
type syncWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.w.Write(p)
	if s.flush != nil {
		s.flush()
	}
	return n, err
}

// tlsAccessDenied is a fatal TLS alert (access_denied, RFC 8446 section 6.2):
// what the client's TLS stack reports when the gateway refuses the tunnel
// after its ClientHello.
var tlsAccessDenied = []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 49}

// checkFirstBytes applies the checks of the tunnel's first bytes and
// records the decision. On a TLS port (tls_ports) it reads the ClientHello
// first, so the record says what it found and nothing goes upstream
// before the verdict; elsewhere the decision is recorded at once and the
// first bytes are watched as they come (see watchClientHello). It reports
// how many bytes went upstream and whether the tunnel goes on; when it
// does not, the client has been told (a TLS alert) and the tunnel is
// closed.
func (h *Handler) checkFirstBytes(t *tunnel, out *decision.Outcome, clientR io.Reader, deadline func(time.Duration), clientW io.Writer) (int64, bool, error) {
	if !h.checks.ExpectsTLSAt(out.Target.Port) {
		h.decided(out)
		if out.Blocked() { // the decision could not be recorded, and enforce mode fails closed
			t.closeFor(nil)
			return 0, false, nil
		}
		if h.checks.WatchesAt(out.Target.Port) {
			t.watchFirst = h.watchClientHello(out, deadline, clientW)
		}
		return 0, true, nil
	}
	deadline(time.Duration(h.ClientHelloTimeout))
	hello, consumed, err := tlspeek.Read(clientR, maxClientHello)
	deadline(0)
	ok := h.pipeline.JudgeClientHello(out, hello, err, h.checks)
	h.decided(out)
	ok = ok && !out.Blocked() // enforce mode fails closed on a decision it could not record
	if !ok {
		if !errors.Is(err, tlspeek.ErrNotTLS) {
			_, _ = clientW.Write(tlsAccessDenied)
		}
		t.closeFor(nil)
		return 0, false, nil
	}
	if len(consumed) > 0 {
		if _, werr := t.upstream.Write(consumed); werr != nil {
			t.closeFor(nil)
			return 0, false, werr
		}
	}
	return int64(len(consumed)), true, nil
}

// tlsHandshakeRecord is the first byte of a TLS ClientHello (a handshake
// record).
const tlsHandshakeRecord = 0x16

// watchClientHello checks a tunnel to a port where TLS is not required:
// when the client's first bytes start a TLS handshake, its ClientHello is
// read (within client_hello_timeout once it has begun) and judged as on a
// TLS port, so "CONNECT allowed.example:8443" cannot carry a ClientHello
// for another server. The wait for the first byte has no bound of its own:
// in protocols where the server speaks first the client may say nothing
// for a while, and the server's bytes flow meanwhile. A failed check is a
// new decision about the tunnel, recorded; in enforce mode the client gets
// a TLS alert and the tunnel closes before the ClientHello goes upstream.
//
// The first read is a whole read into buf, the copy's buffer: the bytes of
// a client that does not start with TLS go upstream from there in one
// write, with what else that read returned.
func (h *Handler) watchClientHello(out *decision.Outcome, deadline func(time.Duration), clientW io.Writer) func(io.Reader, []byte) ([]byte, bool, error) {
	return func(clientR io.Reader, buf []byte) ([]byte, bool, error) {
		var n int
		var readErr error
		for n == 0 && readErr == nil {
			n, readErr = clientR.Read(buf)
		}
		if n == 0 {
			return nil, true, readErr // the client sent nothing; the copy ends with its error
		}
		if buf[0] != tlsHandshakeRecord {
			return buf[:n], true, readErr
		}
		// A ClientHello: read it whole, from what came and what follows.
		rest := clientR
		if readErr != nil {
			rest = errReader{readErr}
		}
		came := bytes.NewReader(buf[:n])
		deadline(time.Duration(h.ClientHelloTimeout))
		hello, consumed, err := tlspeek.Read(io.MultiReader(came, rest), maxClientHello)
		deadline(0)
		// tlspeek reads no further than the ClientHello: what came after
		// it in the same read (0-RTT early data) follows it upstream.
		if left := came.Len(); left > 0 {
			consumed = append(consumed, buf[n-left:n]...)
		}
		verdict := h.pipeline.JudgeWatchedClientHello(out, hello, err, h.checks)
		if verdict == nil {
			return consumed, true, readErr
		}
		h.decided(verdict)
		if verdict.Blocked() {
			_, _ = clientW.Write(tlsAccessDenied)
			return nil, false, nil
		}
		return consumed, true, readErr
	}
}

// errReader returns its error on every read: the end of a client that
// closed (or failed) right after its first bytes, for tlspeek to see.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// maxClientHello bounds what the gateway reads before deciding: large
// enough for post-quantum key shares and long ALPN lists.
const maxClientHello = 64 << 10
