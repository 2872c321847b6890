package ingest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sovgate/sovgate/audit/chain"
)

// The spool takes records while the store is unreachable (or slower than
// the durability window), and gives them back, in order, when it returns.
//
// It is a directory of segment files, 000001.spool, 000002.spool...,
// written append-only. A segment starts with the 8-byte magic "SGSPOOL1";
// then each record is one frame:
//
//	length  uint32, little endian: the payload's size
//	crc     uint32, little endian: CRC-32C (Castagnoli) of the payload
//	payload the entry as JSON (without seq, prev_hash and hash: the chain
//	        is extended when the entry reaches the store)
//
// A frame cut short by a crash, or whose CRC does not match, ends the
// segment: at open the last segment is truncated to its last whole frame.
// replay.pos holds the segment and offset up to which records are in the
// store; it is written after each replayed batch. A crash between the two
// replays a batch again: the store skips the entries it already has (same
// kind and id), so each is written exactly once.
type Spool struct {
	dir string

	mu         sync.Mutex
	lockFile   *os.File
	segs       []int // segment numbers, oldest first
	active     *os.File
	activeNum  int
	activeSize int64
	pending    int64 // records appended and not yet acknowledged
	unsynced   int64 // records appended since the last fsync
	dirty      bool  // appended since the last fsync
	closed     bool
	buf        []byte

	// Replay position (only the writer goroutine moves it).
	readSeg int
	readOff int64
}

const (
	spoolMagic       = "SGSPOOL1"
	spoolFrameHeader = 8
	// maxFrame bounds a payload: a larger length is corruption.
	maxFrame        = 1 << 20
	maxSegmentBytes = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenSpool opens or creates the spool in dir and locks it, so two
// gateways never share one spool. It checks every segment, truncating a
// torn frame at the end of the last one, and counts the records left to
// replay.
func OpenSpool(dir string) (*Spool, error) {
	lf, err := makeAndLock(dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, lockFile: lf}
	if err := s.load(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Spool) segPath(n int) string {
	return filepath.Join(s.dir, fmt.Sprintf("%06d.spool", n))
}

func (s *Spool) load() error {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.spool"))
	if err != nil {
		return err
	}
	for _, name := range names {
		n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(name), ".spool"))
		if err == nil && n > 0 {
			s.segs = append(s.segs, n)
		}
	}
	sort.Ints(s.segs)
	s.readSeg, s.readOff = s.readPos()
	// Segments wholly replayed before a crash are removed now.
	for len(s.segs) > 0 && s.segs[0] < s.readSeg {
		os.Remove(s.segPath(s.segs[0]))
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.readSeg < s.segs[0] {
		s.readSeg, s.readOff = 0, 0
		if len(s.segs) > 0 {
			s.readSeg = s.segs[0]
		}
	}
	for i, n := range s.segs {
		f, err := os.Open(s.segPath(n))
		if err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
		from := int64(len(spoolMagic))
		if n == s.readSeg && s.readOff > from {
			from = s.readOff
		}
		count, good, err := countFrames(f, from)
		f.Close()
		if err != nil {
			return fmt.Errorf("audit spool %s: %w", s.segPath(n), err)
		}
		s.pending += int64(count)
		if i == len(s.segs)-1 {
			// Truncate a torn last frame, then append after the last whole one.
			if err := os.Truncate(s.segPath(n), good); err != nil {
				return fmt.Errorf("audit spool: %w", err)
			}
		}
	}
	return nil
}

// countFrames checks a segment's magic and counts its whole frames from
// offset from; good is the offset after the last whole frame.
func countFrames(f *os.File, from int64) (count int, good int64, err error) {
	magic := make([]byte, len(spoolMagic))
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) != spoolMagic {
		// An empty or headerless file: a crash right after creating it.
		return 0, 0, nil
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, 0, err
	}
	r := bufio.NewReaderSize(f, 1<<16)
	good = from
	for {
		_, n, err := readFrame(r)
		if err != nil {
			return count, good, nil
		}
		count++
		good += int64(n)
	}
}

func (s *Spool) readPos() (int, int64) {
	b, err := os.ReadFile(filepath.Join(s.dir, "replay.pos"))
	if err != nil {
		return 0, 0
	}
	var seg int
	var off int64
	if _, err := fmt.Sscanf(string(b), "%d %d", &seg, &off); err != nil || seg < 0 || off < 0 {
		return 0, 0
	}
	return seg, off
}

