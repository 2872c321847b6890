package sovereignty

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sovgate/sovgate/internal/appdirs"
	"github.com/sovgate/sovgate/policy"
)

// Safe hot reload. The policy in service changes only through the gate
// (policy.LoadTested): a new revision is read once, its own tests run, and
// the very bytes that passed are compiled and swapped into the pipeline
// (decision.Pipeline.SwapPolicy: requests in flight finish on the revision
// they started with; the decision cache is flushed). The revision carries
// the operator catalogue too, so a DPO's correction of an operator goes
// through the same gate. A revision that does not compile, or whose tests
// fail, is refused: the last good revision keeps serving, and the refusal
// (file:line:col) shows in the log, in GET /sovereignty/status and in the
// metric sovgate_policy_reload_failing.
//
// Where revisions come from is a policy.Source (a directory, the embedded
// bundle, a bundle server); what asks for one is in triggers.go (a file
// watcher, a poller) and admin.go (POST /sovereignty/policy/reload). The
// reloader itself gates, swaps and runs the swap hooks.
//
// The reloader belongs to one configuration (one App); a Caddy reload
// builds a new App, which loads the policy again through the same gate.

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

// reloader is the hot-reload state of one App.
type reloader struct {
	app    *App
	logger *zap.Logger
	source policy.Source
	// mu serialises reloads: the watcher, the poller and the admin API may
	// ask at the same time.
	mu sync.Mutex
	// digest is the digest of the files in service; refusedDigest that of
	// the last refused revision (not tried again until the files change);
	// fetchedDigest that of the last files the source gave, which a
	// source that answers "not modified" still holds.
	digest, refusedDigest, fetchedDigest string

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

// policySource builds the source the policies option names: a bundle URL,
// a directory, or (empty) the embedded bundle.
func (a *App) newPolicySource() (policy.Source, error) {
	switch {
	case a.Policies == "":
		return &policy.EmbeddedSource{}, nil
	case !policy.IsBundleURL(a.Policies):
		return policy.NewDirSource(a.Policies), nil
	}
	var key []byte
	if a.PolicyPublicKey != "" {
		var err error
		if key, err = os.ReadFile(a.PolicyPublicKey); err != nil {
			return nil, fmt.Errorf("policy_public_key: %w", err)
		}
	}
	cacheDir := a.PolicyCache
	if cacheDir == "" {
		cacheDir = filepath.Join(appdirs.Data(), "policy-bundles")
	}
	return policy.NewRemoteSource(policy.RemoteOptions{URL: a.Policies, PublicKey: key, CacheDir: cacheDir})
}

// loadPolicy loads the policy named by the options: through the gate
// (policy.LoadTested) for the gateway, or plainly for commands such as
// `sovgate check` (gate false). It returns the engine, the source (kept by
// the gateway's reloader) and a description of it.
func (a *App) loadPolicy(ctx context.Context, gate bool) (*policy.Engine, policy.Source, string, error) {
	src, err := a.newPolicySource()
	if err != nil {
		return nil, nil, "", err
	}
	fetched, err := src.Fetch(ctx)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", src.Name(), err)
	}
	if fetched.Note != "" && a.logger != nil {
		a.logger.Warn(fetched.Note, zap.String("source", src.Name()))
	}
	load := policy.Load
	if gate {
		load = policy.LoadTested
	}
	e, err := load(ctx, fetched.Bundle)
	if err != nil {
		return nil, nil, "", err
	}
	logDataProblems(a.logger, e)
	name := src.Name()
	if _, embedded := src.(*policy.EmbeddedSource); embedded {
		name = "embedded default policies"
	}
	return e, src, name, nil
}

// logDataProblems logs what the revision's data_problems rule reports
// (an exception of the earlier format, an entry that does not apply): it
// does not stop the revision, but whoever reads the logs at each load
// should see it, as `sovgate policy check` shows it.
func logDataProblems(logger *zap.Logger, e *policy.Engine) {
	if logger == nil {
		return
	}
	for _, d := range e.DataProblems() {
		logger.Warn("policy data: "+d.Message, zap.String("file", d.File), zap.Int("line", d.Row), zap.String("revision", e.Revision()))
	}
}

