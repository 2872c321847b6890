package geotest

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Failure makes a name fail in a chosen way.
type Failure int

const (
	// NoFailure answers from the records set for the name.
	NoFailure Failure = iota
	// NXDomain answers "no such name".
	NXDomain
	// ServFail answers SERVFAIL.
	ServFail
	// Refused answers REFUSED.
	Refused
	// NoAnswer answers NOERROR with an empty answer section.
	NoAnswer
	// NoReply never answers: the client must time out.
	NoReply
)

// DNSServer is a real DNS server (github.com/miekg/dns) on 127.0.0.1, UDP
// and TCP on the same random port, answering from records the test sets. It
// behaves like a recursive resolver: an answer holds the whole CNAME chain
// and the final records, unless SetFollowCNAMEs(false). Names are case-
// insensitive; a trailing dot is optional. An unknown name gets NXDOMAIN.
// All methods are safe for concurrent use. The server stops at the end of
// the test.
type DNSServer struct {
	t    testing.TB
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	mu      sync.Mutex
	names   map[string]*dnsName
	follow  bool
	queries map[queryKey]int
	holds   map[string]*hold
}

type dnsName struct {
	a, aaaa     []dns.RR
	cname       *dns.CNAME
	failure     Failure
	typeFailure map[uint16]Failure
	truncate    bool
}

type queryKey struct {
	name  string
	qtype uint16
	tcp   bool
}

type hold struct {
	arrived     chan struct{}
	arrivedOnce sync.Once
	release     chan struct{}
	releaseOnce sync.Once
}

// StartDNSServer starts a server and returns once it is listening on both
// UDP and TCP.
func StartDNSServer(t testing.TB) *DNSServer {
	t.Helper()
	s := &DNSServer{
		t:       t,
		names:   make(map[string]*dnsName),
		follow:  true,
		queries: make(map[queryKey]int),
		holds:   make(map[string]*hold),
	}
	var pc net.PacketConn
	var l net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("geotest: DNS server: %v", err)
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if attempt == 20 {
			t.Fatalf("geotest: DNS server: no port free for both UDP and TCP: %v", err)
		}
	}
	s.addr = pc.LocalAddr().String()
	var started sync.WaitGroup
	started.Add(2)
	s.udp = &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: started.Done}
	s.tcp = &dns.Server{Listener: l, Handler: s, NotifyStartedFunc: started.Done}
	served := make(chan error, 2)
	go func() { served <- s.udp.ActivateAndServe() }()
	go func() { served <- s.tcp.ActivateAndServe() }()
	started.Wait()
	t.Cleanup(func() {
		s.mu.Lock()
		for _, h := range s.holds {
			h.releaseOnce.Do(func() { close(h.release) })
		}
		s.mu.Unlock()
		s.udp.Shutdown()
		s.tcp.Shutdown()
		<-served
		<-served
	})
	return s
}

// Addr returns the "127.0.0.1:port" to give a resolver.
func (s *DNSServer) Addr() string { return s.addr }

func key(name string) string { return dns.Fqdn(strings.ToLower(name)) }

func (s *DNSServer) entry(name string) *dnsName {
	k := key(name)
	e := s.names[k]
	if e == nil {
		e = &dnsName{}
		s.names[k] = e
	}
	return e
}

// SetA replaces the A records of name (no address: none).
func (s *DNSServer) SetA(name string, ttl uint32, addrs ...string) {
	s.t.Helper()
	rrs := s.addrRecords(name, ttl, addrs, true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).a = rrs
}

// SetAAAA replaces the AAAA records of name.
func (s *DNSServer) SetAAAA(name string, ttl uint32, addrs ...string) {
	s.t.Helper()
	rrs := s.addrRecords(name, ttl, addrs, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).aaaa = rrs
}

func (s *DNSServer) addrRecords(name string, ttl uint32, addrs []string, v4 bool) []dns.RR {
	s.t.Helper()
	var rrs []dns.RR
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Is4() != v4 {
			s.t.Fatalf("geotest: DNS server: %q is not an IPv%s address", a, map[bool]string{true: "4", false: "6"}[v4])
		}
		hdr := dns.RR_Header{Name: key(name), Class: dns.ClassINET, Ttl: ttl}
		if v4 {
			hdr.Rrtype = dns.TypeA
			rrs = append(rrs, &dns.A{Hdr: hdr, A: ip.AsSlice()})
		} else {
			hdr.Rrtype = dns.TypeAAAA
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
		}
	}
	return rrs
}

// SetCNAME makes name an alias of target.
func (s *DNSServer) SetCNAME(name, target string, ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).cname = &dns.CNAME{
		Hdr:    dns.RR_Header{Name: key(name), Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl},
		Target: key(target),
	}
}

