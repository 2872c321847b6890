// Package sovereignty is the Caddy app `sovereignty`: it builds sovgate's
// decision pipeline from its options and shares it with the
// sovereign_egress handlers of every server. It knows nothing of Rego or
// MMDB files: it hands paths and settings to the domain packages.
package sovereignty

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/ingest"
	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policy"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `sovereignty` app. Every field is optional: without any, the
// gateway runs in monitor mode on the embedded policy bundle, with the
// embedded IP-to-country data and the system resolver.
type App struct {
	// Mode is what happens to a request the policy denies: "monitor"
	// (default) forwards it and records a violation; "enforce" blocks it
	// with 403 and fails closed when no decision can be made.
	Mode string `json:"mode,omitempty"`

	// Policies is a directory of Rego policies and data (the layout of the
	// embedded bundle: sovgate/*.rego and sovgate/data.json), or the URL
	// (http:// or https://) of a signed policy bundle on a bundle server
	// (see PolicyPublicKey). Empty means the embedded default bundle. A
	// revision is put in service only if it compiles and its own tests
	// pass, at start-up and at every hot reload; a directory is watched and
	// a URL polled, and POST /sovereignty/policy/reload reloads at once.
	Policies string `json:"policies,omitempty"`

	// PolicyPublicKey is the PEM public key (RSA or ECDSA) that must have
	// signed a policy bundle fetched from a URL; required with a URL.
	// Unsigned and wrongly signed bundles are refused.
	PolicyPublicKey string `json:"policy_public_key,omitempty"`

	// PolicyPollInterval is how often the policy source is checked for a
	// new revision: the bundle server (default 1m, with up to 10% jitter;
	// If-None-Match makes an unchanged bundle a 304), or the policies
	// directory (default 10s: a safety net besides the file watcher, for
	// file systems without change notification).
	PolicyPollInterval caddy.Duration `json:"policy_poll_interval,omitempty"`

	// PolicyCache is where the bundle in service is kept, so a gateway
	// that restarts while the bundle server is down starts on it. Default:
	// sovgate/policy-bundles under Caddy's data directory.
	PolicyCache string `json:"policy_cache,omitempty"`

	// Credentials is a file of proxy Basic-auth credentials, one
	// "app:bcrypt-hash" line per app (made with `htpasswd -nB APP` or
	// `caddy hash-password`). With it, a Basic-auth user is the app of that
	// name only with the right password; a wrong one is answered 407.
	// Without it, the Basic-auth user name is taken as the app name
	// unchecked (trials only). Passwords never appear in the policy data or
	// in a log.
	Credentials string `json:"credentials,omitempty"`

	// RequireIdentity answers 407 Proxy Authentication Required to
	// requests the gateway cannot identify (no client certificate, Basic
	// credentials or source network of the app registry), instead of
	// handling them as the app "unknown".
	RequireIdentity bool `json:"require_identity,omitempty"`

	// GeoIPCountry is a GeoIP2/GeoLite2/DB-IP Country or City MMDB file.
	// Without it, countries come from the IP2Location LITE data built into
	// sovgate (less precise, no update without a new binary).
	GeoIPCountry string `json:"geoip_country,omitempty"`

	// GeoIPASN is a GeoLite2-ASN MMDB file. Without it the autonomous
	// system of an address comes from the registration dataset.
	GeoIPASN string `json:"geoip_asn,omitempty"`

	// GeoIPRegistration is a network registration MMDB: the autonomous
	// system of each network and the country it is registered in, which
	// the gateway uses to recognise catalogue operators by ASN and to
	// infer the jurisdiction of operators the catalogue does not know.
	// Default: registration.mmdb in the provider_ranges directory when
	// `sovgate geo update` wrote one there, otherwise the dated snapshot
	// built into sovgate.
	GeoIPRegistration string `json:"geoip_registration,omitempty"`

	// ProviderRanges is the directory `sovgate geo update --dir` maintains
	// (its providers.mmdb: the cloud and CDN providers' own IP ranges, with
	// region, region country, service and anycast flag). Without it, the
	// dated snapshot built into sovgate is used. A new index written
	// there is validated and swapped in while the gateway runs (see
	// ProviderRangesInterval); a broken one is refused and logged, and the
	// data in service stays.
	ProviderRanges string `json:"provider_ranges,omitempty"`

	// ProviderRangesInterval is how often the provider_ranges index is
	// checked for a new version (a stat). Default 10s.
	ProviderRangesInterval caddy.Duration `json:"provider_ranges_interval,omitempty"`

	// DataMaxAge is the age beyond which a dataset (GeoIP, registration,
	// provider ranges) is announced as stale at start-up: run `sovgate geo
	// update` or install newer files. Default 90d.
	DataMaxAge caddy.Duration `json:"data_max_age,omitempty"`

	// Resolver is the DNS server (host:port, port 53 by default) used to
	// resolve destinations. Empty means the system resolver.
	Resolver string `json:"resolver,omitempty"`

	// Hosts is a file in /etc/hosts format whose names are answered
	// before DNS: for trials and labs without a resolver to configure.
	// The addresses it gives are guarded and classified like DNS answers.
	Hosts string `json:"hosts,omitempty"`

	// AllowPrivate lists the CIDRs of private, loopback or link-local
	// destinations that may be reached anyway (an internal service the apps
	// legitimately call through the gateway). Default: none.
	AllowPrivate []string `json:"allow_private,omitempty"`

	// Internal lists the CIDRs of the city's own networks. Their addresses
	// are reachable (internal implies allow_private for them), marked
	// internal: true in the policy input, allowed by the default policy in
	// every profile, and recorded like every decision. Default: none.
	Internal []string `json:"internal,omitempty"`

	// Audit is the audit store: a SQLite file path, or a postgres:// URL
	// for one log shared by several gateways. Every decision is recorded
	// there, chained per node (tamper-evident), and can be queried,
	// reported on and verified with `sovgate audit`. Empty: decisions go
	// to the sovgate.decision log only.
	Audit string `json:"audit,omitempty"`

	// AuditSync is "batched" (default: a record is on disk within one
	// second, the request never waits) or "strict" (the record is fsynced,
	// in the store or the spool, before the request is forwarded).
	AuditSync string `json:"audit_sync,omitempty"`

	// Retention purges audit records older than this (e.g. 400d); a
	// checkpoint record keeps what remains verifiable. Default: keep all.
	Retention caddy.Duration `json:"retention,omitempty"`

	// RecordPath keeps the URL path of absolute-form requests in the
	// audit records. Paths (and never query strings or credentials) are
	// not stored otherwise.
	RecordPath bool `json:"record_path,omitempty"`

	// AuditSpool is the directory where records wait while the audit
	// store is unreachable. Default: beside a SQLite store
	// (audit.db.spool), or under Caddy's data directory for PostgreSQL.
	AuditSpool string `json:"audit_spool,omitempty"`

	// AuditHeadInterval is how often the head of each audit chain is
	// logged (anchor it outside the database: `sovgate audit verify
	// --anchor`). Default 1m.
	AuditHeadInterval caddy.Duration `json:"audit_head_interval,omitempty"`

	// AuditCheckpoints is a directory where each signed checkpoint of this
	// gateway's audit chain is appended as it is made (one file per node
	// and day). Make it a mount of a machine the database administrators
	// cannot write to: `sovgate audit verify --checkpoints DIR` then shows
	// any record cut, rewritten or deleted after the fact.
	AuditCheckpoints string `json:"audit_checkpoints,omitempty"`

	// AuditCheckpointInterval is how often a checkpoint (tree size and
	// root hash of the chain, signed) is made when the chain has grown; one
	// is also made when the gateway stops. Default 10s.
	AuditCheckpointInterval caddy.Duration `json:"audit_checkpoint_interval,omitempty"`

	// AuditSigningKey is the Ed25519 key file that signs checkpoints,
	// generated at first start (mode 0600) when absent. Default: beside a
	// SQLite store (audit.db.key), or under Caddy's data directory for
	// PostgreSQL. `sovgate audit key` prints its verifier key, which
	// auditors and witnesses are given. The key never appears in a log.
	AuditSigningKey string `json:"audit_signing_key,omitempty"`

	// AuditWitnesses are HTTP witnesses (C2SP tlog-witness, such as
	// `sovgate witness`) each checkpoint is sent to for a cosignature. A
	// witness that does not answer never affects requests: a counter and
	// an error log show it, and the next checkpoint retries.
	AuditWitnesses []AuditWitness `json:"audit_witness,omitempty"`

	// Node names this gateway in decision records; default the host name.
	Node string `json:"node,omitempty"`

	// ResolverTimeout bounds one DNS lookup, so a dead resolver gives a
	// fast 502 DNS_FAILURE instead of a hung request. Default 5s.
	ResolverTimeout caddy.Duration `json:"resolver_timeout,omitempty"`

	// RatePerApp is how many requests per second one app may send
	// (sustained; it may burst to twice that). Beyond it the gateway
	// answers 429 RATE_LIMITED with Retry-After, whatever the request, so
	// one looping app cannot take the gateway down for the others.
	// Requests not identified by a certificate, a checked password or a
	// registered network count per source address. Default 0: unlimited.
	RatePerApp float64 `json:"rate_per_app,omitempty"`

	// MaxTunnels bounds the CONNECT tunnels open at once, all apps
	// together. Beyond it new tunnels get 429 TOO_MANY_TUNNELS. Default
	// 10000; -1 for unlimited.
	MaxTunnels int `json:"max_tunnels,omitempty"`

	// MaxTunnelsPerApp bounds the tunnels one app may hold open; requests
	// not identified by a certificate, a checked password or a registered
	// network count per source address instead, so rotating unchecked user
	// names gains nothing. Default: 25% of MaxTunnels; -1 for unlimited.
	MaxTunnelsPerApp int `json:"max_tunnels_per_app,omitempty"`

	parts   *Parts
	journal *decision.Journal
	logger  *zap.Logger
	ctx     caddy.Context
	pooled  []string

	auditWriter    *ingest.Writer
	auditPublisher *checkpoint.Publisher

	// reloader keeps the policy up to date (reload.go); identity checks
	// proxy credentials (identity.go).
	reloader *reloader
	source   policy.Source // where the policy in parts comes from
	identity *Identity
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "sovereignty",
		New: func() caddy.Module { return new(App) },
	}
}

