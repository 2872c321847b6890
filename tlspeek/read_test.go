package tlspeek_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/sovgate/sovgate/tlspeek"
)

// readers are the ways a stream can arrive: all at once, a byte at a time,
// in halves, with the final EOF attached to the last data.
// DataErrReader reads ahead of its caller, so "what is left in the source"
// is only checked for the others.
var readers = []struct {
	name      string
	wrap      func(io.Reader) io.Reader
	readAhead bool
}{
	{"whole", func(r io.Reader) io.Reader { return r }, false},
	{"one-byte", iotest.OneByteReader, false},
	{"half", iotest.HalfReader, false},
	{"data-err", iotest.DataErrReader, true},
	{"data-err-one-byte", func(r io.Reader) io.Reader { return iotest.DataErrReader(iotest.OneByteReader(r)) }, true},
}

func longName() string {
	l63 := strings.Repeat("a", 63)
	return l63 + "." + l63 + "." + l63 + "." + strings.Repeat("b", 57) + ".com" // 253 characters
}

// manyProtocols makes a ClientHello of about size bytes through ALPN alone.
func manyProtocols(size int) []string {
	var protos []string
	for i := 0; size > 0; i++ {
		p := fmt.Sprintf("proto-%03d-%s", i, strings.Repeat("x", 200))
		protos = append(protos, p)
		size -= len(p) + 1
	}
	return protos
}

type realCase struct {
	name     string
	cfg      func(t testing.TB) *tls.Config
	want     tlspeek.ClientHello
	records  int // how many records crypto/tls used
	maxBytes int
}

func realCases() []realCase {
	return []realCase{
		{
			name: "tls13-sni-alpn",
			cfg: func(testing.TB) *tls.Config {
				return &tls.Config{ServerName: "api.example.com", NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS13}
			},
			want:    tlspeek.ClientHello{ServerName: "api.example.com", ALPN: []string{"h2", "http/1.1"}, Version: tls.VersionTLS13, LegacyVersion: tls.VersionTLS12},
			records: 1,
		},
		{
			name: "tls12-only-sni-upper-case",
			cfg: func(testing.TB) *tls.Config {
				return &tls.Config{ServerName: "API.Example.COM", MaxVersion: tls.VersionTLS12}
			},
			want:    tlspeek.ClientHello{ServerName: "api.example.com", Version: tls.VersionTLS12, LegacyVersion: tls.VersionTLS12},
			records: 1,
		},
		{
			name: "tls12-alpn-no-sni",
			cfg: func(testing.TB) *tls.Config {
				return &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
			},
			want:    tlspeek.ClientHello{ALPN: []string{"http/1.1"}, Version: tls.VersionTLS12, LegacyVersion: tls.VersionTLS12},
			records: 1,
		},
		{
			name: "default-no-server-name",
			cfg: func(testing.TB) *tls.Config {
				return &tls.Config{InsecureSkipVerify: true}
			},
			want:    tlspeek.ClientHello{Version: tls.VersionTLS13, LegacyVersion: tls.VersionTLS12},
			records: 1,
		},
		{
			// crypto/tls leaves SNI out for IP addresses (RFC 6066 forbids them).
			name: "ipv4-server-name",
			cfg: func(testing.TB) *tls.Config {
				return &tls.Config{ServerName: "192.0.2.1", NextProtos: []string{"h2"}}
			},
			want:    tlspeek.ClientHello{ALPN: []string{"h2"}, Version: tls.VersionTLS13, LegacyVersion: tls.VersionTLS12},
			records: 1,
		},
		{
			name: "ipv6-server-name",
			cfg: func(testing.TB) *tls.Config {
				return &tls.Config{ServerName: "2001:db8::1"}
			},
			want:    tlspeek.ClientHello{Version: tls.VersionTLS13, LegacyVersion: tls.VersionTLS12},
			records: 1,
		},
		{
			name: "long-server-name",
			cfg: func(testing.TB) *tls.Config {
				return &tls.Config{ServerName: longName()}
			},
			want:    tlspeek.ClientHello{ServerName: longName(), Version: tls.VersionTLS13, LegacyVersion: tls.VersionTLS12},
			records: 1,
		},
		{
			// About 40 KB: crypto/tls itself splits it into three records.
			name: "large-alpn-three-records",
			cfg: func(testing.TB) *tls.Config {
				return &tls.Config{ServerName: "big.example", NextProtos: manyProtocols(40000)}
			},
			want:     tlspeek.ClientHello{ServerName: "big.example", ALPN: manyProtocols(40000), Version: tls.VersionTLS13, LegacyVersion: tls.VersionTLS12},
			records:  3,
			maxBytes: 64 << 10,
		},
		{
			// The outer ClientHello carries the ECH provider's public name.
			name: "ech-outer-public-name",
			cfg: func(tb testing.TB) *tls.Config {
				list, _ := newECHKey(tb, "public.example")
				return &tls.Config{ServerName: "inner.example", EncryptedClientHelloConfigList: list, NextProtos: []string{"h2"}}
			},
			want:    tlspeek.ClientHello{ServerName: "public.example", ALPN: []string{"h2"}, Version: tls.VersionTLS13, LegacyVersion: tls.VersionTLS12, HasECH: true},
			records: 1,
		},
	}
}