func (s *Spool) writePos() error {
	tmp := filepath.Join(s.dir, "replay.pos.tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", s.readSeg, s.readOff), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, "replay.pos"))
}

// appendFrame encodes one entry as a frame.
func appendFrame(buf []byte, e *chain.Entry) ([]byte, error) {
	c := *e
	c.Seq, c.PrevHash, c.Hash = 0, "", ""
	payload, err := json.Marshal(&c)
	if err != nil {
		return buf, err
	}
	var hdr [spoolFrameHeader]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(payload, castagnoli))
	buf = append(buf, hdr[:]...)
	return append(buf, payload...), nil
}

var errBadFrame = errors.New("bad spool frame")

// readFrame decodes one frame; n is its size in bytes. io.EOF means a
// clean end; any other error a torn or corrupt frame.
func readFrame(r *bufio.Reader) (*chain.Entry, int, error) {
	var hdr [spoolFrameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, errBadFrame
	}
	size := binary.LittleEndian.Uint32(hdr[0:])
	if size == 0 || size > maxFrame {
		return nil, 0, errBadFrame
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, 0, errBadFrame
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return nil, 0, errBadFrame
	}
	e := new(chain.Entry)
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(e); err != nil || e.ID == "" || e.Node == "" ||
		(e.Kind != chain.KindDecision && e.Kind != chain.KindCompletion) {
		return nil, 0, errBadFrame
	}
	e.Seq, e.PrevHash, e.Hash = 0, "", ""
	return e, spoolFrameHeader + int(size), nil
}

// Append writes entries at the end of the spool. They are on disk after
// the next Sync.
func (s *Spool) Append(entries []*chain.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("audit spool is closed")
	}
	buf := s.buf[:0]
	var err error
	for _, e := range entries {
		if buf, err = appendFrame(buf, e); err != nil {
			return err
		}
	}
	s.buf = buf
	if s.active == nil || s.activeSize+int64(len(buf)) > maxSegmentBytes && s.activeSize > int64(len(spoolMagic)) {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	n, err := s.active.Write(buf)
	if err != nil {
		// Do not leave half a frame before the next append.
		if terr := s.active.Truncate(s.activeSize); terr == nil {
			_, _ = s.active.Seek(s.activeSize, io.SeekStart)
		}
		return fmt.Errorf("audit spool: %w", err)
	}
	s.activeSize += int64(n)
	s.pending += int64(len(entries))
	s.unsynced += int64(len(entries))
	s.dirty = true
	return nil
}