// Parts is a built pipeline and what it holds open.
type Parts struct {
	Pipeline   *decision.Pipeline
	Classifier *geo.Classifier
	Resolver   *geo.Resolver
	// PolicySource says where the policy came from, for status and errors.
	PolicySource string
	// close releases what Build opened (used outside Caddy).
	close func() error
}

// Close releases the databases Build opened.
func (p *Parts) Close() error {
	if p == nil || p.close == nil {
		return nil
	}
	return p.close()
}

// decisionLogID is the name of the decision logger. It is a pseudo-module so
// that Caddy's logging config can route it like any logger
// (`log { include sovgate.decision }`).
type decisionLogID struct{}

func (decisionLogID) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "sovgate.decision"}
}

// Provision builds the whole pipeline, so `sovgate validate` fails on a
// broken policy or an unreadable database, and the request path finds
// everything ready.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	parts, err := a.build(ctx, true, a.pooledClassifier, a.pooledResolver)
	if err != nil {
		_ = a.Cleanup()
		return err
	}
	a.parts = parts
	a.newReloader(a.source)
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		_ = a.Cleanup()
		return fmt.Errorf("sovereignty: metrics: %w", err)
	}
	a.warnAboutData()
	if err := a.provisionIdentity(); err != nil {
		_ = a.Cleanup()
		return err
	}
	node := a.NodeName()
	a.journal = &decision.Journal{Node: node, Log: ctx.Logger(decisionLogID{})}
	if err := a.provisionAudit(ctx, node); err != nil {
		_ = a.Cleanup()
		return err
	}
	a.logger.Info("sovereignty pipeline ready",
		zap.String("mode", string(parts.Pipeline.Mode())),
		zap.String("policy", parts.PolicySource),
		zap.String("policy_revision", parts.Pipeline.Policy().Revision()),
		zap.String("node", node))
	return nil
}

