# sovgate default policy: exceptions, the legal records of tolerated
# transfers.
#
# THE DATA (data.sovgate.exceptions, in data.json), one entry per id:
#
#   "exceptions": {
#     "2026-017-visio": {
#       "app": "visio",                   the app, or "*" for every app
#       "host": "api.visio-saas.example", a host name, or "*.domain" for any
#                                         subdomain, never broader than a
#                                         registrable domain: `policy check`
#                                         refuses "*.com", "*.co.uk", "*.test"
#       "covers": ["JURISDICTION_NON_EU"],  the reason codes it tolerates
#                                         (required); any other violation
#                                         still denies
#       "legal_basis": "art46",           "art45", "art46", "art49" (GDPR
#                                         articles) or "non-personal"; see
#                                         data.sovgate.legal_bases
#       "assessment": "AITD-2026-04",     the reference of the transfer impact
#                                         assessment (AITD/TIA) or the DPIA
#       "reason": "migration to a sovereign provider planned for March",
#       "approved_by": "DPO, decision 2026-017",
#       "starts": "2026-01-05",           first day it applies (UTC)
#       "expires": "2026-12-31"           last day it applies, through the
#                                         whole day (UTC)
#     }
#   }
#
# An exception is in force from starts through expires, for at most
# data.sovgate.exception_max_days days (365 by default, both days counted):
# a longer one never applies, and `policy check` says so. A field with a
# wrong value (a legal basis not in legal_bases, "covers" not a non-empty
# list of codes, a date that cannot be read) keeps the exception from
# applying: a mistake never opens the gate.
#
# Exceptions written before covers, legal_basis, assessment and starts
# existed (app, host, reason, approved_by, expires only) keep applying
# until they expire, as they always did: they cover every code, and have
# no duration limit. `policy check` and the gateway at each load warn about
# each, naming every missing field. Add the fields to make it a legal
# record.
#
# When every violation the checks found is tolerated (by an exception in
# force that covers its code, or by the app's allowed_hosts), the request is
# allowed; EXCEPTION_APPLIED names each exception that tolerated something,
# and the violations stay in the reasons (see decision.rego). Exceptions
# never cover configuration mistakes such as an unknown profile.
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