// next is what a client might send after its ClientHello; Read must leave it
// in the reader.
var next = record(23, 0x0303, []byte("early data, not for tlspeek"))

func TestReadRealClientHellos(t *testing.T) {
	for _, tc := range realCases() {
		t.Run(tc.name, func(t *testing.T) {
			sent := captureClientHello(t, tc.cfg(t))
			end, _ := clientHelloEnd(t, sent)
			if end != len(sent) {
				t.Fatalf("crypto/tls sent %d bytes, the ClientHello ends at %d", len(sent), end)
			}
			if got := countRecords(sent); got != tc.records {
				t.Errorf("crypto/tls used %d records, want %d", got, tc.records)
			}
			for _, rd := range readers {
				t.Run(rd.name, func(t *testing.T) {
					src := bytes.NewReader(append(bytes.Clone(sent), next...))
					hello, consumed, err := tlspeek.Read(rd.wrap(src), tc.maxBytes)
					if err != nil {
						t.Fatalf("Read: %v", err)
					}
					if !reflect.DeepEqual(*hello, tc.want) {
						t.Errorf("Read = %+v\nwant  %+v", *hello, tc.want)
					}
					if !bytes.Equal(consumed, sent) {
						t.Errorf("consumed %d bytes, the client sent %d for its ClientHello", len(consumed), len(sent))
					}
					rest, _ := io.ReadAll(src)
					if !rd.readAhead && !bytes.Equal(rest, next) {
						t.Errorf("left %q in the reader, want %q (read past the ClientHello)", rest, next)
					}
				})
			}
		})
	}
}

func countRecords(stream []byte) int {
	n := 0
	for off := 0; off+5 <= len(stream); n++ {
		off += 5 + (int(stream[off+3])<<8 | int(stream[off+4]))
	}
	return n
}

// TestReadRefragmented re-frames real ClientHellos the way a middlebox or a
// hostile client could: one byte per record, the handshake header split
// across records, uneven sizes, maximum-size records.
func TestReadRefragmented(t *testing.T) {
	cases := realCases()
	patterns := [][]int{{1}, {2}, {3}, {4}, {5, 100}, {1, 16384}, {7, 3, 250}, {16384}}
	for _, tc := range []realCase{cases[0], cases[1], cases[7]} {
		sent := captureClientHello(t, tc.cfg(t))
		_, msg := clientHelloEnd(t, sent)
		for _, sizes := range patterns {
			stream := fragment(msg, sizes...)
			t.Run(fmt.Sprintf("%s/%v", tc.name, sizes), func(t *testing.T) {
				for _, rd := range readers[:3] {
					src := bytes.NewReader(append(bytes.Clone(stream), next...))
					hello, consumed, err := tlspeek.Read(rd.wrap(src), 1<<20)
					if err != nil {
						t.Fatalf("%s: Read: %v", rd.name, err)
					}
					if !reflect.DeepEqual(*hello, tc.want) {
						t.Errorf("%s: Read = %+v, want %+v", rd.name, *hello, tc.want)
					}
					if !bytes.Equal(consumed, stream) {
						t.Errorf("%s: consumed %d bytes, want the %d-byte stream", rd.name, len(consumed), len(stream))
					}
					if src.Len() != len(next) {
						t.Errorf("%s: %d bytes left in the reader, want %d", rd.name, src.Len(), len(next))
					}
				}
			})
		}
	}
}

