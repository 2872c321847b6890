package tlspeek_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sovgate/sovgate/tlspeek"
)

// The seed corpus lives in testdata/fuzz/FuzzRead/; `go test` runs it. Run
// the fuzzer with:
//
//	go test -run='^$' -fuzz=FuzzRead -fuzztime=60s -fuzzminimizetime=3s ./tlspeek/
//
// Without -fuzzminimizetime, the fuzzer may spend the whole minute minimizing
// the first new inputs it finds in the 1-2 KB real ClientHellos (the default
// is 60 s per input), and report almost no executions.
//
// and rewrite the seeds made from crypto/tls captures (new Go versions send
// new extensions) with:
//
//	go test -run=TestWriteFuzzSeeds ./tlspeek/ -write-seeds

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the generated seeds in testdata/fuzz/FuzzRead")

// chunkReader returns at most n bytes per Read, so the fuzzer also explores
// how the stream is cut into reads.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[k:]
	return k, nil
}

// errClass names the documented error kinds; "" for success, "other" for an
// error Read should never return on an in-memory reader.
func errClass(err error) string {
	var fe *tlspeek.FormatError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, tlspeek.ErrNotTLS):
		return "not-tls"
	case errors.Is(err, tlspeek.ErrTooLarge):
		return "too-large"
	case errors.As(err, &fe) && errors.Is(err, tlspeek.ErrMalformed):
		return "malformed"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected-eof"
	case errors.Is(err, io.EOF):
		return "eof"
	}
	return "other"
}

func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, limit uint32, chunk uint8) {
		maxBytes := int(limit % (1 << 17))
		effective := maxBytes
		if effective <= 0 {
			effective = tlspeek.DefaultMaxBytes
		}
		hello, consumed, err := tlspeek.Read(&chunkReader{data: data, n: int(chunk) + 1}, maxBytes)
		class := errClass(err)
		_ = fmt.Sprint(err) // formatting never panics

		if !bytes.HasPrefix(data, consumed) {
			t.Fatalf("consumed %q is not a prefix of the input", consumed)
		}
		if len(consumed) > effective {
			t.Fatalf("consumed %d bytes, over the limit of %d", len(consumed), effective)
		}

		// How the bytes arrive never changes the outcome. (For ErrNotTLS the
		// amount read does differ: it stops at the byte that decides.)
		h1, c1, e1 := tlspeek.Read(iotest.OneByteReader(bytes.NewReader(data)), maxBytes)
		if errClass(e1) != class || !reflect.DeepEqual(h1, hello) {
			t.Fatalf("one byte at a time: %+v, %v; in chunks of %d: %+v, %v", h1, e1, int(chunk)+1, hello, err)
		}
		if class == "not-tls" {
			if len(c1) > len(consumed) || len(consumed) > 5 {
				t.Fatalf("ErrNotTLS after %d bytes one at a time, %d in chunks", len(c1), len(consumed))
			}
		} else if !bytes.Equal(c1, consumed) {
			t.Fatalf("consumed %d bytes one at a time, %d in chunks", len(c1), len(consumed))
		}

		switch class {
		case "":
		case "other":
			t.Fatalf("undocumented error %v (%T)", err, err)
		case "unexpected-eof":
			if len(consumed) != len(data) || len(data) == 0 {
				t.Fatalf("unexpected EOF after %d of %d bytes", len(consumed), len(data))
			}
			return
		case "eof":
			if len(data) != 0 {
				t.Fatalf("io.EOF with %d bytes of input", len(data))
			}
			return
		default:
			if hello != nil {
				t.Fatalf("a ClientHello with error %v", err)
			}
			return
		}

		if hello == nil {
			t.Fatal("no ClientHello and no error")
		}
		sni := hello.ServerName
		if strings.ContainsFunc(sni, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
			t.Fatalf("ServerName %q has upper-case letters", sni)
		}
		if strings.HasSuffix(sni, ".") {
			t.Fatalf("ServerName %q ends in a dot", sni)
		}
		for _, p := range hello.ALPN {
			if p == "" {
				t.Fatalf("empty ALPN entry in %q", hello.ALPN)
			}
		}
		if hello.Version>>8 != 3 && hello.Version != hello.LegacyVersion {
			t.Fatalf("Version %#04x is neither a TLS version nor the legacy_version %#04x", hello.Version, hello.LegacyVersion)
		}
		// The consumed bytes alone are the whole ClientHello: forwarding
		// them gives the upstream the same message.
		h2, c2, e2 := tlspeek.Read(bytes.NewReader(consumed), len(consumed))
		if e2 != nil || !reflect.DeepEqual(h2, hello) || !bytes.Equal(c2, consumed) {
			t.Fatalf("re-reading the consumed bytes: %+v, %d bytes, %v; want %+v", h2, len(c2), e2, hello)
		}
	})
}

