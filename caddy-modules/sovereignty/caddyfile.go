package sovereignty

import (
	"math"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/sovgate/sovgate/decision"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("sovereignty", parseGlobalOption)
}

// parseGlobalOption reads the `sovereignty` global option:
//
//	{
//		sovereignty {
//			mode enforce
//			policies /etc/sovgate/policies   # or https://bundles.example/sovgate.tar.gz
//			policy_public_key /etc/sovgate/policy-signing.pub
//			policy_poll_interval 1m
//			credentials /etc/sovgate/credentials
//			require_identity
//			geoip_country /var/lib/sovgate/GeoLite2-Country.mmdb
//			geoip_asn /var/lib/sovgate/GeoLite2-ASN.mmdb
//			geoip_registration /var/lib/sovgate/providers/registration.mmdb
//			provider_ranges /var/lib/sovgate/providers
//			data_max_age 90d
//			resolver 192.0.2.53:53
//			allow_private 10.20.0.0/16
//			internal 10.0.0.0/8 192.168.10.0/24
//			audit /var/lib/sovgate/audit.db
//			audit_sync strict
//			retention 400d
//			record_path
//			audit_checkpoints /mnt/audit-checkpoints
//			audit_checkpoint_interval 10s
//			audit_signing_key /var/lib/sovgate/audit-signing.key
//			audit_witness https://witness.dsi.example:7380 witness-dsi+1a2b3c4d+AbC...
//			node gw-1
//		}
//	}
//
// `sovereignty` alone (no block) takes every default.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		return nil, d.Err("the sovereignty global option is given twice; merge the two blocks")
	}
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "sovereignty", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads the option block. Every error carries the
// Caddyfile's file name and line.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	// Most options take one plain value, one positive duration, or nothing
	// (on/off): they are read by kind, into the field their name maps to.
	plain := map[string]*string{
		"policies": &a.Policies, "policy_public_key": &a.PolicyPublicKey, "policy_cache": &a.PolicyCache,
		"credentials": &a.Credentials, "geoip_country": &a.GeoIPCountry, "geoip_asn": &a.GeoIPASN,
		"geoip_registration": &a.GeoIPRegistration, "provider_ranges": &a.ProviderRanges, "audit": &a.Audit, "audit_spool": &a.AuditSpool, "node": &a.Node,
		"hosts": &a.Hosts, "audit_checkpoints": &a.AuditCheckpoints, "audit_signing_key": &a.AuditSigningKey,
	}
	durations := map[string]*caddy.Duration{
		"policy_poll_interval": &a.PolicyPollInterval, "provider_ranges_interval": &a.ProviderRangesInterval,
		"resolver_timeout": &a.ResolverTimeout, "retention": &a.Retention, "audit_head_interval": &a.AuditHeadInterval,
		"data_max_age": &a.DataMaxAge, "audit_checkpoint_interval": &a.AuditCheckpointInterval,
	}
	flags := map[string]*bool{"require_identity": &a.RequireIdentity, "record_path": &a.RecordPath}
	for d.NextBlock(0) {
		option := d.Val()
		if field, ok := plain[option]; ok {
			value, err := parseSingleValue(d, option)
			if err != nil {
				return err
			}
			*field = value
			continue
		}
		if field, ok := durations[option]; ok {
			value, err := parseSingleValue(d, option)
			if err != nil {
				return err
			}
			if *field, err = parsePositiveDuration(d, option, value); err != nil {
				return err
			}
			continue
		}
		if field, ok := flags[option]; ok {
			on, err := parseFlag(d, option)
			if err != nil {
				return err
			}
			*field = on
			continue
		}
		switch option {
		case "mode":
			if !d.NextArg() {
				return d.Errf("%s: missing value (monitor or enforce)", option)
			}
			if _, err := decision.ParseMode(d.Val()); err != nil {
				return d.Errf("%s: %v", option, err)
			}
			a.Mode = d.Val()
		case "resolver":
			if !d.NextArg() {
				return d.Errf("%s: missing value (host:port of a DNS server)", option)
			}
			if _, err := NormalizeResolver(d.Val()); err != nil {
				return d.Errf("%s: %v", option, err)
			}
			a.Resolver = d.Val()
			if d.NextArg() {
				return d.Errf("%s: takes one server, got also %q", option, d.Val())
			}
		case "audit_sync":
			value, err := parseSingleValue(d, option)
			if err != nil {
				return err
			}
			if _, err := parseAuditSync(value); err != nil {
				return d.Errf("%s: %v", option, err)
			}
			a.AuditSync = value
		case "rate_per_app":
			if !d.NextArg() {
				return d.Errf("%s: missing number of requests per second", option)
			}
			v, err := strconv.ParseFloat(d.Val(), 64)
			if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				return d.Errf("%s: %q is not a number of requests per second (0 for unlimited)", option, d.Val())
			}
			a.RatePerApp = v
			if d.NextArg() {
				return d.Errf("%s: takes one number, got also %q", option, d.Val())
			}
		case "max_tunnels", "max_tunnels_per_app":
			if !d.NextArg() {
				return d.Errf("%s: missing number", option)
			}
			v, err := strconv.Atoi(d.Val())
			if err != nil || v < -1 {
				return d.Errf("%s: %q is not a number of tunnels (-1 for unlimited)", option, d.Val())
			}
			if option == "max_tunnels" {
				a.MaxTunnels = v
			} else {
				a.MaxTunnelsPerApp = v
			}
			if d.NextArg() {
				return d.Errf("%s: takes one number, got also %q", option, d.Val())
			}
		case "audit_witness":
			w, err := parseAuditWitness(d.RemainingArgs())
			if err != nil {
				return d.Errf("%s: %v", option, err)
			}
			a.AuditWitnesses = append(a.AuditWitnesses, w)
		case "allow_private", "internal":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("%s: missing CIDR (e.g. 10.20.0.0/16)", option)
			}
			if _, err := ParseAllowPrivate(args); err != nil {
				return d.Errf("%s: %v", option, err)
			}
			if option == "internal" {
				a.Internal = append(a.Internal, args...)
			} else {
				a.AllowPrivate = append(a.AllowPrivate, args...)
			}
		default:
			return d.Errf("unknown sovereignty option %q (known: mode, policies, policy_public_key, policy_poll_interval, policy_cache, credentials, require_identity, geoip_country, geoip_asn, geoip_registration, provider_ranges, provider_ranges_interval, data_max_age, resolver, resolver_timeout, allow_private, internal, rate_per_app, max_tunnels, max_tunnels_per_app, audit, audit_sync, retention, record_path, audit_spool, audit_head_interval, audit_checkpoints, audit_checkpoint_interval, audit_signing_key, audit_witness, hosts, node)", option)
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*App)(nil)

