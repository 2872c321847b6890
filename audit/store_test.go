package audit

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sovgate/sovgate/audit/audittest"
)

// backends runs a test against a real SQLite file and a real PostgreSQL
// database.
func backends(t *testing.T, fn func(t *testing.T, s Store, location string)) {
	t.Run("sqlite", func(t *testing.T) {
		loc := filepath.Join(t.TempDir(), "audit.db")
		fn(t, openStore(t, loc), loc)
	})
	t.Run("postgres", func(t *testing.T) {
		loc := audittest.PostgresURL(t)
		fn(t, openStore(t, loc), loc)
	})
}

func openStore(t testing.TB, location string) Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var fixtureStart = time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)

// fixtureRecord is the i-th decision of a varied, reproducible month.
func fixtureRecord(i int, node string) *Record {
	type dest struct {
		host     string
		addrs    []Address
		verdict  string
		reasons  []string
		provider string
	}
	dests := []dest{
		{"api.eu.example", []Address{{IP: "192.0.2.10", Country: "FR", ASN: 64500, Provider: "ovh"}}, VerdictAllow, nil, "ovh"},
		{"api.us.example", []Address{{IP: "198.51.100.7", Country: "US", ASN: 64501}}, VerdictDeny, []string{"RESIDENCY_NON_EU"}, ""},
		{"bucket.s3.eu-west-3.amazonaws.com", []Address{{IP: "203.0.113.4", Country: "FR", ASN: 16509, Provider: "aws", Region: "eu-west-3"}}, VerdictDeny, []string{"JURISDICTION_NON_EU"}, "aws"},
		{"mixed.example", []Address{{IP: "192.0.2.11", Country: "DE"}, {IP: "198.51.100.8", Country: "US", Provider: "azure"}}, VerdictDeny, []string{"RESIDENCY_NON_EU", "JURISDICTION_NON_EU"}, "azure"},
		{"cdn.cn.example", []Address{{IP: "203.0.113.99", Country: "CN"}}, VerdictDeny, []string{"RESIDENCY_NON_EU"}, ""},
	}
	apps := []string{"etat-civil", "urbanisme", "unknown", "cantines"}
	d := dests[i%len(dests)]
	if i%97 == 0 { // rare: a destination of one record in 97
		d = dest{"rare.example", []Address{{IP: "192.0.2.77", Country: "BR"}}, VerdictDeny, []string{"RESIDENCY_NON_EU"}, ""}
	}
	mode, action := "monitor", ActionForwarded
	if i%3 == 0 {
		mode = "enforce"
		if d.verdict == VerdictDeny {
			action = ActionBlocked
		}
	}
	at := fixtureStart.Add(time.Duration(i) * 37 * time.Second)
	id := uuid.Must(uuid.NewV7()).String()
	return &Record{
		ID: id, Time: at, Node: node, App: apps[i%len(apps)], SourceIP: fmt.Sprintf("10.1.%d.%d", i%7, i%200),
		Method: "CONNECT", Scheme: "https", Host: d.host, Port: 443, Addresses: d.addrs,
		Verdict: d.verdict, Action: action, Mode: mode, Reasons: d.reasons, PolicyRevision: "rev-1", DurationUS: 80 + int64(i%50),
	}
}

func appendRecords(t testing.TB, s Store, recs ...*Record) {
	t.Helper()
	entries := make([]*Entry, len(recs))
	for i, r := range recs {
		entries[i] = DecisionEntry(r, false)
	}
	if _, _, err := s.Append(context.Background(), entries, false); err != nil {
		t.Fatal(err)
	}
}

func dbOf(s Store) *sql.DB { return s.(*sqlStore).db }

