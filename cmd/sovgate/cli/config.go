// Package cli adds sovgate's subcommands to the Caddy command line:
// egress (quick start), check, policy. Each command is a thin shell over the
// domain packages; none of them re-implements a step of the pipeline.
package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/pflag"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
)

// addSettingFlags declares the flags that override the sovereignty app's
// options, named like the Caddyfile options with dashes.
func addSettingFlags(fs *pflag.FlagSet) {
	fs.String("mode", "", "monitor or enforce (default: from --config, else monitor)")
	fs.String("policies", "", "policy directory (default: from --config, else the embedded bundle)")
	fs.String("geoip-country", "", "GeoIP2/GeoLite2/DB-IP Country or City MMDB file")
	fs.String("geoip-asn", "", "GeoLite2-ASN MMDB file")
	fs.String("geoip-registration", "", "network registration MMDB (default: the one 'sovgate geo update' wrote in --provider-ranges, else the snapshot built in)")
	fs.String("provider-ranges", "", "provider_ranges directory written by 'sovgate geo update'")
	fs.String("resolver", "", "DNS server host:port (default: the system resolver)")
	fs.String("hosts", "", "file in /etc/hosts format whose names are answered before DNS (trials, labs)")
	fs.StringSlice("allow-private", nil, "private CIDR that destinations may use (repeatable)")
	fs.StringSlice("internal", nil, "CIDR of the city's own networks: reachable, marked internal, allowed by the default policy (repeatable)")
}

// loadApp reads the sovereignty app from --config (a Caddyfile or JSON
// config) when given, then applies the flags on top.
func loadApp(fl caddycmd.Flags) (*sovereignty.App, error) {
	app := new(sovereignty.App)
	if configFile := flagString(fl, "config"); configFile != "" {
		cfgJSON, _, _, err := caddycmd.LoadConfig(configFile, flagString(fl, "adapter"))
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", configFile, err)
		}
		var cfg struct {
			Apps map[string]json.RawMessage `json:"apps"`
		}
		if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
			return nil, fmt.Errorf("reading %s: %w", configFile, err)
		}
		raw, ok := cfg.Apps["sovereignty"]
		if !ok {
			return nil, fmt.Errorf("%s has no sovereignty app (a `sovereignty` global option block)", configFile)
		}
		if err := json.Unmarshal(raw, app); err != nil {
			return nil, fmt.Errorf("reading the sovereignty app of %s: %w", configFile, err)
		}
	}
	if v := flagString(fl, "mode"); v != "" {
		app.Mode = v
	}
	if v := flagString(fl, "policies"); v != "" {
		app.Policies = v
	}
	if v := flagString(fl, "geoip-country"); v != "" {
		app.GeoIPCountry = v
	}
	if v := flagString(fl, "geoip-asn"); v != "" {
		app.GeoIPASN = v
	}
	if v := flagString(fl, "geoip-registration"); v != "" {
		app.GeoIPRegistration = v
	}
	if v := flagString(fl, "provider-ranges"); v != "" {
		app.ProviderRanges = v
	}
	if v := flagString(fl, "hosts"); v != "" {
		app.Hosts = v
	}
	if v := flagString(fl, "resolver"); v != "" {
		app.Resolver = v
	}
	if v, err := fl.GetStringSlice("allow-private"); err == nil && len(v) > 0 {
		app.AllowPrivate = append(app.AllowPrivate, v...)
	}
	if v, err := fl.GetStringSlice("internal"); err == nil && len(v) > 0 {
		if _, err := sovereignty.ParseAllowPrivate(v); err != nil {
			return nil, fmt.Errorf("--internal: %w", err)
		}
		app.Internal = append(app.Internal, v...)
	}
	return app, nil
}

func joinOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, ", ")
}

// flagString returns a string flag's value, or "" when the command does not
// define that flag.
func flagString(fl caddycmd.Flags, name string) string {
	if fl.Lookup(name) == nil {
		return ""
	}
	return fl.String(name)
}
