# sovgate default policy: which profile applies to a request.
#
# data.sovgate.apps lists the apps that do not use the default settings:
#
#   "apps": {
#     "etat-civil": {"profile": "sovereign"},
#     "meteo":      {"profile": "open", "description": "public weather data only"},
#     "visio":      {"profile": "residency", "accept_adequacy": true}
#   }
#
# An app that is not listed, or listed without a profile, gets
# data.sovgate.default_profile. Requests the gateway could not identify (app
# "unknown") get data.sovgate.unknown_profile.
#
# data.sovgate.profiles defines the profiles and the checks each enforces.
package sovgate

# The app's profile. Traffic the gateway could not identify (app "unknown",
# identified_by "none") gets data.sovgate.unknown_profile; an identified app
# gets the profile data.sovgate.apps names for it, otherwise the default
# profile. input.source.app is the app, as the gateway identified it.
profile := data.sovgate.unknown_profile if {
	input.source.identified_by == "none"
	is_string(data.sovgate.unknown_profile)
} else := app_profile if {
	app_profile := data.sovgate.apps[input.source.app].profile
} else := data.sovgate.default_profile

# The checks the profile enforces (undefined, so none, when the profile does
# not exist).
profile_checks := data.sovgate.profiles[profile].checks

# True when the app has opted in to adequacy decisions ("accept_adequacy": true
# in data.sovgate.apps). Adequacy decisions are NOT accepted by default.
app_accepts_adequacy if data.sovgate.apps[input.source.app].accept_adequacy == true

# PROFILE_UNKNOWN: the profile is not defined in data.sovgate.profiles. It
# always denies (fail closed): a typing mistake in a profile name must not
# open the gate.
profile_unknown := {
	"code": "PROFILE_UNKNOWN",
	"message": sprintf("app %q uses profile %q, which is not defined in data.sovgate.profiles", [input.source.app, profile]),
}
