package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/verify"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(kill9Env); spec != "" {
		kill9Child(spec) // never returns: the parent kills it
	}
	os.Exit(audittest.Main(m))
}

func openStore(t testing.TB, location string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// flakyStore wraps a real store and fails or delays appends on demand.
type flakyStore struct {
	store.Store
	down  atomic.Bool
	delay atomic.Int64 // nanoseconds added to every Append
	// committed is signalled after each successful append.
	committed chan struct{}
}

var errDown = errors.New("store down (test)")

func (f *flakyStore) Append(ctx context.Context, entries []*chain.Entry, dedupe bool) ([]chain.Head, int, error) {
	if d := time.Duration(f.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if f.down.Load() {
		return nil, 0, errDown
	}
	h, n, err := f.Store.Append(ctx, entries, dedupe)
	if err == nil && f.committed != nil {
		select {
		case f.committed <- struct{}{}:
		default:
		}
	}
	return h, n, err
}

func (f *flakyStore) Ping(ctx context.Context) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Ping(ctx)
}

func newRecord(node string) *audit.Record {
	r := audittest.Record(int(time.Now().UnixNano()%1000), node)
	r.ID = uuid.Must(uuid.NewV7()).String()
	r.Time = time.Now().UTC()
	return r
}

// waitFor polls a condition of the writer until it holds or the deadline
// passes: the writer signals nothing else a test could wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// decisionIDs returns how many times each decision id is in the store.
func decisionIDs(t *testing.T, s store.Store) map[string]int {
	t.Helper()
	ids := make(map[string]int)
	nodes, err := s.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := s.Walk(context.Background(), n, 1, 0, func(e *chain.Entry) error {
			if e.Kind == chain.KindDecision {
				ids[e.ID]++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func checkExactlyOnce(t *testing.T, s store.Store, want []string) {
	t.Helper()
	got := decisionIDs(t, s)
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("decision %s is in the store %d times, want exactly once", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d decisions in the store, want %d", len(got), len(want))
	}
	res, err := verify.Log(context.Background(), s, verify.Options{})
	if err != nil || !res.OK() {
		t.Fatalf("verify: %v %v", err, res.Break)
	}
}

func TestWriterStrictIsDurableBeforeReturning(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "audit.db"))
	w := NewWriter(s, WriterConfig{SpoolDir: t.TempDir()})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := w.Recorder(RecorderConfig{Strict: true})
	rec := newRecord("gw-1")
	if err := r.Decided(rec); err != nil {
		t.Fatal(err)
	}
	page, err := s.Query(context.Background(), store.Filter{ID: rec.ID})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("strict Decided returned but the record is not in the store: %v %d", err, len(page.Records))
	}
	fin := *rec
	fin.BytesUp, fin.BytesDown, fin.DurationUS = 10, 20, 30
	r.Finished(&fin)
	waitFor(t, "the completion", func() bool {
		p, _ := s.Query(context.Background(), store.Filter{ID: rec.ID})
		return len(p.Records) == 1 && p.Records[0].Completed
	})
}

func TestWriterRecordPathOnlyWhenAsked(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "audit.db"))
	w := NewWriter(s, WriterConfig{SpoolDir: t.TempDir()})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	with, without := newRecord("gw-1"), newRecord("gw-1")
	with.Path, without.Path = "/v1/residents/42?token=secret", "/v1/residents/43"
	if err := w.Recorder(RecorderConfig{Strict: true, RecordPath: true}).Decided(with); err != nil {
		t.Fatal(err)
	}
	if err := w.Recorder(RecorderConfig{Strict: true}).Decided(without); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{with.ID: "/v1/residents/42", without.ID: ""} {
		p, err := s.Query(context.Background(), store.Filter{ID: id})
		if err != nil || len(p.Records) != 1 || p.Records[0].Path != want {
			t.Errorf("path of %s = %+v (%v), want %q", id, p.Records, err, want)
		}
	}
}