func TestAppendChainsPerNode(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		var recs []*Record
		for i := range 20 {
			recs = append(recs, fixtureRecord(i, []string{"gw-1", "gw-2"}[i%2]))
		}
		appendRecords(t, s, recs[:7]...)
		appendRecords(t, s, recs[7:]...)
		heads, err := s.Heads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(heads) != 2 || heads[0].Node != "gw-1" || heads[0].Seq != 10 || heads[1].Seq != 10 {
			t.Fatalf("heads = %+v, want gw-1 and gw-2 at 10", heads)
		}
		var prev = GenesisHash
		var seq int64
		if err := s.Walk(ctx, "gw-1", func(e *Entry) error {
			seq++
			if e.Seq != seq || e.PrevHash != prev || len(e.Hash) != 64 {
				t.Errorf("entry %d: seq %d prev %s hash %s", seq, e.Seq, e.PrevHash, e.Hash)
			}
			prev = e.Hash
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if prev != heads[0].Hash {
			t.Errorf("last hash %s, head %s", prev, heads[0].Hash)
		}
		res, err := Verify(ctx, s, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || len(res.Chains) != 2 || res.Chains[0].Decisions != 10 {
			t.Fatalf("verify: %+v %v", res.Chains, res.Break)
		}
	})
}

func TestCompletionIsOneRecordWithBytes(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		rec := fixtureRecord(1, "gw-1")
		other := fixtureRecord(2, "gw-1")
		appendRecords(t, s, rec, other)
		fin := *rec
		fin.BytesUp, fin.BytesDown, fin.DurationUS = 1200, 34000, 3_000_000
		if _, _, err := s.Append(ctx, []*Entry{CompletionEntry(&fin)}, false); err != nil {
			t.Fatal(err)
		}
		page, err := s.Query(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) != 2 {
			t.Fatalf("%d records, want 2 (one per decision)", len(page.Records))
		}
		got := page.Records[1] // newest first: rec is the older one
		if got.ID != rec.ID || !got.Completed || got.BytesUp != 1200 || got.BytesDown != 34000 || got.DurationUS != 3_000_000 {
			t.Errorf("record %+v", got)
		}
		if page.Records[0].Completed || page.Records[0].BytesUp != 0 {
			t.Errorf("uncompleted record %+v", page.Records[0])
		}
		if got.Hash == "" || got.PrevHash != GenesisHash {
			t.Errorf("hash %q prev %q", got.Hash, got.PrevHash)
		}
		res, err := Verify(ctx, s, VerifyOptions{})
		if err != nil || !res.OK() || res.Chains[0].Completions != 1 {
			t.Fatalf("verify: %v %+v", err, res)
		}
	})
}

func TestExceptionsAreStoredAndChained(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		rec := fixtureRecord(1, "gw-1")
		rec.Verdict, rec.Action = VerdictAllow, ActionForwarded
		rec.Reasons = []string{"EXCEPTION_APPLIED", "RESIDENCY_NON_EU"}
		rec.Exceptions = []string{"derog-2026-014"}
		appendRecords(t, s, rec, fixtureRecord(2, "gw-1"))
		page, err := s.Query(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		got := page.Records[1]
		if got.ID != rec.ID || len(got.Exceptions) != 1 || got.Exceptions[0] != "derog-2026-014" {
			t.Fatalf("record %+v, want exception derog-2026-014", got.Record)
		}
		if len(page.Records[0].Exceptions) != 0 {
			t.Errorf("a record without exception shows %v", page.Records[0].Exceptions)
		}
		if res, err := Verify(ctx, s, VerifyOptions{}); err != nil || !res.OK() {
			t.Fatalf("verify: %v %+v", err, res)
		}
		// The exception is covered by the chain: editing it is tampering.
		if _, err := dbOf(s).ExecContext(ctx, s.(*sqlStore).q(`UPDATE audit_log SET detail = ? WHERE id = ? AND kind = 'decision'`),
			`{"exceptions":["forged"]}`, rec.ID); err != nil {
			t.Fatal(err)
		}
		if res, err := Verify(ctx, s, VerifyOptions{}); err != nil || res.OK() {
			t.Fatalf("verify after editing the exception: %v ok=%v", err, res.OK())
		}
	})
}

