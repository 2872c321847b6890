// Package ingest is the audit log's write path. The request path hands
// records to a Writer through a bounded queue and never waits for the
// database; the Writer writes them in batches, one transaction each, and
// falls back to a local spool (fsynced) while the store is down or slower
// than the durability window, then replays the spool in order.
//
// Two goroutines share the work, so that a store that stops answering
// never holds a record past its promise: the collector takes records from
// the queue, gathers them into batches and keeps every promise (it spools
// a batch the store has not committed in time, and answers strict
// callers); the store goroutine runs one store operation at a time
// (append a batch, replay the spool, ping, purge) and may block on it.
//
// Group commit: in batched mode a record waits up to Linger for others,
// so that a store commits many records at once even at one request at a
// time; a full batch does not wait. A strict record does not wait either,
// but records that arrive while a commit is under way share the next one.
// A batched decision of a forwarded exchange waits up to MergeWindow for
// its completion, to be written with it as one entry (chain.Merge).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
)

// ErrUnavailable is returned by Recorder.Decided when neither the store
// nor the spool can take the record. Enforce mode then refuses the request
// (503 AUDIT_UNAVAILABLE); monitor mode forwards it and logs the loss.
var ErrUnavailable = errors.New("audit store and spool are both unavailable: the record was not taken")

// WriterConfig tunes a Writer. Only SpoolDir is required.
type WriterConfig struct {
	// SpoolDir is the directory of the local spool.
	SpoolDir string
	// QueueSize bounds the queue between the request path and the writer;
	// when it is full, records go straight to the spool. Default 16384.
	QueueSize int
	// MaxBatch bounds the entries written in one transaction. Default 2000.
	MaxBatch int
	// SpoolAfter is the durability window: a batch the store has not
	// committed by then is also written to the spool and fsynced (the
	// replay later skips what the store did commit). Default 750ms, so a
	// record is on disk within one second.
	SpoolAfter time.Duration
	// WriteTimeout gives up on a store write; the store then counts as
	// down. Default 10s.
	WriteTimeout time.Duration
	// RetryInterval is how often a store that is down is tried again.
	// Default 1s.
	RetryInterval time.Duration
	// HeadInterval is how often the chain heads are logged; 0 takes the
	// default of one minute, a negative value never logs them.
	HeadInterval time.Duration
	// Linger is how long a batched record waits for others before the
	// store commits them together: a commit costs the store about as much
	// as the rows of a few dozen records (each index's last page is
	// written again, and fsynced), so at a few hundred records a second
	// committing every 50ms rather than every 10ms halves what the audit
	// trail costs per request. Default 50ms; negative: no wait.
	Linger time.Duration
	// MergeWindow is how long a batched decision of a forwarded exchange
	// waits for its completion, to be one entry with it. Default 250ms,
	// at most half of SpoolAfter; negative: never merge.
	MergeWindow time.Duration
	// Logger receives the writer's messages; nil logs nothing.
	Logger *zap.Logger
}

func (c *WriterConfig) defaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 16384
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2000
	}
	if c.SpoolAfter <= 0 {
		c.SpoolAfter = 750 * time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Second
	}
	if c.HeadInterval == 0 {
		c.HeadInterval = time.Minute
	}
	if c.Linger == 0 {
		c.Linger = 50 * time.Millisecond
	}
	c.Linger = min(c.Linger, c.SpoolAfter/4)
	c.Linger = max(c.Linger, 0)
	if c.MergeWindow == 0 {
		c.MergeWindow = 250 * time.Millisecond
	}
	c.MergeWindow = min(c.MergeWindow, c.SpoolAfter/2)
}

