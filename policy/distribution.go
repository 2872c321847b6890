package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/util"
)

// Distribution: a policy directory travels to every gateway as a signed OPA
// bundle (a .tar.gz with the policy files, a .manifest and a
// .signatures.json holding a JWT over the digest of every file), the format
// OPA's bundle servers and `opa build --signing-key` use. WriteBundle builds
// one from a directory; ReadSignedBundle checks one against the public key
// and returns its files as a Bundle, which then goes through the same gate
// as a local directory (LoadTested).
//
// WriteBundle keeps the directory layout (sovgate/data.json stays there), so
// a bundle and the directory it was built from have the same Revision. A
// bundle built by `opa build` (one data.json at the top) is read as well.

// bundleKeyID is the key id sovgate signs with and verifies against. The
// verifier does not look at the key id a bundle names: the one configured
// public key must have signed it.
const bundleKeyID = "sovgate"

// maxBundleSize bounds what ReadSignedBundle accepts, compressed or not.
const maxBundleSize = 64 << 20

// BundleInfo describes a bundle that ReadSignedBundle accepted.
type BundleInfo struct {
	// Revision is the revision the manifest names (WriteBundle writes the
	// policy Revision there), or "".
	Revision string
	// Files is the number of files signed and read.
	Files int
}

// SignOptions say how WriteBundle signs.
type SignOptions struct {
	// PrivateKey is the PEM private key (RSA or ECDSA).
	PrivateKey []byte
	// Algorithm is the JWS algorithm (RS256, PS256, ES256, ...); empty
	// takes the usual one for the key (RS256 for RSA, ES256/384/512 for
	// ECDSA by curve).
	Algorithm string
}

// WriteBundle writes the policy files of src (tests included: the gateway
// runs them before activating the bundle) to w as a signed OPA bundle, with
// a manifest naming its revision. The archive is deterministic: the same
// files and key give the same bytes, so a web server's ETag changes only
// when the policy does. It returns the revision.
func WriteBundle(w io.Writer, src Bundle, opts SignOptions) (string, error) {
	files, diags, err := readSource(src, true)
	if err != nil {
		return "", err
	}
	if len(diags) > 0 {
		return "", fmt.Errorf("read policies from %s: %w", src.Name(), diags)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("%s holds no policy files", src.Name())
	}
	alg := opts.Algorithm
	if alg == "" {
		if alg, err = algorithmForKey(opts.PrivateKey, true); err != nil {
			return "", err
		}
	}
	revision := revisionOf(files)
	manifest, err := json.Marshal(map[string]any{"revision": revision})
	if err != nil {
		return "", err
	}

	hasher, err := bundle.NewSignatureHasher(bundle.SHA256)
	if err != nil {
		return "", err
	}
	type entry struct {
		name string
		raw  []byte
	}
	entries := make([]entry, 0, len(files)+1)
	for _, f := range files {
		entries = append(entries, entry{f.rel, f.raw})
	}
	entries = append(entries, entry{".manifest", manifest})
	infos := make([]bundle.FileInfo, 0, len(entries))
	for _, e := range entries {
		digest, err := hashBundleFile(hasher, e.name, e.raw)
		if err != nil {
			return "", fmt.Errorf("%s: %w", e.name, err)
		}
		infos = append(infos, bundle.NewFile(e.name, digest, string(bundle.SHA256)))
	}
	token, err := bundle.GenerateSignedToken(infos, bundle.NewSigningConfig(string(opts.PrivateKey), alg, ""), bundleKeyID)
	if err != nil {
		return "", fmt.Errorf("sign the bundle: %w", err)
	}
	signatures, err := json.Marshal(bundle.SignaturesConfig{Signatures: []string{token}})
	if err != nil {
		return "", err
	}
	entries = append(entries, entry{".signatures.json", signatures})

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: "/" + e.name, Mode: 0o644, Size: int64(len(e.raw)),
			Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(e.raw); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return revision, gz.Close()
}

// hashBundleFile hashes a file as OPA's verifier does: structured documents
// (data.json, data.yaml, .manifest) by their parsed value, so whitespace does
// not matter, everything else by its bytes.
func hashBundleFile(h bundle.SignatureHasher, name string, raw []byte) (string, error) {
	var value any = raw
	if bundle.IsStructuredDoc(name) {
		var v any
		if err := util.Unmarshal(raw, &v); err != nil {
			return "", err
		}
		value = v
	}
	sum, err := h.HashFile(value)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum), nil
}

