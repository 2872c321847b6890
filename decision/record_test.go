package decision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sovgate/sovgate/audit"
)

// recorder is an in-memory Recorder.
type recorder struct {
	mu       sync.Mutex
	decided  []*audit.Record
	finished []*audit.Record
	err      error
}

func (r *recorder) Decided(rec *audit.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decided = append(r.decided, rec)
	return r.err
}

func (r *recorder) Finished(rec *audit.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = append(r.finished, rec)
}

var _ Recorder = (*recorder)(nil)

// tickingClock advances by step on every reading, so durations are known.
type tickingClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}

// jsonNames returns the JSON field names of a struct type.
func jsonNames(v any) []string {
	var names []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func keys[M ~map[string]V, V any](m M) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func without(names []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(s string) bool { return slices.Contains(drop, s) })
}

func TestJournal(t *testing.T) {
	w := newWorld(t)
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	clk := &tickingClock{t: start, step: 250 * time.Microsecond}
	p := w.pipeline(t, Monitor, func(c *Config) { c.Now = clk.Now })
	caller := Caller{App: "etat-civil", IP: "10.1.2.3", IdentifiedBy: "basic"}
	out := p.Decide(context.Background(), connect(t, hostAWS+":443"), caller)
	if out.DecidedIn != 250*time.Microsecond {
		t.Fatalf("DecidedIn = %v", out.DecidedIn)
	}

	core, logs := observer.New(zapcore.InfoLevel)
	rec := &recorder{}
	j := &Journal{Node: "gw-1", Log: zap.New(core).Named("sovgate.decision"), Recorder: rec}
	if err := j.Decided(out); err != nil {
		t.Fatal(err)
	}
	end := start.Add(3 * time.Second)
	j.Finished(out, 1200, 34000, end, nil)

	// The audit record, every field filled.
	if len(rec.decided) != 1 || len(rec.finished) != 1 {
		t.Fatalf("%d decided, %d finished records", len(rec.decided), len(rec.finished))
	}
	got := rec.decided[0]
	want := &audit.Record{
		ID: out.ID, Time: start.UTC(), Node: "gw-1", App: "etat-civil", SourceIP: "10.1.2.3",
		Method: "CONNECT", Scheme: "https", Host: hostAWS, Port: 443,
		Addresses:      []audit.Address{{IP: ipAWSFR, Country: "FR", ASN: 16509, Provider: "aws", MatchedBy: "asn"}},
		Verdict:        "deny",
		Action:         "forwarded",
		Mode:           "monitor",
		Reasons:        []audit.Code{audit.CodeJurisdictionNonEU},
		Profile:        "sovereign",
		PolicyRevision: w.policy.Revision(),
		DurationUS:     250,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decided record\n got %+v\nwant %+v", got, want)
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("record time %v is not UTC", got.Time)
	}
	fin := rec.finished[0]
	wantFin := *want
	wantFin.BytesUp, wantFin.BytesDown, wantFin.DurationUS = 1200, 34000, 3_000_000
	if !reflect.DeepEqual(fin, &wantFin) {
		t.Errorf("finished record\n got %+v\nwant %+v", fin, &wantFin)
	}

	// The decision line: one per decision, logger sovgate.decision, with the
	// audit record's field names and values.
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d log entries, want decision + finished", len(entries))
	}
	line := entries[0]
	if line.Message != "decision" || line.LoggerName != "sovgate.decision" || line.Level != zapcore.InfoLevel {
		t.Errorf("entry %q from %q at %v", line.Message, line.LoggerName, line.Level)
	}
	fields := line.ContextMap()
	// The app lists no data category: categories is left out, as in the
	// record.
	wantNames := without(jsonNames(audit.Record{}), "bytes_up", "bytes_down", "prev_hash", "hash", "path", "exceptions", "categories", "count", "last")
	if got := keys(fields); !slices.Equal(got, wantNames) {
		t.Errorf("decision line fields\n got %v\nwant %v", got, wantNames)
	}
	for name, value := range map[string]any{
		"id": out.ID, "node": "gw-1", "app": "etat-civil", "source_ip": "10.1.2.3", "method": "CONNECT",
		"scheme": "https", "host": hostAWS, "port": uint16(443), "verdict": "deny", "action": "forwarded",
		"mode": "monitor", "policy_revision": w.policy.Revision(), "duration_us": int64(250), "profile": "sovereign",
		"reasons": []any{"JURISDICTION_NON_EU"},
	} {
		if !reflect.DeepEqual(fields[name], value) {
			t.Errorf("field %s = %#v, want %#v", name, fields[name], value)
		}
	}
	if ts, _ := fields["time"].(time.Time); !ts.Equal(start) {
		t.Errorf("field time = %v, want %v", fields["time"], start)
	}
	addrs, _ := fields["addresses"].([]any)
	if len(addrs) != 1 {
		t.Fatalf("addresses = %#v", fields["addresses"])
	}
	addr, _ := addrs[0].(map[string]any)
	// internal is left out when false, as in the record.
	if got, want := keys(addr), without(jsonNames(audit.Address{}), "internal"); !slices.Equal(got, want) {
		t.Errorf("address fields %v, want %v", got, want)
	}
	if addr["ip"] != ipAWSFR || addr["country"] != "FR" || addr["asn"] != uint32(16509) || addr["provider"] != "aws" || addr["matched_by"] != "asn" {
		t.Errorf("address = %v", addr)
	}

	fl := entries[1]
	ff := fl.ContextMap()
	if fl.Message != "finished" || ff["id"] != out.ID || ff["bytes_up"] != int64(1200) || ff["bytes_down"] != int64(34000) ||
		ff["duration_us"] != int64(3_000_000) || ff["host"] != hostAWS || ff["app"] != "etat-civil" {
		t.Errorf("finished line %q %v", fl.Message, ff)
	}
	for name := range ff {
		if !slices.Contains(jsonNames(audit.Record{}), name) {
			t.Errorf("finished line field %q is not an audit record name", name)
		}
	}
}