// Writer takes entries from the request path through a bounded queue and
// writes them to the store in batches, one transaction each, falling back
// to the spool while the store is down or slow, and replaying the spool,
// in order, when the store is back. One Writer serves a store for the
// whole process; configurations come and go through Recorders.
type Writer struct {
	store store.Store
	cfg   WriterConfig

	queue chan item
	stop  chan struct{}
	done  chan struct{}

	startOnce sync.Once
	startErr  error
	closeOnce sync.Once
	// intake is held for reading while a record is queued, and for writing
	// while closing, so no record is queued after the writer stopped.
	intake  sync.RWMutex
	closed  atomic.Bool
	started atomic.Bool

	spoolMu sync.Mutex
	spool   *Spool

	logger    atomic.Pointer[zap.Logger]
	retention atomic.Pointer[retentionPolicy]

	// unavailable is set when the last write to both the store and the
	// spool failed; Decided then refuses records at once.
	unavailable atomic.Bool
	storeUp     atomic.Bool

	written, spooled, replayed, dropped atomic.Int64
	lastError                           atomic.Pointer[string]

	headsMu sync.Mutex
	heads   map[string]chain.Head

	// spoolFault, when set (tests), makes spool writes fail.
	spoolFault atomic.Pointer[error]

	merged atomic.Int64
	// waiting counts the records the collector holds (lingering, waiting
	// for their completion or for the store): with the queue's, what is
	// not yet committed or spooled.
	waiting atomic.Int64

	// kick wakes the collector at once: a strict record, or a full batch,
	// is queued.
	kick chan struct{}
	// The store goroutine runs the jobs the collector sends, one at a time.
	jobs    chan *job
	results chan jobResult

	// collector state
	storeDown    bool
	nextTry      time.Time
	nextHeadLog  time.Time
	nextPurge    time.Time
	nextOptimize time.Time
	nextMaintain time.Time
	// ready are the records to commit, in order; readyOldest is the
	// earliest hand-over among them, readyStrict how many have a caller
	// waiting. nextPoll is when the collector takes what the queue holds.
	ready       []item
	readyOldest time.Time
	readyStrict int
	nextPoll    time.Time
	// held are batched decisions waiting for their completion, by id, and
	// in the order they expire.
	held     map[string]*heldItem
	holdList []*heldItem
	inFlight *job
}

type item struct {
	e    *chain.Entry
	done chan error // non-nil for audit_sync strict: answered once durable
	// at is when the record was handed over (see handed): its durability
	// window counts from then.
	at int64
}

// queueEpoch is what item.at counts from. An item holds nanoseconds of the
// monotonic clock rather than a time.Time: it is 24 bytes instead of 40,
// and the queue, allocated whole at its 16,384 slots, 256 KiB smaller.
var queueEpoch = time.Now()

func newItem(e *chain.Entry) item { return item{e: e, at: int64(time.Since(queueEpoch))} }

// handed is when the record was handed over.
func (it item) handed() time.Time { return queueEpoch.Add(time.Duration(it.at)) }

// oldestHanded is when the longest-waiting of items (at least one) was
// handed over.
func oldestHanded(items []item) time.Time {
	oldest := items[0].at
	for _, it := range items[1:] {
		oldest = min(oldest, it.at)
	}
	return item{at: oldest}.handed()
}

type heldItem struct {
	it    item
	until time.Time
	gone  bool // merged or released
}

type jobKind int

const (
	jobAppend jobKind = iota
	jobReplay
	jobPing
	jobPurge
	jobOptimize
)

// job is one store operation for the store goroutine.
type job struct {
	kind jobKind
	// append: the records (the collector's) and the copies the store
	// chains; deadline is when the batch goes to the spool if the store
	// has not committed it; spooled says it did.
	batch    []item
	entries  []*chain.Entry
	deadline time.Time
	spooled  bool
	// replay: whether the store was down when it started, and whether to
	// replay one batch only (records wait).
	storeDown bool
	once      bool
	rp        *retentionPolicy
	now       time.Time
}

type jobResult struct {
	job   *job
	heads []chain.Head
	n     int
	// reached: a replay got a batch into the store.
	reached bool
	// err is the store's failure (a replay's means the store is down).
	err error
}

type retentionPolicy struct {
	node  string
	keep  time.Duration
	every time.Duration
}

// NewWriter makes a Writer for the store s. Start launches it.
func NewWriter(s store.Store, cfg WriterConfig) *Writer {
	cfg.defaults()
	w := &Writer{
		store:   s,
		cfg:     cfg,
		queue:   make(chan item, cfg.QueueSize),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		heads:   make(map[string]chain.Head),
		jobs:    make(chan *job),
		kick:    make(chan struct{}, 1),
		results: make(chan jobResult, 1),
		held:    make(map[string]*heldItem),
	}
	w.storeUp.Store(true)
	if cfg.Logger != nil {
		w.logger.Store(cfg.Logger)
	} else {
		w.logger.Store(zap.NewNop())
	}
	return w
}

// SetLogger replaces the logger (a reloaded configuration brings its own).
func (w *Writer) SetLogger(l *zap.Logger) {
	if l != nil {
		w.logger.Store(l)
	}
}

func (w *Writer) log() *zap.Logger { return w.logger.Load() }

// SetRetention purges the entries of node's chain older than keep, every
// `every` (default one hour). keep <= 0 keeps everything.
func (w *Writer) SetRetention(node string, keep, every time.Duration) {
	if keep <= 0 {
		w.retention.Store(nil)
		return
	}
	if every <= 0 {
		every = time.Hour
	}
	w.retention.Store(&retentionPolicy{node: node, keep: keep, every: every})
}

// Store returns the writer's store (for queries).
func (w *Writer) Store() store.Store { return w.store }

