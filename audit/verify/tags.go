package verify

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
)

// digestTags reads the tag index: the digest of its rows.
func digestTags(ctx context.Context, s store.Store) (tagDigest, error) {
	var actual tagDigest
	err := s.WalkTags(ctx, func(tag, id string) error {
		actual.add(tag, id)
		return nil
	})
	return actual, err
}

// checkTags checks that the tag index (country, provider and reason
// filters) holds exactly the rows the decision entries give, so no filtered
// query can hide or invent a record. expected is the digest of the entries'
// tags, made during the walk, actual that of the index's rows.
func checkTags(ctx context.Context, s store.Store, nodes []string, expected, actual tagDigest) *Break {
	if actual == expected {
		return nil
	}
	brk := &Break{Reason: fmt.Sprintf(
		"the tag index (country, provider and reason filters) does not match the records: %d rows, %d expected; filtered queries could hide or invent records",
		actual.count, expected.count)}
	// Find the first decision whose tags differ, to name it.
	if found, err := locateTagBreak(ctx, s, nodes); err == nil && found != nil {
		brk = found
	}
	return brk
}

// locateTagBreak finds the first decision whose tag rows differ from what
// its addresses and reasons say. It reads every tag row into memory, so it
// runs only once a mismatch is known.
func locateTagBreak(ctx context.Context, s store.Store, nodes []string) (*Break, error) {
	actual := make(map[string][]string)
	if err := s.WalkTags(ctx, func(tag, id string) error {
		actual[id] = append(actual[id], tag)
		return nil
	}); err != nil {
		return nil, err
	}
	var brk *Break
	for _, node := range nodes {
		err := s.Walk(ctx, node, 1, 0, func(e *chain.Entry) error {
			if e.Kind != chain.KindDecision {
				return nil
			}
			want, _ := e.Tags()
			got := actual[e.ID]
			delete(actual, e.ID)
			if !sameSet(want, got) {
				cp := *e
				brk = &Break{Node: node, Seq: e.Seq, Entry: &cp, Reason: fmt.Sprintf(
					"the tag index has [%s] for this record, its content says [%s]: filtered queries would show it wrongly",
					strings.Join(got, " "), strings.Join(want, " "))}
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			return nil, err
		}
		if brk != nil {
			return brk, nil
		}
	}
	for id, tags := range actual {
		return &Break{Reason: fmt.Sprintf("the tag index has rows [%s] for %s, which is no decision in the log: filtered queries would show an invented record", strings.Join(tags, " "), id)}, nil
	}
	return nil, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int, len(a))
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
		if seen[x] < 0 {
			return false
		}
	}
	return true
}

// tagDigest is an order-independent digest of a set of (tag, id) rows:
// their count and the sum, modulo 2^256, of each row's SHA-256.
type tagDigest struct {
	count int64
	sum   [4]uint64
}

// merge adds the rows of another digest.
func (d *tagDigest) merge(o tagDigest) {
	var carry uint64
	for i := 3; i >= 0; i-- {
		d.sum[i], carry = bits.Add64(d.sum[i], o.sum[i], carry)
	}
	d.count += o.count
}

func (d *tagDigest) add(tag, id string) {
	var buf [256]byte
	b := append(buf[:0], tag...)
	b = append(b, 0)
	b = append(b, id...)
	h := sha256.Sum256(b)
	var carry uint64
	for i := 3; i >= 0; i-- {
		d.sum[i], carry = bits.Add64(d.sum[i], binary.BigEndian.Uint64(h[i*8:]), carry)
	}
	d.count++
}