// SetFailure makes every query for name fail the given way (NoFailure
// restores normal answers).
func (s *DNSServer) SetFailure(name string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).failure = f
}

// SetFailureFor makes queries of one type (dns.TypeA, dns.TypeAAAA, ...)
// for name fail, e.g. a server that drops AAAA queries. It overrides
// SetFailure for that type.
func (s *DNSServer) SetFailureFor(name string, qtype uint16, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(name)
	if e.typeFailure == nil {
		e.typeFailure = make(map[uint16]Failure)
	}
	e.typeFailure[qtype] = f
}

// SetTruncated makes UDP answers for name truncated (TC bit, no records), so
// a correct client retries over TCP, where the full answer is given.
func (s *DNSServer) SetTruncated(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).truncate = on
}

// SetFollowCNAMEs chooses whether an answer includes the records of the
// CNAME target (true, the default, like a recursive resolver) or stops at
// the first CNAME, so the client must query the target itself.
func (s *DNSServer) SetFollowCNAMEs(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.follow = on
}

// Remove forgets everything about name (it becomes NXDOMAIN).
func (s *DNSServer) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, key(name))
}

// Queries returns how many queries for name arrived (any type, UDP and TCP).
func (s *DNSServer) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.queries {
		if k.name == key(name) {
			n += c
		}
	}
	return n
}

// QueriesOf returns how many queries of type qtype (dns.TypeA, ...) for name
// arrived over UDP (tcp false) or TCP (tcp true).
func (s *DNSServer) QueriesOf(name string, qtype uint16, tcp bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[queryKey{key(name), qtype, tcp}]
}

// TotalQueries returns how many queries arrived in all.
func (s *DNSServer) TotalQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queries {
		n += c
	}
	return n
}

// Hold makes queries for name wait until release is called (or the test
// ends). arrived is closed when the first such query has arrived, so a test
// can line up concurrent lookups without sleeping.
func (s *DNSServer) Hold(name string) (arrived <-chan struct{}, release func()) {
	h := &hold{arrived: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.holds[key(name)] = h
	s.mu.Unlock()
	return h.arrived, func() {
		s.mu.Lock()
		if s.holds[key(name)] == h {
			delete(s.holds, key(name))
		}
		s.mu.Unlock()
		h.releaseOnce.Do(func() { close(h.release) })
	}
}

// ServeDNS implements dns.Handler.
func (s *DNSServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := key(q.Name)
	isTCP := w.LocalAddr().Network() == "tcp"

	s.mu.Lock()
	s.queries[queryKey{name, q.Qtype, isTCP}]++
	h := s.holds[name]
	s.mu.Unlock()
	if h != nil {
		h.arrivedOnce.Do(func() { close(h.arrived) })
		<-h.release
	}

	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}

	s.mu.Lock()
	e := s.names[name]
	follow := s.follow
	if e == nil {
		m.Rcode = dns.RcodeNameError
		s.mu.Unlock()
		w.WriteMsg(m)
		return
	}
	failure := e.failure
	if f, ok := e.typeFailure[q.Qtype]; ok {
		failure = f
	}
	switch failure {
	case NoReply:
		s.mu.Unlock()
		return
	case NXDomain:
		m.Rcode = dns.RcodeNameError
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
	case Refused:
		m.Rcode = dns.RcodeRefused
	case NoAnswer:
	default:
		if e.truncate && !isTCP {
			m.Truncated = true
			break
		}
		cur := e
		for hops := 0; cur != nil && hops < 16; hops++ {
			if cur.cname != nil && q.Qtype != dns.TypeCNAME {
				m.Answer = append(m.Answer, dns.Copy(cur.cname))
				if !follow {
					break
				}
				next := s.names[cur.cname.Target]
				if next == nil {
					m.Rcode = dns.RcodeNameError
				}
				cur = next
				continue
			}
			switch q.Qtype {
			case dns.TypeA:
				m.Answer = append(m.Answer, copyRRs(cur.a)...)
			case dns.TypeAAAA:
				m.Answer = append(m.Answer, copyRRs(cur.aaaa)...)
			case dns.TypeCNAME:
				if cur.cname != nil {
					m.Answer = append(m.Answer, dns.Copy(cur.cname))
				}
			}
			break
		}
	}
	s.mu.Unlock()
	_ = w.WriteMsg(m) // the client may be gone; nothing to report to the test
}

func copyRRs(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// String describes the server, for test logs.
func (s *DNSServer) String() string { return fmt.Sprintf("geotest DNS server %s", s.addr) }
