package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// RemoteSource is a signed policy bundle on a bundle server (the tarball
// `sovgate policy bundle` writes, served over http or https). Each Fetch
// asks with If-None-Match, so an unchanged bundle costs a 304; a bundle
// whose signature does not verify with the public key is rejected before
// any of its files is read. The bundle in service is kept in a cache file:
// a gateway that starts while the server is down starts on it.
type RemoteSource struct {
	url       string
	display   string // the URL without credentials
	publicKey []byte
	cacheFile string
	client    *http.Client

	mu sync.Mutex
	// etag is the ETag of the last bundle fetched (in service or
	// refused): asking with it turns "still the same" into a 304.
	etag string
	// raw is the last bundle fetched, written to the cache once activated.
	raw     []byte
	fetched bool
}

// RemoteOptions configure a RemoteSource.
type RemoteOptions struct {
	// URL is the bundle's address, http:// or https://.
	URL string
	// PublicKey is the PEM public key (RSA or ECDSA) that must have signed
	// the bundle.
	PublicKey []byte
	// CacheDir is where the bundle in service is kept (one file per URL).
	CacheDir string
	// Timeout bounds one fetch; default 30s.
	Timeout time.Duration
}

// maxRemoteBundle bounds a bundle download.
const maxRemoteBundle = 64 << 20

// NewRemoteSource checks the options and returns the source.
func NewRemoteSource(opts RemoteOptions) (*RemoteSource, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%q is not a bundle URL (http:// or https://)", opts.URL)
	}
	display := redactURL(u)
	if len(opts.PublicKey) == 0 {
		return nil, fmt.Errorf("%s: %w", display, errNoKey)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	sum := sha256.Sum256([]byte(opts.URL))
	return &RemoteSource{
		url: opts.URL, display: display, publicKey: opts.PublicKey,
		cacheFile: filepath.Join(opts.CacheDir, hex.EncodeToString(sum[:8])+".tar.gz"),
		client: &http.Client{
			Timeout: opts.Timeout,
			// The gateway is usually the egress proxy of its own host:
			// never send this request through HTTP_PROXY.
			Transport: &http.Transport{Proxy: nil, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second},
		},
	}, nil
}

// IsBundleURL reports whether a policies setting names a bundle server
// rather than a directory.
func IsBundleURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// Name returns the URL without credentials.
func (s *RemoteSource) Name() string { return s.display }

// CacheFile is where the bundle in service is kept.
func (s *RemoteSource) CacheFile() string { return s.cacheFile }

// Fetch asks the server for the bundle and verifies its signature. The
// first fetch of a source that cannot reach its server falls back on the
// cached bundle, if one verifies.
func (s *RemoteSource) Fetch(ctx context.Context) (Fetched, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := !s.fetched
	s.fetched = true
	raw, etag, notModified, err := s.get(ctx, s.etag)
	switch {
	case err != nil && first:
		return s.fromCache(err)
	case err != nil:
		return Fetched{}, err
	case notModified:
		return Fetched{NotModified: true}, nil
	}
	s.etag, s.raw = etag, raw
	b, err := s.verify(raw)
	if err != nil {
		return Fetched{}, rejected("unverified", raw, err)
	}
	return Fetched{Bundle: b}, nil
}

// fromCache starts on the bundle activated last when the server cannot be
// reached at start-up, so a restart during an outage does not take the
// gateway down. A cached bundle that fails verification is never used.
func (s *RemoteSource) fromCache(fetchErr error) (Fetched, error) {
	cached, err := os.ReadFile(s.cacheFile)
	if err != nil {
		return Fetched{}, fmt.Errorf("%w (and no bundle activated earlier in %s)", fetchErr, s.cacheFile)
	}
	b, err := s.verify(cached)
	if err != nil {
		return Fetched{}, fmt.Errorf("%w (and the cached bundle %s is refused: %v)", fetchErr, s.cacheFile, err)
	}
	s.raw = cached
	return Fetched{Bundle: b, Note: fmt.Sprintf("bundle server unreachable at start-up (%v): using the bundle activated last, %s", fetchErr, s.cacheFile)}, nil
}

// Activated keeps the bundle fetched last for the next start-up.
func (s *RemoteSource) Activated() error {
	s.mu.Lock()
	raw := s.raw
	s.mu.Unlock()
	if raw == nil {
		return nil
	}
	if err := writeFileAtomic(s.cacheFile, raw); err != nil {
		return fmt.Errorf("keeping the activated bundle in %s for the next start-up: %w", s.cacheFile, err)
	}
	return nil
}

// get asks for the bundle, unless the server still has etag (304).
func (s *RemoteSource) get(ctx context.Context, etag string) (raw []byte, newEtag string, notModified bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, "", false, err
	}
	req.Header.Set("Accept", "application/gzip, application/octet-stream")
	req.Header.Set("User-Agent", "sovgate (policy bundle)")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, "", false, fmt.Errorf("fetch the bundle %s: %w", s.display, redactErr(err, s.url, s.display))
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, etag, true, nil
	case http.StatusOK:
	default:
		return nil, "", false, fmt.Errorf("fetch the bundle %s: %s", s.display, resp.Status)
	}
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxRemoteBundle+1))
	if err == nil && len(raw) > maxRemoteBundle {
		err = fmt.Errorf("larger than %d MiB", maxRemoteBundle>>20)
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("fetch the bundle %s: %w", s.display, err)
	}
	return raw, resp.Header.Get("ETag"), false, nil
}

// verify checks the bundle's signature and returns its files.
func (s *RemoteSource) verify(raw []byte) (Bundle, error) {
	b, _, err := ReadSignedBundle(bytes.NewReader(raw), s.publicKey, s.display)
	if err != nil {
		return Bundle{}, fmt.Errorf("bundle %s: %w", s.display, err)
	}
	return b, nil
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	return c.String()
}

func redactErr(err error, raw, display string) error {
	if raw == display {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), raw, display))
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bundle-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
