# sovgate default policy: which countries are acceptable.
#
# A country is acceptable when it is EU or EEA territory: a member state of
# the EU (data.sovgate.eu_countries), a part of one that GeoIP gives a code
# of its own (data.sovgate.eu_territories: the outermost regions
# Guadeloupe, French Guiana, Martinique, Réunion, Mayotte and Saint Martin,
# and Åland), or an EEA state outside the EU
# (data.sovgate.eea_extra_countries).
#
# An app that sets "accept_adequacy": true in data.sovgate.apps also accepts
# the countries with a full adequacy decision of the European Commission
# under the GDPR (data.sovgate.adequacy), while the decision is in force
# (valid_until). Partial decisions ("partial": true, such as the EU-US Data
# Privacy Framework, which covers only certified organisations) are never
# accepted automatically: use an exception for them.
package sovgate

# An EU member state.
acceptable_country(country) if data.sovgate.eu_countries[country]

# A part of a member state that GeoIP codes apart (outermost regions, Åland).
acceptable_country(country) if data.sovgate.eu_territories[country]

# An EEA member state outside the EU (Iceland, Liechtenstein, Norway).
acceptable_country(country) if data.sovgate.eea_extra_countries[country]

# A country with a full adequacy decision under the GDPR, in force, for an
# app that accepts them.
acceptable_country(country) if {
	app_accepts_adequacy
	adequacy := data.sovgate.adequacy[country]
	not adequacy.partial
	"gdpr" in adequacy.scope
	adequacy_in_force(adequacy)
}

# A decision without an end date stays in force until the Commission
# repeals it (and the DPO removes the entry)...
adequacy_in_force(adequacy) if not adequacy.valid_until

# ...one with an end date holds through that whole day, in UTC.
adequacy_in_force(adequacy) if {
	end := time.add_date(time.parse_ns("2006-01-02", adequacy.valid_until), 0, 0, 1)
	time.parse_rfc3339_ns(input.time) < end
}
