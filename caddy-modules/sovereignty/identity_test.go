package sovereignty

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func credentialsFile(t testing.TB, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func hash(t testing.TB, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestCheckBasic(t *testing.T) {
	path := credentialsFile(t, "# apps", "", "etat-civil:"+hash(t, "s3cret", bcrypt.MinCost), "visio:"+hash(t, "other", bcrypt.MinCost))
	id, err := LoadIdentity(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Verified() || !id.Knows("visio") || id.Knows("meteo") {
		t.Fatalf("identity %+v", id)
	}
	ctx := context.Background()
	if id.Remembers("etat-civil", "s3cret") {
		t.Error("a password is remembered before it was checked")
	}
	for round := range 2 { // the second round is answered from memory
		if err := id.CheckBasic(ctx, "10.1.2.3", "etat-civil", "s3cret"); err != nil {
			t.Errorf("right password: %v", err)
		}
		// Each source gets its own allowance of failures.
		for i, c := range [][2]string{{"etat-civil", "wrong"}, {"visio", "s3cret"}, {"nobody", "s3cret"}, {"etat-civil", ""}} {
			source := fmt.Sprintf("10.9.%d.%d", round, i)
			if err := id.CheckBasic(ctx, source, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("%s/%s: %v", c[0], c[1], err)
			}
		}
	}
	if !id.Remembers("etat-civil", "s3cret") || id.Remembers("etat-civil", "wrong") || id.Remembers("visio", "s3cret") {
		t.Error("remembered the wrong logins")
	}
	if len(id.creds.remembered) != 1 || len(id.creds.failed) != 3 {
		t.Errorf("%d remembered, %d failed; want 1 and 3 (an unknown user needs no check)", len(id.creds.remembered), len(id.creds.failed))
	}
	// user:pass and us:er+pass must not share a key.
	if err := id.CheckBasic(ctx, "10.1.2.4", "etat-civils", "3cret"); err == nil {
		t.Error("a shifted user:password boundary was accepted")
	}

	// Concurrent first checks of the same credentials run one comparison.
	slow, err := LoadIdentity(credentialsFile(t, "visio:"+hash(t, "p", 8)), false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := slow.CheckBasic(ctx, "10.1.2.3", "visio", "p"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(slow.creds.remembered) != 1 || len(slow.creds.inflight) != 0 {
		t.Errorf("remembered %d, in flight %d", len(slow.creds.remembered), len(slow.creds.inflight))
	}

	none, err := LoadIdentity("", true)
	if err != nil || none.Verified() || !none.Require || none.CheckBasic(ctx, "10.1.2.3", "any", "thing") != nil {
		t.Errorf("without a credentials file: %+v %v", none, err)
	}
}

// TestArgon2idCredentials: the hash Caddy's hash-password recommends is
// accepted and checked.
func TestArgon2idCredentials(t *testing.T) {
	id, err := LoadIdentity(credentialsFile(t, "etat-civil:"+argon2idHash(t, "s3cret")), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := id.CheckBasic(ctx, "10.1.2.3", "etat-civil", "s3cret"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := id.CheckBasic(ctx, "10.1.2.3", "etat-civil", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
}

// TestFailedLoginsAreLimited: past its allowance of failures, a source is
// refused without a check, with the time to wait; a correct password
// remembered before is not affected; failures never evict it.
func TestFailedLoginsAreLimited(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	accounts, err := parseCredentials("credentials", []byte("etat-civil:"+hash(t, "s3cret", bcrypt.MinCost)+"\nvisio:"+hash(t, "v", bcrypt.MinCost)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCredentials(accounts, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.check(ctx, "10.1.2.3", "etat-civil", "s3cret"); err != nil {
		t.Fatal(err)
	}
	// A source guessing: its allowance, then refusals without a check.
	for i := range sourceFailures.burst {
		if err := c.check(ctx, "10.6.6.6", "etat-civil", fmt.Sprintf("guess-%d", i)); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	var throttled *ThrottledError
	if err := c.check(ctx, "10.6.6.6", "etat-civil", "guess-x"); !errors.As(err, &throttled) || throttled.RetryAfter <= 0 || throttled.Source != "10.6.6.6" {
		t.Fatalf("past the allowance: %v", err)
	}
	if len(c.failed) != sourceFailures.burst {
		t.Errorf("%d wrong passwords remembered, want %d: the refused one was checked", len(c.failed), sourceFailures.burst)
	}
	// Unknown users spend the allowance too.
	if err := c.check(ctx, "10.6.6.6", "nobody", "x"); !errors.As(err, &throttled) {
		t.Errorf("unknown user past the allowance: %v", err)
	}
	// The right password from the guessing source is remembered: no wait.
	if err := c.check(ctx, "10.6.6.6", "etat-civil", "s3cret"); err != nil {
		t.Errorf("remembered login from a throttled source: %v", err)
	}
	// Guesses from many sources: the app's allowance.
	var appThrottled bool
	for i := range appFailures.burst + 5 {
		err := c.check(ctx, fmt.Sprintf("10.7.0.%d", i), "visio", "guess")
		if errors.As(err, &throttled) && throttled.App == "visio" {
			appThrottled = true
			break
		}
	}
	if !appThrottled {
		t.Error("guesses for one app from many sources were never limited")
	}
	// The allowance comes back with time.
	now = now.Add(time.Duration(sourceFailures.burst) * sourceFailures.every)
	if err := c.check(ctx, "10.6.6.6", "etat-civil", "guess-y"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("after the wait: %v", err)
	}
	// A flood of wrong passwords fills the failures, never the memory of
	// correct ones.
	for i := range maxFailed + 10 {
		c.mu.Lock()
		c.failed[c.mac("etat-civil", fmt.Sprint(i))] = now
		if len(c.failed) >= maxFailed {
			clear(c.failed)
		}
		c.mu.Unlock()
	}
	if !c.remembers("etat-civil", c.mac("etat-civil", "s3cret")) {
		t.Error("failures evicted a remembered login")
	}
	// Remembered while used, forgotten an hour after the last use.
	now = now.Add(rememberFor)
	if c.remembers("etat-civil", c.mac("etat-civil", "s3cret")) {
		t.Error("a login unused for an hour is still remembered")
	}
}

// argon2idHash makes the hash `sovgate hash-password --algorithm argon2id`
// makes (Caddy's defaults: 46 MiB, one pass, one thread).
func argon2idHash(t testing.TB, password string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, 1, 46*1024, 1, 32)
	h := fmt.Sprintf("$argon2id$v=%d$m=%d,t=1,p=1$%s$%s", argon2.Version, 46*1024,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	if _, _, err := caddyauth.DecodeHash([]byte(h)); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCredentialsFileErrors(t *testing.T) {
	good := hash(t, "x", bcrypt.MinCost)
	for name, tc := range map[string]struct {
		lines []string
		want  string
	}{
		"no colon":      {[]string{"etat-civil"}, ":1: want app:hash"},
		"not bcrypt":    {[]string{"a:" + good, "b:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}, `:2: the hash of "b" is neither bcrypt`},
		"md5 apr1":      {[]string{"b:$apr1$abc$def"}, "neither bcrypt"},
		"bad argon2id":  {[]string{"b:$argon2id$v=19$m=47104,t=1,p=1$secrethash"}, "neither bcrypt"},
		"bad app id":    {[]string{"état civil:" + good}, "is not an app id"},
		"unknown":       {[]string{"unknown:" + good}, `"unknown" is the app of traffic nobody identified`},
		"listed twice":  {[]string{"a:" + good, "a:" + good}, `:2: "a" is listed twice`},
		"missing file":  {nil, "no such file"},
		"hash not echo": {[]string{"b:$1$secrethash"}, "neither bcrypt"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "absent")
			if tc.lines != nil {
				path = credentialsFile(t, tc.lines...)
			}
			_, err := LoadIdentity(path, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secrethash") || strings.Contains(err.Error(), "W6ph5Mm5") {
				t.Errorf("the error shows the hash: %v", err)
			}
		})
	}
}

func TestBundleURLNeedsAPublicKey(t *testing.T) {
	a := &App{Policies: "https://bundles.example.org/sovgate.tar.gz"}
	_, err := a.Build(context.Background())
	if err == nil || !strings.Contains(err.Error(), "policy_public_key") {
		t.Fatalf("a bundle URL without a key: %v", err)
	}
}

// BenchmarkCheckBasicCached is the cost of proxy Basic auth on the request
// path once an app's credentials have been checked (bcrypt runs once per
// distinct credentials and configuration).
func BenchmarkCheckBasicCached(b *testing.B) {
	id, err := LoadIdentity(credentialsFile(b, "etat-civil:"+hash(b, "correct horse battery staple", bcrypt.DefaultCost)), false)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := id.CheckBasic(ctx, "10.1.2.3", "etat-civil", "correct horse battery staple"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := id.CheckBasic(ctx, "10.1.2.3", "etat-civil", "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckBasicUncached is one bcrypt comparison at the default cost.
func BenchmarkCheckBasicUncached(b *testing.B) {
	h := []byte(hash(b, "correct horse battery staple", bcrypt.DefaultCost))
	for b.Loop() {
		if err := bcrypt.CompareHashAndPassword(h, []byte("correct horse battery staple")); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseCredentials: whatever the credentials file holds, reading it
// fails with an error that never shows a hash, or gives entries that are
// valid app ids with bcrypt or argon2id hashes.
func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte("# apps\netat-civil:$2a$04$abcdefghijklmnopqrstuu0123456789012345678901234567890\n"))
	f.Add([]byte("a:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"))
	f.Add([]byte("\n\n#\n:::\n"))
	f.Add([]byte("visio:" + "$2y$10$" + strings.Repeat("x", 53)))
	f.Add([]byte("visio:$argon2id$v=19$m=47104,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg\n"))
	f.Add([]byte("visio:$argon2id$v=18$m=1,t=1,p=1$AA$AA\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		accounts, err := parseCredentials("credentials", raw)
		if err != nil {
			return
		}
		for user, a := range accounts {
			_, bcryptErr := bcrypt.Cost(a.hash)
			_, _, argonErr := caddyauth.DecodeHash(a.hash)
			if (bcryptErr != nil && argonErr != nil) || a.comparer == nil || user == "unknown" || strings.ContainsAny(user, ": \t\n") {
				t.Fatalf("accepted %q with hash %q", user, a.hash)
			}
		}
	})
}
