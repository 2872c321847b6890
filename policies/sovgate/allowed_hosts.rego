# sovgate default policy: hosts an app may reach whatever the checks find.
#
# When the DPO has approved a service for one app (a contract and a data
# processing agreement, say), its host names go in the app's entry of the
# registry, data.sovgate.apps:
#
#   "apps": {
#     "visio": {
#       "allowed_hosts": ["api.visio-saas.example", "*.media.visio-saas.example"]
#     }
#   }
#
# A request of that app to one of those hosts is allowed with the reason
# ALLOWED_FOR_APP; the violations the checks found are still listed, so
# auditors see what was approved. Other apps are not concerned. Unlike an
# exception (exceptions.rego), an allowed host does not expire: review the
# registry when contracts change. Host patterns are matched like those of
# exceptions: an exact name, or "*.domain" for any subdomain.
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
