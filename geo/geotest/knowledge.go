package geotest

import (
	"sync"
	"testing"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policy"
)

var defaultKnowledge = sync.OnceValues(policy.EmbeddedKnowledge)

// DefaultKnowledge returns the knowledge of the embedded policy bundle: its
// operator catalogue and its EU/EEA territory, as the gateway classifies
// with when no policy directory is configured.
func DefaultKnowledge(t testing.TB) *geo.Knowledge {
	t.Helper()
	k, err := defaultKnowledge()
	if err != nil {
		t.Fatalf("geotest: the embedded policy's knowledge: %v", err)
	}
	return k
}