// rotate opens the segment to append to: the last one when it has room,
// otherwise a new one.
func (s *Spool) rotate() error {
	if s.active != nil {
		if err := s.active.Sync(); err != nil {
			return err
		}
		s.active.Close()
		s.active = nil
	}
	if len(s.segs) > 0 && s.activeNum == 0 {
		last := s.segs[len(s.segs)-1]
		if st, err := os.Stat(s.segPath(last)); err == nil && st.Size() < maxSegmentBytes && st.Size() >= int64(len(spoolMagic)) {
			f, err := os.OpenFile(s.segPath(last), os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			s.active, s.activeNum, s.activeSize = f, last, st.Size()
			return nil
		}
	}
	next := 1
	if len(s.segs) > 0 {
		next = s.segs[len(s.segs)-1] + 1
	}
	f, err := os.OpenFile(s.segPath(next), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// The directory was removed under us: make it again, and lock it
		// again, so spooling goes on.
		if err := s.recreateDir(); err != nil {
			return err
		}
		f, err = os.OpenFile(s.segPath(next), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	}
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	if _, err := f.WriteString(spoolMagic); err != nil {
		f.Close()
		os.Remove(s.segPath(next))
		return fmt.Errorf("audit spool: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.segs = append(s.segs, next)
	s.active, s.activeNum, s.activeSize = f, next, int64(len(spoolMagic))
	if len(s.segs) == 1 {
		s.readSeg, s.readOff = next, int64(len(spoolMagic))
	}
	return nil
}

// Sync puts everything appended on disk.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty || s.active == nil {
		return nil
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	// An fsync of a file that is no longer in the directory (someone
	// removed the spool, or the segment) succeeds, but what it holds will
	// never be replayed: do not call those records durable.
	if s.activeGone() {
		return s.abandonActive()
	}
	s.dirty = false
	s.unsynced = 0
	return nil
}

// SegmentGoneError reports that the segment being written was removed or
// replaced while in use. Its records will never be replayed: Unsynced were
// appended since the last fsync (the caller must not count them as taken),
// Earlier had been synced before it vanished.
type SegmentGoneError struct {
	Segment  string
	Unsynced int64
	Earlier  int64
}

func (e *SegmentGoneError) Error() string {
	return fmt.Sprintf("audit spool segment %s was removed while in use: %d records appended since the last fsync are not taken, %d spooled earlier are lost",
		e.Segment, e.Unsynced, e.Earlier)
}

// activeGone reports whether the open segment is no longer the file at its
// path.
func (s *Spool) activeGone() bool {
	open, err := s.active.Stat()
	if err != nil {
		return true
	}
	onDisk, err := os.Stat(s.segPath(s.activeNum))
	return err != nil || !os.SameFile(open, onDisk)
}

// abandonActive forgets a segment that vanished: the next Append starts a
// new one (recreating the directory if it is gone), and replay goes on with
// the segments that remain.
func (s *Spool) abandonActive() error {
	gone := &SegmentGoneError{Segment: s.segPath(s.activeNum), Unsynced: s.unsynced}
	before := s.pending
	s.segs = removeInt(s.segs, s.activeNum)
	s.closeActive()
	s.recountPending()
	gone.Earlier = max64(before-s.pending-gone.Unsynced, 0)
	s.unsynced, s.dirty = 0, false
	return gone
}

// DropMissing forgets the segments whose files were removed under the
// spool (they cannot be replayed) and returns how many records were lost
// with them.
func (s *Spool) DropMissing() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.pending
	if s.active != nil && s.activeGone() {
		s.closeActive()
		s.unsynced, s.dirty = 0, false
	}
	kept := s.segs[:0]
	for _, n := range s.segs {
		if _, err := os.Stat(s.segPath(n)); err == nil {
			kept = append(kept, n)
		}
	}
	s.segs = kept
	s.recountPending()
	return max64(before-s.pending, 0)
}

// recountPending counts again what is left to replay, from the first
// remaining segment.
func (s *Spool) recountPending() {
	s.readSeg, s.readOff = 0, 0
	if len(s.segs) > 0 {
		s.readSeg, s.readOff = s.segs[0], int64(len(spoolMagic))
	}
	s.pending = 0
	for _, n := range s.segs {
		if f, err := os.Open(s.segPath(n)); err == nil {
			count, _, _ := countFrames(f, int64(len(spoolMagic)))
			f.Close()
			s.pending += int64(count)
		}
	}
}

// Dirty reports whether appended records wait for a Sync.
func (s *Spool) Dirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty
}

// Pending is the number of records waiting to be replayed.
func (s *Spool) Pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// spoolPos is a replay position: the frames before it are in the store.
type spoolPos struct {
	seg   int
	off   int64
	count int
}

// Read returns up to max records from the replay position, in the order
// they were spooled. It never reads past what Append has finished writing.
func (s *Spool) Read(max int) ([]*chain.Entry, spoolPos, error) {
	for {
		s.mu.Lock()
		if s.pending == 0 || len(s.segs) == 0 {
			s.mu.Unlock()
			return nil, spoolPos{}, nil
		}
		seg, off := s.readSeg, s.readOff
		if seg < s.segs[0] {
			seg, off = s.segs[0], 0
		}
		off = max64(off, int64(len(spoolMagic)))
		last := seg == s.segs[len(s.segs)-1]
		end := int64(-1)
		if last {
			if s.active != nil && s.activeNum == seg {
				end = s.activeSize
			} else if st, err := os.Stat(s.segPath(seg)); err == nil {
				end = st.Size()
			}
		}
		next := 0
		for _, n := range s.segs {
			if n > seg {
				next = n
				break
			}
		}
		s.mu.Unlock()
		out, pos, err := s.readSegment(seg, off, end, max)
		if err != nil || len(out) > 0 || last || next == 0 {
			return out, pos, err
		}
		// A sealed segment read to its end: go on with the next one.
		s.mu.Lock()
		s.dropSegmentsBefore(next)
		s.readSeg, s.readOff = next, int64(len(spoolMagic))
		s.mu.Unlock()
	}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func (s *Spool) readSegment(seg int, off, end int64, max int) ([]*chain.Entry, spoolPos, error) {
	pos := spoolPos{seg: seg, off: off}
	f, err := os.Open(s.segPath(seg))
	if err != nil {
		return nil, pos, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, pos, err
	}
	var src io.Reader = f
	if end >= 0 {
		src = io.LimitReader(f, max64(end-off, 0))
	}
	r := bufio.NewReaderSize(src, 1<<16)
	var out []*chain.Entry
	for len(out) < max {
		e, n, err := readFrame(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(out) > 0 {
				break // return the good ones; the next Read reports the bad frame
			}
			return nil, pos, &CorruptSpoolError{Segment: s.segPath(seg), Seg: seg, Offset: pos.off}
		}
		out = append(out, e)
		pos.off += int64(n)
	}
	pos.count = len(out)
	return out, pos, nil
}

// CorruptSpoolError names a spool frame that cannot be read.
type CorruptSpoolError struct {
	Segment string
	Seg     int
	Offset  int64
}

func (e *CorruptSpoolError) Error() string {
	return fmt.Sprintf("audit spool %s is corrupt at byte %d", e.Segment, e.Offset)
}

// Skip abandons the rest of a corrupt segment from the replay position:
// the file is renamed *.corrupt for an operator to look at, and replay goes
// on with the next segment. It returns the size of what was abandoned.
func (s *Spool) Skip(seg int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seg == s.activeNum && s.active != nil {
		s.closeActive()
	}
	var size int64
	if st, err := os.Stat(s.segPath(seg)); err == nil {
		size = st.Size() - max64(s.readOff, int64(len(spoolMagic)))
	}
	err := os.Rename(s.segPath(seg), s.segPath(seg)+".corrupt")
	s.segs = removeInt(s.segs, seg)
	s.recountPending()
	_ = s.writePos()
	return size, err
}

func removeInt(xs []int, x int) []int {
	out := xs[:0]
	for _, v := range xs {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func (s *Spool) dropSegmentsBefore(seg int) {
	for len(s.segs) > 0 && s.segs[0] < seg {
		if s.segs[0] == s.activeNum && s.active != nil {
			s.closeActive()
		}
		os.Remove(s.segPath(s.segs[0]))
		s.segs = s.segs[1:]
	}
}

// Ack records that the records up to pos are in the store. When the
// whole spool has been replayed, its files are removed.
func (s *Spool) Ack(pos spoolPos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readSeg, s.readOff = pos.seg, pos.off
	s.pending -= int64(pos.count)
	if s.pending < 0 {
		s.pending = 0
	}
	s.dropSegmentsBefore(pos.seg)
	if s.pending == 0 && (s.active == nil || pos.seg == s.activeNum && pos.off >= s.activeSize) {
		// Everything is in the store: start afresh.
		if s.active != nil {
			s.closeActive()
		}
		for _, n := range s.segs {
			os.Remove(s.segPath(n))
		}
		s.segs = nil
		s.readSeg, s.readOff = 0, 0
		s.dirty, s.unsynced = false, 0
		os.Remove(filepath.Join(s.dir, "replay.pos"))
		return nil
	}
	return s.writePos()
}

// closeActive closes the segment being written; the next Append opens one.
func (s *Spool) closeActive() {
	s.active.Close()
	s.active, s.activeNum, s.activeSize = nil, 0, 0
}

func (s *Spool) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close syncs and closes the spool and releases its lock.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.active != nil {
		if s.dirty {
			err = s.active.Sync()
		}
		s.active.Close()
		s.active = nil
	}
	if s.lockFile != nil {
		unlockFile(s.lockFile)
		s.lockFile.Close()
	}
	return err
}

// recreateDir makes the spool directory again after it was removed, with a
// new lock file, locked.
func (s *Spool) recreateDir() error {
	lf, err := makeAndLock(s.dir)
	if err != nil {
		return err
	}
	if s.lockFile != nil {
		unlockFile(s.lockFile)
		s.lockFile.Close()
	}
	s.lockFile = lf
	return nil
}

// makeAndLock creates the spool directory if needed and locks it, so two
// gateways never share one spool.
func makeAndLock(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit spool %s: %w", dir, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit spool %s: %w", dir, err)
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		return nil, fmt.Errorf("audit spool %s is in use by another process (%v): give each gateway its own spool", dir, err)
	}
	return lf, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("audit spool: syncing %s: %w", dir, err)
	}
	return nil
}

// rotateForTest seals the active segment, so the next Append starts a new
// one.
func (s *Spool) rotateForTest() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		return nil
	}
	err := s.active.Sync()
	s.active.Close()
	s.active = nil
	return err
}