func TestWriterSpoolsDuringOutageAndReplaysOnce(t *testing.T) {
	audittest.Backends(t, func(t *testing.T, loc string) {
		real := openStore(t, loc)
		fs := &flakyStore{Store: real}
		core, logs := observer.New(zap.InfoLevel)
		w := NewWriter(fs, WriterConfig{SpoolDir: t.TempDir(), RetryInterval: 50 * time.Millisecond, Logger: zap.New(core)})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		strict := w.Recorder(RecorderConfig{Strict: true})
		relaxed := w.Recorder(RecorderConfig{})
		var ids []string
		send := func(n int, r *Recorder) {
			for range n {
				rec := newRecord("gw-1")
				ids = append(ids, rec.ID)
				if err := r.Decided(rec); err != nil {
					t.Fatal(err)
				}
			}
		}
		send(50, relaxed)
		waitFor(t, "the first records", func() bool { return w.Stats().Written == 50 })
		fs.down.Store(true)
		send(50, relaxed)
		send(10, strict) // returns once fsynced in the spool
		waitFor(t, "records in the spool", func() bool { return w.Stats().SpoolPending >= 60 })
		if st := w.Stats(); st.StoreUp || st.Dropped != 0 {
			t.Fatalf("during the outage: %+v", st)
		}
		fs.down.Store(false)
		send(20, relaxed)
		waitFor(t, "the replay", func() bool { st := w.Stats(); return st.SpoolPending == 0 && st.Written+st.Replayed >= 130 })
		checkExactlyOnce(t, real, ids)
		if logs.FilterMessageSnippet("audit store unavailable").Len() != 1 || logs.FilterMessageSnippet("available again").Len() != 1 {
			t.Errorf("outage not logged once each way: %v", logs.All())
		}
	})
}

func TestWriterSlowStoreSpoolsWithinTheWindow(t *testing.T) {
	real := openStore(t, filepath.Join(t.TempDir(), "audit.db"))
	fs := &flakyStore{Store: real}
	w := NewWriter(fs, WriterConfig{SpoolDir: t.TempDir(), SpoolAfter: 50 * time.Millisecond})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fs.delay.Store(int64(3 * time.Second))
	r := w.Recorder(RecorderConfig{Strict: true})
	rec := newRecord("gw-1")
	start := time.Now()
	if err := r.Decided(rec); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("strict Decided took %v with a slow store; the spool should have taken it within the window", took)
	}
	fs.delay.Store(0)
	waitFor(t, "the slow batch and its replay", func() bool { st := w.Stats(); return st.SpoolPending == 0 && st.Written == 1 })
	checkExactlyOnce(t, real, []string{rec.ID})
}

