# sovgate default policy: which countries a profile accepts.
#
# Every profile that checks something has an "area" (data.sovgate.profiles,
# see profile.rego):
#
#   - "EEA" (the default): EU or EEA territory: a member state of the EU
#     (data.sovgate.eu_countries), a part of one that GeoIP gives a code of
#     its own (data.sovgate.eu_territories: the outermost regions
#     Guadeloupe, French Guiana, Martinique, Réunion, Mayotte and Saint
#     Martin, and Åland), or an EEA state outside the EU
#     (data.sovgate.eea_extra_countries);
#   - the ISO code of a member state ("FR"): that state and the parts of it
#     that eu_territories lists with that member_state (for France, its
#     outermost regions).
#
# A profile with "adequacy": "gdpr" or "led" also accepts the countries
# with a full adequacy decision of the European Commission
# (data.sovgate.adequacy) whose "scope" lists it, while the decision is in
# force (valid_until). Partial decisions ("partial": true) are never
# accepted as a whole: the EU-US Data Privacy Framework
# ("certification": "dpf") covers only certified organisations, so a
# profile with "dpf": true accepts the United States only for an operator
# whose catalogue entry (data.sovgate.operators) holds a dpf qualification
# in force. Canada's sectoral decision is never accepted automatically: use
# an exception.
#
# An app that sets "accept_adequacy": true in data.sovgate.apps (the
# setting that came before the gdpr-transfer profile) also accepts the full
# GDPR adequacy decisions, with a profile whose area is the EEA.
package sovgate

# The definition of the effective profile (undefined when it does not
# exist: the decision then denies with PROFILE_UNKNOWN).
profile_definition := data.sovgate.profiles[profile]

# The area of the profile.
profile_area := area if {
	area := data.sovgate.profiles[profile].area
	is_string(area)
} else := "EEA"

# The scope of the adequacy decisions the profile accepts: its own, or
# "gdpr" for an app that opted in with accept_adequacy.
adequacy_scope := scope if {
	scope := profile_definition.adequacy
	is_string(scope)
} else := "gdpr" if {
	app_accepts_adequacy
	profile_area == "EEA"
}

# True when the app has opted in to adequacy decisions ("accept_adequacy": true
# in data.sovgate.apps). Adequacy decisions are NOT accepted by default.
app_accepts_adequacy if data.sovgate.apps[input.source.app].accept_adequacy == true

# A country the profile accepts, whoever operates there. The bodies are
# tried in order, the first that holds answers, and the usual case comes
# first: a country of the EEA, for a profile whose area it is. Your own
# rules may add bodies (see the policy guide).
#
# The EEA: an EU member state...
acceptable_country(country) if {
	data.sovgate.eu_countries[country]
	profile_area == "EEA"
}

# ...a part of a member state that GeoIP codes apart (outermost regions,
# Åland)...
acceptable_country(country) if {
	data.sovgate.eu_territories[country]
	profile_area == "EEA"
}

# ...or an EEA member state outside the EU (Iceland, Liechtenstein,
# Norway).
acceptable_country(country) if {
	data.sovgate.eea_extra_countries[country]
	profile_area == "EEA"
}

# One member state ("area": "FR")...
acceptable_country(country) if country == profile_area

# ...with its parts that GeoIP codes apart.
acceptable_country(country) if data.sovgate.eu_territories[country].member_state == profile_area

# A country with a full adequacy decision in the profile's scope, in force.
acceptable_country(country) if {
	adequacy := data.sovgate.adequacy[country]
	not adequacy.partial
	adequacy_scope in adequacy.scope
	adequacy_in_force(adequacy)
}

# The country of a partial decision for certified organisations (the US
# and the DPF), for an operator that is certified. The checks ask this only
# of a country acceptable_country refused.
certified_adequacy(country, operator) if {
	data.sovgate.profiles[profile].dpf == true
	adequacy := data.sovgate.adequacy[country]
	scheme := adequacy.certification
	"gdpr" in adequacy.scope
	adequacy_in_force(adequacy)
	operator_certified(operator, scheme)
}

# EU/EEA territory: an EU member state...
eea_country(country) if data.sovgate.eu_countries[country]

# ...a part of a member state that GeoIP codes apart (outermost regions,
# Åland)...
eea_country(country) if data.sovgate.eu_territories[country]

# ...or an EEA member state outside the EU (Iceland, Liechtenstein,
# Norway).
eea_country(country) if data.sovgate.eea_extra_countries[country]

# A decision without an end date stays in force until the Commission
# repeals it (and the DPO removes the entry)...
adequacy_in_force(adequacy) if not adequacy.valid_until

# ...one with an end date holds through that whole day, in UTC.
adequacy_in_force(adequacy) if {
	end := time.add_date(time.parse_ns("2006-01-02", adequacy.valid_until), 0, 0, 1)
	time.parse_rfc3339_ns(input.time) < end
}

# The catalogue entry of the operator holds a qualification of this scheme
# (dpf: a certification under the EU-US Data Privacy Framework) in force,
# on any of its offers: certifications such as the DPF are the
# organisation's, whatever its offers.
operator_certified(operator, scheme) if {
	some offer in data.sovgate.operators[operator].offers
	some qualification in offer.qualifications
	qualification.scheme == scheme
	qualification_in_force(qualification)
}

# A qualification is in force from its "since" day through its "until"
# day (UTC); without "until", until the catalogue says otherwise.
qualification_in_force(qualification) if {
	now := time.parse_rfc3339_ns(input.time)
	time.parse_ns("2006-01-02", qualification.since) <= now
	not qualification_ended(qualification, now)
}

qualification_ended(qualification, now) if {
	now >= time.add_date(time.parse_ns("2006-01-02", qualification.until), 0, 0, 1)
}
