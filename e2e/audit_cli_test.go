package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/verify"
)

// fixtureMonth is the month the fixture store covers: October 2026.
var fixtureMonth = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// writeFixtureStore writes a store of n decisions spread over October
// 2026 (and a few in September and November), with completions for the
// forwarded ones: allowed transfers, sovereignty violations, and one
// decision in twenty a wrong password (AUTH_FAILED). It is what an auditor
// would find after a month.
func writeFixtureStore(t *testing.T, path string, n int) []*audit.Record {
	t.Helper()
	type dest struct {
		host    string
		addrs   []audit.Address
		verdict audit.Verdict
		reasons []audit.Code
	}
	dests := []dest{
		{"api.service-public.fr", []audit.Address{{IP: "192.0.2.10", Country: "FR", ASN: 64500, Provider: "ovh"}}, "allow", nil},
		{"api.mailer.example", []audit.Address{{IP: "198.51.100.7", Country: "US", ASN: 64501}}, "deny", []audit.Code{"RESIDENCY_NON_EU"}},
		{"bucket.s3.eu-west-3.amazonaws.com", []audit.Address{{IP: "203.0.113.4", Country: "FR", ASN: 16509, Provider: "aws", Region: "eu-west-3"}}, "deny", []audit.Code{"JURISDICTION_NON_EU"}},
		{"graph.microsoft.com", []audit.Address{{IP: "198.51.100.20", Country: "IE", Provider: "azure"}, {IP: "198.51.100.21", Country: "US", Provider: "azure"}}, "deny", []audit.Code{"RESIDENCY_NON_EU", "JURISDICTION_NON_EU"}},
		{"tiles.openmaps.example", []audit.Address{{IP: "192.0.2.30", Country: "DE"}}, "allow", nil},
	}
	apps := []string{"etat-civil", "urbanisme", "cantines", "unknown"}
	// The profile the policy applied to each app, and its categories.
	profiles := map[string]struct {
		profile    string
		categories []string
	}{
		"etat-civil": {"france", []string{"civil-status", "personal"}},
		"urbanisme":  {"sovereign", []string{"personal"}},
		"cantines":   {"hds", []string{"health", "personal"}},
		"unknown":    {"sovereign", nil},
	}
	ctx := context.Background()
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var recs []*audit.Record
	var entries []*chain.Entry
	span := 33 * 24 * time.Hour
	for i := range n {
		d := dests[i%len(dests)]
		mode, action := "monitor", audit.Forwarded
		if i%4 == 0 {
			mode = "enforce"
			if d.verdict == "deny" {
				action = audit.Blocked
			}
		}
		rec := &audit.Record{
			ID:   fmt.Sprintf("0192%04x-0000-7000-8000-%012x", i/65536, i),
			Time: fixtureMonth.Add(-24 * time.Hour).Add(time.Duration(i) * span / time.Duration(n)), Node: "gw-lyon-1",
			App: apps[i%len(apps)], SourceIP: "10.1.2.3", Method: "CONNECT", Scheme: "https", Host: d.host, Port: 443,
			Addresses: d.addrs, Verdict: d.verdict, Action: action, Mode: mode, Reasons: d.reasons, PolicyRevision: "5f0c2a9e41d7", DurationUS: 90,
		}
		rec.Profile, rec.Categories = profiles[rec.App].profile, profiles[rec.App].categories
		if i%20 == 16 {
			// One decision in twenty, blocked already: a wrong password
			// instead, an operational refusal, before any destination
			// was looked at.
			rec.Addresses, rec.Reasons, rec.Profile, rec.Categories = nil, []audit.Code{audit.CodeAuthFailed}, "", nil
		}
		recs = append(recs, rec)
		entries = append(entries, chain.DecisionEntry(rec, false))
		if action == "forwarded" {
			fin := *rec
			fin.BytesUp, fin.BytesDown, fin.DurationUS = 2048, 65536, 1_500_000
			entries = append(entries, chain.CompletionEntry(&fin))
		}
	}
	if _, _, err := s.Append(ctx, entries, false); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestAuditCommands(t *testing.T) {
	dir := t.TempDir()
	storePath := filepath.Join(dir, "audit.db")
	recs := writeFixtureStore(t, storePath, 400)
	inOctober := func(r *audit.Record) bool {
		return !r.Time.Before(fixtureMonth) && r.Time.Before(fixtureMonth.AddDate(0, 1, 0))
	}
	count := func(pred func(*audit.Record) bool) int {
		n := 0
		for _, r := range recs {
			if pred(r) {
				n++
			}
		}
		return n
	}

	t.Run("query json with filters", func(t *testing.T) {
		res := runSovgate(t, "audit", "query", "--audit", storePath, "--since", "2026-10", "--until", "2026-11",
			"--country", "us", "--verdict", "deny", "--limit", "0", "--format", "json")
		if res.exit != 0 {
			t.Fatalf("exit %d: %s", res.exit, res.stderr)
		}
		var got []audit.Stored
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatal(err)
		}
		want := count(func(r *audit.Record) bool {
			return inOctober(r) && r.Verdict == "deny" && strings.Contains(fmt.Sprint(r.Addresses), "US")
		})
		if len(got) != want || want == 0 {
			t.Fatalf("%d records, want %d", len(got), want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Time.After(got[i-1].Time) {
				t.Fatal("not newest first")
			}
		}
	})
	t.Run("query csv", func(t *testing.T) {
		res := runSovgate(t, "audit", "query", "--audit", storePath, "--app", "urbanisme", "--reason", "JURISDICTION_NON_EU", "--format", "csv", "--limit", "7")
		rows, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll()
		if res.exit != 0 || err != nil || len(rows) != 8 || rows[0][0] != "id" || rows[1][3] != "urbanisme" {
			t.Fatalf("exit %d, %d rows, %v: %s", res.exit, len(rows), err, res.stderr)
		}
	})
	t.Run("query table", func(t *testing.T) {
		res := runSovgate(t, "audit", "query", "--audit", storePath, "--host", "*.amazonaws.com", "--limit", "3")
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if res.exit != 0 || len(lines) != 4 || !strings.Contains(lines[1], "bucket.s3.eu-west-3.amazonaws.com:443") {
			t.Fatalf("exit %d:\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})
	t.Run("query errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"--verdict", "maybe"}, {"--since", "last tuesday"}, {"--format", "xml"}, {"--audit", filepath.Join(dir, "missing.db")},
		} {
			res := runSovgate(t, append([]string{"audit", "query", "--audit", storePath}, args...)...)
			if res.exit != 1 {
				t.Errorf("%v: exit %d, want 1", args, res.exit)
			}
		}
	})
	t.Run("report", func(t *testing.T) {
		res := runSovgate(t, "audit", "report", "--audit", storePath, "--since", "2026-10", "--until", "2026-11")
		want := count(inOctober)
		if res.exit != 0 || !strings.Contains(res.stdout, fmt.Sprintf("| all decisions | %d |", want)) || !strings.Contains(res.stdout, "## Sovereignty violations by destination country") {
			t.Fatalf("exit %d:\n%s%s", res.exit, res.stdout, res.stderr)
		}
		res = runSovgate(t, "audit", "report", "--audit", storePath, "--since", "2026-10", "--until", "2026-11", "--format", "csv")
		if rows, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll(); res.exit != 0 || err != nil || len(rows) < 5 {
			t.Fatalf("csv report: exit %d %v %d rows", res.exit, err, len(rows))
		}
		page := filepath.Join(dir, "october.html")
		res = runSovgate(t, "audit", "report", "--audit", storePath, "--since", "2026-10", "--until", "2026-11", "--format", "html", "-o", page)
		html, _ := os.ReadFile(page)
		if res.exit != 0 || !strings.Contains(string(html), "<svg") || !strings.Contains(string(html), "graph.microsoft.com") {
			t.Fatalf("html report: exit %d %s", res.exit, res.stderr)
		}
	})
	t.Run("config file", func(t *testing.T) {
		cfg := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(cfg, []byte("{\n\tsovereignty {\n\t\taudit "+storePath+"\n\t}\n}\n\nhttp://:3128 {\n\tsovereign_egress\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if res := runSovgate(t, "audit", "verify", "--config", cfg); res.exit != 0 || !strings.Contains(res.stdout, "intact") {
			t.Fatalf("verify --config: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})
}

// tamperCases change a copy of the fixture store as someone with write
// access to the database could; verify must find each.
var tamperCases = []struct {
	name  string
	entry int // the first broken entry
	sql   []string
}{
	{"edit", 40, []string{`UPDATE audit_log SET verdict = 'allow', action = 'forwarded' WHERE seq = 40`}},
	{"delete", 41, []string{`DELETE FROM audit_log WHERE seq = 40`}},
	{"insert", 40, []string{
		`UPDATE audit_log SET seq = seq + 100000 WHERE seq >= 40`,
		`UPDATE audit_log SET seq = seq - 99999 WHERE seq >= 100040`,
		`INSERT INTO audit_log (node, seq, kind, id, time, app, host, verdict, action, prev_hash, hash)
		 SELECT node, 40, kind, 'forged-0000', time, app, 'innocent.example', 'allow', 'forwarded', prev_hash, hash FROM audit_log WHERE seq = 39`,
	}},
	{"reorder", 40, []string{
		`UPDATE audit_log SET seq = -1 WHERE seq = 40`,
		`UPDATE audit_log SET seq = 40 WHERE seq = 41`,
		`UPDATE audit_log SET seq = 41 WHERE seq = -1`,
	}},
}

func TestAuditVerifyFindsTampering(t *testing.T) {
	dir := t.TempDir()
	pristine := filepath.Join(dir, "pristine.db")
	writeFixtureStore(t, pristine, 100)
	if res := runSovgate(t, "audit", "verify", "--audit", pristine); res.exit != 0 || !strings.Contains(res.stdout, "intact") {
		t.Fatalf("pristine store: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	data, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range tc.sql {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			db.Close()
			res := runSovgate(t, "audit", "verify", "--audit", path)
			if res.exit != 4 {
				t.Fatalf("exit %d, want 4 (tampered)\n%s%s", res.exit, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stdout, "AUDIT LOG TAMPERED") || !strings.Contains(res.stdout, fmt.Sprintf("first broken record: node gw-lyon-1, entry %d\n", tc.entry)) {
				t.Errorf("verify does not name the first broken record:\n%s", res.stdout)
			}
		})
	}
}

// liveGateway is the sovgate binary running a Caddyfile.
type liveGateway struct {
	cmd       *exec.Cmd
	proxyAddr string
	adminAddr string
	log       *os.File
	exited    chan error
}

func startBinaryGateway(t *testing.T, dir, caddyfile, proxyAddr, adminAddr string) *liveGateway {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dir, "gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sovgateBinary(t), "run", "--config", caddyfile)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &liveGateway{cmd: cmd, proxyAddr: proxyAddr, adminAddr: adminAddr, log: logf, exited: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !signalled && strings.Contains(sc.Text(), "serving initial configuration") {
				close(ready)
				signalled = true
			}
		}
		g.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-g.exited
		logf.Close()
	})
	select {
	case <-ready:
	case err := <-g.exited:
		g.exited <- err
		t.Fatalf("the gateway exited at start (%v):\n%s", err, mustRead(logf.Name()))
	case <-time.After(60 * time.Second):
		t.Fatalf("the gateway did not start:\n%s", mustRead(logf.Name()))
	}
	return g
}

// stop interrupts the gateway (a graceful stop) and waits for it to exit.
func (g *liveGateway) stop(t *testing.T) {
	t.Helper()
	g.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-g.exited:
		g.exited <- err
	case <-time.After(30 * time.Second):
		t.Fatalf("the gateway did not stop:\n%s", mustRead(g.log.Name()))
	}
}

// TestAuditSurvivesKill9 kills the gateway binary (SIGKILL) while clients
// send requests through it, starts it again, and checks the audit log:
// with audit_sync strict every request that was answered is recorded;
// batched, every one answered more than the durability window (1 s) before
// the kill. The chain verifies in both cases.
func TestAuditSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	w := newWorld(t)
	for _, syncMode := range []string{"strict", "batched"} {
		t.Run(syncMode, func(t *testing.T) {
			dir := t.TempDir()
			storePath := filepath.Join(dir, "audit.db")
			g := startAuditGateway(t, w, dir, fmt.Sprintf(`mode enforce
		audit %s
		audit_sync %s
		node kill-test`, storePath, syncMode))
			proxyAddr := g.proxyAddr

			type answered struct {
				id string
				at time.Time
			}
			var (
				mu       sync.Mutex
				got      []answered
				enough   = make(chan struct{})
				stop     = make(chan struct{})
				wg       sync.WaitGroup
				signals  sync.Once
				firstErr atomic.Pointer[error]
			)
			proxy, _ := url.Parse("http://" + proxyAddr)
			for c := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 5 * time.Second}
					hosts := []string{"eu.test", "us.test", "ovh.test"}
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						resp, err := client.Get(fmt.Sprintf("http://%s:%d/k/%d/%d", hosts[i%3], w.httpPort, c, i))
						if err != nil {
							firstErr.CompareAndSwap(nil, &err)
							continue // the gateway is gone
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						id := resp.Header.Get("Sovgate-Decision-Id")
						if id == "" {
							continue
						}
						mu.Lock()
						got = append(got, answered{id, time.Now()})
						if len(got) >= 1500 {
							signals.Do(func() { close(enough) })
						}
						mu.Unlock()
					}
				}()
			}
			select {
			case <-enough:
			case <-time.After(60 * time.Second):
				mu.Lock()
				n := len(got)
				mu.Unlock()
				var first error
				if p := firstErr.Load(); p != nil {
					first = *p
				}
				t.Fatalf("the load did not reach 1500 answers in 60 s (%d; first error %v):\n%s", n, first, mustRead(g.log.Name()))
			}
			if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killedAt := time.Now()
			err := <-g.exited
			g.exited <- err
			close(stop)
			wg.Wait()

			// Start again: the spool (if any) is replayed; then stop cleanly.
			g2 := startBinaryGateway(t, dir, filepath.Join(dir, "Caddyfile"), g.proxyAddr, g.adminAddr)
			g2.stop(t)

			s, err := store.OpenExisting(context.Background(), storePath)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			res, err := verify.Log(context.Background(), s, verify.Options{})
			if err != nil || !res.OK() {
				t.Fatalf("verify after kill -9: %v %+v", err, res.Break)
			}
			stored := map[string]bool{}
			if err := s.Walk(context.Background(), "kill-test", 1, 0, func(e *chain.Entry) error {
				if e.Kind == chain.KindDecision {
					stored[e.ID] = true
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			window := time.Second
			if syncMode == "strict" {
				window = 0
			}
			missing := 0
			mu.Lock()
			for _, a := range got {
				if a.at.Before(killedAt.Add(-window)) && !stored[a.id] {
					missing++
				}
			}
			t.Logf("%s: %d answers before the kill, %d decisions in the store, %d missing", syncMode, len(got), len(stored), missing)
			mu.Unlock()
			if missing > 0 {
				t.Errorf("%d answered decisions are missing from the audit log after kill -9 (audit_sync %s)", missing, syncMode)
			}
		})
	}
}