func TestWriterUnavailableFailsDecided(t *testing.T) {
	real := openStore(t, filepath.Join(t.TempDir(), "audit.db"))
	fs := &flakyStore{Store: real}
	core, logs := observer.New(zap.InfoLevel)
	w := NewWriter(fs, WriterConfig{SpoolDir: t.TempDir(), RetryInterval: 20 * time.Millisecond, Logger: zap.New(core)})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fs.down.Store(true)
	diskFull := errors.New("no space left on device (test)")
	w.spoolFault.Store(&diskFull)
	strict := w.Recorder(RecorderConfig{Strict: true})
	if err := strict.Decided(newRecord("gw-1")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("strict Decided with no store and no spool: %v, want ErrUnavailable", err)
	}
	if err := w.Recorder(RecorderConfig{}).Decided(newRecord("gw-1")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Decided once unavailable: %v, want ErrUnavailable", err)
	}
	if w.Stats().Dropped < 2 || logs.FilterMessageSnippet("AUDIT RECORDS LOST").Len() == 0 {
		t.Errorf("loss not counted or not logged loudly: %+v", w.Stats())
	}
	// The store comes back: records are taken again.
	fs.down.Store(false)
	w.spoolFault.Store(nil)
	waitFor(t, "the store to be probed", func() bool { return w.Stats().StoreUp })
	rec := newRecord("gw-1")
	if err := strict.Decided(rec); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestWriterCloseFlushesThenNextStartReplays(t *testing.T) {
	dir := t.TempDir()
	real := openStore(t, filepath.Join(dir, "audit.db"))
	fs := &flakyStore{Store: real}
	spool := filepath.Join(dir, "spool")
	w := NewWriter(fs, WriterConfig{SpoolDir: spool})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	r := w.Recorder(RecorderConfig{})
	var ids []string
	for i := range 3000 {
		if i == 1500 {
			fs.down.Store(true)
		}
		rec := newRecord("gw-1")
		ids = append(ids, rec.ID)
		if err := r.Decided(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Late records (a tunnel closing after shutdown) go to the spool too.
	late := newRecord("gw-1")
	late.BytesUp = 7
	r.Finished(late)
	// Everything is in the store or the spool (a batch slower than the
	// durability window is in both; the replay skips it).
	st := w.Stats()
	if st.Written+st.Spooled < 3001 || st.Dropped != 0 {
		t.Fatalf("after close: %+v", st)
	}
	fs.down.Store(false)
	w2 := NewWriter(fs, WriterConfig{SpoolDir: spool})
	if err := w2.Start(); err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	waitFor(t, "the replay at start", func() bool { return w2.Stats().SpoolPending == 0 })
	checkExactlyOnce(t, real, ids)
}

func TestSpoolLockedByOneWriter(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := OpenSpool(dir); err == nil {
		t.Fatal("a second OpenSpool of the same directory succeeded")
	}
}

func spoolEntries(n int) []*chain.Entry {
	out := make([]*chain.Entry, n)
	for i := range out {
		out[i] = chain.DecisionEntry(newRecord("gw-1"), false)
	}
	return out
}

func TestSpoolTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(spoolEntries(10)); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	seg := filepath.Join(dir, "000001.spool")
	st, _ := os.Stat(seg)
	// A crash in the middle of the last frame.
	if err := os.Truncate(seg, st.Size()-5); err != nil {
		t.Fatal(err)
	}
	sp, err = OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.Pending() != 9 {
		t.Fatalf("pending %d after a torn tail, want 9", sp.Pending())
	}
	more := spoolEntries(3)
	if err := sp.Append(more); err != nil {
		t.Fatal(err)
	}
	got, pos, err := sp.Read(100)
	if err != nil || len(got) != 12 || got[11].ID != more[2].ID {
		t.Fatalf("read %d entries, err %v", len(got), err)
	}
	if err := sp.Ack(pos); err != nil {
		t.Fatal(err)
	}
	if sp.Pending() != 0 {
		t.Fatalf("pending %d after ack", sp.Pending())
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.spool")); len(files) != 0 {
		t.Errorf("replayed spool files left behind: %v", files)
	}
}

func TestSpoolKeepsOrderAcrossSegmentsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for range 5 {
		batch := spoolEntries(7)
		for _, e := range batch {
			want = append(want, e.ID)
		}
		if err := sp.Append(batch); err != nil {
			t.Fatal(err)
		}
		if err := sp.rotateForTest(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	entries, pos, err := sp.Read(10)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got = append(got, e.ID)
	}
	if err := sp.Ack(pos); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	// Restart: the replay position survives.
	sp, err = OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.Pending() != int64(len(want)-len(got)) {
		t.Fatalf("pending %d after restart, want %d", sp.Pending(), len(want)-len(got))
	}
	for {
		entries, pos, err := sp.Read(4)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			got = append(got, e.ID)
		}
		if err := sp.Ack(pos); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed out of order or incompletely:\n got %v\nwant %v", got, want)
	}
}

// TestSpoolRemovedWhileInUse: a spool directory removed under a running
// gateway must not swallow records. An fsync of the unlinked segment
// succeeds, so Sync checks that the segment is still the file at its path:
// the records appended since are reported as not taken, those synced
// earlier as lost, and the next append recreates the directory and goes
// on. A directory replaced by a file makes every append fail.
func TestSpoolRemovedWhileInUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.Append(spoolEntries(3)); err != nil {
		t.Fatal(err)
	}
	if err := sp.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(spoolEntries(2)); err != nil {
		t.Fatalf("append to the open, unlinked segment: %v", err)
	}
	err = sp.Sync()
	var gone *SegmentGoneError
	if !errors.As(err, &gone) || gone.Unsynced != 2 || gone.Earlier != 3 {
		t.Fatalf("Sync after the spool was removed: %v, want SegmentGoneError{Unsynced: 2, Earlier: 3}", err)
	}
	if sp.Pending() != 0 {
		t.Errorf("pending %d after the segment vanished, want 0", sp.Pending())
	}

	// Spooling goes on in a new directory.
	more := spoolEntries(4)
	if err := sp.Append(more); err != nil {
		t.Fatalf("append after the directory was removed: %v", err)
	}
	if err := sp.Sync(); err != nil {
		t.Fatal(err)
	}
	got, pos, err := sp.Read(100)
	if err != nil || len(got) != 4 || got[0].ID != more[0].ID {
		t.Fatalf("read %d entries, err %v; want the 4 appended after", len(got), err)
	}
	if err := sp.Ack(pos); err != nil {
		t.Fatal(err)
	}

	// A file where the directory was: nothing can be spooled.
	if err := sp.rotateForTest(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(spoolEntries(1)); err == nil {
		t.Fatal("append with a file in place of the spool directory succeeded")
	}
}

// TestSpoolSegmentRemovedBeforeReplay: a sealed segment removed before it
// was replayed is reported (not found), then forgotten with its records
// counted, and replay goes on with the next segment.
func TestSpoolSegmentRemovedBeforeReplay(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.Append(spoolEntries(3)); err != nil {
		t.Fatal(err)
	}
	if err := sp.rotateForTest(); err != nil {
		t.Fatal(err)
	}
	second := spoolEntries(2)
	if err := sp.Append(second); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "000001.spool")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sp.Read(100); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read with the first segment gone: %v, want not found", err)
	}
	if lost := sp.DropMissing(); lost != 3 {
		t.Errorf("DropMissing = %d, want 3", lost)
	}
	got, _, err := sp.Read(100)
	if err != nil || len(got) != 2 || got[0].ID != second[0].ID {
		t.Fatalf("read %d entries, err %v; want the 2 of the second segment", len(got), err)
	}
}

