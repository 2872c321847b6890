package decision

import (
	"fmt"
	"github.com/sovgate/sovgate/audit"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestJournalSummarisesRefusals: identical refusals of one source within a
// minute make one record, completed with their count, the time of the
// last and the span; each refused client gets the id of that record.
// Other sources, other codes and other minutes have records of their own;
// decisions about destinations are never summarised.
func TestJournalSummarisesRefusals(t *testing.T) {
	w := newWorld(t)
	clk := newClock()
	p := w.pipeline(t, Enforce, func(c *Config) { c.Now = clk.Now })
	core, logs := observer.New(zapcore.InfoLevel)
	rec := &recorder{}
	j := &Journal{Node: "gw-1", Log: zap.New(core), Recorder: rec, Now: clk.Now}

	refuse := func(ip string, code audit.Code) *Outcome {
		out := p.Refuse(Target{Method: "CONNECT", Host: "x"}, Caller{App: UnknownApp, IP: ip, IdentifiedBy: "none"},
			&Refusal{Status: http.StatusTooManyRequests, Code: code, Detail: audit.NoAddress("x")})
		if err := j.Decided(out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// 3,000 refusals from one source, concurrently, within the minute.
	const n = 3000
	ids := make([]string, n)
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := g; i < n; i += 10 {
				ids[i] = refuse("10.6.6.6", audit.CodeRateLimited).ID
			}
		})
	}
	wg.Wait()
	clk.Advance(10 * time.Second)
	refuse("10.6.6.6", audit.CodeRateLimited)
	other := refuse("10.6.6.6", audit.CodeBadTarget)
	elsewhere := refuse("10.7.7.7", audit.CodeRateLimited)
	// A policy denial is never summarised.
	for range 2 {
		if err := j.Decided(p.Decide(t.Context(), connect(t, hostUS+":443"), etatCivil)); err != nil {
			t.Fatal(err)
		}
	}

	rec.mu.Lock()
	if len(rec.decided) != 5 {
		t.Errorf("%d records, want 5 (one per source and code, two denials)", len(rec.decided))
	}
	first := rec.decided[0]
	rec.mu.Unlock()
	for _, id := range ids {
		if id != first.ID {
			t.Fatalf("a summarised refusal got id %s, not its record's %s", id, first.ID)
		}
	}
	if other.ID == first.ID || elsewhere.ID == first.ID {
		t.Error("another code or source joined the summary")
	}

	// The next minute opens another window and completes the first.
	clk.Advance(time.Minute)
	next := refuse("10.6.6.6", audit.CodeRateLimited)
	refuse("10.6.6.6", audit.CodeRateLimited)
	rec.mu.Lock()
	if next.ID == first.ID || len(rec.finished) != 1 {
		t.Fatalf("next minute: id %s, %d completions", next.ID, len(rec.finished))
	}
	done := rec.finished[0]
	rec.mu.Unlock()
	start := first.Time
	if done.ID != first.ID || done.Count != n+1 || !done.Last.Equal(start.Add(10*time.Second)) || done.DurationUS != (10*time.Second).Microseconds() {
		t.Errorf("completion %s count %d last %v span %dµs; want %s, %d, %v, 10s", done.ID, done.Count, done.Last, done.DurationUS, first.ID, n+1, start.Add(10*time.Second))
	}

	// Close completes what is open, and only windows of more than one.
	j.Close()
	rec.mu.Lock()
	if len(rec.finished) != 2 || rec.finished[1].ID != next.ID || rec.finished[1].Count != 2 {
		t.Errorf("after Close: %d completions", len(rec.finished))
	}
	rec.mu.Unlock()
	// After Close, refusals are recorded one by one.
	a, b := refuse("10.6.6.6", audit.CodeRateLimited), refuse("10.6.6.6", audit.CodeRateLimited)
	if a.ID == b.ID {
		t.Error("refusals after Close were summarised")
	}
	summaries := logs.FilterMessage("summary").All()
	if len(summaries) != 2 || summaries[0].ContextMap()["count"] != int64(n+1) {
		t.Errorf("summary lines: %v", summaries)
	}
	if got := len(logs.FilterMessage("decision").All()); got != 8 {
		t.Errorf("%d decision lines, want 8: one per record", got)
	}
}

// TestJournalSummaryTimer: a window whose minute is over is completed even
// if no other refusal comes.
func TestJournalSummaryTimer(t *testing.T) {
	w := newWorld(t)
	p := w.pipeline(t, Enforce)
	rec := &recorder{}
	// The journal closes windows on the pipeline's clock.
	j := &Journal{Node: "gw-1", Recorder: rec, Now: w.clock.Now}
	defer j.Close()
	for range 2 {
		j.Decided(p.Refuse(Target{}, Caller{App: UnknownApp, IP: "10.6.6.6"}, fmt.Errorf("bad")))
	}
	j.summaries.mu.Lock()
	for _, w := range j.summaries.windows {
		w.minute = w.minute.Add(-time.Minute) // as if the minute were over
	}
	j.summaries.timer.Reset(0)
	j.summaries.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.finished)
		rec.mu.Unlock()
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the window of a minute that is over was not completed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
