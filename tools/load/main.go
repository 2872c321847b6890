// Command load measures a running sovgate on loopback: the load generator
// behind docs/PERFORMANCE.md. It is one generator for every scenario, so the
// proxy, Caddy's own reverse_proxy and the direct path are compared on equal
// terms.
//
//	load upstream -listen 127.0.0.2:18080        # the destination (counts its connections)
//	load run -scenario forward -proxy 127.0.0.1:3128 -target http://127.0.0.2:18080/ -pid PID
//	load summary results.jsonl                   # medians and the targets table (scripts/load.sh)
//
// Scenarios:
//
//	direct            keep-alive GETs straight to the upstream
//	reverse           keep-alive GETs to a Caddy reverse_proxy site (-target is that site)
//	forward           keep-alive GETs through the proxy in absolute form
//	direct-new        one new connection per GET, straight to the upstream
//	connect-new       one new CONNECT tunnel per GET
//	tunnel            GETs through -clients tunnels opened once (keep-alive inside)
//	idle-tunnels      opens -clients tunnels, leaves them idle, reports memory per tunnel
//
// With -pid, the proxy's CPU time (user+system, from /proc) over the run is
// divided by the requests: CPU per request, the figure that does not depend
// on how busy the load generator itself is. The first -warmup of the run
// (connections opened, first decisions, the heap grown to its working size)
// is neither counted nor timed. The proxy's peak resident memory (VmHWM)
// and its resident memory at the end are reported too.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load upstream|run [flags] (see -h)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "upstream":
		err = upstream(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "summary":
		err = summary(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: use upstream, run or summary", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// upstream serves a small fixed body and counts new connections, which the
// run reports as "new upstream connections per second".
func upstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.2:18080", "address to listen on")
	size := fs.Int("size", 128, "response body size in bytes")
	fs.Parse(args)
	body := []byte(strings.Repeat("x", *size))
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/_stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]int64{"connections": conns.Load()})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "load upstream on %s\n", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

