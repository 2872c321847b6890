# sovgate default policy: the jurisdiction check ("which law reaches the
# operator?").
#
# An operator whose ultimate owner is headquartered outside the EU/EEA is
# subject to that country's law wherever the data is stored (for example the
# US CLOUD Act applies to a US provider's Paris region). Every operator of the
# destination must be subject only to the law of countries the profile
# accepts (see countries.rego: the EU/EEA, France, adequacy countries, the
# US for a DPF-certified operator...). Profiles whose "checks" list
# "jurisdiction" enforce this.
#
# The gateway recognises operators with the catalogue (data.sovgate.operators:
# by address range, ASN or domain name). An operator the catalogue does not
# know is not waved through: its jurisdiction is inferred from the country
# its network is registered in (matched_by "registration", inferred true),
# and when nothing at all is known the address is JURISDICTION_UNKNOWN.
# Addresses of the city's own networks (internal) are never checked.
package sovgate

# A country whose law reaches the provider, as listed in the catalogue or
# inferred from the registration of its network, is not acceptable:
# JURISDICTION_NON_EU outside the EU/EEA, JURISDICTION_NON_FR for another
# member state than the profile's area. The list always holds the country
# of the headquarters: the catalogue refuses an entry that leaves it out.
jurisdiction_violations contains jurisdiction_reason(provider, country) if {
	"jurisdiction" in profile_checks
	some provider in input.destination.providers
	some country in provider.jurisdictions
	not acceptable_country(country)
	not certified_adequacy(country, provider.id)
}

# JURISDICTION_UNKNOWN: nobody knows who operates the address: no catalogue
# entry matches it and its network has no known registration. Unknown is not
# acceptable.
jurisdiction_violations contains address_reason(
	"JURISDICTION_UNKNOWN", address.ip,
	sprintf("nobody knows who operates %s: no catalogue entry matches it and its network has no known registration", [address.ip]),
	sprintf("personne ne sait qui exploite l'adresse %s : aucune entrée du catalogue ne la couvre et l'enregistrement de son réseau est inconnu", [address.ip]),
) if {
	some address in input.destination.addresses
	address.provider == "" # rare: tested first, before the profile
	"jurisdiction" in profile_checks
	not address.internal
}

# The reason names the provider: "aws (Amazon Web Services, headquartered
# in US) is subject to US law"; for an operator no catalogue entry knows
# (its headquarters unknown) "as64500 (Example Networks) is presumed
# subject to US law: inferred from the registration of its network, no
# catalogue entry"; "aws is subject to US law" when the name or the
# headquarters are missing. What follows says why the country is not
# accepted, for the profiles other than sovereign.
jurisdiction_reason(provider, country) := {"code": "JURISDICTION_NON_EU", "message": en, "messages": {"en": en, "fr": fr}} if {
	# The usual case, in few steps: a catalogue operator, for a profile of
	# the EEA without adequacy decisions (sovereign).
	provider.name != ""
	provider.headquarters != ""
	profile_area == "EEA"
	not data.sovgate.profiles[profile].adequacy
	en := sprintf("%s (%s, headquartered in %s) is subject to %s law", [provider.id, provider.name, provider.headquarters, country])
	fr := sprintf("%s (%s, siège : %s) est soumis au droit d'un pays hors de l'UE/EEE (%s)", [provider.id, provider.name, object.get(data.sovgate.country_names, [provider.headquarters, "fr"], provider.headquarters), object.get(data.sovgate.country_names, [country, "fr"], country)])
} else := {"code": jurisdiction_code(country), "message": en, "messages": {"en": en, "fr": fr}} if {
	provider.name != ""
	provider.headquarters != ""
	missing := certification_missing(country, provider.id)
	en := sprintf("%s (%s, headquartered in %s) is subject to %s law%s%s", [provider.id, provider.name, provider.headquarters, country, outside_area.law_en, missing.en])
	fr := sprintf("%s (%s, siège : %s) est soumis au droit %s (%s)%s", [provider.id, provider.name, object.get(data.sovgate.country_names, [provider.headquarters, "fr"], provider.headquarters), outside_area.law_fr, object.get(data.sovgate.country_names, [country, "fr"], country), missing.fr])
} else := {"code": jurisdiction_code(country), "message": en, "messages": {"en": en, "fr": fr}} if {
	provider.inferred == true
	missing := certification_missing(country, provider.id)
	en := sprintf("%s (%s) is presumed subject to %s law%s: inferred from the registration of its network, no catalogue entry%s", [provider.id, provider.name, country, outside_area.law_en, missing.en])
	fr := sprintf("%s (%s) est présumé soumis au droit %s (%s) : déduit de l'enregistrement de son réseau, aucune entrée du catalogue%s", [provider.id, provider.name, outside_area.law_fr, object.get(data.sovgate.country_names, [country, "fr"], country), missing.fr])
} else := {"code": jurisdiction_code(country), "message": en, "messages": {"en": en, "fr": fr}} if {
	missing := certification_missing(country, provider.id)
	en := sprintf("%s is subject to %s law%s%s", [provider.id, country, outside_area.law_en, missing.en])
	fr := sprintf("%s est soumis au droit %s (%s)%s", [provider.id, outside_area.law_fr, object.get(data.sovgate.country_names, [country, "fr"], country), missing.fr])
}

# JURISDICTION_NON_FR for a law of the EU/EEA that the profile's area
# (France) does not accept; JURISDICTION_NON_EU for any other.
jurisdiction_code(country) := "JURISDICTION_NON_FR" if eea_country(country)

else := "JURISDICTION_NON_EU"
