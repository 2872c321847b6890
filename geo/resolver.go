package geo

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// ResolverConfig configures a Resolver. Zero values take the defaults.
type ResolverConfig struct {
	// Server is the "host:port" of the DNS server to ask. Empty means the
	// system resolver (Go's net.Resolver: /etc/hosts, /etc/resolv.conf),
	// which reports no TTL and no CNAME chain.
	Server string
	// Timeout bounds one whole lookup (A and AAAA, CNAME re-queries and the
	// TCP retry together). Default 5s.
	Timeout time.Duration
	// SystemTTL is how long answers from the system resolver are cached,
	// since it does not say. Default 30s.
	SystemTTL time.Duration
	// MinTTL and MaxTTL clamp the TTL of DNS answers: MinTTL keeps a TTL of 0
	// from turning every request into a lookup, MaxTTL bounds how long a
	// moved service keeps being reached at its old address. Defaults 1s, 1h.
	// IP-literal hosts are cached for MaxTTL.
	MinTTL, MaxTTL time.Duration
	// NegativeTTL is how long a failure (NXDOMAIN, no address, SERVFAIL,
	// timeout) is cached, so a broken name does not hammer the DNS server.
	// Default 5s.
	NegativeTTL time.Duration
	// Hosts answers the names it lists before any DNS server is asked
	// (the hosts option and --hosts: trials and labs).
	Hosts *HostsFile

	// MaxEntries bounds the cache, so a scan of random names cannot exhaust
	// memory. When full, expired entries go first, then arbitrary ones.
	// Default 10000.
	MaxEntries int
	// Now is the clock, for tests that expire entries without sleeping.
	// Default time.Now.
	Now func() time.Time
}

// Answer is the result of resolving one host. An Answer returned by Resolve
// is shared by every caller until it expires: treat it as read-only.
type Answer struct {
	// Host is the canonical host name (lower case, no trailing dot), or the
	// canonical text of an IP literal.
	Host string
	// Addrs are the vetted addresses, the ONLY ones ever dialled for this
	// host until Expires (no second lookup, so DNS rebinding cannot switch
	// the target). IPv4-mapped IPv6 answers are unmapped. Sorted (IPv4
	// first) and without duplicates, so classification and audit records
	// are deterministic.
	Addrs []netip.Addr
	// CNAMEs are the canonical names followed from Host to the addresses, in
	// chain order (lower case, no trailing dot), for provider matching by
	// domain. Empty for the system resolver and IP literals.
	CNAMEs []string
	// Expires is when the answer must no longer be used.
	Expires time.Time
	// Key is the canonical text of Addrs ("a,b,c"), computed once, for
	// decision-cache keys.
	Key string
}

// DNSError is a failed resolution. The proxy answers it with 502 DNS_FAILURE
// and Error() as the message. Failures are cached for NegativeTTL and the
// same *DNSError is returned to every caller meanwhile: treat it as
// read-only.
type DNSError struct {
	Host   string // the host as asked
	Server string // the DNS server asked, "" for the system resolver
	// Reason is a short human explanation ("no such host (NXDOMAIN)",
	// "timed out after 5s", "server answered SERVFAIL", ...).
	Reason string
	// NotFound is true when the name does not exist or has no address
	// (NXDOMAIN, or neither A nor AAAA records).
	NotFound bool
	// Timeout is true when the server did not answer in time.
	Timeout bool
	// Err is the underlying error, if any.
	Err error
}