type result struct {
	// Cell and Rep name the measurement in scripts/load.sh's grid (which
	// proxy configuration, which repetition); summary groups by Cell.
	Cell              string  `json:"cell,omitempty"`
	Rep               int     `json:"rep,omitempty"`
	Scenario          string  `json:"scenario"`
	Clients           int     `json:"clients"`
	Seconds           float64 `json:"seconds"`
	Requests          int64   `json:"requests"`
	Errors            int64   `json:"errors"`
	PerSecond         float64 `json:"per_second"`
	P50us             float64 `json:"p50_us"`
	P99us             float64 `json:"p99_us"`
	ProxyCPUus        float64 `json:"proxy_cpu_us_per_request,omitempty"`
	UpstreamConnsPerS float64 `json:"upstream_new_connections_per_second"`
	PeakMiB           float64 `json:"proxy_vmhwm_mib,omitempty"`     // since the proxy started
	LoadPeakMiB       float64 `json:"proxy_load_peak_mib,omitempty"` // while the load was measured
	ResidentMiB       float64 `json:"proxy_vmrss_mib,omitempty"`     // at the end
	AnonMiB           float64 `json:"proxy_rss_anon_mib,omitempty"`  // at the end: heap, stacks, SQLite's memory
	FileMiB           float64 `json:"proxy_rss_file_mib,omitempty"`  // at the end: the binary's pages mapped
	IdleTunnels       int     `json:"idle_tunnels,omitempty"`
	KiBPerIdleTunnel  float64 `json:"kib_per_idle_tunnel,omitempty"`
	FirstError        string  `json:"first_error,omitempty"`
	// Failure is why a benchmark that scripts/load.sh ran (the audit
	// ingest) failed: the summary reports it instead of a rate.
	Failure string `json:"failure,omitempty"`
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	scenario := fs.String("scenario", "forward", "direct, reverse, forward, direct-new, connect-new, tunnel, idle-tunnels")
	proxy := fs.String("proxy", "127.0.0.1:3128", "the proxy's address")
	target := fs.String("target", "http://127.0.0.2:18080/", "URL to GET (the reverse_proxy site for -scenario reverse)")
	stats := fs.String("stats", "", "the upstream's /_stats URL (default: from -target)")
	clients := fs.Int("clients", 50, "concurrent clients (or idle tunnels)")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	pid := fs.Int("pid", 0, "the proxy's process id, to measure its CPU time and memory")
	app := fs.String("app", "loadtest", "app name sent as proxy Basic auth")
	warmup := fs.Duration("warmup", time.Second, "run this long before counting requests and CPU time")
	cell := fs.String("cell", "", "label of the measurement (scripts/load.sh's grid), copied to the result")
	rep := fs.Int("rep", 0, "repetition number, copied to the result")
	fs.Parse(args)

	u, err := url.Parse(*target)
	if err != nil {
		return err
	}
	if *stats == "" {
		*stats = u.Scheme + "://" + u.Host + "/_stats"
	}
	if *scenario == "idle-tunnels" {
		return idleTunnels(*proxy, u, *clients, *pid, *app)
	}

	var doer func(ctx context.Context, client int) (func() error, func(), error)
	switch *scenario {
	case "direct", "reverse":
		doer = keepAliveDoer(u, nil, "")
	case "forward":
		doer = keepAliveDoer(u, &url.URL{Scheme: "http", Host: *proxy}, *app)
	case "direct-new":
		doer = newConnDoer(u, "", "")
	case "connect-new":
		doer = newConnDoer(u, *proxy, *app)
	case "tunnel":
		doer = tunnelDoer(u, *proxy, *app)
	default:
		return fmt.Errorf("unknown scenario %q", *scenario)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*duration)
	defer cancel()
	var (
		requests, errs atomic.Int64
		measuring      atomic.Bool
		firstErr       atomic.Value
		wg             sync.WaitGroup
		latMu          sync.Mutex
		lat            []time.Duration
	)
	if *warmup <= 0 {
		measuring.Store(true)
	}
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do, done, err := doer(ctx, c)
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer done()
			local := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := do(); err != nil {
					if ctx.Err() != nil {
						break
					}
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				if !measuring.Load() {
					continue
				}
				local = append(local, time.Since(t0))
				requests.Add(1)
			}
			latMu.Lock()
			lat = append(lat, local...)
			latMu.Unlock()
		}()
	}
	if *warmup > 0 {
		select {
		case <-time.After(*warmup):
		case <-ctx.Done():
		}
	}
	upBefore := upstreamConns(*stats)
	// The peak under load starts here: the start-up's own peak (policy
	// compilation and tests) is in proxy_vmhwm_mib.
	var startPeak float64
	peakReset := false
	if *pid > 0 {
		startPeak = float64(procStatus(*pid, "VmHWM:")) / (1 << 20)
		peakReset = resetPeak(*pid) == nil
	}
	cpuBefore := procCPU(*pid)
	start := time.Now()
	measuring.Store(true)
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpuAfter := procCPU(*pid)
	upAfter := upstreamConns(*stats)

	slices.Sort(lat)
	r := result{
		Cell: *cell, Rep: *rep,
		Scenario: *scenario, Clients: *clients, Seconds: elapsed,
		Requests: requests.Load(), Errors: errs.Load(),
		PerSecond:         float64(requests.Load()) / elapsed,
		P50us:             percentile(lat, 0.50),
		P99us:             percentile(lat, 0.99),
		UpstreamConnsPerS: float64(upAfter-upBefore) / elapsed,
	}
	if *pid > 0 && r.Requests > 0 {
		r.ProxyCPUus = (cpuAfter - cpuBefore).Seconds() * 1e6 / float64(r.Requests)
	}
	if *pid > 0 {
		r.PeakMiB = float64(procStatus(*pid, "VmHWM:")) / (1 << 20)
		r.ResidentMiB = float64(procStatus(*pid, "VmRSS:")) / (1 << 20)
		r.AnonMiB = float64(procStatus(*pid, "RssAnon:")) / (1 << 20)
		r.FileMiB = float64(procStatus(*pid, "RssFile:")) / (1 << 20)
		if peakReset {
			r.LoadPeakMiB = r.PeakMiB
			r.PeakMiB = max(startPeak, r.LoadPeakMiB)
		}
	}
	if v := firstErr.Load(); v != nil {
		r.FirstError = v.(string)
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// keepAliveDoer: one client with one keep-alive connection per worker.
func keepAliveDoer(u *url.URL, proxy *url.URL, app string) func(context.Context, int) (func() error, func(), error) {
	return func(ctx context.Context, _ int) (func() error, func(), error) {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
		if proxy != nil {
			p := *proxy
			p.User = url.UserPassword(app, "x")
			tr.Proxy = http.ProxyURL(&p)
		}
		client := &http.Client{Transport: tr}
		do := func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return err
		}
		return do, tr.CloseIdleConnections, nil
	}
}

