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
	area := profile_definition.area
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

# A country the profile accepts, whoever operates there: its area...
acceptable_country(country) if in_area(country)

# ...or a country with a full adequacy decision in the profile's scope, in
# force.
acceptable_country(country) if {
	adequacy := data.sovgate.adequacy[country]
	not adequacy.partial
	adequacy_scope in adequacy.scope
	adequacy_in_force(adequacy)
}

# A country the profile accepts for this operator: one it accepts for
# every operator, or the country of a partial decision for certified
# organisations (the US and the DPF) when the operator is certified.
acceptable_country_for(country, _) if acceptable_country(country)

acceptable_country_for(country, operator) if certified_adequacy(country, operator)

certified_adequacy(country, operator) if {
	profile_definition.dpf == true
	adequacy := data.sovgate.adequacy[country]
	scheme := adequacy.certification
	"gdpr" in adequacy.scope
	adequacy_in_force(adequacy)
	operator_certified(operator, scheme)
}

# The EEA, for a profile whose area it is.
in_area(country) if {
	profile_area == "EEA"
	eea_country(country)
}

# One member state...
in_area(country) if {
	profile_area != "EEA"
	country == profile_area
}

# ...with its parts that GeoIP codes apart.
in_area(country) if {
	profile_area != "EEA"
	data.sovgate.eu_territories[country].member_state == profile_area
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

# The name of a country in a language, from data.sovgate.country_names
# (the names the gateway itself uses), or its code.
country_name(code, lang) := name if {
	name := data.sovgate.country_names[code][lang]
} else := code
