package decision

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/geo"
)

// Recorder receives every decision. The audit store implements it; it must
// not block the request path (queue, then write in batches).
type Recorder interface {
	// Decided is called once per decision, before any byte is forwarded.
	// An error means the record could not be taken; the caller decides what
	// that means for the request (enforce mode fails closed).
	Decided(rec *audit.Record) error
	// Finished is called once when a forwarded exchange ends, with the
	// record's bytes and duration filled in.
	Finished(rec *audit.Record)
}

// Journal writes each decision to the decision log (one JSON line per
// decision from the logger sovgate.decision) and to the Recorder. Identical
// refusals of one source within a minute share one record, completed with
// their count (see refusalSummaries); Close completes the open ones.
type Journal struct {
	// Node names this gateway in records.
	Node string
	// Log is the sovgate.decision logger; nil logs nothing.
	Log *zap.Logger
	// Recorder is the audit store; nil records nothing beyond the log.
	Recorder Recorder
	// Now is the clock that closes summaries, the pipeline's; nil is
	// time.Now.
	Now func() time.Time

	summaries refusalSummaries
}

func (j *Journal) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

// Decided logs and records a decision before the request is answered. A
// refusal that joins an open summary is counted there instead: it takes
// the summary's decision id, and the log and the record get its count
// when the minute is over.
func (j *Journal) Decided(out *Outcome) error {
	if j == nil {
		return nil
	}
	if out.RefusedEarly && len(out.Reasons) > 0 && j.summaries.summarise(j, out) {
		return nil
	}
	if j.Log != nil {
		if ce := j.Log.Check(zap.InfoLevel, "decision"); ce != nil {
			ce.Write(zap.Inline(decisionLine{out, j.Node}))
		}
	}
	if j.Recorder != nil {
		return j.Recorder.Decided(out.Record(j.Node))
	}
	return nil
}

// Close completes the open summaries of refusals. Refusals decided after
// it are recorded one by one.
func (j *Journal) Close() {
	if j != nil {
		j.summaries.close(j)
	}
}

// Finished logs and records the end of a forwarded exchange: how many bytes
// went each way, and for how long.
func (j *Journal) Finished(out *Outcome, bytesUp, bytesDown int64, end time.Time, err error) {
	if j == nil {
		return
	}
	duration := end.Sub(out.Start)
	if j.Log != nil {
		if ce := j.Log.Check(zap.InfoLevel, "finished"); ce != nil {
			ce.Write(zap.Inline(&finishedLine{out: out, bytesUp: bytesUp, bytesDown: bytesDown, duration: duration, err: err}))
		}
	}
	if j.Recorder != nil {
		rec := out.Record(j.Node)
		rec.BytesUp, rec.BytesDown = bytesUp, bytesDown
		rec.DurationUS = duration.Microseconds()
		j.Recorder.Finished(rec)
	}
}

// RefuseUnrecorded turns an outcome whose decision could not be recorded
// (neither the audit store nor its spool took it) into a refusal: enforce
// mode fails closed, 503 AUDIT_UNAVAILABLE, and nothing is forwarded.
func (p *Pipeline) RefuseUnrecorded(out *Outcome) {
	if out.Verdict == audit.Deny {
		p.stats.byClass(out.Class()).Add(-1)
	} else {
		p.stats.Allowed.Add(-1)
		p.stats.Denied.Add(1)
	}
	if !out.Blocked() {
		p.stats.Blocked.Add(1)
	}
	out.block(http.StatusServiceUnavailable, audit.CodeAuditUnavailable, audit.NotRecorded())
	p.stats.Refusals.Add(1)
}

// Record turns an outcome into an audit record.
func (o *Outcome) Record(node string) *audit.Record {
	rec := &audit.Record{
		ID:             o.ID,
		Time:           o.Start.UTC(),
		Node:           node,
		App:            o.Caller.App,
		SourceIP:       o.Caller.IP,
		Method:         o.Target.Method,
		Scheme:         o.Target.Scheme,
		Host:           o.Target.Host,
		Port:           o.Target.Port,
		Path:           o.Target.Path,
		Verdict:        o.Verdict,
		Action:         o.Action,
		Mode:           string(o.Mode),
		Reasons:        o.Reasons,
		PolicyRevision: o.PolicyRevision,
		DurationUS:     o.DecidedIn.Microseconds(),
	}
	if c := o.Categories(); len(c) > 0 {
		rec.Categories = c
	}
	if o.Decision != nil {
		rec.Profile = o.Decision.Profile
	}
	rec.Exceptions = o.Exceptions()
	if o.Destination != nil {
		rec.Addresses = make([]audit.Address, len(o.Destination.Addresses))
		for i, a := range o.Destination.Addresses {
			rec.Addresses[i] = audit.Address{
				IP: a.IP.String(), Country: a.Country, ASN: a.ASN, Provider: a.Provider, Region: a.Region,
				MatchedBy: a.MatchedBy, Internal: a.Internal,
			}
		}
	}
	return rec
}

// Exceptions returns the ids of the exceptions that allowed the request
// (the EXCEPTION_APPLIED reasons of the policy's decision), or nil.
func (o *Outcome) Exceptions() []string {
	if o.Decision == nil {
		return nil
	}
	var ids []string
	for _, r := range o.Decision.Reasons {
		if r.Exception != "" {
			ids = append(ids, r.Exception)
		}
	}
	return ids
}

// finishedLine renders the end of a forwarded exchange (the "finished"
// line), inline like the decision line.
type finishedLine struct {
	out                *Outcome
	bytesUp, bytesDown int64
	duration           time.Duration
	err                error
}

func (l *finishedLine) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("id", l.out.ID)
	enc.AddString("app", l.out.Caller.App)
	enc.AddString("host", l.out.Target.Host)
	enc.AddUint16("port", l.out.Target.Port)
	enc.AddString("verdict", string(l.out.Verdict))
	enc.AddInt64("bytes_up", l.bytesUp)
	enc.AddInt64("bytes_down", l.bytesDown)
	enc.AddInt64("duration_us", l.duration.Microseconds())
	if l.err != nil {
		enc.AddString("error", l.err.Error())
	}
	return nil
}

// codes renders reason codes in the decision log.
type codes []audit.Code

func (c codes) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, code := range c {
		enc.AppendString(string(code))
	}
	return nil
}

// logCodes renders reason codes from a pointer: one word, so passing it
// as an ArrayMarshaler allocates nothing.
type logCodes struct{ c *[]audit.Code }

func (l logCodes) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	return codes(*l.c).MarshalLogArray(enc)
}

// logStrings renders a list of strings from a pointer, as logCodes.
type logStrings struct{ s *[]string }

func (l logStrings) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, s := range *l.s {
		enc.AppendString(s)
	}
	return nil
}

// logAddresses renders classified addresses compactly in the decision line.
type logAddresses struct{ dest *geo.Destination }

func (l logAddresses) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	if l.dest == nil {
		return nil
	}
	for i := range l.dest.Addresses {
		if err := enc.AppendObject(logAddress{&l.dest.Addresses[i]}); err != nil {
			return err
		}
	}
	return nil
}

type logAddress struct{ a *geo.Address }

func (l logAddress) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("ip", l.a.IP.String())
	enc.AddString("country", l.a.Country)
	enc.AddUint32("asn", l.a.ASN)
	enc.AddString("provider", l.a.Provider)
	enc.AddString("region", l.a.Region)
	// As in the audit record: left out when empty.
	if l.a.MatchedBy != "" {
		enc.AddString("matched_by", l.a.MatchedBy)
	}
	if l.a.Internal {
		enc.AddBool("internal", true)
	}
	return nil
}
