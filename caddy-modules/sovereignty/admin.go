package sovereignty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policy"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI adds sovgate's routes to Caddy's admin endpoint, which is bound
// to localhost by default: status is operational data, and reload changes
// behaviour, so neither belongs on the proxy listener.
type adminAPI struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.sovereignty",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Provision finds the sovereignty app of the config being loaded, if any.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	app, err := ctx.AppIfConfigured("sovereignty")
	if err == nil {
		a.app = app.(*App)
	}
	return nil
}

// Routes returns the admin routes.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/sovereignty/status", Handler: caddy.AdminHandlerFunc(a.handleStatus)},
		{Pattern: "/sovereignty/audit", Handler: caddy.AdminHandlerFunc(a.handleAudit)},
		{Pattern: "/sovereignty/policy/reload", Handler: caddy.AdminHandlerFunc(a.handleReload)},
	}
}

// Status is the document of GET /sovereignty/status.
type Status struct {
	Mode          string           `json:"mode"`
	Node          string           `json:"node"`
	Policy        PolicyStatus     `json:"policy"`
	Data          DataStatus       `json:"data"`
	Counters      map[string]int64 `json:"counters"`
	UptimeSeconds int64            `json:"uptime_seconds"`
	// Audit is the audit writer's and checkpoints' state; absent without
	// an audit store.
	Audit *AuditStatus `json:"audit,omitempty"`
}

// PolicyStatus describes the policy revision in service.
type PolicyStatus struct {
	Revision string `json:"revision"`
	Source   string `json:"source"`
	// Digest identifies the files in service, tests included.
	Digest string `json:"digest,omitempty"`
	// ActivatedAt is when the revision was put in service.
	ActivatedAt time.Time `json:"activated_at"`
	// Tests are the revision's own tests, which passed before it was
	// activated.
	Tests *policy.TestSummary `json:"tests,omitempty"`
	// Apps is the number of apps in the registry (data.sovgate.apps).
	Apps int `json:"apps"`
	// Operators is the number of operators in the catalogue
	// (data.sovgate.operators), which the revision carries.
	Operators int `json:"operators"`
	// LastReload is the last reload attempt; Refused the last revision
	// refused, while the source still holds it (its problems as
	// file:line:col in diagnostics).
	LastReload *ReloadReport `json:"last_reload,omitempty"`
	Refused    *ReloadReport `json:"refused,omitempty"`
}

func (a *adminAPI) handleStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed; use GET", r.Method)}
	}
	if a.app == nil || a.app.parts == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("the sovereignty app is not configured")}
	}
	p := a.app.parts.Pipeline
	st := p.Stats()
	status := Status{
		Mode:   string(p.Mode()),
		Node:   a.app.journal.Node,
		Policy: PolicyStatus{Revision: p.Policy().Revision(), Source: a.app.parts.PolicySource},
		Data:   dataStatus(p.Classifier().Info(), time.Now()),
		Counters: map[string]int64{
			"decisions":     st.Decisions.Load(),
			"allowed":       st.Allowed.Load(),
			"denied":        st.Denied.Load(),
			"violations":    st.Violations.Load(),
			"refusals":      st.Refusals.Load(),
			"blocked":       st.Blocked.Load(),
			"cache_hits":    st.CacheHits.Load(),
			"policy_errors": st.PolicyError.Load(),
			"open_tunnels":  st.OpenTunnels.Load(),
		},
		UptimeSeconds: int64(time.Since(processStart).Seconds()),
	}
	a.app.policyStatus(&status.Policy)
	a.app.auditStatus(&status)
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(status)
}

// DataStatus is the data part of GET /sovereignty/status: the classifier's
// sources, and the age of each dataset.
type DataStatus struct {
	geo.DataInfo
	Datasets []geo.Dataset `json:"datasets"`
}

func dataStatus(info geo.DataInfo, now time.Time) DataStatus {
	return DataStatus{DataInfo: info, Datasets: info.Datasets(now)}
}

// policyStatus fills the policy part of GET /sovereignty/status.
func (a *App) policyStatus(st *PolicyStatus) {
	e := a.parts.Pipeline.Policy()
	st.Digest = e.Digest()
	st.Apps = e.Apps().Len()
	st.Operators = e.Knowledge().Operators.Len()
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

var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