// TestReadTruncated cuts valid streams at every length: each prefix must end
// in an error (io.EOF for nothing, io.ErrUnexpectedEOF otherwise), with the
// whole prefix consumed, and never a panic or a hang.
func TestReadTruncated(t *testing.T) {
	cases := realCases()
	tls12 := captureClientHello(t, cases[1].cfg(t))
	_, tls13msg := clientHelloEnd(t, captureClientHello(t, cases[0].cfg(t)))
	streams := map[string][]byte{
		"tls12":             tls12,
		"tls13-3-records":   fragment(tls13msg, 3, 500),
		"tls13-1-byte-recs": fragment(tls13msg[:min(len(tls13msg), 400)], 1)[:1000], // the start, byte by byte
		"hand-made":         helloRecord(sniExt("a.example"), alpnExt("h2"), versionsExt(0x0304)),
	}
	for name, stream := range streams {
		t.Run(name, func(t *testing.T) {
			for cut := range len(stream) {
				prefix := stream[:cut]
				for _, rd := range readers {
					hello, consumed, err := tlspeek.Read(rd.wrap(bytes.NewReader(prefix)), 1<<20)
					want := io.ErrUnexpectedEOF
					if cut == 0 {
						want = io.EOF
					}
					if !errors.Is(err, want) || hello != nil {
						t.Fatalf("cut at %d (%s): Read = %v, %v; want %v", cut, rd.name, hello, err, want)
					}
					if !bytes.Equal(consumed, prefix) {
						t.Fatalf("cut at %d (%s): consumed %d bytes, want all %d", cut, rd.name, len(consumed), cut)
					}
				}
			}
		})
	}
}

