# Tests of the data: the shipped data.json and the data_problems checks.
package sovgate_test

import data.sovgate

test_shipped_data_has_no_problems if {
	count(sovgate.data_problems) == 0
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
