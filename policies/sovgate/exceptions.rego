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
# and not expired. When a check finds a problem and an exception applies, the
# request is allowed with the reason EXCEPTION_APPLIED, and the violations it
# tolerated stay in the reasons (see decision.rego). Exceptions never cover
# configuration mistakes such as an unknown profile.
package sovgate

# The ids of the exceptions in force for this request: those for this app...
exceptions_in_force contains id if {
	some id, exception in data.sovgate.exceptions
	exception.app == input.source.app
	exception_in_force(exception)
}

# ...and those for every app ("*").
exceptions_in_force contains id if {
	some id, exception in data.sovgate.exceptions
	exception.app == "*"
	exception_in_force(exception)
}

# An exception for the app is in force when it names this host, says why
# and who approved it, and has not expired.
exception_in_force(exception) if {
	exception_covers_host(exception)
	exception_is_complete(exception)
	exception_not_expired(exception)
}

# An exception must say who, what, why, who approved it and until when.
exception_is_complete(exception) if {
	every field in ["app", "host", "reason", "approved_by", "expires"] {
		is_string(exception[field])
		exception[field] != ""
	}
}

# The exception names this host (see host_matches).
exception_covers_host(exception) if host_matches(exception.host)

# A host pattern names this exact host (upper or lower case)...
host_matches(pattern) if lower(pattern) == input.destination.host

# ...or, as "*.example.com", covers a.example.com and a.b.example.com, not
# example.com itself.
host_matches(pattern) if {
	startswith(pattern, "*.")
	suffix := lower(substring(pattern, 1, -1))
	count(suffix) > 1
	endswith(input.destination.host, suffix)
}

# The exception is valid through the whole day of its expiry date, in UTC.
# A date that cannot be read counts as expired.
exception_not_expired(exception) if {
	now := time.parse_rfc3339_ns(input.time)
	expiry_day := time.parse_ns("2006-01-02", exception.expires)
	now < time.add_date(expiry_day, 0, 0, 1)
}

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
