package sovereignty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/internal/appdirs"
	"github.com/sovgate/sovgate/internal/metricsreg"
	"github.com/sovgate/sovgate/policy"
)

// Safe hot reload. The policy in service changes only through the gate
// (policy.LoadTested): a new revision is read once, its own tests run, and
// the very bytes that passed are compiled and swapped into the pipeline
// (decision.Pipeline.SwapPolicy: requests in flight finish on the revision
// they started with; the decision cache is flushed). A revision that does
// not compile, or whose tests fail, is refused: the last good revision keeps
// serving, and the refusal (file:line:col) shows in the log, in GET
// /sovereignty/status and in the metric sovgate_policy_reload_failing.
//
// What triggers a reload:
//   - a policies directory: a change seen by fsnotify (debounced), a
//     periodic check of the files' digest (policy_poll_interval, a safety
//     net for file systems without inotify), and POST
//     /sovereignty/policy/reload;
//   - a bundle URL: a poll of the bundle server (policy_poll_interval,
//     If-None-Match with the last ETag), and POST /sovereignty/policy/reload;
//   - the embedded bundle never changes while the process runs.
//
// The reloader belongs to one configuration (one App); a Caddy reload
// builds a new App, which loads the policy again through the same gate.

// Defaults of the reload options.
const (
	defaultDirPollInterval    = 10 * time.Second
	defaultBundlePollInterval = time.Minute
	watchDebounce             = 250 * time.Millisecond
	bundleFetchTimeout        = 30 * time.Second
)

// Reload results.
const (
	ReloadActivated = "activated" // a new revision is in service
	ReloadUnchanged = "unchanged" // the source holds the revision in service (or the one refused last)
	ReloadRefused   = "refused"   // the new revision does not compile or its tests fail
	ReloadError     = "error"     // the source could not be read (bundle server unreachable, ...)
)

