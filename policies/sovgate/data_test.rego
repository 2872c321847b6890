# Tests of the data: the shipped data.json and the data_problems checks.
package sovgate_test

import data.sovgate

# Warnings (an exception of the earlier format, which still applies) do
# not fail it: they are for `policy check` and the logs.
test_shipped_data_has_no_problems if {
	count({p | some p in sovgate.data_problems; not p.severity}) == 0
}

# The messages of a set of problems.
problem_messages(problems) := {p.message | some p in problems}

test_shipped_defaults if {
	data.sovgate.default_profile == "sovereign"
	data.sovgate.unknown_profile == "sovereign"
	count(data.sovgate.eu_countries) == 27
	count(data.sovgate.eea_extra_countries) == 3
}

test_problem_incomplete_exception if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.exceptions as {"e1": {"app": "test-visio", "host": "x.example", "expires": "2026-12-31"}}
	"exceptions[\"e1\"]: approved_by is missing or empty; it does not apply" in problems
	"exceptions[\"e1\"]: reason is missing or empty; it does not apply" in problems
}

test_problem_bad_date if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.exceptions as {"e1": exception("test-visio", "x.example", "2026-02-30")}
	"exceptions[\"e1\"]: expires \"2026-02-30\" is not a date YYYY-MM-DD; it does not apply" in problems
}

test_problem_bad_wildcard if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.exceptions as {"e1": exception("test-visio", "api.*.example.com", "2026-12-31")}
	"exceptions[\"e1\"]: host \"api.*.example.com\": a wildcard is only allowed as a leading \"*.\"" in problems
}

test_problem_app_profile_unknown if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.apps as {"test-visio": {"profile": "sovreign"}}
	"apps[\"test-visio\"]: profile \"sovreign\" is not defined in profiles" in problems
}

test_problem_accept_adequacy_not_boolean if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.apps as {"test-visio": {"accept_adequacy": "yes"}}
	"apps[\"test-visio\"]: accept_adequacy must be true or false, not yes" in problems
}

test_problem_unknown_check if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.profiles as {"sovereign": {"checks": ["residence"]}}
	"profiles[\"sovereign\"]: unknown check \"residence\" (known checks: residency, jurisdiction, qualification)" in problems
}

test_problem_unknown_profile_undefined if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.unknown_profile as "closed"
	"unknown_profile \"closed\" is not defined in profiles" in problems
}

test_problem_category_undefined if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.apps as {"test-visio": {"categories": ["persona1"]}}
	"apps[\"test-visio\"]: category \"persona1\" is not defined in categories (a typing mistake would hide personal data from the rules)" in problems
}

test_problem_allowed_hosts_not_a_list if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.apps as {"test-visio": {"allowed_hosts": "api.example.com"}}
	"apps[\"test-visio\"]: allowed_hosts must be a list of records (or host names)" in problems
}

test_problem_allowed_host_bad_wildcard if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.apps as {"test-visio": {"allowed_hosts": ["api.*.example.com", ""]}}
	"apps[\"test-visio\"]: allowed_hosts: api.*.example.com is not a host name or \"*.domain\"" in problems
	"apps[\"test-visio\"]: allowed_hosts:  is not a host name or \"*.domain\"" in problems
}

test_problem_default_profile_unknown if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.default_profile as "strict"
	"default_profile \"strict\" is not defined in profiles" in problems
}

# ---- the legal model -------------------------------------------------------

# The problems (with path and severity) of some data.
problems_with(exceptions, apps) := p if {
	p := sovgate.data_problems with data.sovgate.exceptions as exceptions with data.sovgate.apps as apps
}

test_problem_exception_of_the_earlier_format_is_a_warning if {
	problems := problems_with({"e1": exception("test-visio", "x.example", "2026-12-31")}, {})
	problems == {{
		"path": ["exceptions", "e1"],
		"severity": "warning",
		"message": "exceptions[\"e1\"]: written in the earlier format, without covers, legal_basis, assessment, starts: it tolerates every violation, with no limit on its duration, until it expires (2026-12-31); add the fields to make it a legal record",
	}}
}

test_problem_exception_missing_some_legal_fields if {
	e := object.remove(legal_exception("test-visio", "x.example", ["RESIDENCY_NON_EU"]), ["assessment", "starts"])
	problems := problems_with({"e1": e}, {})
	problems == {{
		"path": ["exceptions", "e1"],
		"severity": "warning",
		"message": "exceptions[\"e1\"]: written in the earlier format, without assessment, starts: it tolerates every violation, with no limit on its duration, until it expires (2027-01-31); add the fields to make it a legal record",
	}}
}

test_legal_record_has_no_problem if {
	count(problems_with({"e1": legal_exception("test-visio", "x.example", ["RESIDENCY_NON_EU"])}, {})) == 0
	count(problems_with({}, {"test-visio": {"allowed_hosts": [legal_allowed_host("x.example", ["RESIDENCY_NON_EU"])]}})) == 0
}

test_problem_exception_too_long if {
	e := object.union(legal_exception("test-visio", "x.example", ["RESIDENCY_NON_EU"]), {"starts": "2026-01-01", "expires": "2027-06-30"})
	problems_with({"e1": e}, {}) == {{
		"path": ["exceptions", "e1", "expires"],
		"message": "exceptions[\"e1\"]: from 2026-01-01 to 2027-06-30 is 546 days, more than exception_max_days (365); it does not apply",
	}}
}

