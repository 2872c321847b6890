# sovgate default policy: which countries are acceptable.
#
# A country is acceptable when it is a member of the EU or the EEA
# (data.sovgate.eu_countries and data.sovgate.eea_extra_countries).
#
# An app that sets "accept_adequacy": true in data.sovgate.apps also accepts
# the countries with a full adequacy decision of the European Commission
# (data.sovgate.adequacy). Partial decisions ("partial": true, such as the
# EU-US Data Privacy Framework, which covers only certified organisations)
# are never accepted automatically: use an exception for them.
package sovgate

# An EU member state.
acceptable_country(country) if data.sovgate.eu_countries[country]

# An EEA member state outside the EU (Iceland, Liechtenstein, Norway).
acceptable_country(country) if data.sovgate.eea_extra_countries[country]

# A country with a full adequacy decision, for an app that accepts them.
acceptable_country(country) if {
	app_accepts_adequacy
	adequacy := data.sovgate.adequacy[country]
	not adequacy.partial
}
