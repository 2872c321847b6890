package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/policies/policiestest"
	"github.com/sovgate/sovgate/policy"
)

// copyDefaultPolicies writes the embedded policy bundle to a new directory,
// as a DPO starts their own, and returns the directory.
func copyDefaultPolicies(t *testing.T) string {
	t.Helper()
	return policiestest.WriteDir(t, policiestest.WithData(t, nil))
}

// saveFile replaces a policy file the way editors and deployment tools do:
// a temporary file renamed over the old one.
func saveFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// editData rewrites dir/sovgate/data.json with change applied to the
// decoded document.
func editData(t *testing.T, dir string, change func(data map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "sovgate", "data.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	change(data)
	out, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	saveFile(t, path, string(out)+"\n")
}

// dirRevision is the revision a policy directory would run as.
func dirRevision(t *testing.T, dir string) string {
	t.Helper()
	e, err := policy.LoadDir(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return e.Revision()
}

// policyStatus reads the policy part of GET /sovereignty/status.
func (g *gateway) policyStatus(t *testing.T) sovereignty.PolicyStatus {
	t.Helper()
	status, body := g.adminGet(t, "/sovereignty/status")
	if status != http.StatusOK {
		t.Fatalf("GET /sovereignty/status: %d %s", status, body)
	}
	var st struct {
		Policy sovereignty.PolicyStatus `json:"policy"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("status: %v\n%s", err, body)
	}
	return st.Policy
}

// waitPolicy polls the status until ok says yes (bounded).
func (g *gateway) waitPolicy(t *testing.T, what string, ok func(sovereignty.PolicyStatus) bool) sovereignty.PolicyStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := g.policyStatus(t)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			raw, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("waiting for %s; policy status:\n%s", what, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reloadPolicy is POST /sovereignty/policy/reload.
func (g *gateway) reloadPolicy(t *testing.T) (int, sovereignty.ReloadReport) {
	t.Helper()
	resp, err := http.Post("http://"+g.adminAddr+"/sovereignty/policy/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var rep sovereignty.ReloadReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("reload report: %v\n%s", err, body)
	}
	return resp.StatusCode, rep
}

// metric returns the value of a Prometheus metric line from the admin
// endpoint's /metrics, or "" when absent.
func (g *gateway) metric(t *testing.T, name string) string {
	t.Helper()
	status, body := g.adminGet(t, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if value, ok := strings.CutPrefix(line, name+" "); ok {
			return value
		}
	}
	return ""
}

// getStatus sends a GET through the proxy as app (Basic auth; "" for
// none) and returns the status, or 0 and the error.
func (g *gateway) getStatus(app, host string) (int, error) {
	resp, err := g.client(app, nil).Get(g.httpURL(host, "/"))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
