# sovgate default policy: hosts one app may reach whatever the checks find.
#
# THE DATA (data.sovgate.apps[app].allowed_hosts, in data.json): when the
# DPO has approved a service for one app (a contract, the safeguards of
# GDPR article 46 and their assessment), its hosts go in the app's entry,
# as records with the fields of an exception (exceptions.rego) except
# "app":
#
#   "apps": {
#     "visio": {
#       "allowed_hosts": [
#         {"host": "api.visio-saas.example",
#          "covers": ["JURISDICTION_NON_EU"],
#          "legal_basis": "art46",
#          "assessment": "AITD-2026-04",
#          "reason": "videoconferencing contract 2026-12, SCCs signed",
#          "approved_by": "DPO, decision 2026-021",
#          "starts": "2026-02-01",
#          "expires": "2027-01-31"}
#       ]
#     }
#   }
#
# An entry applies like an exception: in force from starts through
# expires, for at most exception_max_days, tolerating only the codes in
# covers. A request of that app to that host is allowed with the reason
# ALLOWED_FOR_APP when every violation is tolerated; the violations stay
# in the reasons, so auditors see what was approved. Other apps are not
# concerned.
#
# A plain host name ("api.visio-saas.example", the format before entries
# were records) keeps working as it always did: it covers every code and
# never expires, because nothing in it says when it should. `policy check`
# and the gateway at each load warn about each one, naming the fields it
# lacks; replace it with a record.
package sovgate

# The entries of the app's allowed_hosts in force for this request: those
# that name the destination host and apply today (the index of each in the
# list).
allowed_hosts_in_force contains i if {
	some i, entry in data.sovgate.apps[input.source.app].allowed_hosts
	allowed_host_applies(entry)
}

# A plain host name, the earlier format: always (see above)...
allowed_host_applies(entry) if {
	is_string(entry)
	host_matches(entry)
}

# ...a record, while it is in force.
allowed_host_applies(entry) if {
	is_object(entry)
	host_matches(entry.host)
	record_in_force(entry)
}

# The entry tolerates a violation with this code: a plain host name
# tolerates every code, a record those it covers.
allowed_host_covers(entry, _) if is_string(entry)

allowed_host_covers(entry, code) if {
	is_object(entry)
	record_covers(entry, code)
}

# ALLOWED_FOR_APP: one reason per entry in force that tolerated a
# violation.
allowed_host_reasons := [allowed_host_reason(entry) |
	some i in allowed_hosts_in_force
	entry := data.sovgate.apps[input.source.app].allowed_hosts[i]
	allowed_host_tolerates_some_violation(entry)
]

allowed_host_tolerates_some_violation(entry) if {
	some violation in violations
	allowed_host_covers(entry, violation.code)
}

allowed_host_reason(entry) := reason(
	"ALLOWED_FOR_APP",
	sprintf("%s may reach %s: the app registry allows it (allowed_hosts)", [input.source.app, input.destination.host]),
	sprintf("l'application %s peut joindre %s : le registre des applications l'autorise (allowed_hosts)", [input.source.app, input.destination.host]),
) if {
	is_string(entry)
} else := reason(
	"ALLOWED_FOR_APP",
	sprintf("%s may reach %s until %s: the app registry allows it (allowed_hosts, approved by %s: %s)%s", [input.source.app, input.destination.host, entry.expires, entry.approved_by, entry.reason, record_legal_text(entry, "en")]),
	sprintf("l'application %s peut joindre %s jusqu'au %s : le registre des applications l'autorise (allowed_hosts, approuvé par %s : %s)%s", [input.source.app, input.destination.host, entry.expires, entry.approved_by, entry.reason, record_legal_text(entry, "fr")]),
)