test_problem_exception_starts_after_it_expires if {
	e := object.union(legal_exception("test-visio", "x.example", ["RESIDENCY_NON_EU"]), {"starts": "2027-02-01"})
	problems_with({"e1": e}, {}) == {{
		"path": ["exceptions", "e1", "expires"],
		"message": "exceptions[\"e1\"]: starts 2027-02-01 is after expires 2027-01-31; it never applies",
	}}
}

test_problem_exception_legal_fields if {
	e := object.union(legal_exception("test-visio", "x.example", []), {"legal_basis": "art28", "assessment": 12, "starts": "1/2/2026"})
	messages := problem_messages(problems_with({"e1": e}, {}))
	"exceptions[\"e1\"]: covers must be a non-empty list of reason codes, not []; it does not apply" in messages
	"exceptions[\"e1\"]: legal_basis art28 is not one of art45, art46, art49, non-personal; it does not apply" in messages
	"exceptions[\"e1\"]: assessment must name the transfer impact assessment or DPIA, not 12; it does not apply" in messages
	"exceptions[\"e1\"]: starts \"1/2/2026\" is not a date YYYY-MM-DD; it does not apply" in messages
}

test_problem_exception_covers_an_unknown_code if {
	e := legal_exception("test-visio", "x.example", ["JURISDICTION_NON_UE"])
	problems_with({"e1": e}, {}) == {{
		"path": ["exceptions", "e1", "covers"],
		"severity": "warning",
		"message": "exceptions[\"e1\"]: covers \"JURISDICTION_NON_UE\", which no check of this policy gives (known: JURISDICTION_NON_EU, JURISDICTION_NON_FR, JURISDICTION_UNKNOWN, QUALIFICATION_MISSING, RESIDENCY_NON_EU, RESIDENCY_NON_FR, RESIDENCY_UNKNOWN)",
	}}
}

test_problem_plain_allowed_host_is_a_warning if {
	problems_with({}, {"test-visio": {"allowed_hosts": ["api.visio-saas.example"]}}) == {{
		"path": ["apps", "test-visio", "allowed_hosts", 0],
		"severity": "warning",
		"message": "apps[\"test-visio\"]: allowed_hosts: \"api.visio-saas.example\" is a plain host name, the earlier format: it tolerates every violation and never expires; replace it with a record with host, covers, legal_basis, assessment, starts, reason, approved_by, expires",
	}}
}

test_problem_allowed_host_record if {
	entry := object.remove(legal_allowed_host("x.example", ["RESIDENCY_NON_EU"]), ["approved_by"])
	{
		"path": ["apps", "test-visio", "allowed_hosts", 1, "approved_by"],
		"message": "apps[\"test-visio\"]: allowed_hosts[1]: approved_by is missing or empty; it does not apply",
	} in problems_with({}, {"test-visio": {"allowed_hosts": ["ok.example", entry]}})
	messages := problem_messages(problems_with({}, {"test-visio": {"allowed_hosts": [42]}}))
	messages == {"apps[\"test-visio\"]: allowed_hosts[0] must be a record or a host name, not 42"}
}

test_problem_exception_max_days if {
	problems := problem_messages(sovgate.data_problems) with data.sovgate.exception_max_days as "a year"
		with data.sovgate.exceptions as {}
		with data.sovgate.apps as {}
	problems == {"exception_max_days must be a number of days, not a year"}
}

test_problem_profile_order if {
	missing := problem_messages(sovgate.data_problems) with data.sovgate.profile_order as null
		with data.sovgate.exceptions as {}
		with data.sovgate.apps as {}
	missing == {"profile_order is missing: list the profiles from the least to the most strict"}
	problems := problem_messages(sovgate.data_problems) with data.sovgate.profile_order as ["open", "residency", "residency", "sovreign", "gdpr-transfer", "led", "sovereign", "secnumcloud", "hds"]
		with data.sovgate.exceptions as {}
		with data.sovgate.apps as {}
	problems == {
		"profile_order: residency is listed twice",
		"profile_order: sovreign is not defined in profiles",
		"profiles[\"france\"] is not in profile_order: an app with data categories cannot use it (PROFILE_UNKNOWN)",
	}
}

test_problem_category_minimum_profile_undefined if {
	categories := object.union(data.sovgate.categories, {"health": {"minimum_profile": "hds2"}})
	problems := problem_messages(sovgate.data_problems) with data.sovgate.categories as categories
		with data.sovgate.exceptions as {}
		with data.sovgate.apps as {}
	problems == {"categories[\"health\"]: minimum_profile hds2 is not defined in profiles"}
}

test_problem_profile_settings if {
	profiles := object.union(data.sovgate.profiles, {
		"a": {"checks": ["residency"], "area": "EU"},
		"b": {"checks": ["residency"], "adequacy": "GDPR", "dpf": "yes"},
		"c": {"checks": ["qualification"]},
		"d": {"checks": ["qualification"], "qualifications": ["snc"]},
	})
	order := array.concat(data.sovgate.profile_order, ["a", "b", "c", "d"])
	problems := problem_messages(sovgate.data_problems) with data.sovgate.profiles as profiles with data.sovgate.profile_order as order
		with data.sovgate.exceptions as {}
		with data.sovgate.apps as {}
	problems == {
		"profiles[\"a\"]: area EU is neither \"EEA\" nor a member state of eu_countries",
		"profiles[\"b\"]: adequacy must be \"gdpr\" or \"led\", not GDPR",
		"profiles[\"b\"]: dpf must be true or false, not yes",
		"profiles[\"c\"]: the qualification check needs \"qualifications\", a list of schemes (secnumcloud, hds, ...)",
		"profiles[\"d\"]: unknown qualification scheme snc (known: c5, dpf, eucs, hds, iso27001, secnumcloud)",
	}
}
