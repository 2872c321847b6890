package verify

import (
	"testing"

	"github.com/sovgate/sovgate/audit/chain"
)

func FuzzParseAnchor(f *testing.F) {
	f.Add("gw-1:42:" + chain.GenesisHash)
	f.Add("a:b:c:1:" + chain.GenesisHash)
	f.Add("::")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseAnchor(s)
		if err != nil {
			return
		}
		if h.Seq < 1 || h.Node == "" || len(h.Hash) != 64 {
			t.Fatalf("%q parsed to %+v", s, h)
		}
		if back, err := ParseAnchor(h.String()); err != nil || back != h {
			t.Fatalf("%+v does not round-trip: %+v %v", h, back, err)
		}
	})
}