// Validate is satisfied by Provision, which already refused anything wrong.
func (a *App) Validate() error { return nil }

// Start declares the configuration's listeners as the gateway's own (never
// a destination) and launches the audit writer, the policy reloader and the
// provider-ranges watcher (shared across reloads); the pipeline itself is
// ready after Provision.
func (a *App) Start() error {
	a.declareListeners()
	setCurrent(a)
	if err := a.startAudit(); err != nil {
		return err
	}
	if err := a.startPolicyReload(); err != nil {
		return err
	}
	if err := a.startProviderWatch(); err != nil {
		return err
	}
	releaseMemory(a.logger)
	return nil
}

// Stop marks this app as no longer in service; open tunnels are closed or
// handed over by the handlers (see Current).
func (a *App) Stop() error {
	clearCurrent(a)
	a.stopPolicyReload()
	return nil
}

// Cleanup releases this config's hold on the shared databases and resolver.
// The summaries of refusals still open are completed first, while the
// audit store is still held.
func (a *App) Cleanup() error {
	a.stopPolicyReload()
	a.journal.Close()
	// Last taken, first released: the provider-ranges watcher (taken at
	// Start) decides with the classifier (taken at Provision), so it must
	// stop before the classifier can close.
	for _, key := range slices.Backward(a.pooled) {
		if _, err := sharedResources.Delete(key); err != nil {
			a.logger.Error("releasing shared resource", zap.String("key", key), zap.Error(err))
		}
	}
	a.pooled = nil
	releaseMemory(a.logger)
	return nil
}

