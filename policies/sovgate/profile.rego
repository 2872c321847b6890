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

# The effective profile. The gateway computes it once per policy revision
# and app, with effective_profile below, and passes it as
# input.source.profile; without it (a test, a caller that does not), it is
# computed here. An app whose profile cannot be compared with its
# categories' minimums has no effective profile: the decision names the
# profile it declares, and denies (PROFILE_UNKNOWN).
profile := given if {
	given := input.source.profile
	is_string(given)
	given != ""
} else := computed if {
	computed := effective_profile
} else := declared_profile

# Traffic the gateway could not identify (app "unknown", identified_by
# "none") gets data.sovgate.unknown_profile; an identified app without
# categories (or whose categories set no minimum) its declared profile;
# otherwise the strictest of its declared profile and its categories'
# minimums; none when the app's profile cannot be compared with them
# (profile_incomparable). It depends on input.source alone: the gateway
# relies on that to compute it once per app.
effective_profile := data.sovgate.unknown_profile if {
	input.source.identified_by == "none"
	is_string(data.sovgate.unknown_profile)
} else := declared_profile if {
	count(category_minimums) == 0
} else := data.sovgate.profile_order[max(candidate_ranks)] if {
	not profile_incomparable
}

# The profile data.sovgate.apps names for the app, otherwise the default
# profile. input.source.app is the app, as the gateway identified it.
declared_profile := app_profile if {
	app_profile := data.sovgate.apps[input.source.app].profile
} else := data.sovgate.default_profile

# The minimum profiles of the app's categories (input.source.categories,
# filled in by the gateway from the app's entry).
category_minimums contains minimum if {
	some category in input.source.categories
	minimum := data.sovgate.categories[category].minimum_profile
}

# The positions in profile_order of the declared profile and of the
# categories' minimums.
candidate_ranks contains rank if {
	some candidate in (category_minimums | {declared_profile})
	data.sovgate.profile_order[rank] == candidate
}

# True when one of the profiles to compare is missing from profile_order:
# the strictest cannot be known, and the decision denies (PROFILE_UNKNOWN).
profile_incomparable if {
	count(input.source.categories) > 0 # the usual case without categories, checked cheaply
	input.source.identified_by != "none"
	count(category_minimums) > 0
	some candidate in (category_minimums | {declared_profile})
	not candidate in data.sovgate.profile_order
}

# The checks the profile enforces (undefined, so none, when the profile does
# not exist).
profile_checks := data.sovgate.profiles[profile].checks

# PROFILE_UNKNOWN: the profile is not defined in data.sovgate.profiles, or
# cannot be compared with the minimum profile of the app's categories. It
# always denies (fail closed): a typing mistake in a profile name must not
# open the gate.
profile_unknown := reason(
	"PROFILE_UNKNOWN",
	sprintf("app %q uses profile %q, which is not defined in data.sovgate.profiles", [input.source.app, profile]),
	sprintf("l'application « %s » utilise le profil « %s », qui n'est pas défini dans data.sovgate.profiles", [input.source.app, profile]),
) if {
	not data.sovgate.profiles[profile]
} else := reason(
	"PROFILE_UNKNOWN",
	sprintf("app %q uses profile %q, which is not in data.sovgate.profile_order: it cannot be compared with the minimum profiles of the app's categories (%s)", [input.source.app, profile, concat(", ", sort(category_minimums))]),
	sprintf("l'application « %s » utilise le profil « %s », absent de data.sovgate.profile_order : impossible de le comparer aux profils minimaux de ses catégories (%s)", [input.source.app, profile, concat(", ", sort(category_minimums))]),
)