// TestJournalJSONLine compares the encoded decision line with the JSON of
// the audit record: same names, same values.
func TestJournalJSONLine(t *testing.T) {
	w := newWorld(t)
	p := w.pipeline(t, Enforce)
	out := p.Decide(context.Background(), connect(t, hostThree+":8443"), etatCivil)

	var buf bytes.Buffer
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "" // the entry's own timestamp; the record's is the field "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(&buf), zap.InfoLevel))
	rec := &recorder{}
	j := &Journal{Node: "gw-2", Log: log, Recorder: rec}
	if err := j.Decided(out); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	delete(line, "level")
	delete(line, "msg")
	recJSON, err := json.Marshal(rec.decided[0])
	if err != nil {
		t.Fatal(err)
	}
	var record map[string]any
	if err := json.Unmarshal(recJSON, &record); err != nil {
		t.Fatal(err)
	}
	delete(record, "bytes_up")
	delete(record, "bytes_down")
	// The encoder may write the time in another zone; compare instants.
	lt, _ := time.Parse(time.RFC3339Nano, line["time"].(string))
	rt, _ := time.Parse(time.RFC3339Nano, record["time"].(string))
	if !lt.Equal(rt) {
		t.Errorf("time %v in the line, %v in the record", line["time"], record["time"])
	}
	delete(line, "time")
	delete(record, "time")
	if !reflect.DeepEqual(line, record) {
		t.Errorf("decision line and audit record differ\nline   %v\nrecord %v", line, record)
	}
}

