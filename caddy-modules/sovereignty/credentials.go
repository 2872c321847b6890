package sovereignty

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/policy"
)

// A password check must be slow (bcrypt and argon2id are made so), and an
// app sends its credentials with every request; so a proxy that checks
// passwords is one flood of guesses away from starving the apps that log
// in correctly. The credentials checker answers that in three ways:
//
//   - a correct password, once verified, is remembered as a keyed hash
//     (HMAC-SHA256 with a key of the process's) while the app keeps using
//     it, so a legitimate app never waits for a slow check again;
//   - wrong passwords are remembered apart, in a bounded cache that never
//     evicts a remembered login;
//   - failed attempts are limited per source address and per claimed app
//     before any slow check is made: past the limit the answer is 429 with
//     Retry-After, and the check is not run.

// account is one line of the credentials file.
type account struct {
	hash     []byte
	comparer caddyauth.Comparer
}

// credentials checks proxy Basic-auth passwords against the hashes of a
// credentials file. The accounts never change once read: a changed file
// makes a new checker.
type credentials struct {
	accounts map[string]account
	// key keys the hashes of remembered passwords, so that neither a
	// memory dump nor a timing difference tells anything of a password.
	key [32]byte
	now func() time.Time

	mu sync.Mutex
	// remembered is the last verified password of each app, as a keyed
	// hash: at most one entry per account.
	remembered map[string]rememberedLogin
	// failed are keyed hashes of wrong user and password pairs; bounded
	// apart from remembered, which it can never evict.
	failed map[[32]byte]time.Time
	// inflight makes concurrent first checks of the same credentials wait
	// for one comparison.
	inflight map[[32]byte]chan struct{}

	// slots bounds the slow comparisons running at once, so guesses can
	// never take every core.
	slots chan struct{}
	// Failed attempts allowed per source address and per claimed app.
	bySource, byApp *failureLimits
}

type rememberedLogin struct {
	mac      [32]byte
	lastUsed time.Time
}

const (
	// rememberFor is how long a verified password is remembered after its
	// last use: an app that keeps working is never checked again, one that
	// stopped is checked once when it comes back.
	rememberFor = time.Hour
	// failedFor is how long a wrong password is remembered; maxFailed
	// bounds those entries (when full, they are forgotten, and only they).
	failedFor = 10 * time.Minute
	maxFailed = 4096
)

// Failed attempts, per source address: a burst of a few typing errors, then
// one every six seconds. Per claimed app, against guessing from many
// addresses: a larger burst, then one every three seconds.
var (
	sourceFailures = failureRate{burst: 10, every: 6 * time.Second}
	appFailures    = failureRate{burst: 20, every: 3 * time.Second}
)

// Destruct lets credentials live in sharedResources.
func (*credentials) Destruct() error { return nil }

// ErrBadCredentials is a wrong password or a user the credentials file does
// not know.
var ErrBadCredentials = errors.New("wrong proxy credentials")

// ThrottledError refuses a password check because the source or the app
// failed too often: the check is not run.
type ThrottledError struct {
	// Who failed too often: a source address, or an app (the other is
	// empty).
	Source, App string
	// RetryAfter is when one more attempt will be allowed.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	who := "source " + e.Source
	if e.App != "" {
		who = "app " + e.App
	}
	return fmt.Sprintf("too many failed logins from %s: retry in %s", who, e.RetryAfter.Round(time.Second))
}

func loadCredentials(path string) (*credentials, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	accounts, err := parseCredentials(path, raw)
	if err != nil {
		return nil, err
	}
	return newCredentials(accounts, time.Now)
}

func newCredentials(accounts map[string]account, now func() time.Time) (*credentials, error) {
	c := &credentials{
		accounts:   accounts,
		now:        now,
		remembered: make(map[string]rememberedLogin, len(accounts)),
		failed:     make(map[[32]byte]time.Time),
		inflight:   make(map[[32]byte]chan struct{}),
		slots:      make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		bySource:   newFailureLimits(sourceFailures),
		byApp:      newFailureLimits(appFailures),
	}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return c, nil
}

// mac is the keyed hash of a user and password.
func (c *credentials) mac(user, password string) [32]byte {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte(user))
	h.Write([]byte{0}) // user:pass and us:er+pass must not collide
	h.Write([]byte(password))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// remembers reports whether the password is the remembered one of user,
// and keeps it remembered.
func (c *credentials) remembers(user string, mac [32]byte) bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.remembered[user]
	if !ok || now.Sub(r.lastUsed) >= rememberFor || !hmac.Equal(r.mac[:], mac[:]) {
		return false
	}
	r.lastUsed = now
	c.remembered[user] = r
	return true
}

