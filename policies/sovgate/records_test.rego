# Unit tests of exceptions and allowed hosts as legal records: what they
# cover, their dates and duration, their legal fields.
package sovgate_test

import data.sovgate

# A US provider's Paris region: JURISDICTION_NON_EU only.
aws_paris := request("test-visio", "api.visio-saas.example", [cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")], [aws])

# A US provider in us-east-1: RESIDENCY_NON_EU and JURISDICTION_NON_EU.
aws_virginia := request("test-visio", "api.visio-saas.example", [cloud_address("203.0.113.7", "US", "aws", "us-east-1", "US")], [aws])

with_exceptions(req, exceptions) := d if {
	d := sovgate.decision with input as req with data.sovgate.exceptions as exceptions
}

# ---- exceptions ------------------------------------------------------------

test_exception_tolerates_the_codes_it_covers if {
	d := with_exceptions(aws_paris, {"2026-021": legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"])})
	english(d) == {"allow": true, "profile": "sovereign", "reasons": [
		{"code": "JURISDICTION_NON_EU", "message": "aws (Amazon Web Services, headquartered in US) is subject to US law"},
		{
			"code": "EXCEPTION_APPLIED", "exception": "2026-021",
			"message": "exception \"2026-021\" allows this transfer until 2027-01-31 (approved by DPO, decision 2026-021: videoconferencing contract, SCCs signed); legal basis: GDPR article 46 (appropriate safeguards); assessment: AITD-2026-04",
		},
	]}
	d.reasons[1].messages.fr == "l'exception « 2026-021 » autorise ce transfert jusqu'au 2027-01-31 (approuvée par DPO, decision 2026-021 : videoconferencing contract, SCCs signed) ; base légale : article 46 du RGPD (garanties appropriées) ; analyse d'impact : AITD-2026-04"
}

test_exception_does_not_tolerate_a_code_it_does_not_cover if {
	# Approved for AWS Paris (a jurisdiction problem), the exception does
	# not follow the service to us-east-1 (a residency problem).
	d := with_exceptions(aws_virginia, {"2026-021": legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"])})
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

test_two_exceptions_cover_together if {
	exceptions := {
		"a-jurisdiction": legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"]),
		"b-residency": legal_exception("*", "*.visio-saas.example", ["RESIDENCY_NON_EU"]),
	}
	d := with_exceptions(aws_virginia, exceptions)
	d.allow
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU", "EXCEPTION_APPLIED", "EXCEPTION_APPLIED"]
	[r.exception | some r in d.reasons; r.code == "EXCEPTION_APPLIED"] == ["a-jurisdiction", "b-residency"]
}

test_exception_that_tolerated_nothing_is_not_listed if {
	exceptions := {
		"a": legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"]),
		"b": legal_exception("test-visio", "api.visio-saas.example", ["QUALIFICATION_MISSING"]),
	}
	d := with_exceptions(aws_paris, exceptions)
	d.allow
	[r.exception | some r in d.reasons; r.code == "EXCEPTION_APPLIED"] == ["a"]
}

test_exception_of_the_earlier_format_covers_every_code if {
	d := with_exceptions(aws_virginia, {"old": exception("test-visio", "api.visio-saas.example", "2026-12-31")})
	d.allow
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU", "EXCEPTION_APPLIED"]
}

test_exception_applies_from_its_start_day if {
	e := {"e": object.union(legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"]), {"starts": "2026-11-28", "expires": "2026-12-31"})}
	with_exceptions(request_at("test-visio", "api.visio-saas.example", aws_paris.destination.addresses, [aws], "2026-11-28T00:00:00Z"), e).allow
	not with_exceptions(request_at("test-visio", "api.visio-saas.example", aws_paris.destination.addresses, [aws], "2026-11-27T23:59:59Z"), e).allow
}

test_exception_longer_than_the_maximum_does_not_apply if {
	base := legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"])

	# 365 days, both counted: in force.
	year := {"e": object.union(base, {"starts": "2026-01-01", "expires": "2026-12-31"})}
	with_exceptions(aws_paris, year).allow

	# 366 days: never in force.
	longer := {"e": object.union(base, {"starts": "2026-01-01", "expires": "2027-01-01"})}
	not with_exceptions(aws_paris, longer).allow
}

test_longest_duration_is_data if {
	e := {"e": legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"])}
	not with_exceptions(aws_paris, e).allow with data.sovgate.exception_max_days as 90
	with_exceptions(aws_paris, e).allow with data.sovgate.exception_max_days as 400
}

test_exception_with_wrong_legal_fields_does_not_apply if {
	base := legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"])
	every change in [
		{"legal_basis": "art 46"},
		{"legal_basis": "consent"},
		{"covers": []},
		{"covers": "JURISDICTION_NON_EU"},
		{"covers": [1]},
		{"assessment": ""},
		{"starts": "01/02/2026"},
		{"starts": "2027-02-01"},
	] {
		not with_exceptions(aws_paris, {"e": object.union(base, change)}).allow
	}
}

test_every_legal_basis if {
	every basis, _ in data.sovgate.legal_bases {
		e := {"e": object.union(legal_exception("test-visio", "api.visio-saas.example", ["JURISDICTION_NON_EU"]), {"legal_basis": basis})}
		d := with_exceptions(aws_paris, e)
		d.allow
		contains(d.reasons[1].message, data.sovgate.legal_bases[basis].label.en)
		contains(d.reasons[1].messages.fr, data.sovgate.legal_bases[basis].label.fr)
	}
	object.keys(data.sovgate.legal_bases) == {"art45", "art46", "art49", "non-personal"}
}

test_exception_never_covers_a_configuration_mistake if {
	d := sovgate.decision with input as aws_paris
		with data.sovgate.apps as app_with_profile("test-visio", "sovreign")
		with data.sovgate.exceptions as {"e": legal_exception("test-visio", "api.visio-saas.example", ["PROFILE_UNKNOWN"])}
	codes(d) == ["PROFILE_UNKNOWN"]
}

# ---- allowed hosts ---------------------------------------------------------

with_allowed_hosts(req, hosts) := d if {
	d := sovgate.decision with input as req
		with data.sovgate.apps as {"test-visio": {"allowed_hosts": hosts}}
		with data.sovgate.exceptions as {}
}

test_allowed_host_record_tolerates_what_it_covers if {
	d := with_allowed_hosts(aws_paris, [legal_allowed_host("api.visio-saas.example", ["JURISDICTION_NON_EU"])])
	english(d).reasons == [
		{"code": "JURISDICTION_NON_EU", "message": "aws (Amazon Web Services, headquartered in US) is subject to US law"},
		{
			"code": "ALLOWED_FOR_APP",
			"message": "test-visio may reach api.visio-saas.example until 2027-01-31: the app registry allows it (allowed_hosts, approved by DPO, decision 2026-021: videoconferencing contract, SCCs signed); legal basis: GDPR article 46 (appropriate safeguards); assessment: AITD-2026-04",
		},
	]
	d.reasons[1].messages.fr == "l'application test-visio peut joindre api.visio-saas.example jusqu'au 2027-01-31 : le registre des applications l'autorise (allowed_hosts, approuvé par DPO, decision 2026-021 : videoconferencing contract, SCCs signed) ; base légale : article 46 du RGPD (garanties appropriées) ; analyse d'impact : AITD-2026-04"
}

test_allowed_host_record_does_not_tolerate_other_codes if {
	d := with_allowed_hosts(aws_virginia, [legal_allowed_host("api.visio-saas.example", ["JURISDICTION_NON_EU"])])
	not d.allow
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

test_allowed_host_record_expires if {
	hosts := [legal_allowed_host("api.visio-saas.example", ["JURISDICTION_NON_EU"])]
	with_allowed_hosts(request_at("test-visio", "api.visio-saas.example", aws_paris.destination.addresses, [aws], "2027-01-31T23:00:00Z"), hosts).allow
	not with_allowed_hosts(request_at("test-visio", "api.visio-saas.example", aws_paris.destination.addresses, [aws], "2027-02-01T00:00:00Z"), hosts).allow
}

test_allowed_host_record_and_exception_cover_together if {
	d := sovgate.decision with input as aws_virginia
		with data.sovgate.apps as {"test-visio": {"allowed_hosts": [legal_allowed_host("api.visio-saas.example", ["JURISDICTION_NON_EU"])]}}
		with data.sovgate.exceptions as {"e": legal_exception("test-visio", "api.visio-saas.example", ["RESIDENCY_NON_EU"])}
	d.allow
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU", "ALLOWED_FOR_APP", "EXCEPTION_APPLIED"]
}

test_plain_allowed_host_covers_everything_and_never_expires if {
	# The earlier format: kept working, with a warning (data_problems).
	d := with_allowed_hosts(request_at("test-visio", "api.visio-saas.example", aws_virginia.destination.addresses, [aws], "2099-01-01T00:00:00Z"), ["api.visio-saas.example"])
	d.allow
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU", "ALLOWED_FOR_APP"]
}

test_allowed_host_record_with_wrong_fields_does_not_apply if {
	base := legal_allowed_host("api.visio-saas.example", ["JURISDICTION_NON_EU"])
	every change in [{"legal_basis": "art28"}, {"covers": []}, {"expires": "2027-13-01"}, {"host": ""}] {
		not with_allowed_hosts(aws_paris, [object.union(base, change)]).allow
	}
	not with_allowed_hosts(aws_paris, [object.remove(base, ["approved_by"])]).allow
}
