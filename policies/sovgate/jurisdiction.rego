# sovgate default policy: the jurisdiction check ("which law reaches the
# operator?").
#
# A provider whose parent company is headquartered outside the EU/EEA is
# subject to that country's law wherever the data is stored (for example the
# US CLOUD Act applies to a US provider's Paris region). Every provider of the
# destination must be subject only to the law of acceptable countries (see
# countries.rego). Profiles whose "checks" list "jurisdiction" enforce this.
package sovgate

# JURISDICTION_NON_EU: a country whose law reaches the provider, as listed in
# the provider catalogue, is not acceptable.
jurisdiction_violations contains jurisdiction_reason(provider, country) if {
	"jurisdiction" in profile_checks
	some provider in input.destination.providers
	some country in provider.jurisdictions
	not acceptable_country(country)
}

# JURISDICTION_NON_EU: the law of the country of the headquarters always
# reaches the provider, even if the catalogue forgot to list it.
jurisdiction_violations contains jurisdiction_reason(provider, country) if {
	"jurisdiction" in profile_checks
	some provider in input.destination.providers
	country := provider.headquarters
	country != ""
	not country in provider.jurisdictions # already checked above
	not acceptable_country(country)
}

# The reason: "aws (Amazon Web Services, headquartered in US) is subject to
# US law", or "aws is subject to US law" when the catalogue lacks the name or
# the headquarters.
jurisdiction_reason(provider, country) := {
	"code": "JURISDICTION_NON_EU",
	"message": sprintf("%s (%s, headquartered in %s) is subject to %s law", [provider.id, provider.name, provider.headquarters, country]),
} if {
	provider.name != ""
	provider.headquarters != ""
} else := {
	"code": "JURISDICTION_NON_EU",
	"message": sprintf("%s is subject to %s law", [provider.id, country]),
}