func TestQueryFiltersAndPaging(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		var recs []*Record
		for i := range 300 {
			recs = append(recs, fixtureRecord(i, "gw-1"))
		}
		appendRecords(t, s, recs...)
		match := func(f Filter, r *Record) bool {
			has := func(pred func(Address) bool) bool {
				for _, a := range r.Addresses {
					if pred(a) {
						return true
					}
				}
				return false
			}
			switch {
			case !f.Since.IsZero() && r.Time.Before(f.Since), !f.Until.IsZero() && !r.Time.Before(f.Until):
				return false
			case f.App != "" && r.App != f.App, f.Verdict != "" && r.Verdict != f.Verdict, f.Action != "" && r.Action != f.Action:
				return false
			case f.Host != "" && !strings.HasPrefix(f.Host, "*.") && r.Host != f.Host:
				return false
			case strings.HasPrefix(f.Host, "*.") && !(r.Host == f.Host[2:] || strings.HasSuffix(r.Host, f.Host[1:])):
				return false
			case f.Country != "" && !has(func(a Address) bool { return a.Country == f.Country }):
				return false
			case f.Provider != "" && !has(func(a Address) bool { return a.Provider == f.Provider }):
				return false
			case f.Reason != "" && !strings.Contains(strings.Join(r.Reasons, ","), f.Reason):
				return false
			}
			return true
		}
		filters := []Filter{
			{},
			{App: "etat-civil"},
			{Verdict: "deny"},
			{Country: "US"},
			{Country: "us", Verdict: "DENY"},
			{Provider: "aws"},
			{Reason: "JURISDICTION_NON_EU"},
			{Reason: "RESIDENCY_NON_EU", Country: "CN", App: "urbanisme"},
			{Host: "api.us.example"},
			{Host: "*.amazonaws.com"},
			{Country: "BR"},
			{Action: "blocked"},
			{Since: fixtureStart.Add(time.Hour), Until: fixtureStart.Add(2 * time.Hour)},
			{Since: fixtureStart.Add(time.Hour), Until: fixtureStart.Add(2 * time.Hour), Country: "FR"},
			{Country: "JP"},
		}
		for _, f := range filters {
			t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
				nf := f
				if err := nf.Normalize(); err != nil {
					t.Fatal(err)
				}
				var want []string
				for i := len(recs) - 1; i >= 0; i-- {
					if match(nf, recs[i]) {
						want = append(want, recs[i].ID)
					}
				}
				// Pages of 7, following the cursor.
				var got []string
				f.Limit = 7
				for pages := 0; ; pages++ {
					page, err := s.Query(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Records) > 7 {
						t.Fatalf("page of %d", len(page.Records))
					}
					for _, r := range page.Records {
						got = append(got, r.ID)
					}
					if page.NextCursor == "" {
						break
					}
					if pages > 100 {
						t.Fatal("paging does not end")
					}
					f.Cursor = page.NextCursor
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("got %d records, want %d (newest first)", len(got), len(want))
				}
			})
		}
	})
}

func TestDedupe(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		a, b := fixtureRecord(1, "gw-1"), fixtureRecord(2, "gw-1")
		appendRecords(t, s, a)
		entries := []*Entry{DecisionEntry(a, false), DecisionEntry(b, false), DecisionEntry(b, false), CompletionEntry(a)}
		if _, _, err := s.Append(ctx, entries, true); err != nil {
			t.Fatal(err)
		}
		res, err := Verify(ctx, s, VerifyOptions{})
		if err != nil || !res.OK() {
			t.Fatalf("verify %v %+v", err, res.Break)
		}
		if c := res.Chains[0]; c.Decisions != 2 || c.Completions != 1 {
			t.Errorf("chain %+v: want 2 decisions and 1 completion", c)
		}
	})
}

