package egress

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
)

// openTunnels are the tunnels of the whole process. It outlives handler
// instances because a tunnel allowed under one configuration may be taken
// over by the next one after a new decision (see serverShuttingDown).
var openTunnels = &tunnelRegistry{open: make(map[*tunnel]struct{})}

type tunnelRegistry struct {
	mu   sync.Mutex
	open map[*tunnel]struct{}
}

func (r *tunnelRegistry) add(t *tunnel) {
	r.mu.Lock()
	r.open[t] = struct{}{}
	r.mu.Unlock()
}

func (r *tunnelRegistry) remove(t *tunnel) {
	r.mu.Lock()
	delete(r.open, t)
	r.mu.Unlock()
}

// snapshot returns the open tunnels matching keep.
func (r *tunnelRegistry) snapshot(keep func(*tunnel) bool) []*tunnel {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tunnel
	for t := range r.open {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

// settleOwnedBy settles every tunnel still owned by app's configuration.
func (r *tunnelRegistry) settleOwnedBy(app *sovereignty.App, log *zap.Logger) {
	for _, t := range r.snapshot(func(t *tunnel) bool { return t.ownerApp() == app }) {
		settle(t, log)
	}
}

// serverShuttingDown runs when this handler's server begins to shut down:
// on a reload (a new configuration is already in service) or on exit.
// Cleanup does the same for tunnels that appeared since.
func (h *Handler) serverShuttingDown() {
	openTunnels.settleOwnedBy(h.app, h.logger)
}

// settle makes sure an open tunnel is kept open only by a decision of the
// configuration in service:
//
//   - the configuration that allowed it is still in service: nothing to do;
//   - no configuration is in service (the gateway stops): it closes;
//   - a reload put another configuration in service: an HTTP/1.1 tunnel is
//     decided again by it, and goes on if the new policy forwards it to the
//     same vetted address (no failed request for a reload), or closes. An
//     HTTP/2 tunnel is a stream of the old server's connection, which is
//     shutting down: it closes, and its client reconnects.
func settle(t *tunnel, log *zap.Logger) {
	t.settleMu.Lock()
	defer t.settleMu.Unlock()
	owner := t.ownerApp()
	cur := sovereignty.Current()
	switch {
	case cur != nil && cur == owner:
		return
	case cur == nil || caddy.Exiting() || t.stream:
		t.close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := cur.Pipeline().Decide(ctx, t.outcome.Target, t.outcome.Caller)
	if err := cur.Journal().Decided(out); err != nil {
		log.Error("recording the decision about an open tunnel", zap.Error(err))
	}
	if out.Blocked() || !slices.Contains(out.Addrs, t.upstreamIP()) {
		// Blocked now, or the name no longer resolves to the address the
		// tunnel is connected to: it is not a vetted destination any more.
		log.Info("closing a tunnel the configuration in service does not allow",
			zap.String("id", t.outcome.ID), zap.String("new_decision", out.ID), zap.Stringers("reasons", out.Reasons))
		t.close()
		return
	}
	t.setOwner(cur)
}
