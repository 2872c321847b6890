# Unit tests of the default policy. Run them with `sovgate policy test`.
package sovgate_test

import data.sovgate

# ---- sovereign profile: residency ------------------------------------------

test_eu_address_allowed if {
	d := sovgate.decision with input as request("test-etat-civil", "api.example.fr", [address("192.0.2.10", "FR")], [])
	english(d) == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_eea_address_allowed if {
	d := sovgate.decision with input as request("test-etat-civil", "api.example.no", [address("192.0.2.11", "NO")], [])
	d.allow
}

test_greece_is_gr_not_el if {
	sovgate.decision.allow with input as request("test-etat-civil", "a.example.gr", [address("192.0.2.12", "GR")], [])
	not sovgate.decision.allow with input as request("test-etat-civil", "a.example.gr", [address("192.0.2.12", "EL")], [])
}

test_us_address_denied if {
	d := sovgate.decision with input as us_request("test-etat-civil", "api.example.com")
	english(d) == {
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
	d := sovgate.decision with input as request("test-etat-civil", "anycast.example", [address("192.0.2.20", "")], [])
	english(d) == {
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
	d := sovgate.decision with input as request("test-etat-civil", "mixed.example", addresses, [])
	not d.allow
	english(d).reasons == [{
		"code": "RESIDENCY_NON_EU",
		"ip": "203.0.113.7",
		"message": "203.0.113.7 is in US, outside the EU/EEA",
	}]
}

test_every_address_outside_is_reported if {
	addresses := [address("203.0.113.7", "US"), address("198.51.100.1", "CN"), address("192.0.2.20", "")]
	d := sovgate.decision with input as request("test-etat-civil", "many.example", addresses, [])
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU", "RESIDENCY_NON_EU", "RESIDENCY_UNKNOWN"]
}

test_provider_region_wins_over_geoip if {
	# GeoIP places the address in the US, the provider says eu-west-3 (Paris).
	a := cloud_address("203.0.113.50", "US", "ovhcloud", "gra", "FR")
	sovgate.decision.allow with input as request("test-etat-civil", "s3.example.fr", [a], [ovhcloud])
}

test_provider_region_outside_denied if {
	a := cloud_address("192.0.2.50", "FR", "ovhcloud", "bhs", "CA")
	d := sovgate.decision with input as request("test-etat-civil", "bhs.example", [a], [ovhcloud])
	english(d).reasons == [{"code": "RESIDENCY_NON_EU", "ip": "192.0.2.50", "message": "192.0.2.50 is in CA, outside the EU/EEA"}]
}

# ---- sovereign profile: jurisdiction ---------------------------------------

test_us_provider_in_eu_region_denied if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	d := sovgate.decision with input as request("test-etat-civil", "bucket.s3.eu-west-3.amazonaws.com", [a], [aws])
	english(d) == {
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
	d := sovgate.decision with input as request("test-etat-civil", "storage.gra.example", [a], [ovhcloud])
	english(d) == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_every_listed_jurisdiction_counts if {
	provider := object.union(aws, {"jurisdictions": ["DE", "US"]})
	d := sovgate.decision with input as request("test-etat-civil", "x.example", [address("192.0.2.30", "DE")], [provider])
	codes(d) == ["JURISDICTION_NON_EU"]
}

test_one_reason_per_foreign_jurisdiction if {
	provider := {"id": "acme", "name": "", "headquarters": "DE", "jurisdictions": ["US", "CN", "DE"], "matched_by": "asn"}
	d := sovgate.decision with input as request("test-etat-civil", "x.example", [address("192.0.2.30", "DE")], [provider])
	english(d).reasons == [
		{"code": "JURISDICTION_NON_EU", "message": "acme is subject to CN law"},
		{"code": "JURISDICTION_NON_EU", "message": "acme is subject to US law"},
	]
}

test_provider_without_headquarters_named_by_id if {
	provider := {"id": "acme", "name": "Acme", "headquarters": "", "jurisdictions": ["US"], "matched_by": "asn"}
	d := sovgate.decision with input as request("test-etat-civil", "x.example", [address("192.0.2.30", "DE")], [provider])
	english(d).reasons == [{"code": "JURISDICTION_NON_EU", "message": "acme is subject to US law"}]
}

test_us_address_and_us_provider_both_reported if {
	a := cloud_address("203.0.113.7", "US", "aws", "us-east-1", "US")
	d := sovgate.decision with input as request("test-etat-civil", "api.example.com", [a], [aws])
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

# ---- operators the catalogue does not know ---------------------------------

test_unknown_operator_denied if {
	d := sovgate.decision with input as request("test-etat-civil", "x.example.fr", [unknown_address("192.0.2.21", "FR")], [])
	english(d) == {
		"allow": false,
		"profile": "sovereign",
		"reasons": [{
			"code": "JURISDICTION_UNKNOWN",
			"ip": "192.0.2.21",
			"message": "nobody knows who operates 192.0.2.21: no catalogue entry matches it and its network has no known registration",
		}],
	}
}

test_unknown_operator_not_checked_by_residency_profile if {
	d := sovgate.decision with input as request("test-visio", "x.example.fr", [unknown_address("192.0.2.21", "FR")], [])
		with data.sovgate.apps as {"test-visio": {"profile": "residency"}}
	d.allow
}

test_inferred_foreign_jurisdiction_denied if {
	a := object.union(address("192.0.2.22", "FR"), {"asn": 14340, "provider": "as14340"})
	d := sovgate.decision with input as request("test-etat-civil", "crm.example.com", [a], [inferred(14340, "Salesforce.com, Inc.", "US")])
	english(d) == {
		"allow": false,
		"profile": "sovereign",
		"reasons": [{
			"code": "JURISDICTION_NON_EU",
			"message": "as14340 (Salesforce.com, Inc.) is presumed subject to US law: inferred from the registration of its network, no catalogue entry",
		}],
	}
}

test_inferred_eu_jurisdiction_allowed if {
	a := object.union(address("192.0.2.23", "FR"), {"asn": 3215, "provider": "as3215"})
	d := sovgate.decision with input as request("test-etat-civil", "www.example.fr", [a], [inferred(3215, "Orange S.A.", "FR")])
	english(d) == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_catalogue_fact_reported_as_such if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	d := sovgate.decision with input as request("test-etat-civil", "x.example", [a], [aws])
	not contains(d.reasons[0].message, "presumed")
}

# ---- EU territory: outermost regions and Åland -----------------------------

test_outermost_regions_and_aland_are_eu_territory if {
	every code in ["GP", "GF", "MQ", "RE", "YT", "MF", "AX"] {
		sovgate.decision.allow with input as request("test-etat-civil", "x.example", [address("192.0.2.24", code)], [])
	}
}

test_overseas_countries_outside_the_eu_denied if {
	# French overseas collectivities that are not EU territory.
	every code in ["NC", "PF", "PM", "WF", "BL", "TF"] {
		not sovgate.decision.allow with input as request("test-etat-civil", "x.example", [address("192.0.2.25", code)], [])
	}
}

test_outermost_region_registration_allowed if {
	# A network of Réunion, its operator known only from the registration.
	a := object.union(address("192.0.2.26", "RE"), {"asn": 37002, "provider": "as37002"})
	sovgate.decision.allow with input as request("test-etat-civil", "x.example.re", [a], [inferred(37002, "Reunicable SAS", "RE")])
}

# ---- internal networks -----------------------------------------------------

test_internal_destinations_allowed_in_every_profile if {
	some profile, _ in data.sovgate.profiles
	d := sovgate.decision with input as request("test-x", "intranet.ville.example", [internal_address("10.20.1.1")], [])
		with data.sovgate.apps as {"test-x": {"profile": profile}}
	d.allow
	english(d).reasons == []
}

test_internal_does_not_cover_external_addresses if {
	addresses := [internal_address("10.20.1.1"), address("203.0.113.7", "US")]
	d := sovgate.decision with input as request("test-etat-civil", "mixed.ville.example", addresses, [])
	codes(d) == ["RESIDENCY_NON_EU"]
}

# ---- profiles --------------------------------------------------------------

test_unknown_app_gets_default_profile if {
	d := sovgate.decision with input as us_request("unknown", "api.example.com")
		with data.sovgate.apps as {"test-meteo": {"profile": "open"}}
	d.profile == "sovereign"
	not d.allow
}

test_unidentified_traffic_gets_unknown_profile if {
	unidentified := object.union(us_request("unknown", "api.example.com"), {"source": {"app": "unknown", "ip": "10.9.9.9", "identified_by": "none", "categories": []}})
	d := sovgate.decision with input as unidentified
		with data.sovgate.unknown_profile as "residency"
		with data.sovgate.default_profile as "open"
	d.profile == "residency"
	not d.allow
}

test_identified_app_does_not_get_unknown_profile if {
	d := sovgate.decision with input as us_request("test-intranet", "api.example.com")
		with data.sovgate.unknown_profile as "residency"
		with data.sovgate.default_profile as "open"
	d.profile == "open"
}

test_unknown_profile_missing_falls_back_to_default if {
	unidentified := object.union(us_request("unknown", "api.example.com"), {"source": {"identified_by": "none"}})
	d := sovgate.decision with input as unidentified
		with data.sovgate.unknown_profile as null
		with data.sovgate.default_profile as "open"
	d.profile == "open"
}

test_default_profile_is_data if {
	d := sovgate.decision with input as us_request("test-intranet", "api.example.com")
		with data.sovgate.default_profile as "open"
	english(d) == {"allow": true, "profile": "open", "reasons": []}
}

test_app_without_profile_gets_default if {
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.apps as {"test-visio": {"description": "video calls"}}
	d.profile == "sovereign"
}

test_residency_profile_ignores_jurisdiction if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	d := sovgate.decision with input as request("test-visio", "x.amazonaws.com", [a], [aws])
		with data.sovgate.apps as {"test-visio": {"profile": "residency"}}
	english(d) == {"allow": true, "profile": "residency", "reasons": []}
}

test_residency_profile_checks_location if {
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.apps as {"test-visio": {"profile": "residency"}}
	not d.allow
	d.profile == "residency"
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_residency_profile_checks_unknown_country if {
	d := sovgate.decision with input as request("test-visio", "x.example", [address("192.0.2.20", "")], [])
		with data.sovgate.apps as {"test-visio": {"profile": "residency"}}
	codes(d) == ["RESIDENCY_UNKNOWN"]
}

test_open_profile_allows_everything if {
	a := cloud_address("203.0.113.7", "US", "aws", "us-east-1", "US")
	addresses := [a, address("192.0.2.20", "")]
	d := sovgate.decision with input as request("test-meteo", "api.weather.example", addresses, [aws])
		with data.sovgate.apps as {"test-meteo": {"profile": "open"}}
	english(d) == {"allow": true, "profile": "open", "reasons": []}
}

test_unknown_profile_denies if {
	d := sovgate.decision with input as request("test-visio", "api.example.fr", [address("192.0.2.10", "FR")], [])
		with data.sovgate.apps as {"test-visio": {"profile": "sovreign"}}
	english(d) == {
		"allow": false,
		"profile": "sovreign",
		"reasons": [{
			"code": "PROFILE_UNKNOWN",
			"message": "app \"test-visio\" uses profile \"sovreign\", which is not defined in data.sovgate.profiles",
		}],
	}
}

test_unknown_default_profile_denies if {
	d := sovgate.decision with input as request("test-visio", "api.example.fr", [address("192.0.2.10", "FR")], [])
		with data.sovgate.default_profile as "strict"
	not d.allow
	codes(d) == ["PROFILE_UNKNOWN"]
}

test_exception_does_not_cover_unknown_profile if {
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.apps as {"test-visio": {"profile": "sovreign"}}
		with data.sovgate.exceptions as {"e1": exception("test-visio", "api.example.com", "2026-12-31")}
	not d.allow
	codes(d) == ["PROFILE_UNKNOWN"]
}

test_custom_profile_from_data if {
	profiles := object.union(data.sovgate.profiles, {"jurisdiction-only": {"checks": ["jurisdiction"]}})
	a := cloud_address("203.0.113.7", "US", "ovhcloud", "us", "US")
	d := sovgate.decision with input as request("test-x", "h.example", [a], [ovhcloud])
		with data.sovgate.profiles as profiles
		with data.sovgate.apps as {"test-x": {"profile": "jurisdiction-only"}}
	english(d) == {"allow": true, "profile": "jurisdiction-only", "reasons": []}
}

# ---- adequacy decisions ----------------------------------------------------

test_adequacy_not_accepted_by_default if {
	d := sovgate.decision with input as request("test-visio", "x.example.ch", [address("192.0.2.60", "CH")], [])
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_adequacy_expired_not_accepted if {
	adequacy := object.union(data.sovgate.adequacy, {"CH": object.union(data.sovgate.adequacy.CH, {"valid_until": "2026-11-27"})})
	d := sovgate.decision with input as request("test-visio", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
		with data.sovgate.adequacy as adequacy
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_adequacy_valid_through_its_last_day if {
	adequacy := object.union(data.sovgate.adequacy, {"CH": object.union(data.sovgate.adequacy.CH, {"valid_until": "2026-11-28"})})
	d := sovgate.decision with input as request("test-visio", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
		with data.sovgate.adequacy as adequacy
	d.allow
}

test_adequacy_for_the_law_enforcement_directive_only_not_accepted if {
	adequacy := object.union(data.sovgate.adequacy, {"CH": object.union(data.sovgate.adequacy.CH, {"scope": ["led"]})})
	d := sovgate.decision with input as request("test-visio", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
		with data.sovgate.adequacy as adequacy
	not d.allow
}

test_uk_adequacy_renewed_until_2031 if {
	data.sovgate.adequacy.GB.valid_until == "2031-12-27"
	"led" in data.sovgate.adequacy.GB.scope
	d := sovgate.decision with input as request("test-visio", "x.example.uk", [address("192.0.2.61", "GB")], [])
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
	d.allow
	later := sovgate.decision with input as request_at("test-visio", "x.example.uk", [address("192.0.2.61", "GB")], [], "2031-12-28T00:00:00Z")
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
	not later.allow
}

test_adequacy_accepted_when_app_opts_in if {
	d := sovgate.decision with input as request("test-visio", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
	english(d) == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_adequacy_opt_in_covers_jurisdiction if {
	provider := {"id": "infomaniak", "name": "Infomaniak", "headquarters": "CH", "jurisdictions": ["CH"], "matched_by": "asn"}
	d := sovgate.decision with input as request("test-visio", "x.example.ch", [address("192.0.2.60", "CH")], [provider])
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
	d.allow
}

test_partial_adequacy_never_accepted if {
	d := sovgate.decision with input as request("test-visio", "x.example", [address("203.0.113.7", "US")], [aws])
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

test_adequacy_opt_in_is_per_app if {
	d := sovgate.decision with input as request("test-etat-civil", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as {"test-visio": {"accept_adequacy": true}}
	not d.allow
}

# ---- exceptions ------------------------------------------------------------

test_exception_applies if {
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.exceptions as {"2026-017": exception("test-visio", "api.example.com", "2026-12-31")}
	english(d) == {
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
	d := sovgate.decision with input as request("test-visio", "x.amazonaws.com", [a], [aws])
		with data.sovgate.exceptions as {"e1": exception("test-visio", "x.amazonaws.com", "2026-12-31")}
	d.allow
	codes(d) == ["JURISDICTION_NON_EU", "EXCEPTION_APPLIED"]
}

test_exception_valid_through_expiry_day if {
	d := sovgate.decision with input as request_at("test-visio", "api.example.com", [address("203.0.113.7", "US")], [], "2026-12-31T23:59:59Z")
		with data.sovgate.exceptions as {"e1": exception("test-visio", "api.example.com", "2026-12-31")}
	d.allow
}

test_expired_exception_ignored if {
	d := sovgate.decision with input as request_at("test-visio", "api.example.com", [address("203.0.113.7", "US")], [], "2027-01-01T00:00:00Z")
		with data.sovgate.exceptions as {"e1": exception("test-visio", "api.example.com", "2026-12-31")}
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_expiry_compared_in_utc if {
	# 00:30 in Paris on 1 January is still 31 December in UTC.
	d := sovgate.decision with input as request_at("test-visio", "api.example.com", [address("203.0.113.7", "US")], [], "2027-01-01T00:30:00+01:00")
		with data.sovgate.exceptions as {"e1": exception("test-visio", "api.example.com", "2026-12-31")}
	d.allow
}

test_exception_with_bad_date_ignored if {
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("test-visio", "api.example.com", "31/12/2026")}
	not d.allow
}

test_exception_without_approval_ignored if {
	e := object.remove(exception("test-visio", "api.example.com", "2026-12-31"), ["approved_by"])
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.exceptions as {"e1": e}
	not d.allow
}

test_exception_for_other_app_ignored if {
	d := sovgate.decision with input as us_request("test-etat-civil", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("test-visio", "api.example.com", "2026-12-31")}
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_exception_for_every_app if {
	d := sovgate.decision with input as us_request("test-etat-civil", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("*", "api.example.com", "2026-12-31")}
	d.allow
}

test_exception_for_other_host_ignored if {
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("test-visio", "cdn.example.com", "2026-12-31")}
	not d.allow
}

test_wildcard_exception_covers_subdomains if {
	exceptions := {"e1": exception("test-visio", "*.example.com", "2026-12-31")}
	sovgate.decision.allow with input as us_request("test-visio", "api.example.com") with data.sovgate.exceptions as exceptions
	sovgate.decision.allow with input as us_request("test-visio", "a.b.example.com") with data.sovgate.exceptions as exceptions
}

test_wildcard_exception_does_not_cover_the_domain_itself if {
	exceptions := {"e1": exception("test-visio", "*.example.com", "2026-12-31")}
	not sovgate.decision.allow with input as us_request("test-visio", "example.com") with data.sovgate.exceptions as exceptions
	not sovgate.decision.allow with input as us_request("test-visio", "badexample.com") with data.sovgate.exceptions as exceptions
}

test_exception_host_is_case_insensitive if {
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.exceptions as {"e1": exception("test-visio", "API.Example.COM", "2026-12-31")}
	d.allow
}

test_exception_without_violation_not_reported if {
	d := sovgate.decision with input as request("test-visio", "api.example.fr", [address("192.0.2.10", "FR")], [])
		with data.sovgate.exceptions as {"e1": exception("test-visio", "api.example.fr", "2026-12-31")}
	english(d) == {"allow": true, "profile": "sovereign", "reasons": []}
}

test_two_exceptions_both_reported if {
	d := sovgate.decision with input as us_request("test-visio", "api.example.com")
		with data.sovgate.exceptions as {
			"a": exception("test-visio", "api.example.com", "2026-12-31"),
			"b": exception("*", "*.example.com", "2027-06-30"),
		}
	d.allow
	codes(d) == ["RESIDENCY_NON_EU", "EXCEPTION_APPLIED", "EXCEPTION_APPLIED"]
	[r.exception | some r in d.reasons; r.code == "EXCEPTION_APPLIED"] == ["a", "b"]
}

test_exception_needs_a_time if {
	d := sovgate.decision with input as object.remove(us_request("test-visio", "api.example.com"), ["time"])
		with data.sovgate.exceptions as {"e1": exception("test-visio", "api.example.com", "2026-12-31")}
	not d.allow
}

# ---- hosts allowed for one app ---------------------------------------------

test_allowed_host_tolerates_violations if {
	d := sovgate.decision with input as us_request("test-visio", "api.visio-saas.example")
		with data.sovgate.apps as {"test-visio": {"allowed_hosts": ["api.visio-saas.example"]}}
		with data.sovgate.exceptions as {}
	english(d) == {
		"allow": true,
		"profile": "sovereign",
		"reasons": [
			{
				"code": "RESIDENCY_NON_EU",
				"ip": "203.0.113.7",
				"message": "203.0.113.7 is in US, outside the EU/EEA",
			},
			{
				"code": "ALLOWED_FOR_APP",
				"message": "test-visio may reach api.visio-saas.example: the app registry allows it (allowed_hosts)",
			},
		],
	}
}

test_allowed_host_is_for_that_app_only if {
	d := sovgate.decision with input as us_request("test-etat-civil", "api.visio-saas.example")
		with data.sovgate.apps as {"test-visio": {"allowed_hosts": ["api.visio-saas.example"]}}
		with data.sovgate.exceptions as {}
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_allowed_host_wildcard if {
	apps := {"test-visio": {"allowed_hosts": ["*.visio-saas.example"]}}
	sovgate.decision.allow with input as us_request("test-visio", "eu.media.visio-saas.example") with data.sovgate.apps as apps
	not sovgate.decision.allow with input as us_request("test-visio", "visio-saas.example") with data.sovgate.apps as apps
}

test_allowed_host_and_exception_both_reported if {
	d := sovgate.decision with input as us_request("test-visio", "api.visio-saas.example")
		with data.sovgate.apps as {"test-visio": {"allowed_hosts": ["api.visio-saas.example"]}}
		with data.sovgate.exceptions as {"e1": exception("*", "api.visio-saas.example", "2026-12-31")}
	codes(d) == ["RESIDENCY_NON_EU", "ALLOWED_FOR_APP", "EXCEPTION_APPLIED"]
}

test_allowed_host_does_not_cover_unknown_profile if {
	d := sovgate.decision with input as us_request("test-visio", "api.visio-saas.example")
		with data.sovgate.apps as {"test-visio": {"profile": "sovreign", "allowed_hosts": ["api.visio-saas.example"]}}
	codes(d) == ["PROFILE_UNKNOWN"]
}

test_no_violation_no_allowed_host_reason if {
	d := sovgate.decision with input as request("test-visio", "api.example.fr", [address("192.0.2.10", "FR")], [])
		with data.sovgate.apps as {"test-visio": {"allowed_hosts": ["api.example.fr"]}}
	english(d) == {"allow": true, "profile": "sovereign", "reasons": []}
}