// LoadPolicy loads the policy the options name, without the test gate
// (commands that show what a policy decides, such as `sovgate geo lookup`).
func (a *App) LoadPolicy(ctx context.Context) (*policy.Engine, error) {
	e, _, _, err := a.loadPolicy(ctx, false)
	return e, err
}

// newReloader prepares hot reload after the pipeline is built.
func (a *App) newReloader(src policy.Source) {
	r := &reloader{app: a, logger: a.logger.Named("policy"), source: src, activatedAt: time.Now()}
	e := a.parts.Pipeline.Policy()
	r.digest, r.fetchedDigest = e.Digest(), e.Digest()
	tests := e.Tests()
	r.last = &ReloadReport{Time: r.activatedAt, Trigger: "start", Result: ReloadActivated, Revision: e.Revision(), Digest: r.digest, Tests: &tests}
	r.servedDigest = r.digest
	if tests.Total() == 0 && a.Policies != "" {
		r.logger.Warn("the policy has no tests (rules named test_* in *_test.rego files): nothing proves a change before it is activated",
			zap.String("source", a.parts.PolicySource))
	}
	a.reloader = r
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
	compiled := false // a candidate was compiled and tested: its garbage goes back
	finish := func() ReloadReport {
		rep.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		r.record(&rep)
		if compiled {
			releaseMemory(r.logger)
		}
		return rep
	}

	fetched, err := r.source.Fetch(ctx)
	if digest, ok := policy.IsRejected(err); ok {
		// Files that cannot be read, or a bundle that fails verification,
		// are refused like a broken revision: they never reach the loader.
		rep.Result, rep.Digest = ReloadRefused, digest
		rep.Error, rep.Diagnostics = errorDetail(err)
		if digest == r.refusedDigest {
			rep.Result = ReloadUnchanged
		}
		r.refusedDigest, r.fetchedDigest = digest, digest
		return finish()
	}
	if err != nil {
		rep.Result, rep.Error = ReloadError, err.Error()
		return finish()
	}
	if fetched.NotModified {
		rep.Result, rep.Digest = ReloadUnchanged, r.fetchedDigest
		return finish()
	}
	digest, err := fetched.Bundle.Digest()
	if err != nil {
		rep.Result = ReloadRefused
		rep.Error, rep.Diagnostics = errorDetail(err)
		return finish()
	}
	rep.Digest, r.fetchedDigest = digest, digest
	if digest == r.digest || digest == r.refusedDigest {
		rep.Result = ReloadUnchanged
		return finish()
	}
	compiled = true
	e, err := policy.LoadTested(ctx, fetched.Bundle)
	if err != nil {
		rep.Result = ReloadRefused
		rep.Error, rep.Diagnostics = errorDetail(err)
		if tf, ok := errors.AsType[*policy.TestFailure](err); ok {
			sum := tf.Summary
			rep.Tests, rep.TestReport = &sum, tf.Report
			rep.Error = fmt.Sprintf("%d of %d tests failed or errored", sum.Failed+sum.Errored, sum.Total())
		}
		r.refusedDigest = digest
		return finish()
	}
	tests := e.Tests()
	rep.Tests, rep.Candidate = &tests, e.Revision()
	r.digest, r.refusedDigest = digest, ""
	if e.Revision() == old.Revision() {
		// Only tests changed: nothing that decides did.
		rep.Result = ReloadUnchanged
		return finish()
	}
	pipeline.SwapPolicy(e)
	logDataProblems(r.logger, e)
	rep.Result, rep.Revision = ReloadActivated, e.Revision()
	if err := r.source.Activated(); err != nil {
		r.logger.Warn("the activated bundle is not kept for the next start-up", zap.Error(err))
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
