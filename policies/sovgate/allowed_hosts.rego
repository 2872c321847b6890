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

# The app's registry entry allows the destination host.
host_allowed_for_app if {
	some pattern in data.sovgate.apps[input.source.app].allowed_hosts
	is_string(pattern)
	host_matches(pattern)
}

# ALLOWED_FOR_APP: one reason when the app's allowed hosts cover the host.
allowed_host_reasons := [reason |
	host_allowed_for_app
	reason := {
		"code": "ALLOWED_FOR_APP",
		"message": sprintf("%s may reach %s: the app registry allows it (allowed_hosts)", [input.source.app, input.destination.host]),
	}
]
