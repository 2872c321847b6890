package sovereignty

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/sovgate/sovgate/policy"
)

// Identification settings of the gateway. The app registry (which app is
// which CIDR or certificate name, its profile and data categories) is policy
// data and changes with the policy revision; the passwords of proxy Basic
// auth are not policy data: they are bcrypt hashes in the credentials file,
// which only the gateway reads, and never appear in a log.

// Identity is how one configuration identifies apps: whether identity is
// required, and the credentials checker of its credentials file (shared by
// the configurations that name the same, unchanged file, so a reload does
// not forget which credentials were checked).
type Identity struct {
	// Require answers 407 to requests nobody could identify.
	Require bool
	// creds is nil when no credentials file is configured (Basic user
	// names are then taken on trust).
	creds *credentials
}

// credentials checks proxy Basic-auth passwords against the bcrypt hashes
// of a credentials file. It is immutable once built, apart from its cache.
type credentials struct {
	hashes map[string][]byte

	// cache remembers the outcome of credentials already checked, keyed by
	// a salted SHA-256 of the user and password: bcrypt is deliberately
	// slow (tens of milliseconds to a second), and an app sends the same
	// credentials on every request. The file cannot change under a
	// checker, so an outcome never goes stale. inflight makes concurrent
	// first requests with the same credentials wait for one comparison.
	salt     [16]byte
	mu       sync.RWMutex
	cache    map[[32]byte]bool
	inflight map[[32]byte]chan struct{}
	// slots bounds the bcrypt comparisons running at once, so a flood of
	// wrong passwords cannot take every core.
	slots chan struct{}
}

// Destruct lets credentials live in sharedResources.
func (*credentials) Destruct() error { return nil }

// maxCredentialCache bounds the cache; when full it is emptied.
const maxCredentialCache = 4096

// Verified reports whether Basic-auth credentials are checked (a
// credentials file is configured).
func (id *Identity) Verified() bool { return id != nil && id.creds != nil }

// Knows reports whether the credentials file has an entry for app.
func (id *Identity) Knows(app string) bool {
	if !id.Verified() {
		return false
	}
	_, ok := id.creds.hashes[app]
	return ok
}

// ErrBadCredentials is a wrong password or a user the credentials file does
// not know.
var ErrBadCredentials = errors.New("wrong proxy credentials")

// CheckBasic checks a Basic-auth user and password. It is cheap for
// credentials seen before; otherwise it runs one bcrypt comparison, waiting
// for a free slot (ctx bounds the wait).
func (id *Identity) CheckBasic(ctx context.Context, user, password string) error {
	if !id.Verified() {
		return nil
	}
	return id.creds.check(ctx, user, password)
}