// Pipeline returns the decision pipeline for handlers.
func (a *App) Pipeline() *decision.Pipeline { return a.parts.Pipeline }

// Journal returns where decisions are logged and recorded.
func (a *App) Journal() *decision.Journal { return a.journal }

// Parts returns the built pipeline and its components.
func (a *App) Parts() *Parts { return a.parts }

// Build assembles the pipeline outside Caddy (sovgate check, tests). The
// caller must Close the result.
func (a *App) Build(ctx context.Context) (*Parts, error) {
	var opened []*geo.Classifier
	parts, err := a.build(ctx, false,
		func(cfg geo.ClassifierConfig) (*geo.Classifier, error) {
			c, err := geo.NewClassifier(cfg)
			if err == nil {
				opened = append(opened, c)
			}
			return c, err
		},
		geo.NewResolver)
	if err != nil {
		for _, c := range opened {
			c.Close()
		}
		return nil, err
	}
	parts.close = func() error {
		for _, c := range opened {
			if err := c.Close(); err != nil {
				return err
			}
		}
		return nil
	}
	return parts, nil
}

type (
	classifierFactory func(geo.ClassifierConfig) (*geo.Classifier, error)
	resolverFactory   func(geo.ResolverConfig) (*geo.Resolver, error)
)

// build assembles the pipeline; gate loads the policy through the test gate
// (the gateway) rather than plainly (commands such as sovgate check).
func (a *App) build(ctx context.Context, gate bool, newClassifier classifierFactory, newResolver resolverFactory) (*Parts, error) {
	mode, err := decision.ParseMode(a.Mode)
	if err != nil {
		return nil, fmt.Errorf("sovereignty: mode: %w", err)
	}
	allow, err := ParseAllowPrivate(a.AllowPrivate)
	if err != nil {
		return nil, fmt.Errorf("sovereignty: allow_private: %w", err)
	}
	internal, err := ParseAllowPrivate(a.Internal)
	if err != nil {
		return nil, fmt.Errorf("sovereignty: internal: %w", err)
	}
	allow = append(allow, internal...)
	server, err := NormalizeResolver(a.Resolver)
	if err != nil {
		return nil, fmt.Errorf("sovereignty: resolver: %w", err)
	}

	engine, src, source, err := a.loadPolicy(ctx, gate)
	if err != nil {
		return nil, fmt.Errorf("sovereignty: policies: %w", err)
	}
	a.source = src

	classifierConfig, err := a.ClassifierConfig()
	if err != nil {
		return nil, fmt.Errorf("sovereignty: %w", err)
	}
	classifier, err := newClassifier(classifierConfig)
	if err != nil {
		return nil, fmt.Errorf("sovereignty: %w", err)
	}
	var hosts *geo.HostsFile
	if a.Hosts != "" {
		if hosts, err = geo.LoadHostsFile(a.Hosts); err != nil {
			return nil, fmt.Errorf("sovereignty: hosts: %w", err)
		}
	}
	resolver, err := newResolver(geo.ResolverConfig{Server: server, Timeout: time.Duration(a.ResolverTimeout), Hosts: hosts})
	if err != nil {
		return nil, fmt.Errorf("sovereignty: resolver: %w", err)
	}
	cfg := decision.Config{
		Mode:       mode,
		Resolver:   resolver,
		Guard:      geo.NewGuard(allow),
		Classifier: classifier,
		Policy:     engine,
		Limits:     a.limits(),
	}
	if gate {
		// The gateway itself: its own listeners are never a destination.
		cfg.Listeners = caddyListeners
	}
	pipeline, err := decision.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("sovereignty: %w", err)
	}
	return &Parts{Pipeline: pipeline, Classifier: classifier, Resolver: resolver, PolicySource: source}, nil
}

