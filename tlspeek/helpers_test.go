package tlspeek_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// recordingConn is the far end of a TLS client that never answers: it keeps
// every byte the client writes and reports EOF on read, so the client's
// handshake stops right after its first flight, the ClientHello.
type recordingConn struct {
	bytes.Buffer
}

func (c *recordingConn) Read([]byte) (int, error) { return 0, io.EOF }
func (c *recordingConn) Close() error             { return nil }
func (c *recordingConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *recordingConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 443}
}
func (c *recordingConn) SetDeadline(time.Time) error      { return nil }
func (c *recordingConn) SetReadDeadline(time.Time) error  { return nil }
func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }

// captureClientHello returns exactly the bytes a crypto/tls client with cfg
// sends before it waits for the server.
func captureClientHello(tb testing.TB, cfg *tls.Config) []byte {
	tb.Helper()
	conn := &recordingConn{}
	err := tls.Client(conn, cfg).Handshake()
	if err == nil {
		tb.Fatal("handshake against a silent peer succeeded")
	}
	if conn.Len() == 0 {
		tb.Fatalf("the client sent nothing: %v", err)
	}
	return bytes.Clone(conn.Bytes())
}

// clientHelloEnd walks the records of a client stream the simple way and
// returns the offset just after the record that completes the first
// handshake message, and that message. It is the tests' independent oracle
// for "what Read should consume".
func clientHelloEnd(tb testing.TB, stream []byte) (int, []byte) {
	tb.Helper()
	var msg []byte
	off := 0
	for {
		if len(stream)-off < 5 || stream[off] != 22 {
			tb.Fatalf("no complete handshake record at offset %d", off)
		}
		n := int(binary.BigEndian.Uint16(stream[off+3:]))
		msg = append(msg, stream[off+5:off+5+n]...)
		off += 5 + n
		if len(msg) >= 4 {
			want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if len(msg) >= want {
				return off, msg[:want]
			}
		}
	}
}

// fragment re-frames one handshake message into handshake records whose
// payloads have the given sizes, cycling through sizes, with record version
// 0x0301.
func fragment(msg []byte, sizes ...int) []byte {
	var out []byte
	for i := 0; len(msg) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(msg))
		out = append(out, record(22, 0x0301, msg[:n])...)
		msg = msg[n:]
	}
	return out
}

// record frames payload as one TLS record.
func record(typ byte, version uint16, payload []byte) []byte {
	out := []byte{typ, byte(version >> 8), byte(version), 0, 0}
	binary.BigEndian.PutUint16(out[3:], uint16(len(payload)))
	return append(out, payload...)
}

// Builders for hand-made ClientHellos, in the TLS presentation language.

func u16(v int) []byte { return []byte{byte(v >> 8), byte(v)} }

func vec8(parts ...[]byte) []byte {
	b := bytes.Join(parts, nil)
	return append([]byte{byte(len(b))}, b...)
}

func vec16(parts ...[]byte) []byte {
	b := bytes.Join(parts, nil)
	return append(u16(len(b)), b...)
}

func ext(typ int, data ...[]byte) []byte { return append(u16(typ), vec16(data...)...) }

func sniExt(names ...string) []byte {
	var list [][]byte
	for _, n := range names {
		list = append(list, []byte{0}, vec16([]byte(n)))
	}
	return ext(0, vec16(list...))
}

func alpnExt(protos ...string) []byte {
	var list [][]byte
	for _, p := range protos {
		list = append(list, vec8([]byte(p)))
	}
	return ext(16, vec16(list...))
}

func versionsExt(versions ...int) []byte {
	var list [][]byte
	for _, v := range versions {
		list = append(list, u16(v))
	}
	return ext(43, vec8(list...))
}

// helloBody is a ClientHello body: legacy_version 0x0303, a zero random, a
// 32-byte session id, two cipher suites, null compression, then the given
// extensions block (nil: no block at all).
func helloBody(exts []byte) []byte {
	b := bytes.Join([][]byte{
		u16(0x0303),
		make([]byte, 32),
		vec8(bytes.Repeat([]byte{7}, 32)),
		vec16(u16(0x1301), u16(0xc02f)),
		vec8([]byte{0}),
	}, nil)
	if exts != nil {
		b = append(b, exts...)
	}
	return b
}

// handshakeMsg frames body as a handshake message of type typ.
func handshakeMsg(typ byte, body []byte) []byte {
	n := len(body)
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// helloRecord is a hand-made ClientHello with the given extensions, in one
// record.
func helloRecord(exts ...[]byte) []byte {
	return record(22, 0x0301, handshakeMsg(1, helloBody(vec16(exts...))))
}

// testPKI is a CA and a leaf certificate for names, for real handshakes.
type testPKI struct {
	pool *x509.CertPool
	cert tls.Certificate
}

func newTestPKI(tb testing.TB, names ...string) *testPKI {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlspeek test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              names,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &testPKI{pool: pool, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}
}

// newECHKey returns an ECHConfigList for clients and the matching key for a
// crypto/tls server: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM,
// with publicName as the outer SNI.
func newECHKey(tb testing.TB, publicName string) ([]byte, tls.EncryptedClientHelloKey) {
	tb.Helper()
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	contents := bytes.Join([][]byte{
		{1},         // config_id
		u16(0x0020), // kem_id
		vec16(priv.PublicKey().Bytes()),
		vec16(u16(0x0001), u16(0x0001)), // kdf_id, aead_id
		{0},                             // maximum_name_length
		vec8([]byte(publicName)),
		vec16(), // extensions
	}, nil)
	config := append(u16(0xfe0d), vec16(contents)...)
	return vec16(config), tls.EncryptedClientHelloKey{Config: config, PrivateKey: priv.Bytes(), SendAsRetry: true}
}
