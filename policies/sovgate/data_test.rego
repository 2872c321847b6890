# Tests of the data: the shipped data.json and the data_problems checks.
package sovgate_test

import data.sovgate

test_shipped_data_has_no_problems if {
	count(sovgate.data_problems) == 0
}

test_shipped_defaults if {
	data.sovgate.default_profile == "sovereign"
	count(data.sovgate.eu_countries) == 27
	count(data.sovgate.eea_extra_countries) == 3
	count(data.sovgate.exceptions) == 0
	count(data.sovgate.apps) == 0
}

test_problem_incomplete_exception if {
	problems := sovgate.data_problems with data.sovgate.exceptions as {"e1": {"app": "visio", "host": "x.example", "expires": "2026-12-31"}}
	problems == {
		"exceptions[\"e1\"]: approved_by is missing or empty; the exception does not apply",
		"exceptions[\"e1\"]: reason is missing or empty; the exception does not apply",
	}
}

test_problem_bad_date if {
	problems := sovgate.data_problems with data.sovgate.exceptions as {"e1": exception("visio", "x.example", "2026-02-30")}
	problems == {"exceptions[\"e1\"]: expires \"2026-02-30\" is not a date YYYY-MM-DD; the exception does not apply"}
}

test_problem_bad_wildcard if {
	problems := sovgate.data_problems with data.sovgate.exceptions as {"e1": exception("visio", "api.*.example.com", "2026-12-31")}
	count(problems) == 1
}

test_problem_app_profile_unknown if {
	problems := sovgate.data_problems with data.sovgate.apps as {"visio": {"profile": "sovreign"}}
	problems == {"apps[\"visio\"]: profile \"sovreign\" is not defined in profiles"}
}

test_problem_accept_adequacy_not_boolean if {
	problems := sovgate.data_problems with data.sovgate.apps as {"visio": {"accept_adequacy": "yes"}}
	count(problems) == 1
}

test_problem_unknown_check if {
	problems := sovgate.data_problems with data.sovgate.profiles as {"sovereign": {"checks": ["residence"]}}
	problems == {"profiles[\"sovereign\"]: unknown check \"residence\" (known checks: residency, jurisdiction)"}
}

test_problem_default_profile_unknown if {
	problems := sovgate.data_problems with data.sovgate.default_profile as "strict"
	problems == {"default_profile \"strict\" is not defined in profiles"}
}
