# sovgate default policy: the qualification check ("is the destination a
# qualified offer?").
#
# Profiles whose "checks" list "qualification" accept only destinations the
# catalogue recognises as an offer (by one of the offer's domain suffixes or
# address ranges: input.destination.providers[].offer) holding each of the
# profile's "qualifications" (secnumcloud, hds, ...) in force on the day of
# the request: from its "since" day through its "until" day, UTC.
#
# Every address of the destination must be operated by such an offer: data
# sent to an address of another operator (a CDN in front of the offer, say)
# is not in the offer. When the catalogue cannot tell (no offer recognised,
# or nobody knows who operates an address), the check denies with
# QUALIFICATION_MISSING and says what is missing, so the DPO knows what to
# add to the catalogue. Addresses of the city's own networks (internal) are
# not checked.
package sovgate

# The names of the schemes, for people.
qualification_names := {
	"secnumcloud": {"en": "SecNumCloud", "fr": "SecNumCloud"},
	"hds": {"en": "health data hosting (HDS)", "fr": "hébergeur de données de santé (HDS)"},
	"dpf": {"en": "Data Privacy Framework (DPF)", "fr": "Data Privacy Framework (DPF)"},
	"eucs": {"en": "EUCS", "fr": "EUCS"},
	"c5": {"en": "C5", "fr": "C5"},
	"iso27001": {"en": "ISO/IEC 27001", "fr": "ISO/IEC 27001"},
}

qualification_name(scheme, lang) := name if {
	name := qualification_names[scheme][lang]
} else := scheme

# QUALIFICATION_MISSING: an operator of the destination is not recognised as
# an offer holding the qualification in force...
qualification_violations contains qualification_reason(provider, scheme) if {
	"qualification" in profile_checks
	some address in input.destination.addresses
	not address.internal
	address.provider != ""
	some provider in input.destination.providers
	provider.id == address.provider
	some scheme in profile_definition.qualifications
	not offer_qualified(provider, scheme)
}

# ...or nobody knows who operates an address.
qualification_violations contains address_reason(
	"QUALIFICATION_MISSING", address.ip,
	sprintf("nobody knows who operates %s, so nothing says it is an offer with a %s qualification in force", [address.ip, qualification_name(scheme, "en")]),
	sprintf("personne ne sait qui exploite l'adresse %s : rien n'indique qu'elle relève d'une offre qualifiée %s en vigueur", [address.ip, qualification_name(scheme, "fr")]),
) if {
	"qualification" in profile_checks
	some address in input.destination.addresses
	not address.internal
	object.get(address, "provider", "") == ""
	some scheme in profile_definition.qualifications
}

offer_qualified(provider, scheme) if {
	some qualification in provider.offer.qualifications
	qualification.scheme == scheme
	qualification_in_force(qualification)
}

# The reason says what the catalogue lacks: an offer recognised at this
# destination...
qualification_reason(provider, scheme) := reason(
	"QUALIFICATION_MISSING",
	sprintf("%s (%s): the catalogue recognises no offer of this operator at %s, so nothing says it holds a %s qualification in force (an offer is recognised by its domain suffixes or address ranges in the catalogue)", [provider.id, provider.name, input.destination.host, qualification_name(scheme, "en")]),
	sprintf("%s (%s) : le catalogue ne reconnaît aucune offre de cet opérateur pour %s, rien n'indique donc une qualification %s en vigueur (une offre se reconnaît à ses suffixes de domaine ou à ses plages d'adresses dans le catalogue)", [provider.id, provider.name, input.destination.host, qualification_name(scheme, "fr")]),
) if {
	not provider.offer
} else := reason(
	"QUALIFICATION_MISSING",
	sprintf("offer %s (%s) of %s holds no %s qualification in the catalogue", [provider.offer.id, provider.offer.name, provider.id, qualification_name(scheme, "en")]),
	sprintf("l'offre %s (%s) de %s n'a aucune qualification %s dans le catalogue", [provider.offer.id, provider.offer.name, provider.id, qualification_name(scheme, "fr")]),
) if {
	not scheme in {q.scheme | some q in provider.offer.qualifications}
} else := reason(
	"QUALIFICATION_MISSING",
	sprintf("offer %s (%s) of %s: its %s qualification is not in force on %s (%s)", [provider.offer.id, provider.offer.name, provider.id, qualification_name(scheme, "en"), substring(input.time, 0, 10), concat(", ", periods.en)]),
	sprintf("l'offre %s (%s) de %s : sa qualification %s n'est pas en vigueur le %s (%s)", [provider.offer.id, provider.offer.name, provider.id, qualification_name(scheme, "fr"), substring(input.time, 0, 10), concat(", ", periods.fr)]),
) if {
	periods := {lang: [qualification_period(q)[lang] | some q in provider.offer.qualifications; q.scheme == scheme] | some lang in ["en", "fr"]}
}

qualification_period(q) := {"en": sprintf("from %s to %s", [q.since, q.until]), "fr": sprintf("du %s au %s", [q.since, q.until])} if q.until

else := {"en": sprintf("since %s", [q.since]), "fr": sprintf("depuis le %s", [q.since])}
