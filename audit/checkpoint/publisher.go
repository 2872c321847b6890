package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/chain"
)

// Log is what the publisher needs of the audit store: tree hashes for
// consistency proofs, and a place to keep signed checkpoints for proofs of
// single records.
type Log interface {
	TreeHashes(ctx context.Context, node string, indexes []int64) ([]tlog.Hash, error)
	SaveCheckpoint(ctx context.Context, node string, size int64, signed []byte) error
	// Checkpoint returns the latest signed checkpoint of a node whose tree
	// size is at least minSize, or nil.
	Checkpoint(ctx context.Context, node string, minSize int64) ([]byte, error)
}

// Config is one configuration's checkpoint settings.
type Config struct {
	// Node is the chain this gateway writes: the checkpoints' origin.
	Node string
	Key  Key
	// Dir, when set, receives every checkpoint (AppendToDir).
	Dir       string
	Witnesses []*WitnessClient
	// Interval between checkpoints; default 10s.
	Interval time.Duration
	Logger   *zap.Logger
}

// Publisher signs a checkpoint of its node's tree at every interval when
// the tree has grown, and at stop; it appends each to the checkpoint
// directory, keeps it in the store and submits it to every witness. It
// runs beside the writer, never on the request path: a witness or a
// directory that fails is counted and logged, and the next checkpoint
// tries again.
type Publisher struct {
	log   Log
	heads func() []chain.Head

	mu  sync.Mutex // one round at a time; guards what follows
	cfg Config
	// last is the latest checkpoint signed (or found at start), with
	// the witnesses that have not cosigned it yet.
	last       *Signed
	uncosigned map[*WitnessClient]bool
	failing    map[string]time.Time // witness URL -> when its failure was last logged
	stats      Stats

	startOnce, closeOnce sync.Once
	stop, done           chan struct{}
}

// Stats are the publisher's counters (status page).
type Stats struct {
	Signed           int64  `json:"signed"`
	LastSize         int64  `json:"last_size"`
	LastRoot         string `json:"last_root,omitempty"`
	DirFailures      int64  `json:"dir_failures"`
	StoreFailures    int64  `json:"store_failures"`
	Cosigned         int64  `json:"cosigned"`
	WitnessFailures  int64  `json:"witness_failures"`
	Conflicts        int64  `json:"conflicts"`
	VerifierKey      string `json:"verifier_key,omitempty"`
	CheckpointsDir   string `json:"checkpoints_dir,omitempty"`
	WitnessesPending int    `json:"witnesses_pending"`
}

// NewPublisher makes a publisher over a store; heads returns the chain
// heads the writer last committed.
func NewPublisher(log Log, heads func() []chain.Head) *Publisher {
	return &Publisher{log: log, heads: heads, uncosigned: map[*WitnessClient]bool{}, failing: map[string]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Configure takes a configuration's settings (again at each reload).
func (p *Publisher) Configure(cfg Config) {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	p.uncosigned = map[*WitnessClient]bool{}
	if p.last != nil {
		for _, w := range cfg.Witnesses {
			p.uncosigned[w] = true
		}
	}
	p.stats.VerifierKey, p.stats.CheckpointsDir = cfg.Key.Verifier, cfg.Dir
}

// Start launches the loop; it may be called more than once.
func (p *Publisher) Start() {
	p.startOnce.Do(func() { go p.run() })
}

func (p *Publisher) run() {
	defer close(p.done)
	for {
		p.mu.Lock()
		interval := p.cfg.Interval
		p.mu.Unlock()
		select {
		case <-p.stop:
			return
		case <-time.After(interval):
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		p.Publish(ctx)
		cancel()
	}
}

// Close stops the loop and signs a last checkpoint (the writer has
// drained by then), submitting it to the witnesses for a few seconds.
func (p *Publisher) Close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.startOnce.Do(func() { close(p.done) })
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Publish(ctx)
	})
}