// Start opens the spool (taking its lock) and launches the writer. It may
// be called more than once.
func (w *Writer) Start() error {
	w.startOnce.Do(func() {
		w.spoolMu.Lock()
		sp, err := OpenSpool(w.cfg.SpoolDir)
		if err != nil {
			w.spoolMu.Unlock()
			w.startErr = err
			return
		}
		w.spool = sp
		w.spoolMu.Unlock()
		if n := sp.Pending(); n > 0 {
			w.log().Info("audit spool holds records from an earlier run; replaying them", zap.Int64("records", n), zap.String("spool", w.cfg.SpoolDir))
		}
		metrics.spoolRecords.Set(float64(sp.Pending()))
		metrics.storeUp.Set(1)
		w.loadHeads()
		w.started.Store(true)
		go w.storer()
		go w.run()
	})
	return w.startErr
}

func (w *Writer) loadHeads() {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
	defer cancel()
	heads, err := w.store.Heads(ctx)
	if err != nil {
		return
	}
	w.headsMu.Lock()
	for _, h := range heads {
		w.heads[h.Node] = h
	}
	w.headsMu.Unlock()
}

// Recorder returns a view of the writer with one configuration's options.
// It implements decision.Recorder.
func (w *Writer) Recorder(cfg RecorderConfig) *Recorder {
	return &Recorder{w: w, cfg: cfg}
}

// RecorderConfig holds the per-configuration options.
type RecorderConfig struct {
	// Strict is audit_sync strict: Decided returns once the record is
	// fsynced (committed to the store or written to the spool).
	Strict bool
	// RecordPath keeps the request path (never the query string).
	RecordPath bool
}

// Recorder receives the decisions of the gateway (decision.Recorder).
type Recorder struct {
	w   *Writer
	cfg RecorderConfig
}

// Decided takes the record of a decision, before the request is
// forwarded. It does not wait for the store, except with Strict, where it
// returns once the record is on disk. It returns ErrUnavailable when the
// record cannot be taken.
func (r *Recorder) Decided(rec *audit.Record) error {
	return r.w.enqueue(chain.DecisionEntry(rec, r.cfg.RecordPath), r.cfg.Strict)
}

// Finished takes the completion of a forwarded exchange: its bytes and
// duration, as a completion entry of the chain. It never blocks.
func (r *Recorder) Finished(rec *audit.Record) {
	_ = r.w.enqueue(chain.CompletionEntry(rec), false)
}

// Writer returns the recorder's writer.
func (r *Recorder) Writer() *Writer { return r.w }