// ReloadReport describes one reload attempt: the body of POST
// /sovereignty/policy/reload, and the last attempts in GET
// /sovereignty/status.
type ReloadReport struct {
	Time time.Time `json:"time"`
	// Trigger is what started it: start, watch, poll or admin.
	Trigger string `json:"trigger"`
	// Result is activated, unchanged, refused or error.
	Result string `json:"result"`
	// Revision is the revision in service after the attempt; Candidate the
	// revision that was tried, when it compiled.
	Revision  string `json:"revision"`
	Candidate string `json:"candidate,omitempty"`
	// Digest identifies the files tried, tests included.
	Digest     string  `json:"digest,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// Error explains a refusal or an error; Diagnostics are the problems
	// in the files (file:line:col); Tests and TestReport the failing tests.
	Error       string              `json:"error,omitempty"`
	Diagnostics []policy.Diagnostic `json:"diagnostics,omitempty"`
	Tests       *policy.TestSummary `json:"tests,omitempty"`
	TestReport  string              `json:"test_report,omitempty"`
}

// PolicySwapHook runs after a new policy revision is put in service in an
// app's pipeline. The egress handlers use it to decide again about the
// CONNECT tunnels the old revision allowed: a tunnel does not outlive the
// policy that allowed it without a new decision. Hooks run in their own
// goroutine, after the swap; the app's Stop waits for them.
type PolicySwapHook func(app *App, old, cur *policy.Engine)

var swapHooks hookList[PolicySwapHook]

// hookList holds the hooks registered from init functions; they run on
// events of any configuration, so the list is process-wide.
type hookList[H any] struct {
	mu    sync.Mutex
	hooks []H
}

func (l *hookList[H]) add(h H) {
	l.mu.Lock()
	l.hooks = append(l.hooks, h)
	l.mu.Unlock()
}

// all returns a copy, to run without holding the lock.
func (l *hookList[H]) all() []H {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]H(nil), l.hooks...)
}

// OnPolicySwap registers a hook for every app (call it from an init
// function: hooks cannot be removed).
func OnPolicySwap(h PolicySwapHook) {
	swapHooks.add(h)
}

// policySourceKind says where an app's policy comes from.
type policySourceKind int

const (
	sourceEmbedded policySourceKind = iota
	sourceDir
	sourceURL
)

// isBundleURL reports whether the policies option names a bundle server.
func isBundleURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

func (a *App) policySourceKind() policySourceKind {
	switch {
	case a.Policies == "":
		return sourceEmbedded
	case isBundleURL(a.Policies):
		return sourceURL
	}
	return sourceDir
}

// reloader is the hot-reload state of one App.
type reloader struct {
	app    *App
	logger *zap.Logger
	kind   policySourceKind
	// mu serialises reloads: the watcher, the poller and the admin API may
	// ask at the same time.
	mu sync.Mutex
	// digest is the digest of the files in service; refused the digest of
	// the last refused revision (not tried again until the files change).
	digest, refusedDigest string
	// etag is the ETag of the bundle in service (bundle URL), refusedEtag
	// the ETag of the bundle refused last.
	etag, refusedEtag string
	// bundle fetches and verifies the bundle (bundle URL).
	bundle *bundleSource

	// statusMu guards what the status page reads; servedDigest is digest
	// as of the last attempt (digest itself belongs to mu).
	statusMu     sync.Mutex
	activatedAt  time.Time
	last         *ReloadReport
	refused      *ReloadReport
	servedDigest string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// loadPolicy loads the policy named by the options: through the gate
// (policy.LoadTested) for the gateway, or plainly for commands such as
// `sovgate check` (gate false). It returns the engine and a description of
// its source.
func (a *App) loadPolicy(ctx context.Context, gate bool) (*policy.Engine, string, error) {
	load := policy.Load
	if gate {
		load = policy.LoadTested
	}
	switch a.policySourceKind() {
	case sourceEmbedded:
		e, err := load(ctx, policy.EmbeddedBundle())
		return e, "embedded default policies", err
	case sourceDir:
		e, err := load(ctx, policy.DirBundle(a.Policies))
		return e, a.Policies, err
	}
	bs, err := a.newBundleSource()
	if err != nil {
		return nil, "", err
	}
	b, etag, err := bs.initial(ctx, a.logger)
	if err != nil {
		return nil, "", err
	}
	e, err := load(ctx, b)
	if err != nil {
		return nil, "", err
	}
	bs.etag = etag
	a.initialBundle = bs
	return e, bs.display, nil
}

// newReloader prepares hot reload after the pipeline is built.
func (a *App) newReloader() {
	r := &reloader{app: a, logger: a.logger.Named("policy"), kind: a.policySourceKind(), activatedAt: time.Now()}
	e := a.parts.Pipeline.Policy()
	r.digest = e.Digest()
	if a.initialBundle != nil {
		r.bundle, r.etag = a.initialBundle, a.initialBundle.etag
		a.initialBundle = nil
	}
	tests := e.Tests()
	r.last = &ReloadReport{Time: r.activatedAt, Trigger: "start", Result: ReloadActivated, Revision: e.Revision(), Digest: r.digest, Tests: &tests}
	r.servedDigest = r.digest
	if tests.Total() == 0 && a.Policies != "" {
		r.logger.Warn("the policy has no tests (rules named test_* in *_test.rego files): nothing proves a change before it is activated",
			zap.String("source", a.parts.PolicySource))
	}
	a.reloader = r
}

// startPolicyReload launches the watcher and the poller.
func (a *App) startPolicyReload() error {
	r := a.reloader
	if r == nil || r.kind == sourceEmbedded {
		return nil
	}
	if r.bundle != nil {
		// The bundle in service is the one to fall back on at the next
		// start-up if the bundle server is down then.
		r.bundle.persist(r.logger)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	interval := time.Duration(a.PolicyPollInterval)
	if r.kind == sourceDir {
		if interval <= 0 {
			interval = defaultDirPollInterval
		}
		w, err := fsnotify.NewWatcher()
		if err != nil {
			// No inotify (exhausted instances, exotic file system): the
			// periodic check still finds changes.
			r.logger.Warn("cannot watch the policies directory; changes are found by the periodic check only",
				zap.String("dir", a.Policies), zap.Duration("interval", interval), zap.Error(err))
		} else {
			r.syncWatches(w)
			r.wg.Add(1)
			go r.watch(ctx, w)
		}
	} else if interval <= 0 {
		interval = defaultBundlePollInterval
	}
	r.wg.Add(1)
	go r.poll(ctx, interval)
	return nil
}

// stopPolicyReload stops the watcher, the poller and running hooks, and
// waits for them.
func (a *App) stopPolicyReload() {
	r := a.reloader
	if r == nil || r.cancel == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
}

// watch turns file events into reloads, once the files have been quiet for
// watchDebounce (an editor or a deployment writes several files).
func (r *reloader) watch(ctx context.Context, w *fsnotify.Watcher) {
	defer r.wg.Done()
	defer w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(watchDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			r.logger.Warn("watching the policies directory", zap.Error(err))
		case <-timer.C:
			r.reload(ctx, "watch")
			r.syncWatches(w)
		}
	}
}

// syncWatches watches the policies directory and its subdirectories (hidden
// ones excepted, as the loader skips them), including those created since
// the last call. fsnotify does not watch subdirectories by itself.
func (r *reloader) syncWatches(w *fsnotify.Watcher) {
	root := r.app.Policies
	watched := map[string]bool{}
	for _, p := range w.WatchList() {
		watched[p] = true
	}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !watched[p] {
			if err := w.Add(p); err != nil {
				r.logger.Warn("cannot watch a policy directory", zap.String("dir", p), zap.Error(err))
			}
		}
		return nil
	})
}

// poll checks the source periodically, with some jitter so a fleet of
// gateways does not hit a bundle server at the same instant.
func (r *reloader) poll(ctx context.Context, interval time.Duration) {
	defer r.wg.Done()
	for {
		jitter := time.Duration(rand.Int64N(int64(interval)/10 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval + jitter):
			r.reload(ctx, "poll")
		}
	}
}

// ReloadPolicy reads the policy source again and activates it if it changed
// and passes the gate (POST /sovereignty/policy/reload).
func (a *App) ReloadPolicy(ctx context.Context, trigger string) ReloadReport {
	if a.reloader == nil {
		return ReloadReport{Time: time.Now(), Trigger: trigger, Result: ReloadError, Error: "the sovereignty app is not provisioned"}
	}
	return a.reloader.reload(ctx, trigger)
}

func (r *reloader) reload(ctx context.Context, trigger string) ReloadReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	pipeline := r.app.parts.Pipeline
	old := pipeline.Policy()
	rep := ReloadReport{Time: start, Trigger: trigger, Revision: old.Revision()}
	finish := func() ReloadReport {
		rep.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		r.record(&rep)
		return rep
	}

	var src policy.Bundle
	var etag string
	switch r.kind {
	case sourceEmbedded:
		rep.Result, rep.Digest = ReloadUnchanged, r.digest
		return finish()
	case sourceDir:
		snap, err := policy.DirBundle(r.app.Policies).Snapshot()
		if err != nil {
			rep.Result = ReloadRefused
			rep.Error, rep.Diagnostics = errorDetail(err)
			rep.Digest = "unreadable:" + err.Error()
			if rep.Digest == r.refusedDigest {
				rep.Result = ReloadUnchanged
			}
			r.refusedDigest = rep.Digest
			return finish()
		}
		src = snap
	case sourceURL:
		raw, newEtag, notModified, err := r.bundle.fetch(ctx, r.etag)
		switch {
		case err != nil:
			rep.Result, rep.Error = ReloadError, err.Error()
			return finish()
		case notModified:
			rep.Result, rep.Digest = ReloadUnchanged, r.digest
			return finish()
		case newEtag != "" && newEtag == r.refusedEtag:
			// The server still serves the bundle refused last.
			rep.Result, rep.Digest = ReloadUnchanged, r.refusedDigest
			return finish()
		}
		b, err := r.bundle.verify(raw)
		if err != nil {
			// A bundle that fails verification is refused like a broken
			// revision; its files never reach the loader.
			rep.Result, rep.Error = ReloadRefused, err.Error()
			sum := sha256.Sum256(raw)
			rep.Digest = "unverified:" + hex.EncodeToString(sum[:8])
			if rep.Digest == r.refusedDigest {
				rep.Result = ReloadUnchanged
			}
			r.refusedDigest, r.refusedEtag = rep.Digest, newEtag
			return finish()
		}
		src, etag = b, newEtag
	}
	digest, err := src.Digest()
	if err != nil {
		rep.Result = ReloadRefused
		rep.Error, rep.Diagnostics = errorDetail(err)
		return finish()
	}
	rep.Digest = digest
	if digest == r.digest || digest == r.refusedDigest {
		rep.Result = ReloadUnchanged
		if digest == r.digest {
			r.etag = etag
		}
		return finish()
	}
	e, err := policy.LoadTested(ctx, src)
	if err != nil {
		rep.Result = ReloadRefused
		rep.Error, rep.Diagnostics = errorDetail(err)
		if tf, ok := errors.AsType[*policy.TestFailure](err); ok {
			sum := tf.Summary
			rep.Tests, rep.TestReport = &sum, tf.Report
			rep.Error = fmt.Sprintf("%d of %d tests failed or errored", sum.Failed+sum.Errored, sum.Total())
		}
		r.refusedDigest, r.refusedEtag = digest, etag
		return finish()
	}
	tests := e.Tests()
	rep.Tests, rep.Candidate = &tests, e.Revision()
	r.digest, r.refusedDigest, r.etag, r.refusedEtag = digest, "", etag, ""
	if e.Revision() == old.Revision() {
		// Only tests changed: nothing that decides did.
		rep.Result = ReloadUnchanged
		return finish()
	}
	pipeline.SwapPolicy(e)
	rep.Result, rep.Revision = ReloadActivated, e.Revision()
	if r.kind == sourceURL {
		r.bundle.persist(r.logger)
	}
	r.runHooks(old, e)
	return finish()
}

// runHooks runs the swap hooks in the background (they may decide again
// about thousands of tunnels); the app's Stop waits for them.
func (r *reloader) runHooks(old, cur *policy.Engine) {
	hooks := swapHooks.all()
	if len(hooks) == 0 {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for _, h := range hooks {
			h(r.app, old, cur)
		}
	}()
}

// record logs the attempt and updates the status and the metrics.
func (r *reloader) record(rep *ReloadReport) {
	policyMetrics.reloads.WithLabelValues(rep.Result).Inc()
	r.statusMu.Lock()
	r.last = rep
	r.servedDigest = r.digest
	switch rep.Result {
	case ReloadActivated:
		r.activatedAt = rep.Time
		r.refused = nil
	case ReloadRefused:
		r.refused = rep
	case ReloadUnchanged:
		if rep.Digest == r.digest {
			// The source is back to the revision in service.
			r.refused = nil
		}
	}
	failing := r.refused != nil
	r.statusMu.Unlock()
	if failing {
		policyMetrics.failing.Set(1)
	} else {
		policyMetrics.failing.Set(0)
	}
	if rep.Result == ReloadActivated {
		policyMetrics.activated.Set(float64(rep.Time.Unix()))
	}

	fields := []zap.Field{
		zap.String("trigger", rep.Trigger), zap.String("revision", rep.Revision),
		zap.Float64("duration_ms", rep.DurationMS),
	}
	switch rep.Result {
	case ReloadActivated:
		r.logger.Info("policy revision activated", append(fields,
			zap.String("digest", rep.Digest), zap.Int("tests_passed", rep.Tests.Passed))...)
	case ReloadRefused, ReloadError:
		msg := "policy revision refused; the revision in service stays"
		if rep.Result == ReloadError {
			msg = "policy source unreadable; the revision in service stays"
		}
		lines := make([]string, 0, len(rep.Diagnostics))
		for _, d := range rep.Diagnostics {
			lines = append(lines, d.String())
		}
		fields = append(fields, zap.String("error", rep.Error))
		if len(lines) > 0 {
			fields = append(fields, zap.Strings("diagnostics", lines))
		}
		if rep.TestReport != "" {
			fields = append(fields, zap.String("test_report", rep.TestReport))
		}
		r.logger.Error(msg, fields...)
	case ReloadUnchanged:
		if ce := r.logger.Check(zap.DebugLevel, "policy unchanged"); ce != nil {
			ce.Write(fields...)
		}
	}
}

// errorDetail splits an error into a message and its diagnostics.
func errorDetail(err error) (string, []policy.Diagnostic) {
	if diags, ok := errors.AsType[policy.Diagnostics](err); ok {
		return fmt.Sprintf("%d problem(s) in the policy files", len(diags)), diags
	}
	return err.Error(), nil
}

// policyStatus fills the policy part of GET /sovereignty/status.
func (a *App) policyStatus(st *PolicyStatus) {
	e := a.parts.Pipeline.Policy()
	st.Digest = e.Digest()
	st.Apps = e.Apps().Len()
	r := a.reloader
	if r == nil {
		return
	}
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	st.ActivatedAt = r.activatedAt
	st.LastReload = r.last
	st.Refused = r.refused
	st.Digest = r.servedDigest
	if tests := e.Tests(); tests.Total() > 0 {
		st.Tests = &tests
	}
}

// handleReload serves POST /sovereignty/policy/reload: 200 when the
// revision in service is the source's (activated or unchanged), 422 when
// the source's revision was refused, 502 when the source could not be read.
func (a *adminAPI) handleReload(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed; use POST", r.Method)}
	}
	if a.app == nil || a.app.reloader == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("the sovereignty app is not configured")}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	rep := a.app.ReloadPolicy(ctx, "admin")
	status := http.StatusOK
	switch rep.Result {
	case ReloadRefused:
		status = http.StatusUnprocessableEntity
	case ReloadError:
		status = http.StatusBadGateway
	case ReloadUnchanged:
		a.app.reloader.statusMu.Lock()
		if a.app.reloader.refused != nil && rep.Digest == a.app.reloader.refused.Digest {
			status = http.StatusUnprocessableEntity
			refused := *a.app.reloader.refused
			rep.Error, rep.Diagnostics, rep.Tests, rep.TestReport = "the source still holds the revision refused at "+refused.Time.Format(time.RFC3339)+": "+refused.Error, refused.Diagnostics, refused.Tests, refused.TestReport
		}
		a.app.reloader.statusMu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// The policy metrics are created once per process and registered with each
// configuration's registry, as Caddy's own modules do.
var policyMetrics = struct {
	reloads   *prometheus.CounterVec
	failing   prometheus.Gauge
	activated prometheus.Gauge
}{
	reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sovgate", Subsystem: "policy", Name: "reloads_total",
		Help: "Policy reload attempts by result: activated, unchanged, refused (does not compile or its tests fail), error (source unreadable).",
	}, []string{"result"}),
	failing: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sovgate", Subsystem: "policy", Name: "reload_failing",
		Help: "1 while the policy source holds a revision that was refused (the last good revision serves); 0 otherwise.",
	}),
	activated: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sovgate", Subsystem: "policy", Name: "last_activation_timestamp_seconds",
		Help: "When the policy revision in service was activated (Unix time).",
	}),
}

func registerPolicyMetrics(reg prometheus.Registerer) error {
	return metricsreg.Register(reg, policyMetrics.reloads, policyMetrics.failing, policyMetrics.activated)
}

// bundleSource fetches a policy bundle from a bundle server and verifies it.
type bundleSource struct {
	url       string
	display   string // the URL without credentials
	publicKey []byte
	client    *http.Client
	cacheFile string
	// etag and raw are those of the last bundle fetched; raw is written to
	// the cache once activated.
	etag string
	raw  []byte
}

func (a *App) newBundleSource() (*bundleSource, error) {
	u, err := url.Parse(a.Policies)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("policies: %q is not a bundle URL", a.Policies)
	}
	display := redactURL(u)
	if a.PolicyPublicKey == "" {
		return nil, fmt.Errorf("policies %s: a bundle from a URL must be signed; set policy_public_key to the PEM public key that verifies it", display)
	}
	key, err := os.ReadFile(a.PolicyPublicKey)
	if err != nil {
		return nil, fmt.Errorf("policy_public_key: %w", err)
	}
	cacheDir := a.PolicyCache
	if cacheDir == "" {
		cacheDir = filepath.Join(appdirs.Data(), "policy-bundles")
	}
	sum := sha256.Sum256([]byte(a.Policies))
	return &bundleSource{
		url: a.Policies, display: display, publicKey: key,
		cacheFile: filepath.Join(cacheDir, hex.EncodeToString(sum[:8])+".tar.gz"),
		client: &http.Client{
			Timeout: bundleFetchTimeout,
			// The gateway is usually the egress proxy of its own host:
			// never send this request through HTTP_PROXY.
			Transport: &http.Transport{Proxy: nil, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second},
		},
	}, nil
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	return c.String()
}

// initial fetches the bundle at start-up; when the server cannot be reached
// it falls back to the last bundle this gateway activated (kept in the
// cache), so a restart during a bundle-server outage does not take the
// gateway down. A bundle that fails verification is never used.
func (s *bundleSource) initial(ctx context.Context, log *zap.Logger) (policy.Bundle, string, error) {
	raw, etag, _, err := s.fetch(ctx, "")
	if err == nil {
		b, err := s.verify(raw)
		return b, etag, err
	}
	cached, rerr := os.ReadFile(s.cacheFile)
	if rerr != nil {
		return policy.Bundle{}, "", fmt.Errorf("policies %s: %w (and no bundle activated earlier in %s)", s.display, err, s.cacheFile)
	}
	b, verr := s.verify(cached)
	if verr != nil {
		return policy.Bundle{}, "", fmt.Errorf("policies %s: %w (and the cached bundle %s is refused: %v)", s.display, err, s.cacheFile, verr)
	}
	log.Warn("bundle server unreachable at start-up: using the bundle activated last",
		zap.String("url", s.display), zap.String("cache", s.cacheFile), zap.Error(err))
	return b, "", nil
}

// fetch asks the bundle server for the bundle, unless it still has etag
// (304 Not Modified).
func (s *bundleSource) fetch(ctx context.Context, etag string) (raw []byte, newEtag string, notModified bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, bundleFetchTimeout)
	defer cancel()
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
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes+1))
	if err == nil && len(raw) > maxBundleBytes {
		err = fmt.Errorf("larger than %d MiB", maxBundleBytes>>20)
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("fetch the bundle %s: %w", s.display, err)
	}
	return raw, resp.Header.Get("ETag"), false, nil
}

// verify checks the bundle's signature and returns its files; raw is kept
// to be persisted once activated.
func (s *bundleSource) verify(raw []byte) (policy.Bundle, error) {
	b, _, err := policy.ReadSignedBundle(bytes.NewReader(raw), s.publicKey, s.display)
	if err != nil {
		return policy.Bundle{}, fmt.Errorf("bundle %s: %w", s.display, err)
	}
	s.raw = raw
	return b, nil
}

// maxBundleBytes bounds a bundle download.
const maxBundleBytes = 64 << 20

// persist keeps the bundle in service for the next start-up (see initial).
func (s *bundleSource) persist(log *zap.Logger) {
	if s.raw == nil {
		return
	}
	if err := writeFileAtomic(s.cacheFile, s.raw); err != nil {
		log.Warn("cannot keep the activated bundle for the next start-up", zap.String("cache", s.cacheFile), zap.Error(err))
	}
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

func redactErr(err error, raw, display string) error {
	if raw == display {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), raw, display))
}