// check verifies a user and password for a client at source. It returns
// nil, ErrBadCredentials, a *ThrottledError, or the context's error.
func (c *credentials) check(ctx context.Context, source, user, password string) error {
	mac := c.mac(user, password)
	for {
		if c.remembers(user, mac) {
			return nil
		}
		// From here on the attempt may fail: it spends the source's (and
		// the app's) allowance of failures, given back if it succeeds.
		spent, err := c.spendAllowance(source, user)
		if err != nil {
			return err
		}
		acct, known := c.accounts[user]
		if !known {
			// App ids are not secrets: no comparison is needed to say no.
			return ErrBadCredentials
		}
		c.mu.Lock()
		if at, ok := c.failed[mac]; ok && c.now().Sub(at) < failedFor {
			c.mu.Unlock()
			return ErrBadCredentials
		}
		if wait, busy := c.inflight[mac]; busy {
			c.mu.Unlock()
			spent.giveBack()
			select {
			case <-wait:
				continue // the outcome is remembered now
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		c.inflight[mac] = done
		c.mu.Unlock()

		err = c.compare(ctx, acct, password)
		c.mu.Lock()
		delete(c.inflight, mac)
		switch {
		case err == nil:
			c.remembered[user] = rememberedLogin{mac: mac, lastUsed: c.now()}
			spent.giveBack()
		case errors.Is(err, ErrBadCredentials):
			if len(c.failed) >= maxFailed {
				clear(c.failed)
			}
			c.failed[mac] = c.now()
		default:
			spent.giveBack() // cancelled: not a failed attempt
		}
		c.mu.Unlock()
		close(done)
		return err
	}
}

// spendAllowance takes one failed attempt from the source's allowance and,
// for a known app, from the app's. When either is spent, nothing is taken
// and the answer is a *ThrottledError.
func (c *credentials) spendAllowance(source, user string) (spentAllowance, error) {
	now := c.now()
	var spent spentAllowance
	src, wait := c.bySource.take(source, now)
	if src == nil {
		return spent, &ThrottledError{Source: source, RetryAfter: wait}
	}
	spent = append(spent, src)
	if _, known := c.accounts[user]; known {
		app, wait := c.byApp.take(user, now)
		if app == nil {
			spent.giveBack()
			return nil, &ThrottledError{App: user, RetryAfter: wait}
		}
		spent = append(spent, app)
	}
	return spent, nil
}

// compare runs one slow comparison in a free slot.
func (c *credentials) compare(ctx context.Context, acct account, password string) error {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.slots }()
	ok, err := acct.comparer.Compare(acct.hash, []byte(password))
	if err != nil || !ok {
		return ErrBadCredentials
	}
	return nil
}

// failureRate is an allowance of failed attempts: burst at once, then one
// more every so often.
type failureRate struct {
	burst int
	every time.Duration
}

// failureLimits are the allowances of the sources, or of the apps.
type failureLimits struct{ rates *decision.RateByKey }

func newFailureLimits(r failureRate) *failureLimits {
	return &failureLimits{rates: decision.NewRateByKey(rate.Every(r.every), r.burst)}
}

// take reserves one failed attempt for key, or says how long until one is
// allowed (and returns nil).
func (f *failureLimits) take(key string, now time.Time) (*returnableAttempt, time.Duration) {
	r, wait := f.rates.Reserve(key, now)
	if r == nil {
		return nil, wait
	}
	return &returnableAttempt{r: r, at: now}, 0
}

// returnableAttempt is a reserved failed attempt, given back when the
// attempt succeeds.
type returnableAttempt struct {
	r  *rate.Reservation
	at time.Time
}

type spentAllowance []*returnableAttempt

func (s spentAllowance) giveBack() {
	for _, a := range s {
		a.r.CancelAt(a.at)
	}
}

// parseCredentials reads lines "app:hash", where the hash is bcrypt
// ($2a$, $2b$, $2y$: `htpasswd -nB`) or argon2id ($argon2id$): the formats
// `sovgate hash-password` (Caddy's) makes. Blank lines and lines starting
// with # are ignored. Any other scheme is refused: MD5 and SHA-1 htpasswd
// hashes are too fast to resist guessing.
func parseCredentials(path string, raw []byte) (map[string]account, error) {
	accounts := map[string]account{}
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
			return nil, fmt.Errorf("%s:%d: want app:hash (a bcrypt or argon2id hash)", path, line)
		}
		if !policy.ValidAppName(user) {
			return nil, fmt.Errorf("%s:%d: %q is not an app id (1 to 64 letters, digits, '.', '_' or '-')", path, line, user)
		}
		if user == "unknown" {
			return nil, fmt.Errorf("%s:%d: \"unknown\" is the app of traffic nobody identified; it cannot log in", path, line)
		}
		acct, ok := readHash(hash)
		if !ok {
			// Never echo the hash.
			return nil, fmt.Errorf("%s:%d: the hash of %q is neither bcrypt ($2a$, $2b$, $2y$) nor argon2id ($argon2id$); make one with `sovgate hash-password --algorithm argon2id` or `htpasswd -nB %s`", path, line, user, user)
		}
		if _, dup := accounts[user]; dup {
			return nil, fmt.Errorf("%s:%d: %q is listed twice", path, line, user)
		}
		accounts[user] = acct
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return accounts, nil
}

// readHash recognises a hash and the comparer of its scheme.
func readHash(hash string) (account, bool) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		if _, _, err := caddyauth.DecodeHash([]byte(hash)); err != nil {
			return account{}, false
		}
		return account{hash: []byte(hash), comparer: caddyauth.Argon2idHash{}}, true
	case strings.HasPrefix(hash, "$2"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return account{}, false
		}
		return account{hash: []byte(hash), comparer: caddyauth.BcryptHash{}}, true
	}
	return account{}, false
}