// Publish runs one round: sign a checkpoint if the tree grew, write it out,
// and submit the latest checkpoint to the witnesses that have not cosigned
// it.
func (p *Publisher) Publish(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Key.Signer == nil {
		return
	}
	if p.last == nil {
		p.last = p.latestKnown(ctx)
	}
	head, ok := p.head()
	if ok && head.Seq > 0 {
		p.signIfGrown(ctx, head)
	}
	p.submit(ctx)
}

func (p *Publisher) head() (chain.Head, bool) {
	for _, h := range p.heads() {
		if h.Node == p.cfg.Node {
			return h, true
		}
	}
	return chain.Head{}, false
}

func (p *Publisher) signIfGrown(ctx context.Context, head chain.Head) {
	log := p.cfg.Logger
	if head.Root == (tlog.Hash{}) {
		// A head known without its root (read from a store that has none
		// recorded): compute it from the stored tree hashes.
		root, err := tlog.TreeHash(head.Seq, p.reader(ctx))
		if err != nil {
			log.Error("audit checkpoint not signed: the tree root cannot be computed", zap.String("node", head.Node), zap.Int64("size", head.Seq), zap.Error(err))
			return
		}
		head.Root = root
	}
	if last := p.last; last != nil {
		switch {
		case head.Seq == last.Size && head.Root == last.Root:
			return // nothing new
		case head.Seq <= last.Size:
			// The store's chain is not an extension of what was signed:
			// it was cut or rewritten. Signing it would sign a fork.
			p.stats.Conflicts++
			metrics.conflicts.Inc()
			log.Error("AUDIT LOG REWRITTEN: the chain in the store does not extend the last signed checkpoint; no checkpoint is signed until an auditor has looked (sovgate audit verify --checkpoints)",
				zap.String("node", head.Node), zap.Int64("store_size", head.Seq), zap.Int64("checkpoint_size", last.Size))
			return
		}
		if err := p.checkExtends(ctx, head, last); err != nil {
			p.stats.Conflicts++
			metrics.conflicts.Inc()
			log.Error("AUDIT LOG REWRITTEN: the chain in the store does not extend the last signed checkpoint; no checkpoint is signed until an auditor has looked (sovgate audit verify --checkpoints)",
				zap.String("node", head.Node), zap.Int64("store_size", head.Seq), zap.Int64("checkpoint_size", last.Size), zap.Error(err))
			return
		}
	}
	c := Checkpoint{Origin: head.Node, Size: head.Seq, Root: head.Root}
	msg, err := Sign(c, p.cfg.Key.Signer)
	if err != nil {
		log.Error("signing an audit checkpoint", zap.Error(err))
		return
	}
	p.last = &Signed{Checkpoint: c, Note: msg, Signers: []string{p.cfg.Key.Signer.Name()}}
	p.stats.Signed++
	p.stats.LastSize, p.stats.LastRoot = c.Size, c.Root.String()
	metrics.signed.Inc()
	metrics.size.Set(float64(c.Size))
	for _, w := range p.cfg.Witnesses {
		p.uncosigned[w] = true
	}
	if p.cfg.Dir != "" {
		if err := AppendToDir(p.cfg.Dir, c.Origin, msg, time.Now()); err != nil {
			p.stats.DirFailures++
			metrics.dirFailures.Inc()
			log.Error("audit checkpoint not written to the checkpoint directory; the next one will be", zap.String("dir", p.cfg.Dir), zap.Int64("size", c.Size), zap.Error(err))
		}
	}
	p.save(ctx, p.last)
	log.Debug("audit checkpoint signed", zap.String("node", c.Origin), zap.Int64("size", c.Size), zap.String("root", c.Root.String()))
}

// checkExtends checks that the tree of head extends the last checkpoint's
// tree (a consistency proof from the store's hashes).
func (p *Publisher) checkExtends(ctx context.Context, head chain.Head, last *Signed) error {
	proof, err := tlog.ProveTree(head.Seq, last.Size, p.reader(ctx))
	if err != nil {
		return err
	}
	return tlog.CheckTree(proof, head.Seq, head.Root, last.Size, last.Root)
}

func (p *Publisher) reader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return p.log.TreeHashes(ctx, p.cfg.Node, idx)
	})
}