// ReadSignedBundle reads an OPA bundle (.tar.gz) and verifies it with the
// PEM public key: the bundle must carry a signature made with the matching
// private key, every file must be listed in it with the right digest, and
// every file it lists must be there. An unsigned bundle, a wrong key or a
// changed file is an error, and nothing of the bundle is returned. name is
// how the bundle is called in diagnostics (its URL).
func ReadSignedBundle(r io.Reader, publicKey []byte, name string) (Bundle, BundleInfo, error) {
	alg, err := algorithmForKey(publicKey, false)
	if err != nil {
		return Bundle{}, BundleInfo{}, err
	}
	verify := bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{
		bundleKeyID: {Key: string(publicKey), Algorithm: alg},
	}, bundleKeyID, "", nil)

	loader := bundle.NewTarballLoader(io.LimitReader(r, maxBundleSize+1)).WithSizeLimitBytes(maxBundleSize)
	var sigs *bundle.SignaturesConfig
	contents := map[string][]byte{}
	var order []string
	total := 0
	for {
		d, err := loader.NextFile()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Bundle{}, BundleInfo{}, fmt.Errorf("read bundle: %w", err)
		}
		var buf bytes.Buffer
		n, err := d.Read(&buf, maxBundleSize)
		_ = d.Close()
		if errors.Is(err, io.EOF) {
			err = nil // the file is shorter than the limit
		} else if err == nil {
			err = fmt.Errorf("larger than %d MiB", maxBundleSize>>20)
		}
		if err != nil {
			return Bundle{}, BundleInfo{}, fmt.Errorf("read bundle file %s: %w", d.Path(), err)
		}
		if total += int(n); total > maxBundleSize {
			return Bundle{}, BundleInfo{}, fmt.Errorf("bundle is larger than %d MiB", maxBundleSize>>20)
		}
		p := strings.TrimPrefix(path.Clean("/"+d.Path()), "/")
		if p == "" || p == "." {
			continue
		}
		if bundle.IsSignaturesFile(p) {
			if sigs != nil || p != ".signatures.json" {
				return Bundle{}, BundleInfo{}, fmt.Errorf("bundle has an unexpected signatures file %s", p)
			}
			sigs = &bundle.SignaturesConfig{}
			if err := util.NewJSONDecoder(&buf).Decode(sigs); err != nil {
				return Bundle{}, BundleInfo{}, fmt.Errorf("bundle signatures: %w", err)
			}
			continue
		}
		if _, dup := contents[p]; dup {
			return Bundle{}, BundleInfo{}, fmt.Errorf("bundle holds %s twice", p)
		}
		contents[p] = buf.Bytes()
		order = append(order, p)
	}
	if sigs == nil || len(sigs.Signatures) == 0 {
		return Bundle{}, BundleInfo{}, errors.New("the bundle is not signed (no .signatures.json): refused")
	}
	if sigs.Plugin != "" {
		return Bundle{}, BundleInfo{}, fmt.Errorf("the bundle names signing plugin %q; sovgate verifies only standard signatures", sigs.Plugin)
	}
	signed, err := bundle.VerifyBundleSignature(*sigs, verify)
	if err != nil {
		return Bundle{}, BundleInfo{}, fmt.Errorf("bundle signature refused: %w", err)
	}
	slices.Sort(order)
	for _, p := range order {
		if err := bundle.VerifyBundleFile(p, *bytes.NewBuffer(contents[p]), signed); err != nil {
			return Bundle{}, BundleInfo{}, fmt.Errorf("bundle signature refused: %w", err)
		}
	}
	if len(signed) > 0 {
		missing := make([]string, 0, len(signed))
		for p := range signed {
			missing = append(missing, p)
		}
		slices.Sort(missing)
		return Bundle{}, BundleInfo{}, fmt.Errorf("bundle signature refused: signed files missing from the bundle: %s", strings.Join(missing, ", "))
	}

	info := BundleInfo{Files: len(order)}
	mfs := fstest.MapFS{}
	for _, p := range order {
		if p == ".manifest" {
			var m struct {
				Revision string `json:"revision"`
			}
			if err := json.Unmarshal(contents[p], &m); err == nil {
				info.Revision = m.Revision
			}
			continue
		}
		mfs[p] = &fstest.MapFile{Data: contents[p], Mode: 0o444}
	}
	if name != "" && !strings.HasSuffix(name, ":") {
		name += ":"
	}
	return Bundle{FS: mfs, Dir: name}, info, nil
}

// revisionOf is the Revision of an engine built from files (test files are
// left out, as Load does).
func revisionOf(files []sourceFile) string {
	var prod []sourceFile
	for _, f := range files {
		if f.kind != kindTest {
			prod = append(prod, f)
		}
	}
	b, _ := parseFiles(prod)
	return b.revision
}

// algorithmForKey picks the JWS algorithm for a PEM key.
func algorithmForKey(pemKey []byte, private bool) (string, error) {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return "", errors.New("the key is not in PEM format (-----BEGIN ...)")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return "", fmt.Errorf("unsupported PEM block %q: use an RSA or ECDSA key", block.Type)
	}
	if err != nil {
		return "", fmt.Errorf("read the key: %w", err)
	}
	isPrivate := false
	switch k := key.(type) {
	case *rsa.PrivateKey:
		isPrivate, key = true, &k.PublicKey
	case *ecdsa.PrivateKey:
		isPrivate, key = true, &k.PublicKey
	}
	if isPrivate != private {
		if private {
			return "", errors.New("this is a public key; signing needs the private key")
		}
		return "", errors.New("this is a private key; give the gateways the public key only")
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("the RSA key has %d bits; use at least 2048", k.N.BitLen())
		}
		return "RS256", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
	}
	return "", fmt.Errorf("unsupported key type %T: use an RSA or ECDSA (P-256, P-384, P-521) key", key)
}
