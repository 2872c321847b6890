# sovgate default policy: the words of the reasons.
#
# Every reason carries "message", in English (what logs, JSON and the audit
# log show), and "messages", the same in English and in French (what a
# French browser's block page, `check --lang fr` and the reports show).
# Countries are named in French from data.sovgate.country_names, the names
# the gateway uses in its own messages and reports ("États-Unis"); the
# English messages give ISO codes ("US"), as they always did.
#
# French vocabulary: a violation is an "écart" or a "non-conformité", an
# exception an "exception", and a country with an adequacy decision a
# "pays bénéficiant d'une décision d'adéquation".
package sovgate

# A reason with its message in both languages; "message" is the English.
reason(code, en, fr) := {"code": code, "message": en, "messages": {"en": en, "fr": fr}}

# The same about one address.
address_reason(code, ip, en, fr) := {"code": code, "ip": ip, "message": en, "messages": {"en": en, "fr": fr}}

# What a country the profile does not accept lies outside of, for an
# address ("outside the EU/EEA") or for a law (", a country outside the
# EU/EEA without an adequacy decision in force that covers this
# transfer"), in each language. The English of the sovereign and residency
# profiles (with or without an app's accept_adequacy) is what it always
# was.
outside_area := {
	"address_en": "outside the EU/EEA",
	"address_fr": "hors de l'UE/EEE",
	"law_en": "",
	"law_fr": "d'un pays hors de l'UE/EEE",
} if {
	profile_area == "EEA"
	not data.sovgate.profiles[profile].adequacy
} else := {
	"address_en": "outside France",
	"address_fr": "hors de France",
	"law_en": ", a country other than France",
	"law_fr": "d'un pays autre que la France",
} if {
	profile_area == "FR"
} else := {
	"address_en": sprintf("outside %s", [object.get(data.sovgate.country_names, [profile_area, "en"], profile_area)]),
	"address_fr": sprintf("hors de l'État membre %s", [object.get(data.sovgate.country_names, [profile_area, "fr"], profile_area)]),
	"law_en": sprintf(", a country other than %s", [object.get(data.sovgate.country_names, [profile_area, "en"], profile_area)]),
	"law_fr": sprintf("d'un pays autre que l'État membre %s", [object.get(data.sovgate.country_names, [profile_area, "fr"], profile_area)]),
} if {
	profile_area != "EEA"
} else := {
	"address_en": "outside the EU/EEA, in a country without an adequacy decision in force that covers this transfer",
	"address_fr": "hors de l'UE/EEE, dans un pays qui ne bénéficie d'aucune décision d'adéquation en vigueur couvrant ce transfert",
	"law_en": ", a country outside the EU/EEA without an adequacy decision in force that covers this transfer",
	"law_fr": "d'un pays hors de l'UE/EEE qui ne bénéficie d'aucune décision d'adéquation en vigueur couvrant ce transfert",
} if {
	data.sovgate.profiles[profile].adequacy == "gdpr"
} else := {
	"address_en": "outside the EU/EEA, in a country without an adequacy decision under the Law Enforcement Directive in force",
	"address_fr": "hors de l'UE/EEE, dans un pays qui ne bénéficie d'aucune décision d'adéquation en vigueur au titre de la directive « police-justice »",
	"law_en": ", a country outside the EU/EEA without an adequacy decision under the Law Enforcement Directive in force",
	"law_fr": "d'un pays hors de l'UE/EEE qui ne bénéficie d'aucune décision d'adéquation en vigueur au titre de la directive « police-justice »",
} if {
	data.sovgate.profiles[profile].adequacy == "led"
} else := {
	"address_en": "outside the EU/EEA",
	"address_fr": "hors de l'UE/EEE",
	"law_en": "",
	"law_fr": "d'un pays hors de l'UE/EEE",
}

# What the profile lacks to accept a country of a partial decision for
# certified organisations (the US and the DPF) for this operator, when the
# profile accepts such countries; "" otherwise.
certification_missing(country, operator) := {"en": en, "fr": fr} if {
	data.sovgate.profiles[profile].dpf == true
	adequacy := data.sovgate.adequacy[country]
	scheme := adequacy.certification
	"gdpr" in adequacy.scope
	adequacy_in_force(adequacy)
	texts := certification_missing_texts(upper(scheme), operator)
	en := sprintf("; the adequacy decision for %s covers only organisations certified under it (%s), and %s", [country, upper(scheme), texts.en])
	fr := sprintf(" ; la décision d'adéquation pour ce pays (%s) ne couvre que les organisations certifiées (%s), et %s", [object.get(data.sovgate.country_names, [country, "fr"], country), upper(scheme), texts.fr])
} else := {"en": "", "fr": ""}

certification_missing_texts(_, "") := {
	"en": "nobody knows who operates it",
	"fr": "personne ne sait qui l'exploite",
}

certification_missing_texts(scheme, operator) := {
	"en": sprintf("the catalogue records no %s certification in force for %s", [scheme, operator]),
	"fr": sprintf("le catalogue n'indique aucune certification %s en vigueur pour %s", [scheme, operator]),
} if {
	operator != ""
	data.sovgate.operators[operator]
}

certification_missing_texts(_, operator) := {
	"en": sprintf("%s has no catalogue entry that could record one", [operator]),
	"fr": sprintf("%s n'a pas d'entrée au catalogue qui pourrait l'indiquer", [operator]),
} if {
	operator != ""
	not data.sovgate.operators[operator]
}
