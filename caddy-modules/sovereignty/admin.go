package sovereignty

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

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
	Data          any              `json:"data"`
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
		Data:   p.Classifier().Info(),
		Counters: map[string]int64{
			"decisions":     st.Decisions.Load(),
			"allowed":       st.Allowed.Load(),
			"denied":        st.Denied.Load(),
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

var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
