package egress

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// checkNoHostMatcher refuses a configuration where sovereign_egress sits
// under a host matcher. A proxy request carries its destination as its host
// (CONNECT api.example.com:443), so a site addressed as
// http://127.0.0.1:3128 or http://proxy.example:3128 never matches it: Caddy
// answers an empty 200 and nothing is checked or forwarded. That silent
// misconfiguration is refused at start-up instead, with the fix.
//
// It runs while the server provisions its routes: the route being
// provisioned has its matchers loaded and its handlers still in JSON, and the
// JSON of nested subroutes is walked.
func checkNoHostMatcher(routes caddyhttp.RouteList) error {
	for _, r := range routes {
		underHost := false
		for _, set := range r.MatcherSets {
			for _, m := range set {
				switch m.(type) {
				case caddyhttp.MatchHost, *caddyhttp.MatchHost:
					underHost = true
				}
			}
		}
		if err := checkRoute(r.MatcherSetsRaw, r.HandlersRaw, underHost); err != nil {
			return err
		}
	}
	return nil
}

// rawRoute is the JSON shape of a route, for walking subroutes.
type rawRoute struct {
	Match  []map[string]json.RawMessage `json:"match"`
	Handle []json.RawMessage            `json:"handle"`
}

func checkRoute(matchers caddyhttp.RawMatcherSets, handlers []json.RawMessage, underHost bool) error {
	hosts := underHost
	for _, set := range matchers {
		if _, ok := set["host"]; ok {
			hosts = true
		}
	}
	for _, raw := range handlers {
		var h struct {
			Handler string     `json:"handler"`
			Routes  []rawRoute `json:"routes"`
		}
		if json.Unmarshal(raw, &h) != nil {
			continue
		}
		switch h.Handler {
		case "sovereign_egress":
			if hosts {
				return fmt.Errorf("sovereign_egress is in a site matched by host name: proxy requests carry their destination as host " +
					"(CONNECT api.example.com:443) and would never reach it. Address the site as http://:PORT " +
					"(in a Caddyfile, add `bind 127.0.0.1` to listen on one address)")
			}
		case "subroute":
			for _, sub := range h.Routes {
				var sets caddyhttp.RawMatcherSets
				for _, m := range sub.Match {
					set := make(map[string]json.RawMessage, len(m))
					for k, v := range m {
						set[k] = v
					}
					sets = append(sets, caddy.ModuleMap(set))
				}
				if err := checkRoute(sets, sub.Handle, hosts); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