// parsePositiveDuration reads the value of a duration option. Zero and
// negative durations are refused rather than taken as "off", because every
// such option is a timeout or an interval where zero would mean "never" or
// "spin".
func parsePositiveDuration(d *caddyfile.Dispenser, option, value string) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(value)
	if err != nil || dur <= 0 {
		return 0, d.Errf("%s: %q is not a positive duration (e.g. 5s, 1m, 12h, 400d)", option, value)
	}
	return caddy.Duration(dur), nil
}

// parseSingleValue reads the one value an option takes: a missing value and
// a second one are both errors that name the option and the line.
func parseSingleValue(d *caddyfile.Dispenser, option string) (string, error) {
	if !d.NextArg() {
		return "", d.Errf("%s: missing value", option)
	}
	value := d.Val()
	if d.NextArg() {
		return "", d.Errf("%s: takes one value, got also %q", option, d.Val())
	}
	return value, nil
}

// parseFlag reads an on/off option: alone it means on, and "on", "true",
// "off" or "false" may follow, so a generated config can spell out either.
func parseFlag(d *caddyfile.Dispenser, option string) (bool, error) {
	if !d.NextArg() {
		return true, nil
	}
	var on bool
	switch d.Val() {
	case "on", "true":
		on = true
	case "off", "false":
	default:
		return false, d.Errf("%s: takes no value (or on/off), got %q", option, d.Val())
	}
	if d.NextArg() {
		return false, d.Errf("%s: takes no value, got also %q", option, d.Val())
	}
	return on, nil
}
