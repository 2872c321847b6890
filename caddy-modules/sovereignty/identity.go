package sovereignty

import (
	"context"
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// Identification settings of the gateway. The app registry (which app is
// which CIDR or certificate name, its profile and data categories) is policy
// data and changes with the policy revision; the passwords of proxy Basic
// auth are not policy data: they are bcrypt or argon2id hashes in the
// credentials file, which only the gateway reads, and never appear in a log.

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

// Verified reports whether Basic-auth credentials are checked (a
// credentials file is configured).
func (id *Identity) Verified() bool { return id != nil && id.creds != nil }

// Knows reports whether the credentials file has an entry for app.
func (id *Identity) Knows(app string) bool {
	if !id.Verified() {
		return false
	}
	_, ok := id.creds.accounts[app]
	return ok
}

// Remembers reports, at the cost of a keyed hash, whether the password is
// the one verified last for user (and still remembered): such a caller is
// identified without a slow check.
func (id *Identity) Remembers(user, password string) bool {
	return id.Verified() && id.creds.remembers(user, id.creds.mac(user, password))
}

// CheckBasic checks a Basic-auth user and password sent from source (the
// client's address). It is cheap for a password verified before;
// otherwise, while the source and the app have failed attempts left, it
// runs one slow comparison, waiting for a free slot (ctx bounds the wait).
// It returns nil, ErrBadCredentials, or a *ThrottledError.
func (id *Identity) CheckBasic(ctx context.Context, source, user, password string) error {
	if !id.Verified() {
		return nil
	}
	return id.creds.check(ctx, source, user, password)
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
