# sovgate default policy: the decision.
#
# For every outbound request the gateway asks for data.sovgate.decision and
# gets back:
#
#   {"allow": true or false,
#    "profile": the effective profile that was applied (profile.rego),
#    "reasons": [{"code": ..., "message": ..., "messages": {"en": ..., "fr": ...},
#                 "ip": ..., "exception": ...}]}
#
# Every reason has "message" (English, as logs and JSON show it) and
# "messages", the same in English and in French: the block page of a
# French browser, `check --lang fr` and the reports show the French one.
# Countries are named in messages from data.sovgate.country_names (the
# names the gateway itself uses).
#
# Codes: RESIDENCY_NON_EU, RESIDENCY_NON_FR (an address outside the
# profile's member state, for "area": "FR"), RESIDENCY_UNKNOWN,
# JURISDICTION_NON_EU, JURISDICTION_NON_FR, JURISDICTION_UNKNOWN,
# QUALIFICATION_MISSING (the destination is not an offer holding the
# profile's qualification in force, or the catalogue cannot tell),
# PROFILE_UNKNOWN, ALLOWED_FOR_APP, EXCEPTION_APPLIED.
#
# How a decision is made, in plain words:
#
#   1. Find the app's effective profile (profile.rego): the strictest of
#      the profile it names and the minimum profiles of its data
#      categories. Each profile lists the checks it enforces: "residency"
#      (residency.rego), "jurisdiction" (jurisdiction.rego) and
#      "qualification" (qualification.rego).
#   2. Run those checks. Each problem found is a violation.
#   3. A violation is tolerated when an entry of the app's allowed_hosts
#      (allowed_hosts.rego) or an exception (exceptions.rego) in force for
#      this app and host covers its code.
#   4. Allow when there is no violation, or when every one is tolerated. A
#      configuration mistake (an unknown profile) always denies.
#
# The reasons list every violation found, tolerated or not, so auditors see
# what an allowed host or an exception allowed.
package sovgate

# The decision, in five cases tried in order.
#
# 1. The usual case, tried first because it is the cheapest: the profile
#    exists and no check found a problem. Allow. (Tried first for a profile
#    the gateway computed, without the qualification check, which is what
#    most requests have, so that they pay for neither.)
# 2. The profile does not exist, or cannot be compared with the minimum
#    profiles of the app's categories: a mistake in the configuration.
#    Deny (fail closed); no exception applies. (Two branches: the cheap
#    test first.)
# 3. A check found a problem, no exception is in force and the app has no
#    allowed_hosts: deny, listing the problems (checked apart because it
#    is the cheapest way to a denial).
# 4. A problem is not tolerated by any allowed host or exception in force
#    for it: deny, listing every problem.
# 5. Every problem is tolerated. Allow, listing the problems and what
#    tolerated them (ALLOWED_FOR_APP, EXCEPTION_APPLIED).
decision := {"allow": true, "profile": profile, "reasons": []} if {
	input.source.profile != "" # given by the gateway, which computed it once: comparable
	checks := data.sovgate.profiles[profile].checks
	not "qualification" in checks
	count(residency_violations) == 0
	count(jurisdiction_violations) == 0
} else := {"allow": true, "profile": profile, "reasons": []} if {
	data.sovgate.profiles[profile]
	count(residency_violations) == 0
	count(jurisdiction_violations) == 0
	not profile_incomparable
	count(qualification_violations) == 0
} else := {"allow": false, "profile": profile, "reasons": [profile_unknown]} if {
	not data.sovgate.profiles[profile]
} else := {"allow": false, "profile": profile, "reasons": [profile_unknown]} if {
	count(input.source.categories) > 0 # cheap: a profile is incomparable only with categories
	profile_incomparable
} else := {"allow": false, "profile": profile, "reasons": violations} if {
	count(exceptions_in_force) == 0
	not data.sovgate.apps[input.source.app].allowed_hosts # the usual case, checked cheaply
} else := {"allow": false, "profile": profile, "reasons": violations} if {
	some violation in violations
	not tolerated(violation.code)
} else := {"allow": true, "profile": profile, "reasons": array.concat(violations, tolerations)}

# A violation with this code is tolerated by an entry of the app's
# allowed_hosts, or by an exception, in force and covering the code.
tolerated(code) if {
	some i in allowed_hosts_in_force
	allowed_host_covers(data.sovgate.apps[input.source.app].allowed_hosts[i], code)
}

tolerated(code) if {
	some id in exceptions_in_force
	record_covers(data.sovgate.exceptions[id], code)
}

# What tolerated the violations: the app's allowed hosts, then the
# exceptions.
tolerations := array.concat(allowed_host_reasons, exception_reasons)

# The problems found by the checks of the profile, in a stable order: where
# the data goes, who operates the destination, what qualifies it.
violations := array.concat(
	[reason | some reason in residency_violations],
	[reason | some reason in jurisdiction_violations],
) if {
	not "qualification" in profile_checks
} else := array.concat(
	array.concat(
		[reason | some reason in residency_violations],
		[reason | some reason in jurisdiction_violations],
	),
	[reason | some reason in qualification_violations],
)