func TestJournalEdges(t *testing.T) {
	w := newWorld(t)
	p := w.pipeline(t, Enforce)
	ctx := context.Background()

	t.Run("nil journal", func(t *testing.T) {
		var j *Journal
		out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		if err := j.Decided(out); err != nil {
			t.Fatal(err)
		}
		j.Finished(out, 1, 2, time.Now(), nil)
	})

	t.Run("empty journal", func(t *testing.T) {
		j := &Journal{}
		out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		if err := j.Decided(out); err != nil {
			t.Fatal(err)
		}
		j.Finished(out, 1, 2, time.Now(), nil)
	})

	t.Run("recorder error", func(t *testing.T) {
		boom := errors.New("spool full")
		j := &Journal{Recorder: &recorder{err: boom}}
		if err := j.Decided(p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)); !errors.Is(err, boom) {
			t.Fatalf("Decided = %v, want the recorder's error", err)
		}
	})

	t.Run("log level above info", func(t *testing.T) {
		core, logs := observer.New(zapcore.WarnLevel)
		j := &Journal{Log: zap.New(core)}
		out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		_ = j.Decided(out)
		j.Finished(out, 1, 2, time.Now(), nil)
		if n := logs.Len(); n != 0 {
			t.Errorf("%d entries at warn level", n)
		}
	})

	t.Run("refused, blocked and cached outcomes", func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		rec := &recorder{}
		j := &Journal{Node: "n", Log: zap.New(core), Recorder: rec}
		_, perr := ParseConnectTarget("2130706433:443")
		outs := []*Outcome{
			p.Refuse(Target{Method: "CONNECT"}, etatCivil, perr),
			p.Decide(ctx, connect(t, hostPrivate+":443"), etatCivil),
			p.Decide(ctx, connect(t, hostNX+":443"), etatCivil),
			p.Decide(ctx, connect(t, hostUS+":443"), etatCivil),
			p.Decide(ctx, connect(t, hostUS+":443"), etatCivil),
		}
		for _, out := range outs {
			if err := j.Decided(out); err != nil {
				t.Fatal(err)
			}
		}
		for i, e := range logs.All() {
			f := e.ContextMap()
			out := outs[i]
			if f["verdict"] != "deny" || f["action"] != "blocked" || f["id"] != out.ID {
				t.Errorf("line %d: %v", i, f)
			}
			if !out.Detail.IsZero() && f["detail"] != out.Detail.String() {
				t.Errorf("line %d: detail %v, want %q", i, f["detail"], out.Detail.String())
			}
			if _, ok := f["cached"]; ok != out.Cached {
				t.Errorf("line %d: cached field %v, outcome cached %v", i, f["cached"], out.Cached)
			}
			r := rec.decided[i]
			if r.ID != out.ID || !slices.Equal(r.Reasons, out.Reasons) || r.PolicyRevision == "" {
				t.Errorf("record %d: %+v", i, r)
			}
			if (out.Destination == nil) != (r.Addresses == nil) {
				t.Errorf("record %d: addresses %v, destination %v", i, r.Addresses, out.Destination)
			}
		}
		if !outs[4].Cached {
			t.Error("the second US decision was not a cache hit")
		}
	})

	t.Run("finished with an error", func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		j := &Journal{Log: zap.New(core)}
		out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		j.Finished(out, 0, 0, out.Start, errors.New("connection reset"))
		if f := logs.All()[0].ContextMap(); f["error"] != "connection reset" {
			t.Errorf("fields %v", f)
		}
	})
}

func TestNewIDIsAUUIDv7(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 123_000_000, time.UTC)
	seen := make(map[string]bool)
	prev := ""
	for i := 0; i < 10000; i++ {
		id := newID(at.Add(time.Duration(i) * time.Millisecond))
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("%q is not a UUID: %v", id, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d variant %v, want 7 and RFC 4122", id, u.Version(), u.Variant())
		}
		if sec, nsec := u.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != at.Add(time.Duration(i)*time.Millisecond).UnixMilli() {
			t.Fatalf("%s does not carry its time", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("ids do not sort by time: %s after %s", id, prev)
		}
		prev = id
	}
}