func (w *Writer) enqueue(e *chain.Entry, strict bool) error {
	w.intake.RLock()
	if w.closed.Load() || !w.started.Load() {
		w.intake.RUnlock()
		// After shutdown (a tunnel closed late) or before start: straight
		// to the spool, synced.
		return w.late(e)
	}
	if w.unavailable.Load() {
		w.intake.RUnlock()
		w.lose(1, ErrUnavailable)
		return ErrUnavailable
	}
	it := newItem(e)
	if strict {
		it.done = make(chan error, 1)
	}
	select {
	case w.queue <- it:
		w.intake.RUnlock()
		if strict || len(w.queue) >= w.cfg.MaxBatch {
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
	default:
		// The queue is full: the store is slower than the traffic. Spill to
		// the spool from here rather than make the request wait.
		w.intake.RUnlock()
		return w.overflow(e, strict)
	}
	if !strict {
		return nil
	}
	return <-it.done
}

func (w *Writer) overflow(e *chain.Entry, strict bool) error {
	w.spoolMu.Lock()
	sp := w.spool
	w.spoolMu.Unlock()
	err := w.spoolErr()
	if err == nil {
		err = sp.Append([]*chain.Entry{e})
	}
	if err == nil && strict {
		err = sp.Sync()
	}
	if err != nil {
		w.loseSpooled(1, err)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	w.spooled.Add(1)
	metrics.spooled.Add(1)
	metrics.spoolRecords.Set(float64(sp.Pending()))
	return nil
}

// late writes an entry that arrives after Close (a tunnel closed late) or
// before Start to the spool, synced; the next start replays it.
func (w *Writer) late(e *chain.Entry) error {
	w.spoolMu.Lock()
	defer w.spoolMu.Unlock()
	sp := w.spool
	if sp == nil || sp.isClosed() {
		var err error
		if sp, err = OpenSpool(w.cfg.SpoolDir); err != nil {
			w.lose(1, err)
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		defer sp.Close()
	}
	err := sp.Append([]*chain.Entry{e})
	if err == nil {
		err = sp.Sync()
	}
	if err != nil {
		w.lose(1, err)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	w.spooled.Add(1)
	metrics.spooled.Add(1)
	return nil
}

func (w *Writer) spoolErr() error {
	if p := w.spoolFault.Load(); p != nil {
		return *p
	}
	return nil
}

// loseSpooled counts own records that the spool did not take, and, when
// a segment vanished, the other records that went with it.
func (w *Writer) loseSpooled(own int, err error) {
	if own > 0 {
		w.lose(own, err)
	}
	var gone *SegmentGoneError
	if errors.As(err, &gone) {
		if others := gone.Unsynced - int64(own) + gone.Earlier; others > 0 {
			w.lose(int(others), err)
		}
	}
}

// lose counts records that could not be taken, and says so loudly.
func (w *Writer) lose(n int, err error) {
	w.dropped.Add(int64(n))
	metrics.dropped.Add(float64(n))
	msg := err.Error()
	w.lastError.Store(&msg)
	w.log().Error("AUDIT RECORDS LOST: neither the audit store nor the spool took them", zap.Int("records", n), zap.Error(err))
}

// Close stops taking records, writes everything queued to the store or,
// failing that, to the spool, syncs the spool and releases it. The store is
// not closed.
func (w *Writer) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.intake.Lock()
		w.closed.Store(true)
		w.intake.Unlock()
		if !w.started.Load() {
			return
		}
		close(w.stop)
		<-w.done
		w.spoolMu.Lock()
		err = w.spool.Close()
		w.spoolMu.Unlock()
	})
	return err
}

// run is the collector: it takes records from the queue, gathers them
// into batches, hands each to the store goroutine or, while the store is
// down, slow or behind its spool, writes it to the spool; and it never
// waits for the store.
//
// Idle, it wakes for the first record. Then, while records wait (to
// linger, for their completion, for the store), it does not wake for each
// one: it takes what the queue holds every Linger, when the store answers,
// and at once when a strict record or a full batch comes (kick).
func (w *Writer) run() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	closing := false
	now := time.Now()
	for {
		var queue chan item
		if w.idle() && !closing {
			queue = w.queue
		}
		stop := w.stop
		if closing {
			stop = nil
		}
		timer.Reset(max(w.nextWake(now).Sub(now), 0))
		select {
		case it := <-queue:
			now = time.Now()
			w.take(it, now)
		case <-w.kick:
			now = time.Now()
		case r := <-w.results:
			now = time.Now()
			w.finished(r, now)
		case <-timer.C:
			now = time.Now()
		case <-stop:
			now = time.Now()
			closing = true
		}
		w.takeQueued(now, closing)
		// Even without lingering, a held decision is not worth a busy loop.
		w.nextPoll = now.Add(max(w.cfg.Linger, time.Millisecond))
		w.expireHeld(now, closing)
		w.checkInFlight(now)
		w.flush(now, closing)
		w.maintain(now, closing)
		w.noteWaiting()
		if closing && w.inFlight == nil && w.idle() && len(w.queue) == 0 {
			break
		}
	}
	close(w.jobs)
	w.syncSpool()
	metrics.queueDepth.Set(0)
	w.logHeads()
}

// noteWaiting publishes how many records wait in the collector and the
// queue (Stats, the queue_depth gauge).
func (w *Writer) noteWaiting() {
	n := len(w.ready) + len(w.held)
	if j := w.inFlight; j != nil && j.kind == jobAppend && !j.spooled {
		n += len(j.batch)
	}
	w.waiting.Store(int64(n))
	metrics.queueDepth.Set(float64(n + len(w.queue)))
}

// idle: no record waits in the collector, and the store goroutine is free.
func (w *Writer) idle() bool {
	return len(w.ready) == 0 && len(w.held) == 0 && w.inFlight == nil
}

// takeQueued takes what the queue holds, as far as the collector has room
// (when it has none, the request path spills to the spool until the store
// catches up); all of it when closing.
func (w *Writer) takeQueued(now time.Time, closing bool) {
	for closing || len(w.ready)+len(w.held) < w.cfg.QueueSize {
		select {
		case it := <-w.queue:
			w.take(it, now)
		default:
			return
		}
	}
}