// TestWriteFuzzSeeds (re)writes the generated part of the seed corpus: real
// crypto/tls ClientHellos, re-fragmented and cut, and hand-made edge cases.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to rewrite testdata/fuzz/FuzzRead")
	}
	type seed struct {
		data  []byte
		limit uint32
		chunk uint8
	}
	seeds := map[string]seed{}
	cases := realCases()
	for i, tc := range cases {
		if tc.name == "large-alpn-three-records" {
			continue // 40 KB: the fuzzer mutates small inputs better
		}
		sent := captureClientHello(t, tc.cfg(t))
		seeds["capture-"+tc.name] = seed{sent, 0, uint8(255 - i)}
		if i < 2 {
			_, msg := clientHelloEnd(t, sent)
			seeds["capture-"+tc.name+"-records-of-3-and-500"] = seed{fragment(msg, 3, 500), 1 << 16, 7}
			seeds["capture-"+tc.name+"-cut"] = seed{sent[:len(sent)/2], 0, 255}
			seeds["capture-"+tc.name+"-then-data"] = seed{append(bytes.Clone(sent), next...), 0, 255}
		}
	}
	// A whole ClientHello in one-byte records: the handshake header split
	// across four records, and 1,500 headers to step through.
	_, msg := clientHelloEnd(t, captureClientHello(t, cases[1].cfg(t)))
	seeds["capture-one-byte-records"] = seed{fragment(msg, 1), 1 << 16, 255}

	seeds["hand-sni-alpn-versions"] = seed{helloRecord(sniExt("API.Example.COM."), alpnExt("h2", "http/1.1"), versionsExt(0x0a0a, 0x0304, 0x0303)), 0, 255}
	seeds["hand-no-extensions"] = seed{record(22, 0x0300, handshakeMsg(1, helloBody(nil))), 0, 255}
	seeds["hand-ech"] = seed{helloRecord(sniExt("public.example"), ext(0xfe0d, []byte{0, 0, 1, 0, 1})), 0, 255}
	seeds["hand-two-sni"] = seed{helloRecord(sniExt("allowed.example"), sniExt("blocked.example")), 0, 255}
	seeds["hand-two-host-names"] = seed{helloRecord(sniExt("allowed.example", "blocked.example")), 0, 255}
	seeds["hand-sni-dots"] = seed{helloRecord(sniExt("a..")), 0, 255}
	seeds["hand-trailing-bytes"] = seed{record(22, 0x0301, append(handshakeMsg(1, helloBody(vec16(sniExt("a.example")))), 1)), 0, 255}
	seeds["hand-zero-length-record"] = seed{append(record(22, 0x0301, nil), helloRecord()...), 0, 255}
	seeds["hand-huge-claim"] = seed{[]byte("\x16\x03\x01\x00\x04\x01\xff\xff\xff"), 0, 255}
	seeds["not-tls-http"] = seed{[]byte("GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n"), 0, 255}
	seeds["not-tls-ssh"] = seed{[]byte("SSH-2.0-OpenSSH_9.6\r\n"), 0, 0}
	seeds["not-tls-alert"] = seed{[]byte("\x15\x03\x03\x00\x02\x02\x28"), 0, 255}
	seeds["not-tls-sslv2"] = seed{[]byte("\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"), 0, 255}
	seeds["empty"] = seed{nil, 0, 0}

	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint32(%d)\nuint8(%d)\n", s.data, s.limit, s.chunk)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d seeds to %s", len(seeds), dir)
}
