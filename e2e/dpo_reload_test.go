package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
)

// TestDPOHotReloadUnderTraffic changes the policy ten times while a load
// generator keeps sending requests (forwarded http and CONNECT tunnels): no
// request may fail, every revision goes into service, and decisions carry
// the revision that made them. Half the changes are found by the file
// watcher, half are asked for with POST /sovereignty/policy/reload.
func TestDPOHotReloadUnderTraffic(t *testing.T) {
	w := newWorld(t)
	dir := copyDefaultPolicies(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: dir, app: map[string]any{
		// The periodic check must not be what finds the changes here.
		"policy_poll_interval": "1h",
	}})
	revisions := []string{g.policyStatus(t).Revision}
	if revisions[0] != dirRevision(t, dir) {
		t.Fatalf("revision in service %s, directory %s", revisions[0], dirRevision(t, dir))
	}

	l := startLoad(t, g, 8)
	l.waitRequests(t, 200)
	var reloadTimes []float64
	for i := range 10 {
		// Each change is a real revision: an app joins the registry, with
		// its data categories and network (10.99.i.0/24, which no client
		// of this test uses), and a rule file changes.
		editData(t, dir, func(data map[string]any) {
			data["apps"].(map[string]any)[fmt.Sprintf("app-%d", i)] = map[string]any{
				"name": fmt.Sprintf("App %d", i), "owner": "DSI", "profile": "residency",
				"categories":    []any{"public"},
				"identified_by": map[string]any{"cidr": []any{fmt.Sprintf("10.99.%d.0/24", i)}},
			}
		})
		rules := filepath.Join(dir, "sovgate", "countries.rego")
		raw, _ := os.ReadFile(rules)
		saveFile(t, rules, string(raw)+fmt.Sprintf("\n# change %d\n", i))
		want := dirRevision(t, dir)
		if slices.Contains(revisions, want) {
			t.Fatalf("change %d did not make a new revision", i)
		}
		if i%2 == 1 {
			status, rep := g.reloadPolicy(t)
			// The watcher may have been first: either way the revision
			// is in service when the answer comes.
			if status != http.StatusOK || rep.Revision != want {
				t.Fatalf("POST reload: %d %+v", status, rep)
			}
		}
		st := g.waitPolicy(t, "revision "+want, func(st sovereignty.PolicyStatus) bool { return st.Revision == want })
		if st.LastReload.Result == sovereignty.ReloadActivated {
			reloadTimes = append(reloadTimes, st.LastReload.DurationMS)
		}
		if st.Apps != i+1 || st.Tests == nil || st.Tests.Passed == 0 {
			t.Errorf("status after change %d: %d apps, tests %+v", i, st.Apps, st.Tests)
		}
		revisions = append(revisions, want)
		l.waitRequests(t, 100)
	}
	l.finish()
	l.report(t)
	t.Logf("%d requests through 10 policy changes, %d failed; reload (snapshot, tests, compile, swap) took %v ms",
		l.ok.Load(), l.fail.Load(), reloadTimes)

	// Every revision decided requests; each decision names its revision.
	seen := map[string]int{}
	for _, line := range g.readLog(t) {
		if line.Msg == "decision" {
			seen[line.PolicyRevision]++
		}
	}
	for _, rev := range revisions {
		if seen[rev] == 0 {
			t.Errorf("no decision under revision %s (decisions per revision: %v)", rev, seen)
		}
	}
	if v := g.metric(t, `sovgate_policy_reloads_total{result="activated"}`); v == "" || v == "0" {
		t.Errorf("sovgate_policy_reloads_total{result=\"activated\"} = %q", v)
	}
}

