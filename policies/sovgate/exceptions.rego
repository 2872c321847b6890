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
#                                         (file:line), and the gateway does
#                                         not load such a revision
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
# Every EXCEPTION_APPLIED and ALLOWED_FOR_APP reason has "messages" in
# English and French, with the dates, who approved it and why, and for a
# legal record its legal basis and assessment:
#   exception "2026-017-visio" allows this transfer until 2026-12-31
#   (approved by DPO, decision 2026-017: migration ...); legal basis: GDPR
#   article 46 (appropriate safeguards); assessment: AITD-2026-04
#   l'exception « 2026-017-visio » autorise ce transfert jusqu'au
#   2026-12-31 (approuvée par ... : ...) ; base légale : article 46 du
#   RGPD (garanties appropriées) ; analyse d'impact : AITD-2026-04
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

# An exception for the app is in force when it names this host, is a
# complete record, and today is within its dates.
exception_in_force(exception) if {
	host_matches(exception.host)
	non_empty_string(exception.app)
	record_in_force(exception)
}

# The fields every record has had from the start, and those that make it a
# legal record (an exception, or an app's allowed host). A record without
# the legal fields is of the earlier format.
record_fields := ["host", "reason", "approved_by", "expires"]

legal_record_fields := ["covers", "legal_basis", "assessment", "starts"]

# A record applies on this request's day when its fields hold what they
# must, and the day is within its dates and its duration is allowed.
record_in_force(record) if {
	record_is_complete(record)
	record_legal_fields_valid(record)
	record_not_expired(record)
	record_started(record)
	record_duration_allowed(record)
}

# A record must say what, why, who approved it and until when.
record_is_complete(record) if {
	every field in record_fields {
		non_empty_string(record[field])
	}
}

# The legal fields may be missing (a record of the earlier format), but
# a field that is there must be right: a mistake never opens the gate.
record_legal_fields_valid(record) if {
	not invalid_legal_field(record)
}

invalid_legal_field(record) if {
	covers := record.covers
	not valid_covers(covers)
}

invalid_legal_field(record) if {
	basis := record.legal_basis
	not data.sovgate.legal_bases[basis]
}

invalid_legal_field(record) if {
	assessment := record.assessment
	not non_empty_string(assessment)
}

invalid_legal_field(record) if {
	starts := record.starts
	not valid_date(starts)
}

# "covers" is a non-empty list of reason codes.
valid_covers(covers) if {
	is_array(covers)
	count(covers) > 0
	every code in covers {
		non_empty_string(code)
	}
}

# The record applies through the whole day of its expiry date, in UTC. A
# date that cannot be read counts as expired.
record_not_expired(record) if {
	now := time.parse_rfc3339_ns(input.time)
	expiry_day := time.parse_ns("2006-01-02", record.expires)
	now < time.add_date(expiry_day, 0, 0, 1)
}

# The record applies from the start of its first day, in UTC; a record of
# the earlier format, without "starts", from the beginning.
record_started(record) if not record.starts

record_started(record) if {
	time.parse_ns("2006-01-02", record.starts) <= time.parse_rfc3339_ns(input.time)
}

# The record lasts at most exception_max_days days, its first and last
# days included; a record without "starts" has no duration to check.
record_duration_allowed(record) if not record.starts

record_duration_allowed(record) if {
	record_days(record) <= record_max_days
}

# The number of days a record applies, its first and last included.
record_days(record) := days if {
	starts := time.parse_ns("2006-01-02", record.starts)
	expires := time.parse_ns("2006-01-02", record.expires)
	days := round((expires - starts) / (((24 * 60) * 60) * 1000000000)) + 1
}

# The longest a record may last: data.sovgate.exception_max_days, 365 when
# it is not set.
record_max_days := data.sovgate.exception_max_days if {
	is_number(data.sovgate.exception_max_days)
} else := 365

# The record tolerates a violation with this code: "covers" lists it, or
# the record is of the earlier format and covers every code.
record_covers(record, code) if code in record.covers

record_covers(record, _) if not record.covers

# EXCEPTION_APPLIED: one reason per exception in force that tolerated a
# violation, listed after the violations.
exception_reasons := [exception_reason(id, data.sovgate.exceptions[id]) |
	some id in exceptions_in_force
	exception_tolerates_some_violation(data.sovgate.exceptions[id])
]

exception_tolerates_some_violation(exception) if {
	some violation in violations
	record_covers(exception, violation.code)
}

# The reason gives the dates, who approved the exception and why, and, for
# a legal record, its legal basis and assessment.
exception_reason(id, exception) := object.union(
	reason(
		"EXCEPTION_APPLIED",
		sprintf("exception %q allows this transfer until %s (approved by %s: %s)%s", [id, exception.expires, exception.approved_by, exception.reason, record_legal_text(exception, "en")]),
		sprintf("l'exception « %s » autorise ce transfert jusqu'au %s (approuvée par %s : %s)%s", [id, exception.expires, exception.approved_by, exception.reason, record_legal_text(exception, "fr")]),
	),
	{"exception": id},
)

# "; legal basis: GDPR article 46 (appropriate safeguards); assessment:
# AITD-2026-04", for the fields the record has.
record_legal_text(record, lang) := concat("", [legal_basis_text(record, lang), assessment_text(record, lang)])

legal_basis_text(record, "en") := sprintf("; legal basis: %s", [data.sovgate.legal_bases[record.legal_basis].label.en]) if {
	data.sovgate.legal_bases[record.legal_basis]
} else := ""

legal_basis_text(record, "fr") := sprintf(" ; base légale : %s", [data.sovgate.legal_bases[record.legal_basis].label.fr]) if {
	data.sovgate.legal_bases[record.legal_basis]
} else := ""

assessment_text(record, "en") := sprintf("; assessment: %s", [record.assessment]) if {
	non_empty_string(record.assessment)
} else := ""

assessment_text(record, "fr") := sprintf(" ; analyse d'impact : %s", [record.assessment]) if {
	non_empty_string(record.assessment)
} else := ""

# A host pattern names this exact host (upper or lower case)...
host_matches(pattern) if lower(pattern) == input.destination.host

# ...or, as "*.example.com", covers a.example.com and a.b.example.com, not
# example.com itself. `policy check` and the gateway refuse a pattern
# broader than a registrable domain ("*.com", "*.co.uk").
host_matches(pattern) if {
	startswith(pattern, "*.")
	suffix := lower(substring(pattern, 1, -1))
	count(suffix) > 1
	endswith(input.destination.host, suffix)
}
