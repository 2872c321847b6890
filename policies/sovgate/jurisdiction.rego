# sovgate default policy: the jurisdiction check ("which law reaches the
# operator?").
#
# An operator whose ultimate owner is headquartered outside the EU/EEA is
# subject to that country's law wherever the data is stored (for example the
# US CLOUD Act applies to a US provider's Paris region). Every operator of the
# destination must be subject only to the law of acceptable countries (see
# countries.rego). Profiles whose "checks" list "jurisdiction" enforce this.
#
# The gateway recognises operators with the catalogue (data.sovgate.operators:
# by address range, ASN or domain name). An operator the catalogue does not
# know is not waved through: its jurisdiction is inferred from the country
# its network is registered in (matched_by "registration", inferred true),
# and when nothing at all is known the address is JURISDICTION_UNKNOWN.
# Addresses of the city's own networks (internal) are never checked.
package sovgate

# JURISDICTION_NON_EU: a country whose law reaches the provider, as listed in
# the catalogue or inferred from the registration of its network, is not
# acceptable. The list always holds the country of the headquarters: the
# catalogue refuses an entry that leaves it out.
jurisdiction_violations contains jurisdiction_reason(provider, country) if {
	"jurisdiction" in profile_checks
	some provider in input.destination.providers
	some country in provider.jurisdictions
	not acceptable_country(country)
}

# JURISDICTION_UNKNOWN: nobody knows who operates the address: no catalogue
# entry matches it and its network has no known registration. Unknown is not
# acceptable.
jurisdiction_violations contains {
	"code": "JURISDICTION_UNKNOWN",
	"ip": address.ip,
	"message": sprintf("nobody knows who operates %s: no catalogue entry matches it and its network has no known registration", [address.ip]),
} if {
	some address in input.destination.addresses
	address.provider == "" # rare: tested first, before the profile
	"jurisdiction" in profile_checks
	not address.internal
}

# The reason: "aws (Amazon Web Services, headquartered in US) is subject to
# US law"; for an operator no catalogue entry knows (its headquarters
# unknown) "as64500 (Example Networks) is presumed subject to US law:
# inferred from the registration of its network, no catalogue entry"; "aws
# is subject to US law" when the name or the headquarters are missing.
jurisdiction_reason(provider, country) := {
	"code": "JURISDICTION_NON_EU",
	"message": sprintf("%s (%s, headquartered in %s) is subject to %s law", [provider.id, provider.name, provider.headquarters, country]),
} if {
	provider.name != ""
	provider.headquarters != ""
} else := {
	"code": "JURISDICTION_NON_EU",
	"message": sprintf("%s (%s) is presumed subject to %s law: inferred from the registration of its network, no catalogue entry", [provider.id, provider.name, country]),
} if {
	provider.inferred == true
} else := {
	"code": "JURISDICTION_NON_EU",
	"message": sprintf("%s is subject to %s law", [provider.id, country]),
}
