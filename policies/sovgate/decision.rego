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
#   1. Find the app's profile (profile.rego). Each profile lists the checks
#      it enforces: "residency" (residency.rego) and "jurisdiction"
#      (jurisdiction.rego).
#   2. Run those checks. Each problem found is a violation.
#   3. The violations are tolerated when the app registry allows this host
#      for the app (allowed_hosts.rego), or when an exception in force for
#      this app and host covers it (exceptions.rego).
#   4. Allow when there is no violation, or when they are tolerated. A
#      configuration mistake (an unknown profile) always denies.
#
# The reasons list every violation found, tolerated or not, so auditors see
# what an allowed host or an exception allowed.
package sovgate

# The decision, in four cases tried in order.
#
# 1. The usual case, tried first because it is the cheapest: the profile
#    exists and no check found a problem. Allow.
# 2. The profile does not exist: a mistake in the configuration. Deny (fail
#    closed); no exception applies.
# 3. A check found a problem, no exception is in force and the app is not
#    allowed this host (allowed_hosts.rego). Deny, listing the problems.
# 4. A check found a problem and it is tolerated: the app is allowed this
#    host, or an exception is in force. Allow, listing the problems and what
#    tolerated them (ALLOWED_FOR_APP, EXCEPTION_APPLIED).
decision := {"allow": true, "profile": profile, "reasons": []} if {
	data.sovgate.profiles[profile]
	count(residency_violations) == 0
	count(jurisdiction_violations) == 0
} else := {"allow": false, "profile": profile, "reasons": [profile_unknown]} if {
	not data.sovgate.profiles[profile]
} else := {"allow": false, "profile": profile, "reasons": violations} if {
	count(exceptions_in_force) == 0
	not data.sovgate.apps[input.source.app].allowed_hosts # the usual case, checked cheaply
} else := {"allow": false, "profile": profile, "reasons": violations} if {
	count(exceptions_in_force) == 0
	not host_allowed_for_app
} else := {"allow": true, "profile": profile, "reasons": array.concat(violations, tolerations)}

# What tolerated the violations: the app's allowed host, then the exceptions.
tolerations := array.concat(allowed_host_reasons, exception_reasons)

# The problems found by the checks of the profile, in a stable order: where
# the data goes, then who operates the destination.
violations := array.concat(
	[reason | some reason in residency_violations],
	[reason | some reason in jurisdiction_violations],
)