func (e *DNSError) Error() string {
	var b strings.Builder
	b.WriteString("resolving ")
	b.WriteString(e.Host)
	if e.Server != "" {
		b.WriteString(" with ")
		b.WriteString(e.Server)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil && !strings.Contains(e.Reason, e.Err.Error()) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DNSError) Unwrap() error { return e.Err }

const (
	defaultTimeout     = 5 * time.Second
	defaultSystemTTL   = 30 * time.Second
	defaultMinTTL      = time.Second
	defaultMaxTTL      = time.Hour
	defaultNegativeTTL = 5 * time.Second
	defaultMaxEntries  = 10000

	maxCNAMEHops = 8    // a longer chain is a loop or an attack
	ednsUDPSize  = 1232 // the DNS flag day 2020 size: no IP fragmentation

	// familyGrace is how long the second address family may lag behind the
	// first one that returned addresses.
	familyGrace = 250 * time.Millisecond
)

// Resolver resolves host names once per TTL and shares the answer. Cache
// hits take a read lock on one of several shards and do not allocate;
// concurrent misses for one host share a single lookup.
type Resolver struct {
	cfg    ResolverConfig
	now    func() time.Time
	seed   maphash.Seed
	shards []cacheShard
	perCap int // entries per shard

	group singleflight.Group
	udp   *dns.Client
	tcp   *dns.Client
	sys   *net.Resolver

	lookups atomic.Uint64
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*cacheEntry
	_  [40]byte // keep shards on separate cache lines
}

// cacheEntry is immutable once stored; replacing an entry swaps the pointer.
type cacheEntry struct {
	ans     *Answer
	err     *DNSError
	expires time.Time
}

// NewResolver checks cfg and returns a ready Resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.SystemTTL == 0 {
		cfg.SystemTTL = defaultSystemTTL
	}
	if cfg.MinTTL == 0 {
		cfg.MinTTL = defaultMinTTL
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = defaultMaxTTL
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = defaultNegativeTTL
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = defaultMaxEntries
	}
	switch {
	case cfg.Timeout < 0, cfg.SystemTTL < 0, cfg.MinTTL < 0, cfg.MaxTTL < 0, cfg.NegativeTTL < 0, cfg.MaxEntries < 0:
		return nil, errors.New("resolver: durations and max entries must not be negative")
	case cfg.MinTTL > cfg.MaxTTL:
		return nil, fmt.Errorf("resolver: min TTL %s is above max TTL %s", cfg.MinTTL, cfg.MaxTTL)
	}
	if cfg.Server != "" {
		host, port, err := net.SplitHostPort(cfg.Server)
		if err != nil {
			return nil, fmt.Errorf("resolver: server %q: want host:port: %w", cfg.Server, err)
		}
		if host == "" || port == "" {
			return nil, fmt.Errorf("resolver: server %q: want host:port", cfg.Server)
		}
	}
	r := &Resolver{cfg: cfg, now: cfg.Now, seed: maphash.MakeSeed()}
	if r.now == nil {
		r.now = time.Now
	}
	// A few hundred entries per shard keeps the full-shard sweep cheap; small
	// caches get one shard so the bound is exact.
	n := 1
	for n < 32 && n*256 < cfg.MaxEntries {
		n *= 2
	}
	r.shards = make([]cacheShard, n)
	for i := range r.shards {
		r.shards[i].m = make(map[string]*cacheEntry)
	}
	r.perCap = max(1, cfg.MaxEntries/n)
	if cfg.Server != "" {
		r.udp = &dns.Client{Net: "udp", Timeout: cfg.Timeout, UDPSize: ednsUDPSize}
		r.tcp = &dns.Client{Net: "tcp", Timeout: cfg.Timeout}
	} else {
		r.sys = &net.Resolver{}
	}
	return r, nil
}

// Config returns the effective configuration (defaults filled in).
func (r *Resolver) Config() ResolverConfig { return r.cfg }

// Lookups returns how many real lookups (cache misses that reached DNS) the
// resolver has made, for metrics.
func (r *Resolver) Lookups() uint64 { return r.lookups.Load() }