func (c *credentials) check(ctx context.Context, user, password string) error {
	h := sha256.New()
	h.Write(c.salt[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var key [32]byte
	h.Sum(key[:0])
	for {
		c.mu.RLock()
		ok, seen := c.cache[key]
		c.mu.RUnlock()
		if seen {
			if ok {
				return nil
			}
			return ErrBadCredentials
		}
		hash, known := c.hashes[user]
		if !known {
			// App ids are not secrets: no comparison is needed to say no.
			c.remember(key, false)
			return ErrBadCredentials
		}
		c.mu.Lock()
		if wait, busy := c.inflight[key]; busy {
			c.mu.Unlock()
			select {
			case <-wait:
				continue // the outcome is in the cache now
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		c.inflight[key] = done
		c.mu.Unlock()
		err := c.compare(ctx, hash, password)
		c.mu.Lock()
		delete(c.inflight, key)
		if err == nil || errors.Is(err, ErrBadCredentials) {
			if len(c.cache) >= maxCredentialCache {
				clear(c.cache)
			}
			c.cache[key] = err == nil
		}
		c.mu.Unlock()
		close(done)
		return err
	}
}

// compare runs one bcrypt comparison in a free slot.
func (c *credentials) compare(ctx context.Context, hash []byte, password string) error {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	<-c.slots
	if err != nil {
		return ErrBadCredentials
	}
	return nil
}

func (c *credentials) remember(key [32]byte, ok bool) {
	c.mu.Lock()
	if len(c.cache) >= maxCredentialCache {
		clear(c.cache)
	}
	c.cache[key] = ok
	c.mu.Unlock()
}

// LoadIdentity reads the credentials file (empty path: none) and returns
// an Identity.
func LoadIdentity(path string, require bool) (*Identity, error) {
	id := &Identity{Require: require}
	if path == "" {
		return id, nil
	}
	c, err := loadCredentials(path)
	if err != nil {
		return nil, err
	}
	id.creds = c
	return id, nil
}

func loadCredentials(path string) (*credentials, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	hashes, err := parseCredentials(path, raw)
	if err != nil {
		return nil, err
	}
	c := &credentials{
		hashes: hashes, cache: map[[32]byte]bool{}, inflight: map[[32]byte]chan struct{}{},
		slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
	}
	if _, err := rand.Read(c.salt[:]); err != nil {
		return nil, err
	}
	return c, nil
}

// parseCredentials reads lines "app:bcrypt-hash" (the format of `htpasswd
// -B`, and of `caddy hash-password`). Blank lines and lines starting with #
// are ignored. Any other hash scheme is refused: MD5 and SHA-1 htpasswd
// hashes are too fast to resist guessing.
func parseCredentials(path string, raw []byte) (map[string][]byte, error) {
	hashes := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want app:bcrypt-hash", path, line)
		}
		if !policy.ValidAppName(user) {
			return nil, fmt.Errorf("%s:%d: %q is not an app id (1 to 64 letters, digits, '.', '_' or '-')", path, line, user)
		}
		if user == "unknown" {
			return nil, fmt.Errorf("%s:%d: \"unknown\" is the app of traffic nobody identified; it cannot log in", path, line)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			// Never echo the hash.
			return nil, fmt.Errorf("%s:%d: the hash of %q is not a bcrypt hash ($2a$, $2b$ or $2y$; make one with `htpasswd -nB %s` or `caddy hash-password`)", path, line, user, user)
		}
		if _, dup := hashes[user]; dup {
			return nil, fmt.Errorf("%s:%d: %q is listed twice", path, line, user)
		}
		hashes[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return hashes, nil
}

// provisionIdentity loads the credentials file and warns about set-ups that
// would let an app claim another app's name.
func (a *App) provisionIdentity() error {
	id := &Identity{Require: a.RequireIdentity}
	if a.Credentials != "" {
		// Shared while the file is unchanged (its size and modification
		// time are in the key): a configuration reload keeps the checked
		// credentials, a changed file is read anew.
		key := "credentials|" + fileIdentity(a.Credentials)
		val, _, err := sharedResources.LoadOrNew(key, func() (caddy.Destructor, error) {
			return loadCredentials(a.Credentials)
		})
		if err != nil {
			return fmt.Errorf("sovereignty: %w", err)
		}
		a.pooled = append(a.pooled, key)
		id.creds = val.(*credentials)
	}
	a.identity = id
	if a.Credentials != "" {
		if st, err := os.Stat(a.Credentials); err == nil && st.Mode().Perm()&0o004 != 0 {
			a.logger.Warn("the credentials file is readable by every user of the host; restrict it (chmod 640)", zap.String("file", a.Credentials))
		}
		apps := a.parts.Pipeline.Policy().Apps()
		for _, appID := range apps.IDs() {
			if app := apps.Get(appID); app.Basic && !id.Knows(appID) {
				a.logger.Warn("the app registry says the app uses Basic auth, and the credentials file has no entry for it",
					zap.String("app", appID), zap.String("credentials", a.Credentials))
			}
		}
	} else if a.parts.Pipeline.Policy().Apps().Len() > 0 {
		a.logger.Warn("no credentials file (option credentials): the proxy Basic-auth user name is taken as the app name without a password check, so any client can claim an app the registry does not list or lists with basic (apps identified by certificate or network only cannot be claimed)")
	}
	return nil
}

// Identity returns how this configuration checks proxy credentials.
func (a *App) Identity() *Identity { return a.identity }