func (p *Publisher) save(ctx context.Context, s *Signed) {
	if err := p.log.SaveCheckpoint(ctx, s.Origin, s.Size, s.Note); err != nil {
		p.stats.StoreFailures++
		p.cfg.Logger.Warn("audit checkpoint not kept in the store (proofs of single records use the latest kept)", zap.Int64("size", s.Size), zap.Error(err))
	}
}

// submit sends the latest checkpoint to each witness that has not cosigned
// it yet, and keeps the cosignatures with it.
func (p *Publisher) submit(ctx context.Context) {
	last := p.last
	if last == nil {
		return
	}
	own, err := note.NewVerifier(p.cfg.Key.Verifier)
	if err != nil {
		return
	}
	prove := func(old int64) (tlog.TreeProof, error) { return tlog.ProveTree(last.Size, old, p.reader(ctx)) }
	cosigned := false
	for _, w := range p.cfg.Witnesses {
		if !p.uncosigned[w] {
			continue
		}
		sigs, err := w.Submit(ctx, *last, own, prove)
		if err != nil {
			p.stats.WitnessFailures++
			metrics.witnessFailures.WithLabelValues(w.URL).Inc()
			p.logWitnessFailure(w, last, err)
			continue
		}
		delete(p.uncosigned, w)
		delete(p.failing, w.URL)
		last.Note = AddSignatures(last.Note, sigs)
		p.stats.Cosigned++
		metrics.cosigned.WithLabelValues(w.URL).Inc()
		cosigned = true
	}
	p.stats.WitnessesPending = len(p.uncosigned)
	if cosigned {
		p.save(ctx, last)
	}
}

// logWitnessFailure logs a witness's failure as an error the first time
// and at most every five minutes while it goes on (the counter counts
// every one).
func (p *Publisher) logWitnessFailure(w *WitnessClient, last *Signed, err error) {
	log := p.cfg.Logger
	if errors.Is(err, ErrWitnessAhead) {
		log.Error("AUDIT LOG REWRITTEN: a witness has cosigned a longer chain than the store now holds", zap.String("witness", w.URL), zap.String("node", last.Origin), zap.Int64("size", last.Size), zap.Error(err))
		return
	}
	if at, ok := p.failing[w.URL]; ok && time.Since(at) < 5*time.Minute {
		return
	}
	p.failing[w.URL] = time.Now()
	log.Error("audit witness did not cosign the checkpoint; requests are not affected, the next checkpoint retries",
		zap.String("witness", w.URL), zap.String("node", last.Origin), zap.Int64("size", last.Size), zap.Error(err))
}

// latestKnown is the latest checkpoint signed before this start: the
// largest of the store's and the checkpoint directory's (the directory is
// kept off the box, so a store rolled back does not hide it).
func (p *Publisher) latestKnown(ctx context.Context) *Signed {
	own, err := note.NewVerifier(p.cfg.Key.Verifier)
	if err != nil {
		return nil
	}
	known := note.VerifierList(own)
	var best *Signed
	consider := func(msg []byte) {
		s, err := Open(msg, known)
		if err == nil && s.Origin == p.cfg.Node && (best == nil || s.Size > best.Size) {
			best = &s
		}
	}
	if msg, err := p.log.Checkpoint(ctx, p.cfg.Node, 0); err == nil && msg != nil {
		consider(msg)
	}
	if p.cfg.Dir != "" {
		for _, msg := range lastDirNotes(p.cfg.Dir, p.cfg.Node) {
			consider(msg)
		}
	}
	return best
}

// lastDirNotes reads the notes of the node's most recent checkpoint file.
func lastDirNotes(dir, node string) [][]byte {
	files, _ := filepath.Glob(filepath.Join(OriginDir(dir, node), "*"+DirExt))
	if len(files) == 0 {
		return nil
	}
	sort.Strings(files)
	data, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		return nil
	}
	notes, _ := SplitNotes(data)
	out := make([][]byte, len(notes))
	for i, n := range notes {
		out[i] = n.Note
	}
	return out
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}
