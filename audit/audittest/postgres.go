// Package audittest gives tests a real PostgreSQL: a fresh database on the
// server named by SOVGATE_TEST_POSTGRES, or a server of their own started
// from the Debian binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin).
// Without either, tests are skipped with a hint, unless
// SOVGATE_REQUIRE_POSTGRES=1 (CI), where they fail.
package audittest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const installHint = "install PostgreSQL (apt-get install postgresql) or set SOVGATE_TEST_POSTGRES=postgres://user@host:port/db"

// unavailable skips the test, or fails it when PostgreSQL is required.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("SOVGATE_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("PostgreSQL is required (SOVGATE_REQUIRE_POSTGRES=1) but %s; %s", why, installHint)
	}
	t.Skipf("PostgreSQL is not available (%s); %s", why, installHint)
}

// PostgresURL returns the URL of a new, empty database, dropped when the
// test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SOVGATE_TEST_POSTGRES")
	if base == "" {
		base = sharedURL(t)
	}
	return CreateDatabase(t, base)
}

// The server started for a test package that runs through Main, shared by
// its tests and stopped when they are done.
var shared struct {
	sync.Mutex
	active bool
	srv    *Server
	err    string
}

// Main runs a package's tests (call it from TestMain). Without
// SOVGATE_TEST_POSTGRES, the tests then share one PostgreSQL server of
// their own, started on first use and stopped at the end.
func Main(m *testing.M) int {
	shared.Lock()
	shared.active = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.srv != nil {
		_, _ = shared.srv.stop("immediate")
		os.RemoveAll(shared.srv.root)
	}
	return code
}

func sharedURL(t testing.TB) string {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.active {
		return StartServer(t).URL("postgres")
	}
	if shared.err != "" {
		unavailable(t, shared.err)
	}
	if shared.srv == nil {
		srv, err := startServer()
		if err != "" {
			shared.err = err
			unavailable(t, err)
		}
		shared.srv = srv
	}
	return shared.srv.URL("postgres")
}

// CreateDatabase creates a database with a random name on the server of
// base (a postgres:// URL) and drops it when the test ends.
func CreateDatabase(t testing.TB, base string) string {
	t.Helper()
	return createDatabase(t, base, "")
}

func createDatabase(t testing.TB, base, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(t, fmt.Sprintf("cannot connect to %s: %v", redact(base), err))
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sovgate_test_" + hex.EncodeToString(b[:])
	create := "CREATE DATABASE " + name
	if template != "" {
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("dropping test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Server is a PostgreSQL server of the test's own, on a free loopback
// port, which the test may stop and start again (the outage test).
type Server struct {
	t       testing.TB
	root    string
	bin     string
	dataDir string
	sockDir string
	Port    int
	asUser  []string // runuser prefix when running as root
}

// StartServer initialises and starts a PostgreSQL server for this test;
// it is stopped and removed when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s, why := startServer()
	if why != "" {
		unavailable(t, why)
	}
	s.t = t
	t.Cleanup(func() {
		_, _ = s.stop("immediate")
		os.RemoveAll(s.root)
	})
	return s
}

// startServer initialises and starts a server; why says what is missing
// when it cannot.
func startServer() (*Server, string) {
	bin := findBin()
	if bin == "" {
		return nil, "no initdb under /usr/lib/postgresql/*/bin"
	}
	root, err := os.MkdirTemp("", "sovgate-pg-")
	if err != nil {
		return nil, err.Error()
	}
	s := &Server{bin: bin, root: root, dataDir: filepath.Join(root, "data"), sockDir: filepath.Join(root, "sock")}
	fail := func(format string, args ...any) (*Server, string) {
		os.RemoveAll(root)
		return nil, fmt.Sprintf(format, args...)
	}
	for _, d := range []string{s.dataDir, s.sockDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fail("%v", err)
		}
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail("running as root and there is no postgres user")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(root, 0o755); err != nil {
			return fail("%v", err)
		}
		for _, d := range []string{s.dataDir, s.sockDir} {
			if err := os.Chown(d, uid, gid); err != nil {
				return fail("%v", err)
			}
		}
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := s.run("initdb", "-D", s.dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"); err != nil {
		return fail("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("%v", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if out, err := s.start(); err != nil {
		return fail("pg_ctl start: %v\n%s", err, out)
	}
	return s, ""
}

func findBin() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return ""
	}
	sort.Strings(matches)
	return filepath.Dir(matches[len(matches)-1])
}

func (s *Server) run(tool string, args ...string) ([]byte, error) {
	argv := append(append([]string{}, s.asUser...), filepath.Join(s.bin, tool))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// URL is the URL of a database of this server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	if out, err := s.start(); err != nil {
		s.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

func (s *Server) start() ([]byte, error) {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100", s.Port, s.sockDir)
	out, err := s.run("pg_ctl", "-D", s.dataDir, "-o", opts, "-l", filepath.Join(s.sockDir, "server.log"), "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.sockDir, "server.log"))
		out = append(out, log...)
	}
	return out, err
}

// Stop stops the server at once (mode immediate: like a crash, open
// connections break).
func (s *Server) Stop() {
	s.t.Helper()
	if out, err := s.stop("immediate"); err != nil {
		s.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (s *Server) stop(mode string) ([]byte, error) {
	out, err := s.run("pg_ctl", "-D", s.dataDir, "-m", mode, "-w", "-t", "60", "stop")
	if err != nil && strings.Contains(string(out), "Is server running?") {
		return out, nil
	}
	return out, err
}

// CopyDatabase makes a copy of the database at url (which nothing may be
// connected to) on the same server, dropped when the test ends, and
// returns its URL.
func CopyDatabase(t testing.TB, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	source := strings.TrimPrefix(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	return createDatabase(t, admin.String(), source)
}
