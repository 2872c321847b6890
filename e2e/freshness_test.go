package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo/feeds/feedtest"
)

// TestDataFreshnessWarnings: a mirror nobody refreshed for 200 days is
// installed by `sovgate geo update`, which names each feed older than
// data_max_age with its date and age on stderr; the gateway started on it
// then warns in one line that names the same feeds and how to refresh
// them. From a fresh mirror, neither warns.
func TestDataFreshnessWarnings(t *testing.T) {
	now := time.Now()
	stale := feedtest.Default()
	stale.Date = now.AddDate(0, 0, -200)
	fresh := feedtest.Default()
	fresh.Date = now.AddDate(0, 0, -1)
	staleMirror, freshMirror := t.TempDir(), t.TempDir()
	stale.WriteMirror(t, staleMirror)
	fresh.WriteMirror(t, freshMirror)
	// The feeds that carry a date of their own; the others (Azure under
	// its layout name, Cloudflare, Fastly, Akamai, DigitalOcean) were
	// fetched now, as far as anyone can tell.
	dated := []string{"aws", "gcp", "oracle", "linode", "google"} // in precedence order
	date := stale.Date.UTC().Format(time.DateOnly)

	dir := filepath.Join(t.TempDir(), "providers")
	res := runSovgate(t, "geo", "update", "--quiet", "--dir", dir, "--mirror", staleMirror)
	if res.exit != 0 {
		t.Fatalf("geo update from a stale mirror: exit %d (stale data is installed, with a warning)\n%s%s", res.exit, res.stdout, res.stderr)
	}
	updateWarning := regexp.MustCompile(`(?m)^warning: feed (\S+) is dated (\S+), (\d+) days old: read from (\S+) \(older than --data-max-age 90d\)$`)
	warnings := updateWarning.FindAllStringSubmatch(res.stderr, -1)
	var named []string
	for _, w := range warnings {
		named = append(named, w[1])
		if w[2] != date || w[3] != "200" || !strings.HasPrefix(w[4], staleMirror) {
			t.Errorf("warning %q: want the date %s, 200 days, a file of the mirror", w[0], date)
		}
	}
	if strings.Join(named, ",") != strings.Join(dated, ",") {
		t.Errorf("geo update warned about %v, want %v:\n%s", named, dated, res.stderr)
	}
	mirrorAdvice := "warning: the mirror %s holds old files: refresh it from the providers' sites, then run geo update again; until then the gateway warns at start"
	if !strings.Contains(res.stderr, fmt.Sprintf(mirrorAdvice, staleMirror)) {
		t.Errorf("no advice to refresh the mirror:\n%s", res.stderr)
	}
	// The admin guide shows these lines.
	guide := readAdminGuide(t)
	shown := strings.Split(strings.TrimSpace(adminGuideBlock(t, guide, "stale-update")), "\n")
	if len(shown) != 2 || !updateWarning.MatchString(shown[0]) || shown[1] != fmt.Sprintf(mirrorAdvice, "/mnt/feeds") {
		t.Errorf("the admin guide's geo update warnings are not what geo update prints:\n%s\nit printed:\n%s", strings.Join(shown, "\n"), res.stderr)
	}
	if res := runSovgate(t, "geo", "update", "--dir", t.TempDir(), "--mirror", staleMirror, "--data-max-age", "365d"); res.exit != 0 || strings.Contains(res.stderr, "warning") {
		t.Errorf("--data-max-age 365d: exit %d\n%s", res.exit, res.stderr)
	}
	if res := runSovgate(t, "geo", "update", "--dir", t.TempDir(), "--mirror", staleMirror, "--data-max-age", "three months"); res.exit != 1 || !strings.Contains(res.stderr, `--data-max-age "three months"`) {
		t.Errorf("a bad --data-max-age: exit %d\n%s", res.exit, res.stderr)
	}

	log := startEgress(t, "--provider-ranges", dir)
	lines := regexp.MustCompile(`(?m)^.*"msg":"dataset older than data_max_age","dataset":"provider_ranges".*$`).FindAllString(log, -1)
	if len(lines) != 1 {
		t.Fatalf("%d start-up warnings about the provider ranges, want one:\n%s", len(lines), log)
	}
	var feeds []string
	for _, name := range dated {
		feeds = append(feeds, fmt.Sprintf("%s %s (200 days)", name, date))
	}
	checkGuideWarning(t, adminGuideBlock(t, guide, "stale-start-feeds"), lines[0])
	for _, want := range []string{
		fmt.Sprintf(`"stale_feeds":"%d of 10: %s"`, len(dated), strings.Join(feeds, ", ")),
		`"refresh":"sovgate geo update --dir ` + dir + ` (the gateway picks the new index up by itself)"`,
	} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("the start-up warning lacks %s:\n%s", want, lines[0])
		}
	}

	// The guide's first example: the registration data built in, as the
	// defaults announce it once it is older than the limit.
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	writeFile(t, caddyfile, fmt.Sprintf("{\n\tadmin off\n\tsovereignty {\n\t\tdata_max_age 1s\n\t}\n}\n\nhttp://:%d {\n\tbind 127.0.0.1\n\tsovereign_egress\n}\n", freePort(t)))
	log = startUpLog(t, "serving initial configuration", "run", "--config", caddyfile)
	registration := regexp.MustCompile(`(?m)^\{.*"msg":"dataset older than data_max_age","dataset":"registration".*$`).FindString(log)
	var want, got map[string]any
	json.Unmarshal([]byte(adminGuideBlock(t, guide, "stale-start")), &want)
	json.Unmarshal([]byte(registration), &got)
	if got == nil || !slices.Equal(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got))) || want["refresh"] != got["refresh"] {
		t.Errorf("the admin guide's warning about the registration data built in is not what the gateway logs:\n%s\n%s", adminGuideBlock(t, guide, "stale-start"), log)
	}

	// Fresh feeds: no warning at update, none about them at start.
	freshDir := t.TempDir()
	if res := runSovgate(t, "geo", "update", "--dir", freshDir, "--mirror", freshMirror); res.exit != 0 || strings.Contains(res.stderr, "warning") {
		t.Errorf("geo update from a fresh mirror: exit %d\n%s", res.exit, res.stderr)
	}
	if log := startEgress(t, "--provider-ranges", freshDir); strings.Contains(log, `"dataset":"provider_ranges"`) {
		t.Errorf("a warning about fresh provider ranges:\n%s", log)
	}
}

