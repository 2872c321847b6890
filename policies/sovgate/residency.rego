# sovgate default policy: the residency check ("where does the data go?").
#
# Every address the destination resolved to must be in a country the
# profile accepts (see countries.rego: the EU/EEA, France, adequacy
# countries...). The gateway dials only the addresses it checked, so one
# address outside is enough to deny. Profiles whose "checks" list
# "residency" enforce this. Addresses of the city's own networks (internal,
# set by the gateway's internal option) are not checked: they are reachable
# and allowed in every profile, and recorded like any other.
package sovgate

# One reason for every address that is not in an acceptable country.
#
# The country of an address is the country of its cloud region when the
# provider publishes one (region_country), which is more precise than GeoIP...
residency_violations contains residency_reason(address.ip, address.region_country, address.provider) if {
	"residency" in profile_checks
	some address in input.destination.addresses
	address.region_country != ""
	not acceptable_country_for(address.region_country, address.provider)
	not address.internal
}

# ...and otherwise the GeoIP country, empty when nobody knows.
residency_violations contains residency_reason(address.ip, country, address.provider) if {
	"residency" in profile_checks
	some address in input.destination.addresses
	object.get(address, "region_country", "") == ""
	country := object.get(address, "country", "")
	not acceptable_country_for(country, object.get(address, "provider", ""))
	not address.internal
}

# RESIDENCY_UNKNOWN: nobody knows where the address is (anycast, unallocated
# range, missing GeoIP database). Unknown is not acceptable.
residency_reason(ip, "", _) := address_reason(
	"RESIDENCY_UNKNOWN", ip,
	sprintf("the country of %s is unknown", [ip]),
	sprintf("le pays de l'adresse %s est inconnu", [ip]),
)

# RESIDENCY_NON_FR: the address is in the EU/EEA, but outside the member
# state the profile keeps the data in ("area": "FR").
residency_reason(ip, country, _) := address_reason(
	"RESIDENCY_NON_FR", ip,
	sprintf("%s is in %s, %s", [ip, country, outside_area.address_en]),
	sprintf("l'adresse %s est située %s (%s)", [ip, outside_area.address_fr, country_name(country, "fr")]),
) if {
	country != ""
	eea_country(country)
}

# RESIDENCY_NON_EU: the address is outside the EU/EEA, in a country the
# profile does not accept ("outside the EU/EEA", or "outside France" for a
# profile whose area is France); for a profile that accepts certified
# organisations (the DPF), the reason says what the operator lacks.
residency_reason(ip, country, operator) := address_reason(
	"RESIDENCY_NON_EU", ip,
	sprintf("%s is in %s, %s%s", [ip, country, outside_area.address_en, missing.en]),
	sprintf("l'adresse %s est située %s (%s)%s", [ip, outside_area.address_fr, country_name(country, "fr"), missing.fr]),
) if {
	country != ""
	not eea_country(country)
	missing := certification_missing(country, operator)
}
