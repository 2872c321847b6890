package decision

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sovgate/sovgate/audit"
)

// Refusals that cost a client nothing (a malformed request, a request over
// its rate, a wrong password) can come by the thousand per second. Each is
// recorded, but identical ones are summarised: the first refusal of a
// source, code and minute is recorded as itself, at once; the others of
// that minute share its record and its decision id, and when the minute
// is over the record is completed with their count and the time of the
// last one (a completion, as the bytes of a forwarded exchange are). An
// auditor sees one record per source, code and minute, with its count;
// no refusal goes unrecorded, and if the gateway stops abruptly the record
// is there, with the count it had (one).

// refusalWindow is one source's identical refusals in one minute.
type refusalWindow struct {
	first *Outcome
	// minute is the start of the window's minute.
	minute time.Time
	count  int64
	last   time.Time
}

type windowKey struct {
	source string
	code   audit.Code
}

// maxRefusalWindows bounds the windows open at once. Beyond, refusals are
// recorded one by one: summaries save space, they never lose a record.
const maxRefusalWindows = 10000

// refusalSummaries holds the open windows of a journal.
type refusalSummaries struct {
	mu      sync.Mutex
	windows map[windowKey]*refusalWindow
	timer   *time.Timer
	closed  bool
}

// summarise counts out in its window when one is open, and reports whether
// it did: out then takes the window's decision id and needs no record of
// its own. Otherwise it opens a window whose record is out's.
func (s *refusalSummaries) summarise(j *Journal, out *Outcome) bool {
	key := windowKey{source: out.Caller.IP, code: out.Reasons[0]}
	minute := out.Start.Truncate(time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if w := s.windows[key]; w != nil {
		if w.minute.Equal(minute) {
			w.count++
			if out.Start.After(w.last) {
				w.last = out.Start
			}
			out.ID = w.first.ID
			return true
		}
		delete(s.windows, key)
		j.complete(w)
	}
	if s.windows == nil {
		s.windows = make(map[windowKey]*refusalWindow)
	}
	if len(s.windows) >= maxRefusalWindows {
		s.sweepLocked(j, j.now().Truncate(time.Minute))
		if len(s.windows) >= maxRefusalWindows {
			return false
		}
	}
	s.windows[key] = &refusalWindow{first: out, minute: minute, count: 1, last: out.Start}
	if s.timer == nil {
		s.timer = time.AfterFunc(minute.Add(time.Minute).Sub(j.now()), func() { s.sweep(j) })
	}
	return false
}

// sweep completes the windows of minutes that are over, and waits for the
// next one to end if any remain.
func (s *refusalSummaries) sweep(j *Journal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if s.closed {
		return
	}
	now := j.now()
	s.sweepLocked(j, now.Truncate(time.Minute))
	if len(s.windows) > 0 {
		s.timer = time.AfterFunc(now.Truncate(time.Minute).Add(time.Minute).Sub(now), func() { s.sweep(j) })
	}
}

// sweepLocked completes the windows older than the minute current; s.mu
// is held.
func (s *refusalSummaries) sweepLocked(j *Journal, current time.Time) {
	for key, w := range s.windows {
		if w.minute.Before(current) {
			delete(s.windows, key)
			j.complete(w)
		}
	}
}

// close completes every window; later refusals are recorded one by one.
func (s *refusalSummaries) close(j *Journal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	for key, w := range s.windows {
		delete(s.windows, key)
		j.complete(w)
	}
}

// complete writes the count of a window that summarised more than one
// refusal: a "summary" line in the decision log, and the completion of
// the window's record.
func (j *Journal) complete(w *refusalWindow) {
	if w.count <= 1 {
		return
	}
	out := w.first
	if j.Log != nil {
		if ce := j.Log.Check(zap.InfoLevel, "summary"); ce != nil {
			ce.Write(
				zap.String("id", out.ID),
				zap.String("app", out.Caller.App),
				zap.String("source_ip", out.Caller.IP),
				zap.Array("reasons", codes(out.Reasons)),
				zap.Int64("count", w.count),
				zap.Time("first", out.Start),
				zap.Time("last", w.last),
			)
		}
	}
	if j.Recorder != nil {
		rec := out.Record(j.Node)
		rec.Count = w.count
		rec.Last = w.last.UTC()
		rec.DurationUS = w.last.Sub(out.Start).Microseconds()
		j.Recorder.Finished(rec)
	}
}