// ParseAllowPrivate reads CIDRs or single addresses.
func ParseAllowPrivate(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		v = strings.TrimSpace(v)
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.20.0.0/16): %w", v, err)
			}
			if p.Masked() != p {
				return nil, fmt.Errorf("%q has host bits set; did you mean %s?", v, p.Masked())
			}
			out = append(out, p)
			continue
		}
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", v)
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// NormalizeResolver checks a resolver address and adds port 53 when it is
// missing. "" (the system resolver) stays "".
func NormalizeResolver(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare IPv4/IPv6 address or host name.
		host, port = strings.Trim(s, "[]"), "53"
	}
	if host == "" {
		return "", fmt.Errorf("%q: missing host", s)
	}
	if _, _, err := decision.NormalizeHost(host); err != nil {
		if _, ipErr := netip.ParseAddr(host); ipErr != nil {
			return "", fmt.Errorf("%q: not a host:port address", s)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// sharedResources keeps the GeoIP databases and the DNS cache open across
// config reloads, so a reload neither reopens the databases nor forgets
// every DNS answer.
var sharedResources = caddy.NewUsagePool()

type pooledClassifier struct{ *geo.Classifier }

func (p pooledClassifier) Destruct() error { return p.Close() }

type pooledResolver struct{ *geo.Resolver }

func (pooledResolver) Destruct() error { return nil }

func (a *App) pooledClassifier(cfg geo.ClassifierConfig) (*geo.Classifier, error) {
	// The key includes each file's size and modification time, so a
	// database replaced on disk is opened anew at the next reload.
	registration := cfg.RegistrationDB
	if registration == "" && cfg.ProviderRanges != "" {
		// The one `geo update` writes beside the provider ranges.
		registration = filepath.Join(cfg.ProviderRanges, geo.RegistrationFile)
	}
	key := fmt.Sprintf("classifier|%s|%s|%s|%s|%v", fileIdentity(cfg.CountryDB), fileIdentity(cfg.ASNDB),
		fileIdentity(registration), cfg.ProviderRanges, cfg.Internal)
	val, _, err := sharedResources.LoadOrNew(key, func() (caddy.Destructor, error) {
		c, err := geo.NewClassifier(cfg)
		if err != nil {
			return nil, err
		}
		return pooledClassifier{c}, nil
	})
	if err != nil {
		return nil, err
	}
	a.pooled = append(a.pooled, key)
	return val.(pooledClassifier).Classifier, nil
}

func (a *App) pooledResolver(cfg geo.ResolverConfig) (*geo.Resolver, error) {
	key := fmt.Sprintf("resolver|%s|%s", cfg.Server, cfg.Timeout)
	val, _, err := sharedResources.LoadOrNew(key, func() (caddy.Destructor, error) {
		r, err := geo.NewResolver(cfg)
		if err != nil {
			return nil, err
		}
		return pooledResolver{r}, nil
	})
	if err != nil {
		return nil, err
	}
	a.pooled = append(a.pooled, key)
	return val.(pooledResolver).Resolver, nil
}

func fileIdentity(path string) string {
	if path == "" {
		return ""
	}
	st, err := os.Stat(path)
	if err != nil {
		return path
	}
	return fmt.Sprintf("%s@%d@%d", path, st.Size(), st.ModTime().UnixNano())
}

// uptime is reported by the status endpoint.
var processStart = time.Now()

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