// nextWake is when the collector has something to do that no event
// announces: take what the queue holds, commit a batch that lingered long
// enough, spool records the store has kept too long, end the window of a
// held decision, maintenance.
func (w *Writer) nextWake(now time.Time) time.Time {
	t := w.nextMaintain
	if !w.idle() {
		t = earliest(t, w.nextPoll)
	}
	if len(w.ready) > 0 {
		if w.inFlight == nil || w.storeDown {
			t = earliest(t, w.readyOldest.Add(w.cfg.Linger))
		} else {
			t = earliest(t, w.readyOldest.Add(w.cfg.SpoolAfter))
		}
	}
	for _, h := range w.holdList {
		if !h.gone {
			t = earliest(t, h.until)
			break
		}
	}
	if j := w.inFlight; j != nil && j.kind == jobAppend && !j.spooled {
		t = earliest(t, j.deadline)
	}
	if t.IsZero() {
		t = now.Add(100 * time.Millisecond)
	}
	return t
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// take receives a record from the queue: a batched decision of a forwarded
// exchange is held for its completion; a completion whose decision is held
// becomes one entry with it; anything else is ready.
func (w *Writer) take(it item, now time.Time) {
	e := it.e
	switch {
	case e.Kind == chain.KindDecision && it.done == nil && e.Action == string(audit.Forwarded) && w.cfg.MergeWindow > 0:
		// Closing, it is held too: its completion may be in the queue
		// still, and expireHeld releases it after the queue is drained.
		// Holding takes from the record's durability window, for nothing
		// when the exchange lasts: beyond MaxBatch/2 held (long tunnels at
		// a high rate), decisions are written at once.
		if _, dup := w.held[e.ID]; !dup && len(w.held) < w.cfg.MaxBatch/2 {
			h := &heldItem{it: it, until: it.handed().Add(w.cfg.MergeWindow)}
			w.held[e.ID] = h
			w.holdList = append(w.holdList, h)
			return
		}
	case e.Kind == chain.KindCompletion:
		if h := w.held[e.ID]; h != nil {
			delete(w.held, e.ID)
			h.gone = true
			// The held decision is the writer's since it was queued.
			if chain.MergeInto(h.it.e, e) {
				w.merged.Add(1)
				metrics.merged.Inc()
				w.addReady(h.it, now)
				return
			}
			w.addReady(h.it, now)
		}
	}
	w.addReady(it, now)
}

func (w *Writer) addReady(it item, now time.Time) {
	if handed := it.handed(); len(w.ready) == 0 || handed.Before(w.readyOldest) {
		w.readyOldest = handed
	}
	if it.done != nil {
		w.readyStrict++
	}
	w.ready = append(w.ready, it)
}

// expireHeld makes ready the held decisions whose window ended (all of
// them when closing).
func (w *Writer) expireHeld(now time.Time, closing bool) {
	n := 0
	for _, h := range w.holdList {
		if !h.gone && !closing && now.Before(h.until) {
			break
		}
		n++
		if !h.gone {
			h.gone = true
			delete(w.held, h.it.e.ID)
			w.addReady(h.it, now)
		}
	}
	if n > 0 {
		rest := copy(w.holdList, w.holdList[n:])
		clear(w.holdList[rest:])
		w.holdList = w.holdList[:rest]
	}
}

// flush hands the ready records to the store, or writes them to the
// spool while it is down, when their batch is due: full, with a strict
// caller, lingered long enough, or closing. While the store is busy they
// wait for it, unless the oldest would then miss its durability window:
// those go to the spool.
//
// New records go to the store directly even while the spool holds older
// ones (a store that is back does not take every new record through the
// spool); the spool is replayed when no batch is due, one batch at a time
// while records wait. The chain then holds them in the order they reached
// it, which each entry's time tells apart.
func (w *Writer) flush(now time.Time, closing bool) {
	if len(w.ready) == 0 {
		return
	}
	due := closing || w.readyStrict > 0 || len(w.ready) >= w.cfg.MaxBatch || !now.Before(w.readyOldest.Add(w.cfg.Linger))
	switch {
	case w.storeDown:
		if due {
			w.spoolBatch(w.takeReady(len(w.ready)))
		}
	case w.inFlight != nil:
		if !now.Before(w.readyOldest.Add(w.cfg.SpoolAfter)) {
			w.log().Warn("audit store busy past the durability window; spooling the records waiting for it", zap.Int("records", len(w.ready)), zap.Duration("window", w.cfg.SpoolAfter))
			w.spoolBatch(w.takeReady(len(w.ready)))
		}
	case due:
		w.dispatchAppend(w.takeReady(min(len(w.ready), w.cfg.MaxBatch)))
	}
}

// takeReady removes the first n ready records and returns them.
func (w *Writer) takeReady(n int) []item {
	batch := make([]item, n)
	copy(batch, w.ready)
	rest := copy(w.ready, w.ready[n:])
	clear(w.ready[rest:])
	w.ready = w.ready[:rest]
	w.readyStrict = 0
	if rest > 0 {
		w.readyOldest = oldestHanded(w.ready)
		for _, it := range w.ready {
			if it.done != nil {
				w.readyStrict++
			}
		}
	}
	return batch
}

// dispatchAppend hands a batch to the store goroutine. The store chains
// copies of the entries (it sets their seq and hashes), so the collector
// can spool the originals meanwhile.
func (w *Writer) dispatchAppend(batch []item) {
	copies := make([]chain.Entry, len(batch))
	entries := make([]*chain.Entry, len(batch))
	for i, it := range batch {
		copies[i] = *it.e
		entries[i] = &copies[i]
	}
	w.send(&job{kind: jobAppend, batch: batch, entries: entries, deadline: oldestHanded(batch).Add(w.cfg.SpoolAfter)})
}

func (w *Writer) send(j *job) {
	w.inFlight = j
	w.jobs <- j
}

// checkInFlight spools the batch under way when the store has not
// committed it within its window, and answers its strict callers. If the
// store commits it after all, the replay skips it.
func (w *Writer) checkInFlight(now time.Time) {
	j := w.inFlight
	if j == nil || j.kind != jobAppend || j.spooled || now.Before(j.deadline) {
		return
	}
	w.log().Warn("audit store slower than the durability window; spooling the batch", zap.Int("records", len(j.batch)), zap.Duration("window", w.cfg.SpoolAfter))
	w.spoolBatch(j.batch)
	j.spooled = true
}

// finished takes the outcome of the store goroutine's job.
func (w *Writer) finished(r jobResult, now time.Time) {
	j := r.job
	w.inFlight = nil
	switch j.kind {
	case jobAppend:
		if r.err != nil {
			w.storeFailed(r.err, now)
			if !j.spooled {
				w.spoolBatch(j.batch)
			}
			return
		}
		w.storeOK()
		w.written.Add(int64(r.n))
		metrics.written.Add(float64(r.n))
		if !j.spooled {
			for _, it := range j.batch {
				if it.done != nil {
					it.done <- nil
				}
			}
		}
	case jobReplay:
		if r.err != nil {
			w.storeFailed(r.err, now)
		} else if r.reached {
			w.storeOK()
			// More to replay: go on at once.
			w.nextMaintain = now
		}
	case jobPing:
		if r.err != nil {
			w.nextTry = now.Add(w.cfg.RetryInterval)
		} else {
			w.storeOK()
		}
	}
}

// spoolBatch appends records to the spool and fsyncs them (one fsync for
// all: group commit), then answers the strict callers.
func (w *Writer) spoolBatch(batch []item) {
	entries := make([]*chain.Entry, len(batch))
	for i, it := range batch {
		entries[i] = it.e
	}
	err := w.spoolErr()
	if err == nil {
		err = w.spool.Append(entries)
	}
	if err == nil {
		err = w.spool.Sync()
	}
	if err != nil {
		// A vanished segment is a one-off: the next append makes a new
		// one, so only a spool that cannot take records makes the writer
		// refuse them until the store returns.
		var gone *SegmentGoneError
		w.unavailable.Store(w.storeDown && !errors.As(err, &gone))
		w.loseSpooled(len(batch), err)
		err = fmt.Errorf("%w: %v", ErrUnavailable, err)
	} else {
		w.unavailable.Store(false)
		w.spooled.Add(int64(len(batch)))
		metrics.spooled.Add(float64(len(batch)))
	}
	metrics.spoolRecords.Set(float64(w.spool.Pending()))
	for _, it := range batch {
		if it.done != nil {
			it.done <- err
		}
	}
}

func (w *Writer) storeFailed(err error, now time.Time) {
	if !w.storeDown {
		w.log().Error("audit store unavailable; records go to the local spool until it returns",
			zap.String("store", w.store.Describe()), zap.String("spool", w.cfg.SpoolDir), zap.Error(err))
	}
	w.storeDown = true
	w.storeUp.Store(false)
	metrics.storeUp.Set(0)
	msg := err.Error()
	w.lastError.Store(&msg)
	w.nextTry = now.Add(w.cfg.RetryInterval)
}

func (w *Writer) storeOK() {
	if w.storeDown {
		w.log().Info("audit store available again", zap.String("store", w.store.Describe()))
	}
	w.storeDown = false
	w.storeUp.Store(true)
	w.unavailable.Store(false)
	metrics.storeUp.Set(1)
}

func (w *Writer) syncSpool() {
	if err := w.spool.Sync(); err != nil {
		w.log().Error("audit spool sync failed", zap.Error(err))
		w.loseSpooled(0, err)
	}
}

// maintain runs after each event: group fsync of records spilled by the
// request path, chain-head logging, and, while the store goroutine is
// idle, spool replay, store probe, retention and statistics.
func (w *Writer) maintain(now time.Time, closing bool) {
	if w.spool.Dirty() {
		w.syncSpool()
	}
	if now.Before(w.nextMaintain) && !closing {
		return
	}
	w.nextMaintain = now.Add(100 * time.Millisecond)
	if w.cfg.HeadInterval > 0 && !now.Before(w.nextHeadLog) {
		if !w.nextHeadLog.IsZero() {
			w.logHeads()
		}
		w.nextHeadLog = now.Add(w.cfg.HeadInterval)
	}
	if closing || w.inFlight != nil {
		return
	}
	switch {
	case w.spool.Pending() > 0 && (!w.storeDown || !now.Before(w.nextTry)):
		// New records must not wait long behind the replay.
		w.send(&job{kind: jobReplay, storeDown: w.storeDown, once: len(w.ready)+len(w.held) > 0, now: now})
	case w.storeDown && !now.Before(w.nextTry):
		// Nothing to replay (the spool could not take records either):
		// probe the store.
		w.send(&job{kind: jobPing})
	case w.storeDown:
	case w.nextOptimize.IsZero():
		w.nextOptimize = now.Add(time.Hour)
	case !now.Before(w.nextOptimize):
		w.nextOptimize = now.Add(time.Hour)
		w.send(&job{kind: jobOptimize})
	default:
		if rp := w.retention.Load(); rp != nil && !now.Before(w.nextPurge) {
			w.nextPurge = now.Add(rp.every)
			w.send(&job{kind: jobPurge, rp: rp, now: now})
		}
	}
}

// storer is the store goroutine: it runs the collector's jobs one at a
// time, and may block on the store as long as the write timeout.
func (w *Writer) storer() {
	for j := range w.jobs {
		r := jobResult{job: j}
		switch j.kind {
		case jobAppend:
			ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
			r.heads, r.n, r.err = w.store.Append(ctx, j.entries, false)
			cancel()
			if r.err == nil {
				w.noteHeads(r.heads)
			}
		case jobReplay:
			r.reached, r.err = w.replay(j.now, j.storeDown, j.once)
		case jobPing:
			ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
			r.err = w.store.Ping(ctx)
			cancel()
		case jobOptimize:
			if o, ok := w.store.(interface{ Optimize(context.Context) error }); ok {
				ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
				if err := o.Optimize(ctx); err != nil {
					w.log().Warn("refreshing the audit store's statistics", zap.Error(err))
				}
				cancel()
			}
		case jobPurge:
			w.purge(j.rp, j.now)
		}
		w.results <- r
	}
}

// replay writes spooled records to the store, oldest first, for at most a
// quarter of a second per call (one batch with once, when records wait)
// so that the other jobs get their turn. It
// returns whether the store took a batch, and its failure if it is down.
func (w *Writer) replay(now time.Time, storeDown, once bool) (reached bool, err error) {
	deadline := now.Add(250 * time.Millisecond)
	for time.Now().Before(deadline) && !(once && reached) {
		entries, pos, err := w.spool.Read(w.cfg.MaxBatch)
		var corrupt *CorruptSpoolError
		if errors.As(err, &corrupt) {
			size, _ := w.spool.Skip(corrupt.Seg)
			w.log().Error("AUDIT RECORDS LOST: a spool segment is corrupt; its unreadable rest was moved aside",
				zap.String("segment", corrupt.Segment+".corrupt"), zap.Int64("offset", corrupt.Offset), zap.Int64("bytes", size))
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			// A segment was removed under the spool: what it held is gone.
			lost := w.spool.DropMissing()
			w.lose(int(lost), fmt.Errorf("audit spool %s: a segment was removed before it was replayed: %w", w.cfg.SpoolDir, err))
			continue
		}
		if err != nil {
			w.log().Error("reading the audit spool", zap.Error(err))
			return reached, nil
		}
		if len(entries) == 0 {
			return reached, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
		heads, n, err := w.store.Append(ctx, entries, true)
		cancel()
		if err != nil {
			if storeDown || w.pingFails() {
				return reached, err
			}
			// The store answers but refuses this batch: find the entries it
			// refuses, set them aside, and write the others.
			heads, n, err = w.replayOneByOne(entries)
			if err != nil {
				return reached, err
			}
		}
		storeDown, reached = false, true
		w.noteHeads(heads)
		if err := w.spool.Ack(pos); err != nil {
			w.log().Error("recording the audit spool replay position", zap.Error(err))
		}
		w.replayed.Add(int64(n))
		metrics.replayed.Add(float64(n))
		metrics.spoolRecords.Set(float64(w.spool.Pending()))
		if w.spool.Pending() == 0 {
			w.log().Info("audit spool replayed: every record is in the store", zap.Int64("replayed_total", w.replayed.Load()))
			return reached, nil
		}
	}
	return reached, nil
}

func (w *Writer) pingFails() bool {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
	defer cancel()
	return w.store.Ping(ctx) != nil
}

func (w *Writer) replayOneByOne(entries []*chain.Entry) ([]chain.Head, int, error) {
	var heads []chain.Head
	written := 0
	for _, e := range entries {
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
		h, n, err := w.store.Append(ctx, []*chain.Entry{e}, true)
		cancel()
		if err != nil {
			if w.pingFails() {
				return nil, 0, err
			}
			w.reject(e, err)
			continue
		}
		heads = append(heads, h...)
		written += n
	}
	return heads, written, nil
}

// reject sets aside an entry the store refuses, in rejected.jsonl beside
// the spool, for an operator.
func (w *Writer) reject(e *chain.Entry, cause error) {
	w.dropped.Add(1)
	metrics.dropped.Add(1)
	path := filepath.Join(w.cfg.SpoolDir, "rejected.spool")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		if fi, _ := f.Stat(); fi != nil && fi.Size() == 0 {
			_, _ = f.WriteString(spoolMagic)
		}
		buf, _ := appendFrame(nil, e)
		_, err = f.Write(buf)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
	}
	w.log().Error("AUDIT RECORD REJECTED by the store; set aside", zap.String("id", e.ID), zap.String("kind", e.Kind),
		zap.String("file", path), zap.NamedError("cause", cause), zap.Error(err))
}

func (w *Writer) noteHeads(heads []chain.Head) {
	if len(heads) == 0 {
		return
	}
	w.headsMu.Lock()
	for _, h := range heads {
		w.heads[h.Node] = h
	}
	w.headsMu.Unlock()
}

// Heads returns the chain heads this writer last wrote or read.
func (w *Writer) Heads() []chain.Head {
	w.headsMu.Lock()
	defer w.headsMu.Unlock()
	out := make([]chain.Head, 0, len(w.heads))
	for _, h := range w.heads {
		out = append(out, h)
	}
	return out
}

// logHeads logs each chain head, so it can be anchored outside the
// database (audit verify --anchor node:seq:hash).
func (w *Writer) logHeads() {
	for _, h := range w.Heads() {
		if h.Seq == 0 {
			continue
		}
		w.log().Info("audit chain head",
			zap.String("node", h.Node), zap.Int64("seq", h.Seq), zap.String("hash", h.Hash),
			zap.String("anchor", h.String()), zap.Time("last_entry", time.UnixMicro(h.Time).UTC()))
	}
}

func (w *Writer) purge(rp *retentionPolicy, now time.Time) {
	before := now.Add(-rp.keep)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*w.cfg.WriteTimeout)
		cp, head, err := w.store.Purge(ctx, rp.node, before, 50000)
		cancel()
		if err != nil {
			w.log().Error("audit retention: purge failed", zap.String("node", rp.node), zap.Error(err))
			return
		}
		if cp == nil {
			return
		}
		w.noteHeads([]chain.Head{head})
		w.log().Info("audit retention: purged old entries; a checkpoint keeps the rest verifiable",
			zap.String("node", rp.node), zap.Time("before", before), zap.String("checkpoint", cp.Detail), zap.Int64("checkpoint_seq", cp.Seq))
	}
}

