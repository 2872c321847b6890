# sovgate default policy: the residency check ("where does the data go?").
#
# Every address the destination resolved to must be in an acceptable country
# (see countries.rego). The gateway dials only the addresses it checked, so
# one address outside is enough to deny. Profiles whose "checks" list
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
}

# ...and otherwise the GeoIP country, empty when nobody knows.
residency_violations contains residency_reason(address.ip, country) if {
	"residency" in profile_checks
	some address in input.destination.addresses
	object.get(address, "region_country", "") == ""
	country := object.get(address, "country", "")
	not acceptable_country(country)
	not address.internal
}

# RESIDENCY_UNKNOWN: nobody knows where the address is (anycast, unallocated
# range, missing GeoIP database). Unknown is not acceptable.
residency_reason(ip, "") := {
	"code": "RESIDENCY_UNKNOWN",
	"ip": ip,
	"message": sprintf("the country of %s is unknown", [ip]),
}

# RESIDENCY_NON_EU: the address is in a country that is not acceptable.
residency_reason(ip, country) := {
	"code": "RESIDENCY_NON_EU",
	"ip": ip,
	"message": sprintf("%s is in %s, outside the EU/EEA", [ip, country]),
} if {
	country != ""
}