func TestReadNotTLS(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		upto  int    // the byte that gives it away, 1-based
		about string // in the message
	}{
		{"http-get", "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 1, `plain text starting "G`},
		{"http-connect", "CONNECT api.example.com:443 HTTP/1.1\r\n\r\n", 1, "plain text"},
		{"ssh-banner", "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n", 1, "SSH banner"},
		{"tls-alert", "\x15\x03\x03\x00\x02\x02\x28", 1, "alert record (type 21)"},
		{"tls-change-cipher-spec", "\x14\x03\x03\x00\x01\x01", 1, "change_cipher_spec"},
		{"tls-application-data", "\x17\x03\x03\x00\x05hello", 1, "application_data"},
		{"sslv2-client-hello", "\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10\x07\x00\xc0\x05\x00\x80\x03\x00\x80\x01\x00\x80\x06\x00\x40\x04\x00\x80\x02\x00\x80", 1, "SSLv2-compatible ClientHello"},
		{"binary-zero", "\x00\x00\x00\x01", 1, "first byte 0x00"},
		{"handshake-type-bad-major", "\x16\x02\x00\x00\x10", 2, "version byte 0x02"},
		{"dtls-version", "\x16\xfe\xfd\x00\x00", 2, "version byte 0xfe"},
		{"record-version-0x0305", "\x16\x03\x05\x00\x10", 3, "record version 0x0305"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, rd := range readers {
				hello, consumed, err := tlspeek.Read(rd.wrap(strings.NewReader(tc.in)), 0)
				if !errors.Is(err, tlspeek.ErrNotTLS) || hello != nil {
					t.Fatalf("%s: Read = %v, %v; want ErrNotTLS", rd.name, hello, err)
				}
				if !strings.Contains(err.Error(), tc.about) {
					t.Errorf("%s: error %q does not mention %q", rd.name, err, tc.about)
				}
				if !strings.HasPrefix(tc.in, string(consumed)) || len(consumed) < tc.upto || len(consumed) > 5 {
					t.Errorf("%s: consumed %q; want a prefix of the input, %d to 5 bytes", rd.name, consumed, tc.upto)
				}
				if strings.HasPrefix(rd.name, "one-byte") && len(consumed) != tc.upto {
					t.Errorf("%s: consumed %d bytes, want only the %d that decide it", rd.name, len(consumed), tc.upto)
				}
			}
		})
	}
}

func TestReadMalformed(t *testing.T) {
	valid := handshakeMsg(1, helloBody(vec16(sniExt("api.example.com"), alpnExt("h2"))))
	withBody := func(body []byte) []byte { return record(22, 0x0301, handshakeMsg(1, body)) }
	cases := []struct {
		name   string
		in     []byte
		field  string
		reason string
	}{
		// Record layer.
		{"zero-length-first-record", record(22, 0x0301, nil), "record 1", "zero-length"},
		{"zero-length-middle-record", bytes.Join([][]byte{record(22, 0x0301, valid[:10]), record(22, 0x0301, nil), record(22, 0x0301, valid[10:])}, nil), "record 2", "zero-length"},
		{"record-over-2^14", []byte("\x16\x03\x01\x40\x01"), "record 1", "exceeds the TLS maximum"},
		{"interleaved-change-cipher-spec", bytes.Join([][]byte{record(22, 0x0301, valid[:10]), record(20, 0x0303, []byte{1}), record(22, 0x0301, valid[10:])}, nil), "record 2", "content type 20"},
		{"interleaved-alert", bytes.Join([][]byte{record(22, 0x0301, valid[:10]), record(21, 0x0303, []byte{1, 0}), record(22, 0x0301, valid[10:])}, nil), "record 2", "content type 21"},
		{"second-record-version-0x0305", bytes.Join([][]byte{record(22, 0x0301, valid[:10]), record(22, 0x0305, valid[10:])}, nil), "record 2", "record version 0x0305"},
		{"second-record-version-0x0203", bytes.Join([][]byte{record(22, 0x0301, valid[:10]), record(22, 0x0203, valid[10:])}, nil), "record 2", "record version 0x0203"},
		{"bytes-after-client-hello", record(22, 0x0301, append(bytes.Clone(valid), 1, 2, 3)), "record 1", "3 bytes after the end"},
		{"message-after-client-hello", record(22, 0x0301, append(bytes.Clone(valid), handshakeMsg(1, nil)...)), "record 1", "4 bytes after the end"},
		{"split-then-extra", bytes.Join([][]byte{record(22, 0x0301, valid[:2]), record(22, 0x0301, append(bytes.Clone(valid[2:]), 0))}, nil), "record 2", "1 bytes after the end"},
		// Handshake layer.
		{"server-hello", record(22, 0x0303, handshakeMsg(2, helloBody(nil))), "handshake header", "message type 2"},
		{"server-hello-split-header", record(22, 0x0303, []byte{2}), "handshake header", "message type 2"},
		{"empty-client-hello", withBody(nil), "legacy_version", "truncated"},
		{"short-random", withBody(make([]byte, 20)), "random", "truncated"},
		{"no-session-id", withBody(make([]byte, 34)), "legacy_session_id", "truncated"},
		{"session-id-33", withBody(bytes.Join([][]byte{make([]byte, 34), vec8(make([]byte, 33)), vec16(u16(0x1301)), vec8([]byte{0})}, nil)), "legacy_session_id", "33 bytes"},
		{"cipher-suites-odd", withBody(bytes.Join([][]byte{make([]byte, 34), vec8(), vec16([]byte{0x13, 0x01, 0x13}), vec8([]byte{0})}, nil)), "cipher_suites", "3 bytes"},
		{"cipher-suites-empty", withBody(bytes.Join([][]byte{make([]byte, 34), vec8(), vec16(), vec8([]byte{0})}, nil)), "cipher_suites", "0 bytes"},
		{"cipher-suites-truncated", withBody(bytes.Join([][]byte{make([]byte, 34), vec8(), u16(10), u16(0x1301)}, nil)), "cipher_suites", "truncated"},
		{"compression-empty", withBody(bytes.Join([][]byte{make([]byte, 34), vec8(), vec16(u16(0x1301)), vec8()}, nil)), "legacy_compression_methods", "empty"},
		{"compression-missing", withBody(bytes.Join([][]byte{make([]byte, 34), vec8(), vec16(u16(0x1301))}, nil)), "legacy_compression_methods", "truncated"},
		{"extensions-one-byte", withBody(append(helloBody(nil), 0)), "extensions", "longer than the rest"},
		{"extensions-block-too-long", withBody(append(helloBody(nil), 0, 9, 0, 0)), "extensions", "longer than the rest"},
		{"bytes-after-extensions", withBody(append(helloBody(vec16(sniExt("a.example"))), 0)), "extensions", "1 bytes after the extensions block"},
		{"extension-header-cut", withBody(helloBody(vec16(sniExt("a.example"), []byte{0}))), "extensions", "1 byte left"},
		{"extension-longer-than-block", withBody(helloBody(vec16(u16(0xff01), u16(4), []byte{0}))), "extensions", "extension 65281 longer"},
		// Duplicates of the extensions Read interprets.
		{"two-sni-extensions", helloRecord(sniExt("allowed.example"), sniExt("blocked.example")), "extension server_name", "present twice"},
		{"two-alpn-extensions", helloRecord(alpnExt("h2"), alpnExt("http/1.1")), "extension application_layer_protocol_negotiation", "present twice"},
		{"two-versions-extensions", helloRecord(versionsExt(0x0304), versionsExt(0x0303)), "extension supported_versions", "present twice"},
		{"two-ech-extensions", helloRecord(ext(0xfe0d, []byte{0}), ext(0xfe0d, []byte{0})), "extension encrypted_client_hello", "present twice"},
		// server_name.
		{"sni-two-host-names", helloRecord(sniExt("allowed.example", "blocked.example")), "extension server_name", "more than one entry"},
		{"sni-unknown-name-type", helloRecord(ext(0, vec16([]byte{1}, vec16([]byte("x.example"))))), "extension server_name", "name_type 1"},
		{"sni-host-then-unknown-type", helloRecord(ext(0, vec16([]byte{0}, vec16([]byte("a.example")), []byte{1}, vec16([]byte("b"))))), "extension server_name", "more than one entry"},
		{"sni-empty-list", helloRecord(ext(0, vec16())), "extension server_name", "empty server_name_list"},
		{"sni-empty-extension", helloRecord(ext(0)), "extension server_name", "longer than the extension"},
		{"sni-empty-host-name", helloRecord(sniExt("")), "extension server_name", "empty host_name"},
		{"sni-list-too-long", helloRecord(ext(0, u16(50), []byte{0}, vec16([]byte("a.example")))), "extension server_name", "longer than the extension"},
		{"sni-bytes-after-list", helloRecord(ext(0, vec16([]byte{0}, vec16([]byte("a.example"))), []byte{0})), "extension server_name", "1 bytes after server_name_list"},
		{"sni-name-too-long", helloRecord(ext(0, vec16([]byte{0}, u16(40), []byte("a.example")))), "extension server_name", "longer than server_name_list"},
		{"sni-only-dot", helloRecord(sniExt(".")), "extension server_name", `"."`},
		{"sni-two-trailing-dots", helloRecord(sniExt("a.example..")), "extension server_name", "ends in an empty label"},
		// ALPN.
		{"alpn-empty-list", helloRecord(ext(16, vec16())), "extension application_layer_protocol_negotiation", "empty protocol_name_list"},
		{"alpn-empty-name", helloRecord(alpnExt("h2", "")), "extension application_layer_protocol_negotiation", "protocol name 2 is empty"},
		{"alpn-name-too-long", helloRecord(ext(16, vec16([]byte{9}, []byte("h2")))), "extension application_layer_protocol_negotiation", "protocol name 1 longer"},
		{"alpn-list-too-long", helloRecord(ext(16, u16(9), vec8([]byte("h2")))), "extension application_layer_protocol_negotiation", "longer than the extension"},
		{"alpn-bytes-after-list", helloRecord(ext(16, vec16(vec8([]byte("h2"))), []byte{0})), "extension application_layer_protocol_negotiation", "1 bytes after"},
		// supported_versions.
		{"versions-odd", helloRecord(ext(43, vec8([]byte{3, 4, 3}))), "extension supported_versions", "3 bytes"},
		{"versions-empty", helloRecord(ext(43, vec8())), "extension supported_versions", "0 bytes"},
		{"versions-missing-list", helloRecord(ext(43)), "extension supported_versions", "longer than the extension"},
		{"versions-list-too-long", helloRecord(ext(43, []byte{6, 3, 4})), "extension supported_versions", "longer than the extension"},
		{"versions-bytes-after", helloRecord(ext(43, vec8(u16(0x0304)), []byte{0})), "extension supported_versions", "1 bytes after"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, rd := range readers[:2] {
				hello, consumed, err := tlspeek.Read(rd.wrap(bytes.NewReader(tc.in)), 0)
				var fe *tlspeek.FormatError
				if !errors.Is(err, tlspeek.ErrMalformed) || !errors.As(err, &fe) || hello != nil {
					t.Fatalf("%s: Read = %v, %v (%T); want a *FormatError", rd.name, hello, err, err)
				}
				if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
					t.Errorf("%s: error %q; want field %q, reason containing %q", rd.name, err, tc.field, tc.reason)
				}
				if !bytes.HasPrefix(tc.in, consumed) {
					t.Errorf("%s: consumed %q is not a prefix of the input", rd.name, consumed)
				}
			}
		})
	}
}

// TestReadHandMade covers valid shapes crypto/tls does not produce.
func TestReadHandMade(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want tlspeek.ClientHello
	}{
		{"no-extensions-block", record(22, 0x0300, handshakeMsg(1, helloBody(nil))),
			tlspeek.ClientHello{Version: 0x0303, LegacyVersion: 0x0303}},
		{"empty-extensions-block", helloRecord(),
			tlspeek.ClientHello{Version: 0x0303, LegacyVersion: 0x0303}},
		{"record-version-0x0304", record(22, 0x0304, handshakeMsg(1, helloBody(vec16(sniExt("a.example"))))),
			tlspeek.ClientHello{ServerName: "a.example", Version: 0x0303, LegacyVersion: 0x0303}},
		{"sni-trailing-dot-and-case", helloRecord(sniExt("API.Example.COM.")),
			tlspeek.ClientHello{ServerName: "api.example.com", Version: 0x0303, LegacyVersion: 0x0303}},
		{"sni-ip-literal-reported-as-is", helloRecord(sniExt("192.0.2.1")),
			tlspeek.ClientHello{ServerName: "192.0.2.1", Version: 0x0303, LegacyVersion: 0x0303}},
		{"sni-odd-bytes-kept", helloRecord(sniExt("Ex ample\x00\xff\xc3\x84.COM")),
			tlspeek.ClientHello{ServerName: "ex ample\x00\xff\xc3\x84.com", Version: 0x0303, LegacyVersion: 0x0303}},
		{"sni-punycode", helloRecord(sniExt("xn--BCHER-kva.example")),
			tlspeek.ClientHello{ServerName: "xn--bcher-kva.example", Version: 0x0303, LegacyVersion: 0x0303}},
		{"alpn-kept-as-sent", helloRecord(alpnExt("H2", "x\x00y", "http/1.1")),
			tlspeek.ClientHello{ALPN: []string{"H2", "x\x00y", "http/1.1"}, Version: 0x0303, LegacyVersion: 0x0303}},
		{"versions-grease-skipped", helloRecord(versionsExt(0x0a0a, 0x0304, 0x0303)),
			tlspeek.ClientHello{Version: 0x0304, LegacyVersion: 0x0303}},
		{"versions-highest-not-first", helloRecord(versionsExt(0x0301, 0x0303, 0x0302)),
			tlspeek.ClientHello{Version: 0x0303, LegacyVersion: 0x0303}},
		{"versions-draft-and-dtls-skipped", helloRecord(versionsExt(0x7f1c, 0xfefd, 0x0302)),
			tlspeek.ClientHello{Version: 0x0302, LegacyVersion: 0x0303}},
		{"versions-only-grease", helloRecord(versionsExt(0xfafa)),
			tlspeek.ClientHello{Version: 0x0303, LegacyVersion: 0x0303}},
		{"ech-and-other-extensions", helloRecord(ext(0xff01, []byte{0}), sniExt("public.example"), ext(0xfe0d, []byte{0, 1, 2}), ext(0x1a1a), versionsExt(0x0304)),
			tlspeek.ClientHello{ServerName: "public.example", Version: 0x0304, LegacyVersion: 0x0303, HasECH: true}},
		{"duplicate-unknown-extensions-allowed", helloRecord(ext(0x1a1a), ext(0x1a1a), sniExt("a.example")),
			tlspeek.ClientHello{ServerName: "a.example", Version: 0x0303, LegacyVersion: 0x0303}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hello, consumed, err := tlspeek.Read(bytes.NewReader(tc.in), 0)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(*hello, tc.want) {
				t.Errorf("Read = %+v, want %+v", *hello, tc.want)
			}
			if !bytes.Equal(consumed, tc.in) {
				t.Errorf("consumed %d of %d bytes", len(consumed), len(tc.in))
			}
		})
	}
}

func TestReadMaxBytes(t *testing.T) {
	cases := realCases()
	small := captureClientHello(t, cases[0].cfg(t))
	large := captureClientHello(t, cases[7].cfg(t)) // three records, about 40 KB
	if len(large) <= tlspeek.DefaultMaxBytes {
		t.Fatalf("the large ClientHello is only %d bytes", len(large))
	}
	_, largeMsg := clientHelloEnd(t, large)
	firstRecord := 5 + (int(large[3])<<8 | int(large[4]))
	hugeClaim := append([]byte("\x16\x03\x01\x00\x04"), 1, 0xff, 0xff, 0xff) // a 16 MB ClientHello, announced

	type result struct {
		ok       bool
		consumed int
	}
	tests := []struct {
		name     string
		in       []byte
		maxBytes int
		want     result
	}{
		{"exactly-the-limit", small, len(small), result{true, len(small)}},
		{"one-over", small, len(small) - 1, result{false, 5}},
		{"default-small", small, 0, result{true, len(small)}},
		{"default-large", large, 0, result{false, firstRecord}}, // the first record fits, the second is refused unread
		{"negative-is-default", large, -1, result{false, firstRecord}},
		{"large-exact", large, len(large), result{true, len(large)}},
		{"large-one-over", large, len(large) - 1, result{false, 2 * (5 + 16384)}},
		{"smaller-than-a-header", small, 4, result{false, 0}},
		{"huge-claim", hugeClaim, 0, result{false, len(hugeClaim)}},
		{"announced-size-over-limit", fragment(largeMsg, 100), 1000, result{false, 105}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hello, consumed, err := tlspeek.Read(bytes.NewReader(tc.in), tc.maxBytes)
			if tc.want.ok {
				if err != nil || hello == nil {
					t.Fatalf("Read = %v, %v; want success", hello, err)
				}
			} else if !errors.Is(err, tlspeek.ErrTooLarge) || hello != nil {
				t.Fatalf("Read = %v, %v; want ErrTooLarge", hello, err)
			}
			if len(consumed) != tc.want.consumed {
				t.Errorf("consumed %d bytes, want %d (err %v)", len(consumed), tc.want.consumed, err)
			}
			limit := tc.maxBytes
			if limit <= 0 {
				limit = tlspeek.DefaultMaxBytes
			}
			if len(consumed) > limit {
				t.Errorf("consumed %d bytes, over the limit %d", len(consumed), limit)
			}
		})
	}
}

// errAfterReader returns its data and, with the last of it, err.
type errAfterReader struct {
	data []byte
	err  error
}

func (r *errAfterReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, r.err
	}
	return n, nil
}

// silentReader returns no data and no error, forever.
type silentReader struct{ calls int }

func (r *silentReader) Read([]byte) (int, error) { r.calls++; return 0, nil }

func TestReadReaderErrors(t *testing.T) {
	hello := captureClientHello(t, realCases()[0].cfg(t))
	reset := syscall.ECONNRESET

	t.Run("empty", func(t *testing.T) {
		h, consumed, err := tlspeek.Read(bytes.NewReader(nil), 0)
		if !errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || h != nil || consumed != nil {
			t.Fatalf("Read = %v, %q, %v; want io.EOF and nothing consumed", h, consumed, err)
		}
	})
	t.Run("no-progress", func(t *testing.T) {
		r := &silentReader{}
		_, _, err := tlspeek.Read(r, 0)
		if !errors.Is(err, io.ErrNoProgress) || r.calls != 100 {
			t.Fatalf("Read = %v after %d reads; want io.ErrNoProgress after 100", err, r.calls)
		}
	})
	t.Run("timeout-after-header", func(t *testing.T) {
		// TimeoutReader fails the second read: after the record header.
		_, consumed, err := tlspeek.Read(iotest.TimeoutReader(bytes.NewReader(hello)), 0)
		if !errors.Is(err, iotest.ErrTimeout) || !bytes.Equal(consumed, hello[:5]) {
			t.Fatalf("Read = %q, %v; want the header and iotest.ErrTimeout", consumed, err)
		}
		if !strings.Contains(err.Error(), "after 5 bytes") {
			t.Errorf("error %q does not say where", err)
		}
	})
	t.Run("reset-at-once", func(t *testing.T) {
		_, consumed, err := tlspeek.Read(iotest.ErrReader(reset), 0)
		if !errors.Is(err, reset) || consumed != nil {
			t.Fatalf("Read = %q, %v; want ECONNRESET", consumed, err)
		}
	})
	t.Run("reset-with-partial-data", func(t *testing.T) {
		_, consumed, err := tlspeek.Read(&errAfterReader{data: hello[:100], err: reset}, 0)
		if !errors.Is(err, reset) || !bytes.Equal(consumed, hello[:100]) {
			t.Fatalf("Read = %d bytes, %v; want 100 bytes and ECONNRESET", len(consumed), err)
		}
	})
	t.Run("reset-with-last-data", func(t *testing.T) {
		// The ClientHello is complete: the error is left for the next Read.
		h, consumed, err := tlspeek.Read(&errAfterReader{data: hello, err: reset}, 0)
		if err != nil || h == nil || !bytes.Equal(consumed, hello) {
			t.Fatalf("Read = %v, %d bytes, %v; want the ClientHello", h, len(consumed), err)
		}
	})
	t.Run("eof-with-last-data", func(t *testing.T) {
		h, _, err := tlspeek.Read(&errAfterReader{data: hello, err: io.EOF}, 0)
		if err != nil || h.ServerName != "api.example.com" {
			t.Fatalf("Read = %v, %v; want the ClientHello", h, err)
		}
	})
}

func TestFormatError(t *testing.T) {
	err := error(&tlspeek.FormatError{Field: "extension server_name", Reason: "present twice"})
	if got, want := err.Error(), "tlspeek: malformed ClientHello: extension server_name: present twice"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, tlspeek.ErrMalformed) || errors.Is(err, tlspeek.ErrNotTLS) {
		t.Errorf("errors.Is: ErrMalformed %v, ErrNotTLS %v", errors.Is(err, tlspeek.ErrMalformed), errors.Is(err, tlspeek.ErrNotTLS))
	}
}

// TestReadClaimedLengthIsNotTrusted: a ClientHello that announces 16 MB,
// under a generous limit, must not make Read reserve 16 MB before the bytes
// arrive.
func TestReadClaimedLengthIsNotTrusted(t *testing.T) {
	claim := append(record(22, 0x0301, []byte{1, 0xff, 0xff, 0xff}), record(22, 0x0301, []byte{3, 3})...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, consumed, err := tlspeek.Read(bytes.NewReader(claim), 1<<30)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(consumed, claim) {
		t.Fatalf("Read = %d bytes, %v; want all of them and io.ErrUnexpectedEOF", len(consumed), err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
		t.Errorf("Read allocated %d bytes for a %d-byte stream", n, len(claim))
	}
}