// TestWriterRemovedSpoolFailsStrictAndCountsLoss: during a store outage,
// the spool directory is removed under the writer. A strict record must not
// be acknowledged from the unlinked segment: it fails with ErrUnavailable,
// and every record that went with the segment is counted as dropped. The
// spool is made again for later records, which reach the store when it
// returns.
func TestWriterRemovedSpoolFailsStrictAndCountsLoss(t *testing.T) {
	real := openStore(t, filepath.Join(t.TempDir(), "audit.db"))
	fs := &flakyStore{Store: real}
	spool := filepath.Join(t.TempDir(), "spool")
	w := NewWriter(fs, WriterConfig{SpoolDir: spool, RetryInterval: 20 * time.Millisecond, Logger: zap.NewNop()})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fs.down.Store(true)
	strict := w.Recorder(RecorderConfig{Strict: true})
	for range 3 {
		if err := strict.Decided(newRecord("gw-1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	if err := strict.Decided(newRecord("gw-1")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("strict Decided into a removed spool: %v, want ErrUnavailable", err)
	}
	if st := w.Stats(); st.Dropped != 4 || st.SpoolPending != 0 {
		t.Fatalf("after the spool vanished: dropped %d (want the 3 spooled and the 1 refused), pending %d", st.Dropped, st.SpoolPending)
	}
	later := newRecord("gw-1")
	if err := strict.Decided(later); err != nil {
		t.Fatalf("strict Decided once the spool is made again: %v", err)
	}
	fs.down.Store(false)
	waitFor(t, "the replay", func() bool { st := w.Stats(); return st.SpoolPending == 0 && st.Replayed >= 1 })
	checkExactlyOnce(t, real, []string{later.ID})
}

func TestSpoolCorruptSegmentIsSetAside(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := spoolEntries(3)
	if err := sp.Append(first); err != nil {
		t.Fatal(err)
	}
	if err := sp.rotateForTest(); err != nil {
		t.Fatal(err)
	}
	second := spoolEntries(2)
	if err := sp.Append(second); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	// Flip a byte in the second frame of the first segment.
	seg := filepath.Join(dir, "000001.spool")
	data, _ := os.ReadFile(seg)
	data[len(data)-10] ^= 0xff
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err = OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var got []string
	for range 10 {
		entries, pos, err := sp.Read(100)
		var corrupt *CorruptSpoolError
		if errors.As(err, &corrupt) {
			if _, err := sp.Skip(corrupt.Seg); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			got = append(got, e.ID)
		}
		if err := sp.Ack(pos); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{first[0].ID, first[1].ID, second[0].ID, second[1].ID}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v (the good frames before and after the damage)", got, want)
	}
	if _, err := os.Stat(seg + ".corrupt"); err != nil {
		t.Errorf("the damaged segment was not set aside: %v", err)
	}
}

// TestOutageUnderLoadPostgres stops a PostgreSQL server of the test's own
// while records flow, then starts it again: every decision ends up in the
// store exactly once, and the chain verifies.
func TestOutageUnderLoadPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	srv := audittest.StartServer(t)
	loc := audittest.CreateDatabase(t, srv.URL("postgres"))
	s := openStore(t, loc)
	core, logs := observer.New(zap.InfoLevel)
	w := NewWriter(s, WriterConfig{SpoolDir: t.TempDir(), RetryInterval: 100 * time.Millisecond, WriteTimeout: 2 * time.Second, Logger: zap.New(core)})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	var (
		mu   sync.Mutex
		ids  []string
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	// Four producers at about 500 decisions/s each, half of them strict.
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := w.Recorder(RecorderConfig{Strict: p%2 == 0})
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				rec := newRecord(fmt.Sprintf("gw-%d", p%2))
				if err := r.Decided(rec); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, rec.ID)
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(ids) }
	waitFor(t, "load before the outage", func() bool { return w.Stats().Written > 500 })
	srv.Stop()
	waitFor(t, "records spooled during the outage", func() bool { return !w.Stats().StoreUp && w.Stats().SpoolPending > 500 })
	srv.Start()
	waitFor(t, "the store to be back", func() bool { return w.Stats().StoreUp })
	at := count()
	waitFor(t, "load after the outage", func() bool { return count() > at+500 })
	close(stop)
	wg.Wait()
	waitFor(t, "the spool to drain", func() bool { st := w.Stats(); return st.SpoolPending == 0 && st.QueueDepth == 0 })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("%d decisions: %d written, %d spooled, %d replayed, %d dropped", count(), st.Written, st.Spooled, st.Replayed, st.Dropped)
	if st.Dropped != 0 || st.Spooled == 0 || st.Replayed == 0 {
		t.Errorf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	checkExactlyOnce(t, s, ids)
	if logs.FilterMessageSnippet("AUDIT RECORDS LOST").Len() != 0 {
		t.Error("records reported lost")
	}
}

func TestWriterRetentionAndHeadLog(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "audit.db"))
	core, logs := observer.New(zap.InfoLevel)
	w := NewWriter(s, WriterConfig{SpoolDir: t.TempDir(), HeadInterval: 50 * time.Millisecond, Logger: zap.New(core)})
	r := w.Recorder(RecorderConfig{Strict: true})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 20 {
		if err := r.Decided(audittest.Record(i, "gw-1")); err != nil { // October 2026: older than a day
			t.Fatal(err)
		}
	}
	waitFor(t, "the chain head in the log", func() bool { return logs.FilterMessage("audit chain head").Len() > 0 })
	anchor, _ := logs.FilterMessage("audit chain head").All()[0].ContextMap()["anchor"].(string)
	head, err := verify.ParseAnchor(anchor)
	if err != nil || head.Node != "gw-1" {
		t.Fatalf("logged anchor %q: %v", anchor, err)
	}
	w.SetRetention("gw-1", 24*time.Hour, 20*time.Millisecond)
	waitFor(t, "a retention checkpoint", func() bool { return logs.FilterMessageSnippet("audit retention: purged").Len() > 0 })
	res, err := verify.Log(context.Background(), s, verify.Options{Anchors: []chain.Head{head}})
	if err != nil || !res.OK() {
		t.Fatalf("verify after retention: %v %+v", err, res.Break)
	}
	// Retention may have run more than once by now (every 20 ms): the
	// head entry or a later checkpoint stays, everything older is purged.
	if c := res.Chains[0]; c.First < 20 || c.Checkpoints < 1 || c.Decisions > 1 {
		t.Errorf("chain after retention: %+v (the head entry stays; the rest is purged)", c)
	}
	// The head the writer hands the checkpoint publisher is the store's,
	// tree root included.
	waitFor(t, "the writer's head to be the store's", func() bool {
		stored, err := s.Heads(context.Background())
		mine := w.Heads()
		return err == nil && len(stored) == 1 && len(mine) == 1 && mine[0] == stored[0] && mine[0].Root != (tlog.Hash{})
	})
}
