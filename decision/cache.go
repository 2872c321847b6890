package decision

import (
	"sync"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policy"
)

const defaultCacheSize = 65536

// cacheKey is everything a cached decision depends on, so that a reused
// decision is the one the policy would make again:
// who asks, what they ask for, which addresses were vetted, and which policy
// and data revisions decided. It is a comparable struct so a lookup builds
// no string and allocates nothing.
type cacheKey struct {
	app, identifiedBy string
	method, scheme    string
	host              string
	port              uint16
	path              string // input.request.path, when the policy reads it
	sourceIP          string // input.source.ip, when the policy reads it
	addrs             string
	policyRev         string
	dataRev           string
}

// cachedDecision is the shareable part of an outcome. It is immutable once
// stored: outcomes point into it.
type cachedDecision struct {
	dest       *geo.Destination
	decision   *policy.Decision
	categories []string
	verdict    audit.Verdict
	action     audit.Action
	refusal    bool // an operational denial (see Outcome.Class)
	status     int
	reasons    []audit.Code
	detail     audit.Message
	expires    time.Time
}

// decisionCache is a bounded map. When full it is emptied rather than
// evicting one entry at a time: simple, and a full cache means the working
// set is unusually large, where recomputing is the honest cost.
type decisionCache struct {
	mu      sync.RWMutex
	entries map[cacheKey]*cachedDecision
	max     int
}

func newDecisionCache(max int) *decisionCache {
	return &decisionCache{entries: make(map[cacheKey]*cachedDecision), max: max}
}

func (c *decisionCache) get(k cacheKey, now time.Time) *cachedDecision {
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e
}

func (c *decisionCache) put(k cacheKey, e *cachedDecision) {
	c.mu.Lock()
	if len(c.entries) >= c.max {
		c.entries = make(map[cacheKey]*cachedDecision)
	}
	c.entries[k] = e
	c.mu.Unlock()
}

func (c *decisionCache) flush() {
	c.mu.Lock()
	c.entries = make(map[cacheKey]*cachedDecision)
	c.mu.Unlock()
}

func (c *decisionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
