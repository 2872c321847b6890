package sovereignty

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestAuditOptions(t *testing.T) {
	d := caddyfile.NewTestDispenser(`sovereignty {
		audit /var/lib/sovgate/audit.db
		audit_sync strict
		retention 400d
		record_path
		audit_spool /var/spool/sovgate
		audit_head_interval 30s
		audit_checkpoints /mnt/checkpoints
		audit_checkpoint_interval 5s
		audit_signing_key /etc/sovgate/audit.key
		audit_witness https://witness.dsi.example:7380
		audit_witness http://127.0.0.1:7380 PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW
	}`)
	var a App
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if a.Audit != "/var/lib/sovgate/audit.db" || a.AuditSync != "strict" || time.Duration(a.Retention) != 400*24*time.Hour ||
		!a.RecordPath || a.AuditSpool != "/var/spool/sovgate" || time.Duration(a.AuditHeadInterval) != 30*time.Second {
		t.Errorf("%+v", a)
	}
	if a.AuditCheckpoints != "/mnt/checkpoints" || time.Duration(a.AuditCheckpointInterval) != 5*time.Second || a.AuditSigningKey != "/etc/sovgate/audit.key" ||
		len(a.AuditWitnesses) != 2 || a.AuditWitnesses[0].URL != "https://witness.dsi.example:7380" || a.AuditWitnesses[1].Key != "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" {
		t.Errorf("checkpoint options %+v", a)
	}
	for _, bad := range []string{
		"audit_sync sometimes", "retention forever", "retention 0s", "record_path maybe", "audit_spool", "audit_sync strict batched",
		"audit_checkpoints", "audit_checkpoint_interval 0s", "audit_signing_key a b", "audit_witness", "audit_witness ftp://x",
		"audit_witness http://x key extra", "audit_witness http://x not-a-key",
	} {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sovereignty {\n\t" + bad + "\n}"))
		if err == nil || !strings.Contains(err.Error(), ":2") {
			t.Errorf("%q: %v, want an error naming line 2", bad, err)
		}
	}
}

func TestAuditSigningKeyFile(t *testing.T) {
	a := App{Audit: "/var/lib/sovgate/audit.db"}
	if path, err := a.AuditSigningKeyFile(); err != nil || path != "/var/lib/sovgate/audit.db.key" {
		t.Errorf("sqlite key %q %v", path, err)
	}
	a = App{Audit: "postgres://audit:pw@db.example/sovgate", Node: "gw-lyon-1"}
	if path, err := a.AuditSigningKeyFile(); err != nil || !strings.HasSuffix(path, "audit-signing-gw-lyon-1.key") {
		t.Errorf("postgres key %q %v", path, err)
	}
	a.AuditSigningKey = "/etc/sovgate/k"
	if path, _ := a.AuditSigningKeyFile(); path != "/etc/sovgate/k" {
		t.Errorf("option: %q", path)
	}
}

func TestAuditSpoolDir(t *testing.T) {
	a := App{Audit: "/var/lib/sovgate/audit.db"}
	if dir, err := a.AuditSpoolDir(); err != nil || dir != "/var/lib/sovgate/audit.db.spool" {
		t.Errorf("sqlite spool %q %v", dir, err)
	}
	a = App{Audit: "postgres://audit:pw@db.example/sovgate"}
	dir, err := a.AuditSpoolDir()
	if err != nil || strings.Contains(dir, "pw") || !strings.Contains(dir, "audit-spool-") {
		t.Errorf("postgres spool %q %v", dir, err)
	}
	if _, err := parseAuditSync("STRICT"); err != nil {
		t.Error(err)
	}
}

// TestDurationOptions pins the duration options of the global block: each
// takes exactly one positive duration, and a bad one is an error that names
// the option, the value and the line.
func TestDurationOptions(t *testing.T) {
	d := caddyfile.NewTestDispenser(`sovereignty {
		resolver_timeout 2s
		provider_ranges_interval 1m
		policy_poll_interval 30s
	}`)
	var a App
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if time.Duration(a.ResolverTimeout) != 2*time.Second || time.Duration(a.ProviderRangesInterval) != time.Minute ||
		time.Duration(a.PolicyPollInterval) != 30*time.Second {
		t.Errorf("%+v", a)
	}
	for _, option := range []string{"resolver_timeout", "provider_ranges_interval", "policy_poll_interval", "retention", "audit_head_interval"} {
		for _, value := range []string{"", " 0s", " -1s", " soon", " 1s 2s"} {
			var a App
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sovereignty {\n\t" + option + value + "\n}"))
			if err == nil || !strings.Contains(err.Error(), option) || !strings.Contains(err.Error(), ":2") {
				t.Errorf("%s%s: %v, want an error naming the option and line 2", option, value, err)
			}
		}
	}
}

// TestFlagOptions pins the on/off options: alone they mean on, a spelled-out
// value may follow, anything else names the option and the line.
func TestFlagOptions(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"", true}, {" on", true}, {" true", true}, {" off", false}, {" false", false}} {
		var a App
		src := "sovereignty {\n\trequire_identity" + tc.value + "\n\trecord_path" + tc.value + "\n}"
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if a.RequireIdentity != tc.want || a.RecordPath != tc.want {
			t.Errorf("%q: require_identity %v, record_path %v, want %v", src, a.RequireIdentity, a.RecordPath, tc.want)
		}
	}
	for _, option := range []string{"require_identity", "record_path"} {
		for _, value := range []string{" maybe", " on off"} {
			var a App
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sovereignty {\n\t" + option + value + "\n}"))
			if err == nil || !strings.Contains(err.Error(), option) || !strings.Contains(err.Error(), ":2") {
				t.Errorf("%s%s: %v, want an error naming the option and line 2", option, value, err)
			}
		}
	}
	for _, option := range []string{"credentials", "policy_public_key", "policy_cache", "audit_spool", "policies", "node"} {
		for _, value := range []string{"", " a b"} {
			var a App
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sovereignty {\n\t" + option + value + "\n}"))
			if err == nil || !strings.Contains(err.Error(), option) || !strings.Contains(err.Error(), ":2") {
				t.Errorf("%s%s: %v, want an error naming the option and line 2", option, value, err)
			}
		}
	}
}
