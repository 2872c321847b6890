package chain_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/chain"
)

// A decision and its completion merged into one entry read back as the
// same record as the two entries apart: every field of the record, at
// every depth (a field added later is filled too), and completed.
func TestMergeReadsBackAsTheTwoEntries(t *testing.T) {
	rec := audittest.FullRecord(t, "0192abcd-0000-7000-8000-0000000000aa", false)
	decided := *rec
	decided.DurationUS, decided.BytesUp, decided.BytesDown = 42, 0, 0
	d := chain.DecisionEntry(&decided, true)
	c := chain.CompletionEntry(rec)

	apart, err := d.Record(c)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := chain.Merge(d, c)
	if !ok {
		t.Fatal("Merge refused a decision and its plain completion")
	}
	merged, err := m.Record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(merged, apart) {
		t.Errorf("merged entry reads back as\n%+v\nthe two entries as\n%+v", merged, apart)
	}
	if !merged.Completed {
		t.Error("a merged record is not completed")
	}
	want := *rec
	if !reflect.DeepEqual(merged.Record, want) {
		t.Errorf("merged entry reads back as\n%+v\nwant the record\n%+v", merged.Record, want)
	}
	if d.Detail == m.Detail || d.DurationUS != 42 || d.BytesDown != 0 {
		t.Errorf("Merge changed the decision entry it was given: %+v", d)
	}
	if m.Time != d.Time || m.Kind != chain.KindDecision || m.ID != d.ID {
		t.Errorf("merged entry %+v: want the decision's kind, id and time", m)
	}
	// The decision time stays in the entry, and the hash covers it.
	if want := `"completed":true,"decision_us":42}`; len(m.Detail) < len(want) || m.Detail[len(m.Detail)-len(want):] != want {
		t.Errorf("merged detail %s does not end with %s", m.Detail, want)
	}
}

// Merge applies only to a decision not yet chained and its own plain
// completion.
func TestMergeRefuses(t *testing.T) {
	rec := audittest.Record(3, "gw-1")
	rec.Action = audit.Forwarded
	d, c := chain.DecisionEntry(rec, false), chain.CompletionEntry(rec)
	summary := *rec
	summary.Count = 7
	other := *rec
	other.ID = "another"
	m, _ := chain.Merge(d, c)
	chained := *d
	chained.Seq, chained.Hash = 4, "x"
	for name, pair := range map[string][2]*chain.Entry{
		"summary of refusals":     {d, chain.CompletionEntry(&summary)},
		"another decision's":      {d, chain.CompletionEntry(&other)},
		"already merged":          {m, c},
		"a decision in the chain": {&chained, c},
		"two decisions":           {d, d},
	} {
		if _, ok := chain.Merge(pair[0], pair[1]); ok {
			t.Errorf("%s: merged", name)
		}
		into, before := *pair[0], *pair[0]
		if chain.MergeInto(&into, pair[1]) || !reflect.DeepEqual(into, before) {
			t.Errorf("%s: MergeInto merged, or changed the entry it refused: %+v", name, into)
		}
	}
}

// MergeInto completes the decision entry itself, as Merge completes its
// copy.
func TestMergeIntoCompletesTheEntryItself(t *testing.T) {
	rec := audittest.Record(3, "gw-1")
	rec.Action = audit.Forwarded
	d, c := chain.DecisionEntry(rec, false), chain.CompletionEntry(rec)
	m, _ := chain.Merge(d, c)
	if !chain.MergeInto(d, c) {
		t.Fatal("MergeInto refused a decision and its plain completion")
	}
	if !reflect.DeepEqual(d, m) {
		t.Errorf("MergeInto gave\n%+v\nMerge\n%+v", d, m)
	}
	if !d.Completed() {
		t.Error("the entry is not completed")
	}
}

// The columns written by hand are what encoding/json writes, for a record
// with every field set (a field added to audit.Address later is set too,
// and must be written).
func TestColumnsJSONHaveEveryField(t *testing.T) {
	rec := audittest.FullRecord(t, "0192abcd-0000-7000-8000-0000000000ab", false)
	e := chain.DecisionEntry(rec, false)
	want, _ := json.Marshal(rec.Addresses)
	if e.Addresses != string(want) {
		t.Errorf("addresses column\n%s\nencoding/json writes\n%s", e.Addresses, want)
	}
	want, _ = json.Marshal(rec.Reasons)
	if e.Reasons != string(want) {
		t.Errorf("reasons column %s, encoding/json writes %s", e.Reasons, want)
	}
}