// checkGuideWarning compares a start-up warning the admin guide shows with
// one the gateway logged: the same fields, the same message, and feeds
// and advice written the same way.
func checkGuideWarning(t *testing.T, shown, logged string) {
	t.Helper()
	var want, got map[string]any
	if err := json.Unmarshal([]byte(shown), &want); err != nil {
		t.Fatalf("the admin guide's warning is not JSON: %v\n%s", err, shown)
	}
	if err := json.Unmarshal([]byte(logged), &got); err != nil {
		t.Fatalf("the gateway's warning is not JSON: %v\n%s", err, logged)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got))) || want["msg"] != got["msg"] {
		t.Errorf("the admin guide shows\n%s\nthe gateway logged\n%s", shown, logged)
	}
	feeds := regexp.MustCompile(`^\d+ of \d+: \S+ \d{4}-\d{2}-\d{2} \(\d+ days\)(, \S+ \d{4}-\d{2}-\d{2} \(\d+ days\))*` +
		`(; undated: [a-z0-9, ]+ \(fetched by \d{4}-\d{2}-\d{2}, \d+ days ago\))?$`)
	advice := regexp.MustCompile(`^sovgate geo update --dir \S+ \(the gateway picks the new index up by itself\)$`)
	for _, m := range []map[string]any{want, got} {
		if f, _ := m["stale_feeds"].(string); !feeds.MatchString(f) {
			t.Errorf("stale_feeds %q is not written as the admin guide's", f)
		}
		if r, _ := m["refresh"].(string); !advice.MatchString(r) {
			t.Errorf("refresh %q is not written as the admin guide's", r)
		}
	}
}

// startEgress starts `sovgate egress` with args, and returns what it
// logged until it was running.
func startEgress(t *testing.T, args ...string) string {
	t.Helper()
	return startUpLog(t, "sovgate egress proxy running",
		append([]string{"egress", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--admin", "off", "--audit", "off"}, args...)...)
}

// startUpLog runs sovgate with args, and returns what it logged until a
// line with ready.
func startUpLog(t *testing.T, ready string, args ...string) string {
	t.Helper()
	cmd := exec.Command(sovgateBinary(t), args...)
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(cmd.Dir, "sovgate.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started, ended := watchLog(stderr, logf, ready)
	t.Cleanup(func() {
		<-ended
		logf.Close()
	})
	stopAtCleanup(t, cmd)
	select {
	case <-started:
		return mustRead(logPath)
	case <-ended:
		t.Fatalf("sovgate %s exited at start:\n%s", args[0], mustRead(logPath))
	case <-time.After(60 * time.Second):
		t.Fatalf("sovgate %s did not start in 60 s:\n%s", args[0], mustRead(logPath))
	}
	return ""
}
