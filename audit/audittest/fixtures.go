package audittest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
	_ "modernc.org/sqlite"             // the database/sql driver "sqlite"

	"github.com/sovgate/sovgate/audit"
)

// Start is the time of the first fixture record.
var Start = time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)

// Record is the i-th decision of a varied, reproducible month: five
// destinations (EU, US, a US provider's Paris region, a mixed one, CN),
// one record in 97 to a rare destination in BR, four apps, a third in
// enforce mode. Its id is a fresh UUIDv7.
func Record(i int, node string) *audit.Record {
	type dest struct {
		host    string
		addrs   []audit.Address
		verdict string
		reasons []string
	}
	dests := []dest{
		{"api.eu.example", []audit.Address{{IP: "192.0.2.10", Country: "FR", ASN: 64500, Provider: "ovh"}}, audit.VerdictAllow, nil},
		{"api.us.example", []audit.Address{{IP: "198.51.100.7", Country: "US", ASN: 64501}}, audit.VerdictDeny, []string{"RESIDENCY_NON_EU"}},
		{"bucket.s3.eu-west-3.amazonaws.com", []audit.Address{{IP: "203.0.113.4", Country: "FR", ASN: 16509, Provider: "aws", Region: "eu-west-3"}}, audit.VerdictDeny, []string{"JURISDICTION_NON_EU"}},
		{"mixed.example", []audit.Address{{IP: "192.0.2.11", Country: "DE"}, {IP: "198.51.100.8", Country: "US", Provider: "azure"}}, audit.VerdictDeny, []string{"RESIDENCY_NON_EU", "JURISDICTION_NON_EU"}},
		{"cdn.cn.example", []audit.Address{{IP: "203.0.113.99", Country: "CN"}}, audit.VerdictDeny, []string{"RESIDENCY_NON_EU"}},
	}
	apps := []string{"etat-civil", "urbanisme", "unknown", "cantines"}
	d := dests[i%len(dests)]
	if i%97 == 0 { // rare: a destination of one record in 97
		d = dest{"rare.example", []audit.Address{{IP: "192.0.2.77", Country: "BR"}}, audit.VerdictDeny, []string{"RESIDENCY_NON_EU"}}
	}
	mode, action := "monitor", audit.ActionForwarded
	if i%3 == 0 {
		mode = "enforce"
		if d.verdict == audit.VerdictDeny {
			action = audit.ActionBlocked
		}
	}
	at := Start.Add(time.Duration(i) * 37 * time.Second)
	return &audit.Record{
		ID: uuid.Must(uuid.NewV7()).String(), Time: at, Node: node, App: apps[i%len(apps)], SourceIP: fmt.Sprintf("10.1.%d.%d", i%7, i%200),
		Method: "CONNECT", Scheme: "https", Host: d.host, Port: 443, Addresses: d.addrs,
		Verdict: d.verdict, Action: action, Mode: mode, Reasons: d.reasons, PolicyRevision: "rev-1", DurationUS: 80 + int64(i%50),
	}
}

// Backends runs a test against a real SQLite file and a real PostgreSQL
// database, each new and empty; fn gets the store's location.
func Backends(t *testing.T, fn func(t *testing.T, location string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, filepath.Join(t.TempDir(), "audit.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, PostgresURL(t))
	})
}

// DB is a connection of its own to the database of a store location, as
// someone with write access to it would have: tests change the log behind
// the store's back with it. Queries use ? placeholders on both backends.
type DB struct {
	*sql.DB
	postgres bool
}

// OpenDB opens the database of a store location; it is closed when the
// test ends.
func OpenDB(t testing.TB, location string) *DB {
	t.Helper()
	driver, dsn := "sqlite", location
	if strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://") {
		driver = "pgx"
	} else {
		dsn = "file:" + location + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &DB{DB: db, postgres: driver == "pgx"}
}

// Q rewrites ? placeholders to $n on PostgreSQL.
func (db *DB) Q(query string) string {
	if !db.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Tamper runs a statement that must change at least one row.
func (db *DB) Tamper(t testing.TB, query string, args ...any) {
	t.Helper()
	res, err := db.ExecContext(context.Background(), db.Q(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s changed nothing", query)
	}
}
