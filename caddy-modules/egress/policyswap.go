package egress

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policy"
)

// A policy hot reload puts a new revision in service without a Caddy
// reload, so the tunnels stay with the configuration that opened them (see
// registry.go for Caddy reloads). A tunnel must not outlive the policy that
// allowed it without a decision: after each swap, every open tunnel of the
// app is decided again under the new revision, and closed when that
// revision blocks it or no longer vets the address it is connected to. In
// monitor mode a violation is recorded, not closed, as for a new request.
//
// The app is identified again from the tunnel's source address when it was
// identified by it (or not at all): the registry that maps networks to apps
// belongs to the revision too. An app identified by certificate or
// password keeps its name.

func init() {
	sovereignty.OnPolicySwap(redecideTunnels)
	sovereignty.OnDataSwap(redecideTunnelsOnData)
}

// redecideTunnelsOnData decides again about every open tunnel classified by
// c, after new provider ranges were swapped into it: the decision cache
// does not reuse decisions made on the old data, and neither do tunnels.
// Each tunnel is decided by the configuration that owns it, under the
// policy revision in service there.
func redecideTunnelsOnData(c *geo.Classifier) {
	log := caddy.Log().Named("sovereignty.tunnels")
	tunnels := openTunnels.snapshot(func(t *tunnel) bool {
		app := t.ownerApp()
		return app != nil && app.Parts() != nil && app.Pipeline().Classifier() == c
	})
	if len(tunnels) == 0 {
		return
	}
	closed := 0
	for _, t := range tunnels {
		app := t.ownerApp() // read again: a reload may have handed it over
		if app == nil || app.Parts() == nil {
			continue
		}
		if !redecide(t, app, app.Pipeline().Policy(), log) {
			closed++
		}
	}
	log.Info("open tunnels decided again on the new provider data",
		zap.String("data_revision", c.Revision()), zap.Int("tunnels", len(tunnels)), zap.Int("closed", closed))
}

func redecideTunnels(app *sovereignty.App, _, cur *policy.Engine) {
	log := caddy.Log().Named("sovereignty.tunnels")
	tunnels := openTunnels.snapshot(func(t *tunnel) bool { return t.ownerApp() == app })
	if len(tunnels) == 0 {
		return
	}
	closed := 0
	for _, t := range tunnels {
		if !redecide(t, app, cur, log) {
			closed++
		}
	}
	log.Info("open tunnels decided again under the new policy revision",
		zap.String("policy_revision", cur.Revision()), zap.Int("tunnels", len(tunnels)), zap.Int("closed", closed))
}

// redecide decides again about one tunnel; it reports whether the tunnel
// stays open.
func redecide(t *tunnel, app *sovereignty.App, cur *policy.Engine, log *zap.Logger) bool {
	t.settleMu.Lock()
	defer t.settleMu.Unlock()
	if t.ownerApp() != app {
		// A Caddy reload handed it to another configuration meanwhile.
		return true
	}
	caller := t.outcome.Caller
	if caller.IdentifiedBy == "cidr" || caller.IdentifiedBy == "none" {
		caller.App, caller.IdentifiedBy = decision.UnknownApp, "none"
		if ip, err := parseIP(caller.IP); err == nil {
			if a := cur.Apps().ByAddr(ip); a != nil {
				caller.App, caller.IdentifiedBy = a.ID, "cidr"
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := app.Pipeline().Decide(ctx, t.outcome.Target, caller)
	if err := app.Journal().Decided(out); err != nil {
		log.Error("recording the decision about an open tunnel", zap.Error(err))
	}
	if out.Blocked() || !slices.Contains(out.Addrs, t.upstreamIP()) {
		log.Info("closing a tunnel that a new decision does not allow",
			zap.String("id", t.outcome.ID), zap.String("new_decision", out.ID),
			zap.String("policy_revision", out.PolicyRevision), zap.Stringers("reasons", out.Reasons))
		t.close()
		return false
	}
	return true
}

func parseIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	return ip.Unmap(), err
}