// Stats are the writer's counters (status page, tests).
type Stats struct {
	Written  int64 `json:"written"`
	Spooled  int64 `json:"spooled"`
	Replayed int64 `json:"replayed"`
	Dropped  int64 `json:"dropped"`
	// Merged counts the decisions written with their completion as one
	// entry.
	Merged int64 `json:"merged"`
	// QueueDepth counts the records taken and neither committed nor
	// spooled yet: queued, gathered into a batch, or in the commit under
	// way.
	QueueDepth    int          `json:"queue_depth"`
	SpoolPending  int64        `json:"spool_pending"`
	StoreUp       bool         `json:"store_up"`
	LastError     string       `json:"last_error,omitempty"`
	Store         string       `json:"store"`
	SpoolDir      string       `json:"spool"`
	Heads         []chain.Head `json:"heads,omitempty"`
	SchemaVersion int          `json:"schema_version"`
}

// Stats returns the counters.
func (w *Writer) Stats() Stats {
	st := Stats{
		Written:       w.written.Load(),
		Spooled:       w.spooled.Load(),
		Replayed:      w.replayed.Load(),
		Dropped:       w.dropped.Load(),
		Merged:        w.merged.Load(),
		QueueDepth:    len(w.queue) + int(w.waiting.Load()),
		StoreUp:       w.storeUp.Load(),
		Store:         w.store.Describe(),
		SpoolDir:      w.cfg.SpoolDir,
		Heads:         w.Heads(),
		SchemaVersion: store.SchemaVersion(),
	}
	w.spoolMu.Lock()
	if w.spool != nil {
		st.SpoolPending = w.spool.Pending()
	}
	w.spoolMu.Unlock()
	if p := w.lastError.Load(); p != nil {
		st.LastError = *p
	}
	return st
}