// Len returns the number of cached entries, expired ones included.
func (r *Resolver) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Flush empties the cache.
func (r *Resolver) Flush() {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// Resolve returns the addresses of host (a name or an IP literal, optionally
// in brackets). Within the TTL the same *Answer is returned without a
// lookup and without allocating. A failure is a *DNSError.
func (r *Resolver) Resolve(ctx context.Context, host string) (*Answer, error) {
	if e := r.cached(host); e != nil {
		if e.err != nil {
			return nil, e.err
		}
		return e.ans, nil
	}
	return r.resolveSlow(ctx, host)
}

func (r *Resolver) shard(key string) *cacheShard {
	if len(r.shards) == 1 {
		return &r.shards[0]
	}
	return &r.shards[maphash.String(r.seed, key)&uint64(len(r.shards)-1)]
}

// cached returns the live entry for key, or nil.
func (r *Resolver) cached(key string) *cacheEntry {
	s := r.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	if e == nil || !r.now().Before(e.expires) {
		return nil
	}
	return e
}

func (r *Resolver) store(key string, e *cacheEntry) {
	s := r.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok && len(s.m) >= r.perCap {
		now := r.now()
		for k, old := range s.m {
			if !now.Before(old.expires) {
				delete(s.m, k)
			}
		}
		for k := range s.m { // still full: evict arbitrary entries
			if len(s.m) < r.perCap {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[key] = e
}

func (r *Resolver) resolveSlow(ctx context.Context, host string) (*Answer, error) {
	name, ip, err := CanonicalHost(host)
	if err != nil {
		return nil, &DNSError{Host: host, Server: r.cfg.Server, Reason: "invalid host name", NotFound: true, Err: err}
	}
	if ip.IsValid() {
		ans := newAnswer(name, []netip.Addr{ip}, nil, r.now().Add(r.cfg.MaxTTL))
		e := &cacheEntry{ans: ans, expires: ans.Expires}
		r.store(host, e)
		return ans, nil
	}
	if name != host {
		if e := r.cached(name); e != nil {
			if e.err != nil {
				return nil, e.err
			}
			return e.ans, nil
		}
	}
	ch := r.group.DoChan(name, func() (any, error) {
		if e := r.cached(name); e != nil { // a flight that just landed
			return e, nil
		}
		e := r.lookup(name)
		r.store(name, e)
		return e, nil
	})
	select {
	case res := <-ch:
		e := res.Val.(*cacheEntry)
		if name != host && e.err == nil {
			r.store(host, e) // so the raw spelling hits without canonicalising
		}
		if e.err != nil {
			return nil, e.err
		}
		return e.ans, nil
	case <-ctx.Done():
		// The shared lookup goes on for the other callers and the cache.
		return nil, &DNSError{Host: host, Server: r.cfg.Server, Reason: "lookup abandoned by the caller",
			Timeout: errors.Is(ctx.Err(), context.DeadlineExceeded), Err: ctx.Err()}
	}
}

// lookup performs one real resolution of a canonical name, bounded by
// Timeout and detached from any caller's cancellation (it is shared).
func (r *Resolver) lookup(name string) *cacheEntry {
	r.lookups.Add(1)
	if addrs, ok := r.cfg.Hosts.Lookup(name); ok {
		ans := newAnswer(name, addrs, nil, r.now().Add(r.cfg.MaxTTL))
		return &cacheEntry{ans: ans, expires: ans.Expires}
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	if r.sys != nil {
		return r.lookupSystem(ctx, name)
	}
	return r.lookupDNS(ctx, name)
}

func (r *Resolver) negative(dnsErr *DNSError) *cacheEntry {
	return &cacheEntry{err: dnsErr, expires: r.now().Add(r.cfg.NegativeTTL)}
}

func (r *Resolver) lookupSystem(ctx context.Context, name string) *cacheEntry {
	ips, err := r.sys.LookupNetIP(ctx, "ip", name)
	if err != nil {
		de := &DNSError{Host: name, Reason: "lookup failed", Err: err}
		var ne *net.DNSError
		if errors.As(err, &ne) {
			de.NotFound, de.Timeout = ne.IsNotFound, ne.IsTimeout
			switch {
			case ne.IsNotFound:
				de.Reason = "no such host"
			case ne.IsTimeout:
				de.Reason = fmt.Sprintf("timed out after %s", r.cfg.Timeout)
			}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			de.Timeout, de.Reason = true, fmt.Sprintf("timed out after %s", r.cfg.Timeout)
		}
		return r.negative(de)
	}
	if len(ips) == 0 {
		return r.negative(&DNSError{Host: name, Reason: "no A or AAAA records", NotFound: true})
	}
	ans := newAnswer(name, ips, nil, r.now().Add(r.cfg.SystemTTL))
	return &cacheEntry{ans: ans, expires: ans.Expires}
}

// familyResult is the outcome of one query type (A or AAAA).
type familyResult struct {
	addrs  []netip.Addr
	cnames []string
	ttl    uint32 // min TTL of the records used
	rcode  int
	err    error // transport failure, timeout, malformed answer
}

func (r *Resolver) lookupDNS(ctx context.Context, name string) *cacheEntry {
	fqdn := dns.Fqdn(name)
	// Both families at once. Once one has addresses, the other gets a short
	// grace period only: a server that drops AAAA queries must not add the
	// whole timeout to every lookup. A late query finishes in the background
	// (bounded by ctx's deadline) into the buffered channel.
	results := make(chan familyResult, 2)
	go func() { results <- r.queryFamily(ctx, fqdn, dns.TypeA) }()
	go func() { results <- r.queryFamily(ctx, fqdn, dns.TypeAAAA) }()
	first := <-results
	var second familyResult
	if len(first.addrs) > 0 {
		grace := time.NewTimer(familyGrace)
		select {
		case second = <-results:
		case <-grace.C:
			second = familyResult{err: errGraceExpired}
		}
		grace.Stop()
	} else {
		second = <-results
	}

	addrs := append(first.addrs, second.addrs...)
	if len(addrs) > 0 {
		ttl := time.Duration(1<<63 - 1)
		for _, f := range []*familyResult{&first, &second} {
			if len(f.addrs) > 0 {
				ttl = min(ttl, time.Duration(f.ttl)*time.Second)
			}
		}
		ttl = min(max(ttl, r.cfg.MinTTL), r.cfg.MaxTTL)
		if first.err != nil || second.err != nil || first.rcode != dns.RcodeSuccess || second.rcode != dns.RcodeSuccess {
			// One family failed: serve what we have, but ask again soon.
			ttl = min(ttl, max(r.cfg.NegativeTTL, r.cfg.MinTTL))
		}
		cnames := first.cnames
		for _, c := range second.cnames {
			if !slices.Contains(cnames, c) {
				cnames = append(cnames, c)
			}
		}
		ans := newAnswer(name, addrs, cnames, r.now().Add(ttl))
		return &cacheEntry{ans: ans, expires: ans.Expires}
	}

	de := &DNSError{Host: name, Server: r.cfg.Server}
	switch {
	case first.rcode == dns.RcodeNameError || second.rcode == dns.RcodeNameError:
		de.NotFound, de.Reason = true, "no such host (NXDOMAIN)"
	case isTimeout(first.err) || isTimeout(second.err):
		de.Timeout, de.Reason = true, fmt.Sprintf("timed out after %s", r.cfg.Timeout)
		de.Err = cmpOr(first.err, second.err)
	case first.err != nil || second.err != nil:
		de.Err = cmpOr(first.err, second.err)
		de.Reason = "query failed"
	case first.rcode != dns.RcodeSuccess || second.rcode != dns.RcodeSuccess:
		rc := first.rcode
		if rc == dns.RcodeSuccess {
			rc = second.rcode
		}
		de.Reason = "server answered " + rcodeName(rc)
	default:
		de.NotFound, de.Reason = true, "no A or AAAA records"
	}
	return r.negative(de)
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("rcode %d", rc)
}

func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errAttemptTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// queryFamily resolves one record type, following the CNAME chain in the
// answers and re-querying the chain's end when the server returned only the
// CNAME. Only records on the chain are used: anything else in the answer
// section is ignored (it could be a poisoning attempt).
func (r *Resolver) queryFamily(ctx context.Context, fqdn string, qtype uint16) familyResult {
	res := familyResult{ttl: ^uint32(0)}
	target := fqdn
	hops := 0
	for {
		msg, err := r.exchange(ctx, target, qtype)
		if err != nil {
			res.err = err
			return res
		}
		res.rcode = msg.Rcode
		if msg.Rcode != dns.RcodeSuccess {
			return res
		}
		owner := target
	chain:
		for {
			for _, rr := range msg.Answer {
				if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, owner) {
					hops++
					if hops > maxCNAMEHops {
						res.err = fmt.Errorf("CNAME chain longer than %d", maxCNAMEHops)
						return res
					}
					owner = dns.Fqdn(c.Target)
					res.cnames = append(res.cnames, canonicalName(owner))
					res.ttl = min(res.ttl, c.Hdr.Ttl)
					continue chain
				}
			}
			break
		}
		for _, rr := range msg.Answer {
			if !strings.EqualFold(rr.Header().Name, owner) {
				continue
			}
			var ip netip.Addr
			switch v := rr.(type) {
			case *dns.A:
				if qtype == dns.TypeA {
					ip, _ = netip.AddrFromSlice(v.A)
				}
			case *dns.AAAA:
				if qtype == dns.TypeAAAA {
					ip, _ = netip.AddrFromSlice(v.AAAA)
				}
			}
			if ip.IsValid() {
				res.addrs = append(res.addrs, ip)
				res.ttl = min(res.ttl, rr.Header().Ttl)
			}
		}
		if len(res.addrs) > 0 || strings.EqualFold(owner, target) {
			return res // addresses, or a NOERROR answer without any
		}
		target = owner // the server stopped at a CNAME: ask for its target
	}
}

var (
	errAttemptTimeout = errors.New("no answer")
	errGraceExpired   = errors.New("no answer while the other address family had one")
)

// exchange sends one query over UDP (retried once if the first datagram
// gets no answer in half the budget) and falls back to TCP when the answer
// is truncated.
func (r *Resolver) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	m.SetEdns0(ednsUDPSize, false)

	var resp *dns.Msg
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if attempt == 0 {
			actx, cancel = context.WithTimeout(ctx, r.cfg.Timeout/2)
		}
		resp, _, err = r.udp.ExchangeContext(actx, m, r.cfg.Server)
		cancel()
		if err == nil || ctx.Err() != nil || !isTimeout(err) {
			break
		}
		m.Id = dns.Id()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", errAttemptTimeout, ctx.Err())
		}
		return nil, err
	}
	if resp.Truncated {
		resp, _, err = r.tcp.ExchangeContext(ctx, m, r.cfg.Server)
		if err != nil {
			return nil, fmt.Errorf("TCP retry after truncated answer: %w", err)
		}
	}
	if len(resp.Question) > 0 {
		q := resp.Question[0]
		if q.Qtype != qtype || !strings.EqualFold(q.Name, fqdn) {
			return nil, fmt.Errorf("answer for %s type %d does not match the question", q.Name, q.Qtype)
		}
	}
	return resp, nil
}

// newAnswer canonicalises addrs (unmapped, zone-less, sorted, deduplicated)
// and precomputes Key.
func newAnswer(host string, addrs []netip.Addr, cnames []string, expires time.Time) *Answer {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			out = append(out, a.Unmap().WithZone(""))
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	out = slices.Compact(out)
	var b strings.Builder
	for i, a := range out {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
	if len(cnames) == 0 {
		cnames = nil
	}
	return &Answer{Host: host, Addrs: out, CNAMEs: cnames, Expires: expires, Key: b.String()}
}

func canonicalName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// CanonicalHost validates a host as the proxy receives it and returns its
// canonical form: an IP literal (brackets and zone removed, IPv4-mapped
// unmapped) in ip with its text in name, or a DNS name in lower case
// without the trailing dot. It rejects anything that is not a plain
// hostname (only letters, digits, '-' and '_' in labels of 1 to 63
// characters, 253 characters at most) and names whose last label is
// numeric, which are IP addresses in a non-canonical spelling (decimal,
// octal, hex, shortened) that some resolvers would turn into an address.
// International names must already be in punycode.
func CanonicalHost(host string) (name string, ip netip.Addr, err error) {
	h := host
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
		ip, err := netip.ParseAddr(h)
		if err != nil || !ip.Is6() {
			return "", netip.Addr{}, fmt.Errorf("%q: brackets must hold an IPv6 address", host)
		}
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		ip = ip.Unmap().WithZone("")
		return ip.String(), ip, nil
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", netip.Addr{}, errors.New("empty host name")
	}
	if len(h) > 253 {
		return "", netip.Addr{}, fmt.Errorf("host name longer than 253 characters")
	}
	lastStart, allDigits := 0, true
	for i := 0; i <= len(h); i++ {
		if i == len(h) || h[i] == '.' {
			if i == lastStart {
				return "", netip.Addr{}, fmt.Errorf("%q: empty label", host)
			}
			if i-lastStart > 63 {
				return "", netip.Addr{}, fmt.Errorf("%q: label longer than 63 characters", host)
			}
			if i == len(h) && allDigits {
				return "", netip.Addr{}, fmt.Errorf("%q: numeric top-level label (a non-canonical IP address?)", host)
			}
			lastStart, allDigits = i+1, true
			continue
		}
		c := h[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
			allDigits = false
		default:
			return "", netip.Addr{}, fmt.Errorf("%q: invalid character %q", host, c)
		}
	}
	return strings.ToLower(h), netip.Addr{}, nil
}
