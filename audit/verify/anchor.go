package verify

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sovgate/sovgate/audit/chain"
)

// errStop ends a walk early; it is never returned to callers.
var errStop = errors.New("stop")

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	if h == "" {
		return `""`
	}
	return h
}

// ParseAnchor reads an anchor as logged: node:seq:hash.
func ParseAnchor(s string) (chain.Head, error) {
	s = strings.TrimSpace(s)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return chain.Head{}, fmt.Errorf("anchor %q: want node:seq:hash, as in the \"audit chain head\" log line", s)
	}
	rest, hash := s[:i], s[i+1:]
	j := strings.LastIndexByte(rest, ':')
	if j < 0 {
		return chain.Head{}, fmt.Errorf("anchor %q: want node:seq:hash", s)
	}
	node, seqText := rest[:j], rest[j+1:]
	seq, err := strconv.ParseInt(seqText, 10, 64)
	hash = strings.ToLower(hash)
	if _, herr := hex.DecodeString(hash); err != nil || herr != nil || seq < 1 || node == "" || len(hash) != 64 {
		return chain.Head{}, fmt.Errorf("anchor %q: want node:seq:hash with a positive seq and a 64-digit hash", s)
	}
	return chain.Head{Node: node, Seq: seq, Hash: hash}, nil
}