// newConnDoer: a new TCP connection per GET; through the proxy, a new
// CONNECT tunnel per GET.
func newConnDoer(u *url.URL, proxy, app string) func(context.Context, int) (func() error, func(), error) {
	auth := basicAuth(app)
	return func(ctx context.Context, _ int) (func() error, func(), error) {
		do := func() error {
			addr := u.Host
			if proxy != "" {
				addr = proxy
			}
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return err
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			if proxy != "" {
				fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\n\r\n", u.Host, u.Host, auth)
				resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
				if err != nil {
					return err
				}
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("CONNECT status %d", resp.StatusCode)
				}
			}
			return getOn(conn, br, u, true)
		}
		return do, func() {}, nil
	}
}

// tunnelDoer: one tunnel per worker, opened once, many GETs inside.
func tunnelDoer(u *url.URL, proxy, app string) func(context.Context, int) (func() error, func(), error) {
	auth := basicAuth(app)
	return func(ctx context.Context, _ int) (func() error, func(), error) {
		conn, br, err := openTunnel(proxy, u.Host, auth)
		if err != nil {
			return nil, nil, err
		}
		do := func() error {
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			return getOn(conn, br, u, false)
		}
		return do, func() { conn.Close() }, nil
	}
}

func openTunnel(proxy, authority, auth string) (net.Conn, *bufio.Reader, error) {
	conn, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\n\r\n", authority, authority, auth)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, nil, fmt.Errorf("CONNECT status %d", resp.StatusCode)
	}
	return conn, br, nil
}

func getOn(conn net.Conn, br *bufio.Reader, u *url.URL, closeAfter bool) error {
	connHdr := ""
	if closeAfter {
		connHdr = "Connection: close\r\n"
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", u.RequestURI(), u.Host, connHdr); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// idleTunnels opens n tunnels, waits for the proxy to settle, and reports
// how much its resident memory grew per tunnel.
func idleTunnels(proxy string, u *url.URL, n, pid int, app string) error {
	if pid <= 0 {
		return fmt.Errorf("idle-tunnels needs -pid")
	}
	auth := basicAuth(app)
	before := procRSS(pid)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, br, err := openTunnel(proxy, u.Host, auth)
		if err != nil {
			return fmt.Errorf("after %d tunnels: %w", len(conns), err)
		}
		// One request, so both directions of the tunnel have run once.
		if err := getOn(c, br, u, false); err != nil {
			return err
		}
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second) // let the proxy's allocator settle; this is a measurement, not a test
	after := procRSS(pid)
	r := result{Scenario: "idle-tunnels", Clients: n, IdleTunnels: n,
		KiBPerIdleTunnel: float64(after-before) / 1024 / float64(n)}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func basicAuth(app string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(app+":x"))
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i].Microseconds())
}

func upstreamConns(statsURL string) int64 {
	resp, err := http.Get(statsURL)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var s struct {
		Connections int64 `json:"connections"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	return s.Connections
}

// procCPU is the user+system CPU time of a process (Linux /proc).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// resetPeak sets the process's VmHWM back to its current resident size
// (proc(5), clear_refs "5"), so the VmHWM read at the end is the peak of the
// measured window.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procRSS is the resident memory of a process in bytes.
func procRSS(pid int) int64 { return procStatus(pid, "VmRSS:") }

// procStatus reads one memory line of /proc/PID/status (VmRSS:, VmHWM:),
// in bytes.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