// TestDPOBrokenPolicyNeverActivated: a revision that does not compile, or
// whose own tests fail, is refused; the last good revision keeps serving,
// and the refusal shows in the status (file:line:col), the reload answer
// and a metric.
func TestDPOBrokenPolicyNeverActivated(t *testing.T) {
	w := newWorld(t)
	dir := copyDefaultPolicies(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: dir})
	good := g.policyStatus(t).Revision
	denied := func(when string) {
		t.Helper()
		// us.test is outside the EU: the good revision denies it.
		status, err := g.getStatus("", "us.test")
		if err != nil || status != http.StatusForbidden {
			t.Fatalf("%s: us.test got %d %v, want 403 from the good revision", when, status, err)
		}
		if st := g.policyStatus(t); st.Revision != good {
			t.Fatalf("%s: revision %s in service, want %s", when, st.Revision, good)
		}
	}

	// 1. A syntax error.
	decisionFile := filepath.Join(dir, "sovgate", "decision.rego")
	original, err := os.ReadFile(decisionFile)
	if err != nil {
		t.Fatal(err)
	}
	saveFile(t, decisionFile, strings.Replace(string(original), "decision := {\"allow\": true", "decision := {\"allow\": true,,", 1))
	st := g.waitPolicy(t, "a refusal", func(st sovereignty.PolicyStatus) bool { return st.Refused != nil })
	if len(st.Refused.Diagnostics) == 0 {
		t.Fatalf("refusal without diagnostics: %+v", st.Refused)
	}
	d := st.Refused.Diagnostics[0]
	if d.File != decisionFile || d.Row == 0 || d.Col == 0 {
		t.Errorf("diagnostic %+v, want %s:line:col", d, decisionFile)
	}
	t.Logf("refused: %s", d)
	if v := g.metric(t, "sovgate_policy_reload_failing"); v != "1" {
		t.Errorf("sovgate_policy_reload_failing = %q, want 1", v)
	}
	denied("after a syntax error")
	status, rep := g.reloadPolicy(t)
	if status != http.StatusUnprocessableEntity || len(rep.Diagnostics) == 0 || !strings.Contains(rep.Diagnostics[0].String(), "decision.rego:") {
		t.Errorf("POST reload of a broken revision: %d %+v", status, rep)
	}

	// 2. It compiles, but it would allow everything, and its own tests say
	// that is wrong.
	saveFile(t, decisionFile, string(original))
	dataFile := filepath.Join(dir, "sovgate", "data.json")
	originalData, err := os.ReadFile(dataFile)
	if err != nil {
		t.Fatal(err)
	}
	editData(t, dir, func(data map[string]any) { data["default_profile"] = "open" })
	st = g.waitPolicy(t, "a refusal by the tests", func(st sovereignty.PolicyStatus) bool {
		return st.Refused != nil && st.Refused.Tests != nil
	})
	if st.Refused.Tests.Failed == 0 || !strings.Contains(st.Refused.TestReport, "test_shipped_defaults") {
		t.Errorf("test refusal: %+v\n%s", st.Refused.Tests, st.Refused.TestReport)
	}
	denied("after a change whose tests fail")

	// 3. Back to the good files: the refusal clears, nothing is swapped.
	saveFile(t, dataFile, string(originalData))
	st = g.waitPolicy(t, "the refusal to clear", func(st sovereignty.PolicyStatus) bool { return st.Refused == nil })
	if st.Revision != good {
		t.Errorf("revision %s, want %s", st.Revision, good)
	}
	if v := g.metric(t, "sovgate_policy_reload_failing"); v != "0" {
		t.Errorf("sovgate_policy_reload_failing = %q, want 0", v)
	}
	if v := g.metric(t, `sovgate_policy_reloads_total{result="refused"}`); v == "" || v == "0" {
		t.Errorf(`sovgate_policy_reloads_total{result="refused"} = %q`, v)
	}
	denied("back to the good files")
}

// TestDPOTunnelsDecidedAgainOnPolicySwap: a policy hot reload decides again
// about the open tunnels; one the new revision blocks is closed, one it
// allows goes on.
func TestDPOTunnelsDecidedAgainOnPolicySwap(t *testing.T) {
	w := newWorld(t)
	dir := copyDefaultPolicies(t)
	editData(t, dir, func(data map[string]any) {
		data["exceptions"] = map[string]any{"2026-001-us": map[string]any{
			"app": "*", "host": "us.test", "reason": "migration", "approved_by": "DPO", "expires": "2099-12-31",
		}}
	})
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: dir, app: map[string]any{"policy_poll_interval": "1h"}})
	usConn, usBR := g.openTunnel(t, fmt.Sprintf("us.test:%d", w.httpPort))
	if err := tunnelGet(t, usConn, usBR, "us.test"); err != nil {
		t.Fatalf("tunnel allowed by the exception: %v", err)
	}
	euConn, euBR := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.httpPort))

	// The exception is withdrawn.
	editData(t, dir, func(data map[string]any) { data["exceptions"] = map[string]any{} })
	if status, rep := g.reloadPolicy(t); status != http.StatusOK || rep.Result != sovereignty.ReloadActivated {
		t.Fatalf("reload: %d %+v", status, rep)
	}
	expectClosed(t, usConn, usBR, 5*time.Second)
	if err := tunnelGet(t, euConn, euBR, "eu.test"); err != nil {
		t.Fatalf("a tunnel the new revision allows failed: %v", err)
	}
	rev := g.policyStatus(t).Revision
	g.waitLog(t, "decision", func(l decisionLine) bool {
		return l.Host == "us.test" && l.Action == "blocked" && l.PolicyRevision == rev
	})
}
