# sovgate default policy: exceptions.
#
# An exception lets one app (or every app) reach one host (or every subdomain
# of a domain) even though the checks find a problem, until a date. Each one
# is written in data.sovgate.exceptions under an id of your choice:
#
#   "exceptions": {
#     "2026-017-visio": {
#       "app": "visio",              the app, or "*" for every app
#       "host": "*.example.com",     a host name, or "*.domain" for any subdomain
#       "reason": "migration to a sovereign provider planned for March",
#       "approved_by": "DPO, decision 2026-017",
#       "expires": "2026-12-31"      valid through this whole day (UTC)
#     }
#   }
#
# An exception applies only when it is complete (all five fields filled in)
# and not expired. When it applies, the request is allowed with the reason
# EXCEPTION_APPLIED: one reason per exception in force, listed after the
# violations it tolerates.
exception_reasons := [reason |
	some id in exceptions_in_force
	exception := data.sovgate.exceptions[id]
	reason := {
		"code": "EXCEPTION_APPLIED",
		"exception": id,
		"message": sprintf("exception %q allows this transfer until %s (approved by %s: %s)", [id, exception.expires, exception.approved_by, exception.reason]),
	}
]