// tamper changes the database behind the store's back, as someone with
// write access to it could.
func tamper(t *testing.T, s Store, query string, args ...any) {
	t.Helper()
	st := s.(*sqlStore)
	res, err := st.db.Exec(st.q(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s changed nothing", query)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, s Store, recs []*Record)
		seq    int64
		reason string
	}{
		{"edit a verdict", func(t *testing.T, s Store, recs []*Record) {
			tamper(t, s, `UPDATE audit_log SET verdict = 'allow', action = 'forwarded' WHERE node = 'gw-1' AND seq = 5`)
		}, 5, "edited"},
		{"edit and rehash one entry", func(t *testing.T, s Store, recs []*Record) {
			var e Entry
			st := s.(*sqlStore)
			if err := st.db.QueryRow(st.q(`SELECT ` + entryColumns + ` FROM audit_log WHERE node = 'gw-1' AND seq = 5`)).Scan(e.scanTargets()...); err != nil {
				t.Fatal(err)
			}
			e.Host = "innocent.example"
			h, _ := e.ComputeHash(nil)
			tamper(t, s, `UPDATE audit_log SET host = ?, hash = ? WHERE node = 'gw-1' AND seq = 5`, e.Host, h)
		}, 6, "prev_hash"},
		{"delete an entry", func(t *testing.T, s Store, recs []*Record) {
			tamper(t, s, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq = 4`)
		}, 5, "missing"},
		{"insert an entry", func(t *testing.T, s Store, recs []*Record) {
			tamper(t, s, `UPDATE audit_log SET seq = seq + 1000 WHERE node = 'gw-1' AND seq >= 6`)
			tamper(t, s, `UPDATE audit_log SET seq = seq - 999 WHERE node = 'gw-1' AND seq >= 1006`)
			forged := DecisionEntry(fixtureRecord(99, "gw-1"), false)
			forged.Seq, forged.PrevHash = 6, "f00d"
			forged.Hash, _ = forged.ComputeHash(nil)
			st := s.(*sqlStore)
			if _, err := st.db.Exec(st.insertSQL("audit_log", entryColumns, entryColumnCount, 1), forged.values(nil)...); err != nil {
				t.Fatal(err)
			}
		}, 6, "prev_hash"},
		{"reorder two entries", func(t *testing.T, s Store, recs []*Record) {
			tamper(t, s, `UPDATE audit_log SET seq = -1 WHERE node = 'gw-1' AND seq = 3`)
			tamper(t, s, `UPDATE audit_log SET seq = 3 WHERE node = 'gw-1' AND seq = 7`)
			tamper(t, s, `UPDATE audit_log SET seq = 7 WHERE node = 'gw-1' AND seq = -1`)
		}, 3, "prev_hash"},
		{"cut the end", func(t *testing.T, s Store, recs []*Record) {
			tamper(t, s, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq >= 9`)
		}, 8, "recorded head"},
		{"delete the first entries", func(t *testing.T, s Store, recs []*Record) {
			tamper(t, s, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq <= 2`)
		}, 3, "no retention checkpoint"},
		{"drop a tag row", func(t *testing.T, s Store, recs []*Record) {
			tamper(t, s, `DELETE FROM audit_tags WHERE id = ? AND tag = 'country:US'`, recs[1].ID)
		}, 0, "tag index"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backends(t, func(t *testing.T, s Store, _ string) {
				var recs []*Record
				for i := range 10 {
					recs = append(recs, fixtureRecord(i, "gw-1"))
				}
				appendRecords(t, s, recs...)
				appendRecords(t, s, fixtureRecord(50, "gw-2"))
				ctx := context.Background()
				if res, err := Verify(ctx, s, VerifyOptions{}); err != nil || !res.OK() {
					t.Fatalf("before tampering: %v %+v", err, res.Break)
				}
				tc.change(t, s, recs)
				res, err := Verify(ctx, s, VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if res.OK() {
					t.Fatal("tampering not detected")
				}
				if !strings.Contains(res.Break.Reason, tc.reason) {
					t.Errorf("break %q does not mention %q", res.Break, tc.reason)
				}
				if tc.seq != 0 && (res.Break.Node != "gw-1" || res.Break.Seq != tc.seq) {
					t.Errorf("break at %s/%d, want gw-1/%d: %s", res.Break.Node, res.Break.Seq, tc.seq, res.Break.Reason)
				}
			})
		})
	}
}

func TestVerifyAnchors(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		for i := range 5 {
			appendRecords(t, s, fixtureRecord(i, "gw-1"))
		}
		heads, _ := s.Heads(ctx)
		anchor := heads[0]
		if res, err := Verify(ctx, s, VerifyOptions{Anchors: []Head{anchor}}); err != nil || !res.OK() {
			t.Fatalf("anchored verify: %v %+v", err, res.Break)
		}
		// Cut the last two entries and fix up the head: only the anchor
		// can tell.
		var h3 string
		st := s.(*sqlStore)
		if err := st.db.QueryRow(`SELECT hash FROM audit_log WHERE node = 'gw-1' AND seq = 3`).Scan(&h3); err != nil {
			t.Fatal(err)
		}
		tamper(t, s, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq > 3`)
		tamper(t, s, `UPDATE audit_heads SET seq = 3, hash = ? WHERE node = 'gw-1'`, h3)
		tamper(t, s, `DELETE FROM audit_tags WHERE id NOT IN (SELECT id FROM audit_log)`)
		if res, _ := Verify(ctx, s, VerifyOptions{}); !res.OK() {
			t.Fatalf("without the anchor the cut is invisible, yet: %v", res.Break)
		}
		res, err := Verify(ctx, s, VerifyOptions{Anchors: []Head{anchor}})
		if err != nil {
			t.Fatal(err)
		}
		if res.OK() || !strings.Contains(res.Break.Reason, "anchored head") {
			t.Fatalf("break %+v", res.Break)
		}
	})
}

func TestPurgeKeepsTheRestVerifiable(t *testing.T) {
	backends(t, func(t *testing.T, s Store, _ string) {
		ctx := context.Background()
		var recs []*Record
		for i := range 40 {
			recs = append(recs, fixtureRecord(i, "gw-1"))
		}
		appendRecords(t, s, recs...)
		cutoff := recs[25].Time
		cp, err := s.Purge(ctx, "gw-1", cutoff, 10)
		if err != nil || cp == nil {
			t.Fatalf("purge: %v %v", cp, err)
		}
		if cp.Seq != 41 || cp.Kind != KindCheckpoint {
			t.Errorf("checkpoint %+v", cp)
		}
		cp2, err := s.Purge(ctx, "gw-1", cutoff, 1000)
		if err != nil || cp2 == nil {
			t.Fatalf("second purge: %v %v", cp2, err)
		}
		if again, err := s.Purge(ctx, "gw-1", cutoff, 1000); err != nil || again != nil {
			t.Fatalf("third purge found more: %v %v", again, err)
		}
		res, err := Verify(ctx, s, VerifyOptions{})
		if err != nil || !res.OK() {
			t.Fatalf("verify after purge: %v %+v", err, res.Break)
		}
		if c := res.Chains[0]; c.First != 26 || c.Decisions != 15 || c.Checkpoints != 2 {
			t.Errorf("chain %+v", c)
		}
		page, err := s.Query(ctx, Filter{Limit: 1000})
		if err != nil || len(page.Records) != 15 {
			t.Fatalf("%d records after purge (%v)", len(page.Records), err)
		}
		if page, _ := s.Query(ctx, Filter{Country: "US", Until: cutoff}); len(page.Records) != 0 {
			t.Errorf("purged records still found by tag: %d", len(page.Records))
		}
		// Deleting one more entry at the start is not retention.
		tamper(t, s, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq = 26`)
		res, err = Verify(ctx, s, VerifyOptions{})
		if err != nil || res.OK() || !strings.Contains(res.Break.Reason, "checkpoint") {
			t.Fatalf("verify after deleting past the checkpoint: %v %+v", err, res.Break)
		}
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	loc := filepath.Join(t.TempDir(), "audit.db")
	s := openStore(t, loc)
	tamper(t, s, `INSERT INTO audit_schema_migrations (version, description, applied_at) VALUES (99, 'future', 0)`)
	s.Close()
	if _, err := Open(context.Background(), loc); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("err = %v", err)
	}
	if _, err := OpenExisting(context.Background(), filepath.Join(t.TempDir(), "missing.db")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing store: %v", err)
	}
}

func TestParseLocation(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/sovgate/audit.db":                  "sqlite",
		"audit.db":                                   "sqlite",
		"sqlite:///tmp/x.db":                         "sqlite",
		"postgres://u:pw@db.example/sovgate":         "postgres",
		"postgresql://u@db.example:5433/a?sslmode=x": "postgres",
	} {
		kind, _, err := ParseLocation(in)
		if err != nil || kind != want {
			t.Errorf("%s: %s %v, want %s", in, kind, err, want)
		}
	}
	for _, bad := range []string{"", "mysql://x/y", "a.db?mode=ro", "postgres:///nohost"} {
		if _, _, err := ParseLocation(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := Redact("postgres://audit:s3cret@db.example/sovgate"); strings.Contains(got, "s3cret") {
		t.Errorf("Redact kept the password: %s", got)
	}
	_, err := Open(context.Background(), "postgres://audit:s3cret@127.0.0.1:1/sovgate?connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password or no error: %v", err)
	}
}
