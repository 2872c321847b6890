# Unit tests of the default policy. Run them with `sovgate policy test`.
package sovgate_test

import data.sovgate

# ---- sovereign profile: residency ------------------------------------------

test_eu_address_allowed if {
	d := sovgate.decision with input as request("etat-civil", "api.example.fr", [address("192.0.2.10", "FR")], [])
	d == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_eea_address_allowed if {
	d := sovgate.decision with input as request("etat-civil", "api.example.no", [address("192.0.2.11", "NO")], [])
	d.allow
}

test_greece_is_gr_not_el if {
	sovgate.decision.allow with input as request("etat-civil", "a.example.gr", [address("192.0.2.12", "GR")], [])
	not sovgate.decision.allow with input as request("etat-civil", "a.example.gr", [address("192.0.2.12", "EL")], [])
}

test_us_address_denied if {
	d := sovgate.decision with input as us_request("etat-civil", "api.example.com")
	d == {
		"allow": false,
		"profile": "sovereign",
		"reasons": [{
			"code": "RESIDENCY_NON_EU",
			"ip": "203.0.113.7",
			"message": "203.0.113.7 is in US, outside the EU/EEA",
		}],
	}
}

test_unknown_country_denied if {
	d := sovgate.decision with input as request("etat-civil", "anycast.example", [address("192.0.2.20", "")], [])
	d == {
		"allow": false,
		"profile": "sovereign",
		"reasons": [{
			"code": "RESIDENCY_UNKNOWN",
			"ip": "192.0.2.20",
			"message": "the country of 192.0.2.20 is unknown",
		}],
	}
}

test_one_eu_and_one_us_address_denied if {
	addresses := [address("192.0.2.10", "FR"), address("203.0.113.7", "US")]
	d := sovgate.decision with input as request("etat-civil", "mixed.example", addresses, [])
	not d.allow
	d.reasons == [{
		"code": "RESIDENCY_NON_EU",
		"ip": "203.0.113.7",
		"message": "203.0.113.7 is in US, outside the EU/EEA",
	}]
}

test_every_address_outside_is_reported if {
	addresses := [address("203.0.113.7", "US"), address("198.51.100.1", "CN"), address("192.0.2.20", "")]
	d := sovgate.decision with input as request("etat-civil", "many.example", addresses, [])
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU", "RESIDENCY_NON_EU", "RESIDENCY_UNKNOWN"]
}

test_provider_region_wins_over_geoip if {
	# GeoIP places the address in the US, the provider says eu-west-3 (Paris).
	a := cloud_address("203.0.113.50", "US", "ovhcloud", "gra", "FR")
	sovgate.decision.allow with input as request("etat-civil", "s3.example.fr", [a], [ovhcloud])
}

test_provider_region_outside_denied if {
	a := cloud_address("192.0.2.50", "FR", "ovhcloud", "bhs", "CA")
	d := sovgate.decision with input as request("etat-civil", "bhs.example", [a], [ovhcloud])
	d.reasons == [{"code": "RESIDENCY_NON_EU", "ip": "192.0.2.50", "message": "192.0.2.50 is in CA, outside the EU/EEA"}]
}

# ---- sovereign profile: jurisdiction ---------------------------------------

test_us_provider_in_eu_region_denied if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	d := sovgate.decision with input as request("etat-civil", "bucket.s3.eu-west-3.amazonaws.com", [a], [aws])
	d == {
		"allow": false,
		"profile": "sovereign",
		"reasons": [{
			"code": "JURISDICTION_NON_EU",
			"message": "aws (Amazon Web Services, headquartered in US) is subject to US law",
		}],
	}
}

