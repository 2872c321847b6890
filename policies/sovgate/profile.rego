# sovgate default policy: which profile applies to a request.
#
# THE DATA (data.sovgate, in data.json):
#
#   "profile_order": ["open", "residency", "gdpr-transfer", "led",
#                     "sovereign", "secnumcloud", "hds", "france"],
#   "profiles": {
#     "gdpr-transfer": {
#       "description": {"en": "...", "fr": "..."},
#       "checks": ["residency", "jurisdiction"],  what is checked (below)
#       "area": "EEA",              where addresses may be and whose law may
#                                   reach operators: "EEA", or the ISO code
#                                   of a member state ("FR": France and its
#                                   outermost regions, see eu_territories)
#       "adequacy": "gdpr",         also accept the countries of
#                                   data.sovgate.adequacy whose decision is
#                                   full, in force and has this in its
#                                   "scope" ("gdpr" or "led"); absent: none
#       "dpf": true                 also accept the country of a partial
#                                   decision for certified organisations
#                                   ("certification": "dpf", the US) for an
#                                   operator whose catalogue entry holds a
#                                   dpf qualification in force
#     },
#     "hds": {..., "checks": ["residency", "qualification"], "area": "EEA",
#             "qualifications": ["hds"]}   the destination must be a
#                                   catalogue offer holding each of these
#                                   qualifications, in force that day
#   },
#   "categories": {
#     "health": {"description": {"en": "...", "fr": "..."},
#                "minimum_profile": "hds"}
#   },
#   "apps": {
#     "etat-civil": {"profile": "sovereign", "categories": ["civil-status"]},
#     "visio":      {"profile": "residency", "accept_adequacy": true}
#   }
#
# Checks: "residency" (residency.rego: every address in the area),
# "jurisdiction" (jurisdiction.rego: every operator subject only to the law
# of the area; an operator nobody knows denies), "qualification"
# (qualification.rego: the destination is an offer with the qualifications).
#
# THE EFFECTIVE PROFILE of an app is the strictest, in profile_order (least
# strict first), of the profile the app names (or default_profile) and the
# minimum_profile of each of its categories (input.source.categories, which
# the gateway fills from the app's entry). An app with categories
# ["civil-status"] and no profile gets "france"; with "profile": "open" and
# ["health"] it gets "hds". Requests the gateway could not identify (app
# "unknown", identified_by "none") get data.sovgate.unknown_profile. The
# decision's "profile" names the effective profile, and so does the audit
# record.
#
# Why this order: each profile is stricter than the ones before it for the
# data it is meant for, and the order settles the pairs where neither
# contains the other:
#   - open < residency: residency checks where the data goes;
#   - residency < gdpr-transfer: personal data (GDPR chapter V) also needs
#     the operator's law checked; public data has no place of its own to
#     lose;
#   - gdpr-transfer < led: the LED accepts fewer countries (the UK only) and
#     no DPF;
#   - led < sovereign: sovereign accepts no country outside the EU/EEA;
#   - sovereign < secnumcloud: secnumcloud is sovereign plus a qualified
#     offer;
#   - secnumcloud < hds: health data must go to an HDS-certified host (a
#     legal obligation, article L1111-8 of the public health code), which a
#     SecNumCloud qualification does not replace; note that hds does not
#     check the operator's jurisdiction, so an app that needs both defines
#     its own profile ("checks": ["residency", "jurisdiction",
#     "qualification"], "qualifications": ["hds", "secnumcloud"]) and puts
#     it where it belongs in profile_order;
#   - hds < france: civil-status and election records are public archives
#     that must stay in France, whatever else the app handles.
# A profile missing from profile_order cannot be compared: when an app
# names one and has categories, the request is denied (PROFILE_UNKNOWN),
# and `policy check` reports it.
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
