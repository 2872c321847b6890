package sovereignty

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
	for range 2 { // the second round is answered from the cache
		if err := id.CheckBasic(ctx, "etat-civil", "s3cret"); err != nil {
			t.Errorf("right password: %v", err)
		}
		for _, c := range [][2]string{{"etat-civil", "wrong"}, {"visio", "s3cret"}, {"nobody", "s3cret"}, {"etat-civil", ""}} {
			if err := id.CheckBasic(ctx, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("%s/%s: %v", c[0], c[1], err)
			}
		}
	}
	if len(id.creds.cache) != 5 {
		t.Errorf("%d cached outcomes, want 5", len(id.creds.cache))
	}
	// user:pass and us:er+pass must not share a cache key.
	if err := id.CheckBasic(ctx, "etat-civils", "3cret"); err == nil {
		t.Error("a shifted user:password boundary was accepted")
	}

	// Concurrent first checks of the same credentials run one bcrypt.
	slow, err := LoadIdentity(credentialsFile(t, "visio:"+hash(t, "p", 8)), false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := slow.CheckBasic(ctx, "visio", "p"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(slow.creds.cache) != 1 || len(slow.creds.inflight) != 0 {
		t.Errorf("cache %d, in flight %d", len(slow.creds.cache), len(slow.creds.inflight))
	}

	none, err := LoadIdentity("", true)
	if err != nil || none.Verified() || !none.Require || none.CheckBasic(ctx, "any", "thing") != nil {
		t.Errorf("without a credentials file: %+v %v", none, err)
	}
}

func TestCredentialsFileErrors(t *testing.T) {
	good := hash(t, "x", bcrypt.MinCost)
	for name, tc := range map[string]struct {
		lines []string
		want  string
	}{
		"no colon":      {[]string{"etat-civil"}, ":1: want app:bcrypt-hash"},
		"not bcrypt":    {[]string{"a:" + good, "b:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}, `:2: the hash of "b" is not a bcrypt hash`},
		"md5 apr1":      {[]string{"b:$apr1$abc$def"}, "not a bcrypt hash"},
		"bad app id":    {[]string{"état civil:" + good}, "is not an app id"},
		"unknown":       {[]string{"unknown:" + good}, `"unknown" is the app of traffic nobody identified`},
		"listed twice":  {[]string{"a:" + good, "a:" + good}, `:2: "a" is listed twice`},
		"missing file":  {nil, "no such file"},
		"hash not echo": {[]string{"b:$1$secrethash"}, "not a bcrypt hash"},
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
	if err := id.CheckBasic(ctx, "etat-civil", "correct horse battery staple"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := id.CheckBasic(ctx, "etat-civil", "correct horse battery staple"); err != nil {
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
// valid app ids with bcrypt hashes.
func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte("# apps\netat-civil:$2a$04$abcdefghijklmnopqrstuu0123456789012345678901234567890\n"))
	f.Add([]byte("a:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"))
	f.Add([]byte("\n\n#\n:::\n"))
	f.Add([]byte("visio:" + "$2y$10$" + strings.Repeat("x", 53)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		hashes, err := parseCredentials("credentials", raw)
		if err != nil {
			return
		}
		for user, h := range hashes {
			if _, err := bcrypt.Cost(h); err != nil || user == "unknown" || strings.ContainsAny(user, ": \t\n") {
				t.Fatalf("accepted %q with hash %q", user, h)
			}
		}
	})
}
