# sovgate default policy: the decision.
#
# For every outbound request the gateway asks for data.sovgate.decision and
# gets back:
#
#   {"allow": true or false,
#    "profile": the profile that was applied,
#    "reasons": [{"code": ..., "message": ..., "ip": ..., "exception": ...}]}
#
# How a decision is made, in plain words:
#
#   1. Find the app's profile (profile.rego). Each profile lists the checks
#      it enforces: "residency" (residency.rego) and "jurisdiction"
#      (jurisdiction.rego).
#   2. Run those checks. Each problem found is a violation.
#   3. An exception in force for this app and host tolerates the violations
#      (exceptions.rego).
#   4. Allow when there is no violation, or when an exception tolerates them.
#      A configuration mistake (an unknown profile) always denies.
#
# The reasons list every violation found, tolerated or not, so auditors see
# what an exception allowed.
package sovgate

# The decision, in four cases tried in order.
#
# 1. The usual case, tried first because it is the cheapest: the profile
#    exists and no check found a problem. Allow.
# 2. The profile does not exist: a mistake in the configuration. Deny (fail
#    closed); no exception applies.
# 3. A check found a problem and no exception is in force. Deny, listing the
#    problems.
# 4. A check found a problem and an exception in force tolerates it. Allow,
#    listing the problems and the exceptions that tolerated them.
decision := {"allow": true, "profile": profile, "reasons": []} if {
	data.sovgate.profiles[profile]
	count(residency_violations) == 0
	count(jurisdiction_violations) == 0
} else := {"allow": false, "profile": profile, "reasons": [profile_unknown]} if {
	not data.sovgate.profiles[profile]
} else := {"allow": false, "profile": profile, "reasons": violations} if {
	count(exceptions_in_force) == 0
} else := {"allow": true, "profile": profile, "reasons": array.concat(violations, exception_reasons)}

# The problems found by the checks of the profile, in a stable order: where
# the data goes, then who operates the destination.
violations := array.concat(
	[reason | some reason in residency_violations],
	[reason | some reason in jurisdiction_violations],
)