test_eu_provider_allowed if {
	a := cloud_address("192.0.2.40", "FR", "ovhcloud", "gra", "FR")
	d := sovgate.decision with input as request("etat-civil", "storage.gra.example", [a], [ovhcloud])
	d == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_headquarters_counts_even_without_jurisdictions if {
	provider := object.union(aws, {"jurisdictions": null})
	d := sovgate.decision with input as request("etat-civil", "x.example", [address("192.0.2.30", "DE")], [provider])
	codes(d) == ["JURISDICTION_NON_EU"]
}

test_one_reason_per_foreign_jurisdiction if {
	provider := {"id": "acme", "name": "", "headquarters": "DE", "jurisdictions": ["US", "CN", "DE"], "matched_by": "asn"}
	d := sovgate.decision with input as request("etat-civil", "x.example", [address("192.0.2.30", "DE")], [provider])
	d.reasons == [
		{"code": "JURISDICTION_NON_EU", "message": "acme is subject to CN law"},
		{"code": "JURISDICTION_NON_EU", "message": "acme is subject to US law"},
	]
}

test_provider_without_headquarters_named_by_id if {
	provider := {"id": "acme", "name": "Acme", "headquarters": "", "jurisdictions": ["US"], "matched_by": "asn"}
	d := sovgate.decision with input as request("etat-civil", "x.example", [address("192.0.2.30", "DE")], [provider])
	d.reasons == [{"code": "JURISDICTION_NON_EU", "message": "acme is subject to US law"}]
}

test_us_address_and_us_provider_both_reported if {
	a := cloud_address("203.0.113.7", "US", "aws", "us-east-1", "US")
	d := sovgate.decision with input as request("etat-civil", "api.example.com", [a], [aws])
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

# ---- profiles --------------------------------------------------------------

test_unknown_app_gets_default_profile if {
	d := sovgate.decision with input as us_request("unknown", "api.example.com")
		with data.sovgate.apps as {"meteo": {"profile": "open"}}
	d.profile == "sovereign"
	not d.allow
}

test_default_profile_is_data if {
	d := sovgate.decision with input as us_request("intranet", "api.example.com")
		with data.sovgate.default_profile as "open"
	d == {"allow": true, "profile": "open", "reasons": []}
}

test_app_without_profile_gets_default if {
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.apps as {"visio": {"description": "video calls"}}
	d.profile == "sovereign"
}

test_residency_profile_ignores_jurisdiction if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	d := sovgate.decision with input as request("visio", "x.amazonaws.com", [a], [aws])
		with data.sovgate.apps as {"visio": {"profile": "residency"}}
	d == {"allow": true, "profile": "residency", "reasons": []}
}

test_residency_profile_checks_location if {
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.apps as {"visio": {"profile": "residency"}}
	not d.allow
	d.profile == "residency"
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_residency_profile_checks_unknown_country if {
	d := sovgate.decision with input as request("visio", "x.example", [address("192.0.2.20", "")], [])
		with data.sovgate.apps as {"visio": {"profile": "residency"}}
	codes(d) == ["RESIDENCY_UNKNOWN"]
}

test_open_profile_allows_everything if {
	a := cloud_address("203.0.113.7", "US", "aws", "us-east-1", "US")
	addresses := [a, address("192.0.2.20", "")]
	d := sovgate.decision with input as request("meteo", "api.weather.example", addresses, [aws])
		with data.sovgate.apps as {"meteo": {"profile": "open"}}
	d == {"allow": true, "profile": "open", "reasons": []}
}

test_unknown_profile_denies if {
	d := sovgate.decision with input as request("visio", "api.example.fr", [address("192.0.2.10", "FR")], [])
		with data.sovgate.apps as {"visio": {"profile": "sovreign"}}
	d == {
		"allow": false,
		"profile": "sovreign",
		"reasons": [{
			"code": "PROFILE_UNKNOWN",
			"message": "app \"visio\" uses profile \"sovreign\", which is not defined in data.sovgate.profiles",
		}],
	}
}

test_unknown_default_profile_denies if {
	d := sovgate.decision with input as request("visio", "api.example.fr", [address("192.0.2.10", "FR")], [])
		with data.sovgate.default_profile as "strict"
	not d.allow
	codes(d) == ["PROFILE_UNKNOWN"]
}

test_exception_does_not_cover_unknown_profile if {
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.apps as {"visio": {"profile": "sovreign"}}
		with data.sovgate.exceptions as {"e1": exception("visio", "api.example.com", "2026-12-31")}
	not d.allow
	codes(d) == ["PROFILE_UNKNOWN"]
}

test_custom_profile_from_data if {
	profiles := object.union(data.sovgate.profiles, {"jurisdiction-only": {"checks": ["jurisdiction"]}})
	a := cloud_address("203.0.113.7", "US", "ovhcloud", "us", "US")
	d := sovgate.decision with input as request("x", "h.example", [a], [ovhcloud])
		with data.sovgate.profiles as profiles
		with data.sovgate.apps as {"x": {"profile": "jurisdiction-only"}}
	d == {"allow": true, "profile": "jurisdiction-only", "reasons": []}
}

# ---- adequacy decisions ----------------------------------------------------

test_adequacy_not_accepted_by_default if {
	d := sovgate.decision with input as request("visio", "x.example.ch", [address("192.0.2.60", "CH")], [])
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_adequacy_accepted_when_app_opts_in if {
	d := sovgate.decision with input as request("visio", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as {"visio": {"accept_adequacy": true}}
	d == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_adequacy_opt_in_covers_jurisdiction if {
	provider := {"id": "infomaniak", "name": "Infomaniak", "headquarters": "CH", "jurisdictions": ["CH"], "matched_by": "asn"}
	d := sovgate.decision with input as request("visio", "x.example.ch", [address("192.0.2.60", "CH")], [provider])
		with data.sovgate.apps as {"visio": {"accept_adequacy": true}}
	d.allow
}

test_partial_adequacy_never_accepted if {
	d := sovgate.decision with input as request("visio", "x.example", [address("203.0.113.7", "US")], [aws])
		with data.sovgate.apps as {"visio": {"accept_adequacy": true}}
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

test_adequacy_opt_in_is_per_app if {
	d := sovgate.decision with input as request("etat-civil", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as {"visio": {"accept_adequacy": true}}
	not d.allow
}

# ---- exceptions ------------------------------------------------------------

test_exception_applies if {
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.exceptions as {"2026-017": exception("visio", "api.example.com", "2026-12-31")}
	d == {
		"allow": true,
		"profile": "sovereign",
		"reasons": [
			{
				"code": "RESIDENCY_NON_EU",
				"ip": "203.0.113.7",
				"message": "203.0.113.7 is in US, outside the EU/EEA",
			},
			{
				"code": "EXCEPTION_APPLIED",
				"exception": "2026-017",
				"message": "exception \"2026-017\" allows this transfer until 2026-12-31 (approved by DPO: migration planned)",
			},
		],
	}
}

test_exception_covers_jurisdiction if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	d := sovgate.decision with input as request("visio", "x.amazonaws.com", [a], [aws])
		with data.sovgate.exceptions as {"e1": exception("visio", "x.amazonaws.com", "2026-12-31")}
	d.allow
	codes(d) == ["JURISDICTION_NON_EU", "EXCEPTION_APPLIED"]
}

test_exception_valid_through_expiry_day if {
	d := sovgate.decision with input as request_at("visio", "api.example.com", [address("203.0.113.7", "US")], [], "2026-12-31T23:59:59Z")
		with data.sovgate.exceptions as {"e1": exception("visio", "api.example.com", "2026-12-31")}
	d.allow
}

test_expired_exception_ignored if {
	d := sovgate.decision with input as request_at("visio", "api.example.com", [address("203.0.113.7", "US")], [], "2027-01-01T00:00:00Z")
		with data.sovgate.exceptions as {"e1": exception("visio", "api.example.com", "2026-12-31")}
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_expiry_compared_in_utc if {
	# 00:30 in Paris on 1 January is still 31 December in UTC.
	d := sovgate.decision with input as request_at("visio", "api.example.com", [address("203.0.113.7", "US")], [], "2027-01-01T00:30:00+01:00")
		with data.sovgate.exceptions as {"e1": exception("visio", "api.example.com", "2026-12-31")}
	d.allow
}

test_exception_with_bad_date_ignored if {
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("visio", "api.example.com", "31/12/2026")}
	not d.allow
}

test_exception_without_approval_ignored if {
	e := object.remove(exception("visio", "api.example.com", "2026-12-31"), ["approved_by"])
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.exceptions as {"e1": e}
	not d.allow
}

test_exception_for_other_app_ignored if {
	d := sovgate.decision with input as us_request("etat-civil", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("visio", "api.example.com", "2026-12-31")}
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_exception_for_every_app if {
	d := sovgate.decision with input as us_request("etat-civil", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("*", "api.example.com", "2026-12-31")}
	d.allow
}

test_exception_for_other_host_ignored if {
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("visio", "cdn.example.com", "2026-12-31")}
	not d.allow
}

test_wildcard_exception_covers_subdomains if {
	exceptions := {"e1": exception("visio", "*.example.com", "2026-12-31")}
	sovgate.decision.allow with input as us_request("visio", "api.example.com") with data.sovgate.exceptions as exceptions
	sovgate.decision.allow with input as us_request("visio", "a.b.example.com") with data.sovgate.exceptions as exceptions
}

test_wildcard_exception_does_not_cover_the_domain_itself if {
	exceptions := {"e1": exception("visio", "*.example.com", "2026-12-31")}
	not sovgate.decision.allow with input as us_request("visio", "example.com") with data.sovgate.exceptions as exceptions
	not sovgate.decision.allow with input as us_request("visio", "badexample.com") with data.sovgate.exceptions as exceptions
}

test_exception_host_is_case_insensitive if {
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("visio", "API.Example.COM", "2026-12-31")}
	d.allow
}

test_exception_without_violation_not_reported if {
	d := sovgate.decision with input as request("visio", "api.example.fr", [address("192.0.2.10", "FR")], [])
		with data.sovgate.exceptions as {"e1": exception("visio", "api.example.fr", "2026-12-31")}
	d == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_two_exceptions_both_reported if {
	d := sovgate.decision with input as us_request("visio", "api.example.com")
		with data.sovgate.exceptions as {
			"a": exception("visio", "api.example.com", "2026-12-31"),
			"b": exception("*", "*.example.com", "2027-06-30"),
		}
	d.allow
	codes(d) == ["RESIDENCY_NON_EU", "EXCEPTION_APPLIED", "EXCEPTION_APPLIED"]
	[r.exception | some r in d.reasons; r.code == "EXCEPTION_APPLIED"] == ["a", "b"]
}

test_exception_needs_a_time if {
	d := sovgate.decision with input as object.remove(us_request("visio", "api.example.com"), ["time"])
		with data.sovgate.exceptions as {"e1": exception("visio", "api.example.com", "2026-12-31")}
	not d.allow
}
