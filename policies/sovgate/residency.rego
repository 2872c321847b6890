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
residency_violations contains residency_reason(address.ip, address.region_country) if {
	"residency" in profile_checks
	some address in input.destination.addresses
	address.region_country != ""
	not acceptable_country(address.region_country)
	not address.internal
	not certified_adequacy(address.region_country, object.get(address, "provider", ""))
}

# ...and otherwise the GeoIP country, empty when nobody knows.
residency_violations contains residency_reason(address.ip, country) if {
	"residency" in profile_checks
	some address in input.destination.addresses
	object.get(address, "region_country", "") == ""
	country := object.get(address, "country", "")
	not acceptable_country(country)
	not address.internal
	not certified_adequacy(country, object.get(address, "provider", ""))
}

# RESIDENCY_UNKNOWN: nobody knows where the address is (anycast, unallocated
# range, missing GeoIP database). Unknown is not acceptable.
residency_reason(ip, "") := address_reason(
	"RESIDENCY_UNKNOWN", ip,
	sprintf("the country of %s is unknown", [ip]),
	sprintf("le pays de l'adresse %s est inconnu", [ip]),
)

# RESIDENCY_NON_EU: the address is outside the EU/EEA, in a country the
# profile does not accept ("outside the EU/EEA", or "outside France" for a
# profile whose area is France); for a profile that accepts certified
# organisations (the DPF), the reason says what the operator lacks.
# RESIDENCY_NON_FR: the address is in the EU/EEA, but outside the member
# state the profile keeps the data in ("area": "FR").
residency_reason(ip, country) := {"code": "RESIDENCY_NON_EU", "ip": ip, "message": en, "messages": {"en": en, "fr": fr}} if {
	# The usual case, in few steps: a profile of the EEA without adequacy
	# decisions (sovereign, residency).
	country != ""
	profile_area == "EEA"
	not data.sovgate.profiles[profile].adequacy
	en := sprintf("%s is in %s, outside the EU/EEA", [ip, country])
	fr := sprintf("l'adresse %s est située hors de l'UE/EEE (%s)", [ip, object.get(data.sovgate.country_names, [country, "fr"], country)])
} else := {"code": residency_code(country), "ip": ip, "message": en, "messages": {"en": en, "fr": fr}} if {
	country != ""
	missing := address_certification_missing(country, ip)
	en := sprintf("%s is in %s, %s%s", [ip, country, outside_area.address_en, missing.en])
	fr := sprintf("l'adresse %s est située %s (%s)%s", [ip, outside_area.address_fr, object.get(data.sovgate.country_names, [country, "fr"], country), missing.fr])
}

residency_code(country) := "RESIDENCY_NON_EU" if profile_area == "EEA" # then the country is outside the EEA

else := "RESIDENCY_NON_FR" if eea_country(country)

else := "RESIDENCY_NON_EU"

# What the operator of the address ip lacks (see certification_missing).
address_certification_missing(country, ip) := certification_missing(country, operator) if {
	data.sovgate.profiles[profile].dpf == true # rare: checked before looking for the operator
	some address in input.destination.addresses
	address.ip == ip
	operator := object.get(address, "provider", "")
} else := {"en": "", "fr": ""}
