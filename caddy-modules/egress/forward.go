package egress

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sovgate/sovgate/decision"
)

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1), plus the proxy's own credentials.
var hopByHop = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopByHop deletes hop-by-hop headers, including every header the
// Connection header names, as an intermediary must.
func removeHopByHop(h http.Header) {
	for _, value := range h["Connection"] {
		for name := range strings.SplitSeq(value, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// removeSovgateHeaders deletes Sovgate-* headers: only this gateway may
// speak with them, so neither a client nor an upstream can forge a
// decision.
func removeSovgateHeaders(h http.Header) {
	for name := range h {
		if isSovgateHeader(name) {
			delete(h, name)
		}
	}
}

func isSovgateHeader(name string) bool {
	return len(name) >= 8 && strings.EqualFold(name[:8], "sovgate-")
}

// upstreamFields returns what of an upstream's header block (a response's
// headers, its trailers, or a 1xx response's headers) may reach the
// client (see copyUpstreamFields).
func upstreamFields(h http.Header, connection []string) http.Header {
	out := make(http.Header, len(h))
	copyUpstreamFields(out, h, connection)
	return out
}

// hopByHopSet is hopByHop as a set of the canonical names.
var hopByHopSet = func() map[string]bool {
	set := make(map[string]bool, len(hopByHop))
	for _, name := range hopByHop {
		set[name] = true
	}
	return set
}()

// copyUpstreamFields adds to dst what of an upstream's header block may
// reach the client: everything but hop-by-hop fields, the fields the
// block's Connection header or connection (the response's Connection
// header: trailers and 1xx blocks are parts of that response) names, and
// Sovgate-* fields. The values are copied into one new array, so dst
// shares no slice with src; no intermediate header is built, since this
// runs for every forwarded response.
func copyUpstreamFields(dst, src http.Header, connection []string) {
	if len(src) == 0 {
		return
	}
	var named map[string]bool
	for _, list := range [2][]string{src["Connection"], connection} {
		for _, value := range list {
			for name := range strings.SplitSeq(value, ",") {
				if name = strings.TrimSpace(name); name != "" {
					if named == nil {
						named = make(map[string]bool)
					}
					named[http.CanonicalHeaderKey(name)] = true
				}
			}
		}
	}
	keep := func(name string) bool { return !hopByHopSet[name] && !named[name] && !isSovgateHeader(name) }
	n := 0
	for name, values := range src {
		if keep(name) {
			n += len(values)
		}
	}
	values := make([]string, n)
	for name, vv := range src {
		if !keep(name) {
			continue
		}
		if vv == nil {
			dst[name] = nil // as Header.Clone does: nil suppresses a default field
			continue
		}
		k := copy(values, vv)
		dst[name] = values[:k:k]
		values = values[k:]
	}
}

// forward sends an absolute-form http request to a vetted address and
// streams the response back.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, out *decision.Outcome) error {
	t := out.Target

	// Informational responses (103 Early Hints, ...) go to the client as
	// they come, cleaned like the final response's headers. 100 Continue
	// is the client-facing server's business, not forwarded.
	trace := &httptrace.ClientTrace{
		Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
			if code == http.StatusContinue {
				return nil
			}
			fields := upstreamFields(http.Header(header), nil)
			hdr := w.Header()
			for name, values := range fields {
				hdr[name] = values
			}
			w.WriteHeader(code)
			// The final response must not repeat these fields.
			for name := range fields {
				hdr.Del(name)
			}
			return nil
		},
	}
	// A shallow copy with the trace's context (the URL, the header and the
	// trailer are replaced below): r.Clone would copy the request and
	// its header once more, for nothing.
	outReq := r.WithContext(httptrace.WithClientTrace(r.Context(), trace))
	outReq.RequestURI = ""
	// The Host header is the URL's authority, normalised; the URL itself
	// names the vetted address, so the transport dials nothing else and
	// pools connections per vetted address.
	outReq.Host = t.Host
	if t.Port != 80 {
		outReq.Host = t.HostPort()
	}
	outReq.URL = &url.URL{
		Scheme:   "http",
		Path:     r.URL.Path,
		RawPath:  r.URL.RawPath,
		RawQuery: r.URL.RawQuery,
	}
	outReq.Header = r.Header.Clone()
	outReq.Trailer = r.Trailer.Clone()
	removeHopByHop(outReq.Header)
	removeSovgateHeaders(outReq.Header)
	if _, ok := outReq.Header["User-Agent"]; !ok {
		// Go would add its own; the client sent none, so send none.
		outReq.Header["User-Agent"] = nil
	}
	up := &countingReader{r: r.Body}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		outReq.Body = nil
	} else {
		outReq.Body = up
	}
	outReq.Close = false

	var resp *http.Response
	var err error
	for i, ip := range out.Addrs {
		outReq.URL.Host = netip.AddrPortFrom(ip, t.Port).String()
		resp, err = h.transport.RoundTrip(outReq)
		if err == nil || !retryable(err, outReq) || i == len(out.Addrs)-1 {
			break
		}
	}
	if err != nil {
		status := http.StatusBadGateway
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status = http.StatusGatewayTimeout
		}
		if r.Context().Err() == nil {
			writeUpstreamError(w, out, status, err)
		}
		h.journal.Finished(out, up.n, 0, time.Now(), err)
		return nil
	}
	defer resp.Body.Close()

	hdr := w.Header()
	connection := resp.Header["Connection"]
	copyUpstreamFields(hdr, resp.Header, nil)
	hdr.Set("Sovgate-Decision-Id", out.ID)
	// Trailers are headers that come after the body: an upstream must not
	// forge a decision, or a hop-by-hop field, with them either. Only the
	// names that survive the same cleaning are announced and sent.
	hasTrailer := len(resp.Trailer) > 0
	if hasTrailer {
		for name := range upstreamFields(resp.Trailer, connection) {
			hdr.Add("Trailer", name)
		}
	}
	w.WriteHeader(resp.StatusCode)

	down, copyErr := copyResponse(w, resp)
	if hasTrailer {
		for name, values := range upstreamFields(resp.Trailer, connection) {
			hdr[http.TrailerPrefix+name] = values
		}
	}
	if copyErr != nil {
		h.logger.Debug("copying response", zap.String("id", out.ID), zap.Error(copyErr))
	}
	h.journal.Finished(out, up.n, down, time.Now(), copyErr)
	return nil
}

// retryable reports whether a failed round trip may be tried on the next
// vetted address: only when nothing was sent (the dial failed) and the
// body, if any, can be replayed.
func retryable(err error, req *http.Request) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	return req.Body == nil || req.GetBody != nil
}

// copyResponse streams the body, flushing after each read when the
// response has no declared length (server-sent events, long polls), so the
// gateway never holds back data a client is waiting for.
func copyResponse(w http.ResponseWriter, resp *http.Response) (int64, error) {
	flush := resp.ContentLength < 0
	rc := http.NewResponseController(w)
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	var written int64
	for {
		n, readErr := resp.Body.Read(buf)
		if n > 0 {
			m, writeErr := w.Write(buf[:n])
			written += int64(m)
			if writeErr != nil {
				return written, writeErr
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if readErr == io.EOF {
			return written, nil
		}
		if readErr != nil {
			return written, readErr
		}
	}
}

// countingReader counts the request bytes sent upstream.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
