# Unit tests of the words of the reasons: every reason in English and in
# French, the French vocabulary of the DPO and the CNIL.
package sovgate_test

import data.sovgate

# A request, and the apps it is decided with, for each kind of reason the
# bundle gives.
samples := [
	[us_request("test-x", "api.example.com"), app_with_profile("test-x", "sovereign")],
	[us_request("test-x", "api.example.com"), app_with_profile("test-x", "france")],
	[us_request("test-x", "api.example.com"), app_with_profile("test-x", "led")],
	[request("test-x", "x.example", [address("192.0.2.20", "")], []), app_with_profile("test-x", "residency")],
	[request("test-x", "x.example", [unknown_address("192.0.2.21", "FR")], []), app_with_profile("test-x", "secnumcloud")],
	[request("test-x", "x.example", [cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")], [aws]), app_with_profile("test-x", "france")],
	[request("test-x", "x.example", [address("192.0.2.22", "FR")], [inferred(14340, "Salesforce.com, Inc.", "US")]), app_with_profile("test-x", "gdpr-transfer")],
	[request("test-x", "x.example", [address("192.0.2.60", "DE")], [{"id": "acme", "name": "", "headquarters": "", "jurisdictions": ["DE", "CN"], "matched_by": "asn", "inferred": false}]), app_with_profile("test-x", "france")],
	[request("test-x", "x.example", [ovh_address, operated_address("203.0.113.7", "US", "8x8")], [with_offer(ovhcloud, "o", [qualification("iso27001", "2024-01-01", "")]), eight_by_eight]), app_with_profile("test-x", "hds")],
	[request("test-x", "x.example", [ovh_address, operated_address("203.0.113.7", "US", "8x8")], [with_offer(ovhcloud, "o", [qualification("iso27001", "2024-01-01", "")]), eight_by_eight]), app_with_profile("test-x", "gdpr-transfer")],
	[request("test-x", "x.example", [ovh_address], [ovhcloud]), {"test-x": {"profile": "hds", "allowed_hosts": ["x.example"]}}],
	[us_request("test-x", "api.example.com"), {"test-x": {"profile": "nope"}}],
]

# A US operator of the shipped catalogue without a DPF certification.
eight_by_eight := {"id": "8x8", "name": "8x8", "headquarters": "US", "jurisdictions": ["US"], "matched_by": "asn", "inferred": false}

sample_decisions := [d |
	some sample in samples
	d := sovgate.decision with input as sample[0]
		with data.sovgate.apps as sample[1]
		with data.sovgate.exceptions as {"e": exception("*", "api.example.com", "2026-12-31"), "f": legal_exception("*", "x.example", ["QUALIFICATION_MISSING"])}
]

sample_reasons := {r | some d in sample_decisions; some r in d.reasons}

test_samples_give_every_code if {
	{r.code | some r in sample_reasons} == {
		"RESIDENCY_NON_EU", "RESIDENCY_NON_FR", "RESIDENCY_UNKNOWN",
		"JURISDICTION_NON_EU", "JURISDICTION_NON_FR", "JURISDICTION_UNKNOWN",
		"QUALIFICATION_MISSING", "PROFILE_UNKNOWN", "ALLOWED_FOR_APP", "EXCEPTION_APPLIED",
	}
}

test_every_reason_in_english_and_french if {
	every r in sample_reasons {
		r.messages.en == r.message
		r.messages.fr != ""
		r.messages.fr != r.message
		object.keys(r.messages) == {"en", "fr"}
	}
}

test_french_vocabulary if {
	# "infraction" means a criminal offence; "dérogation" is GDPR article
	# 49's word: neither names what sovgate finds or tolerates.
	texts := array.concat(
		[r.messages.fr | some r in sample_reasons],
		array.concat(
			[d.description.fr | some d in data.sovgate.profiles],
			array.concat(
				[d.description.fr | some d in data.sovgate.categories],
				[d.description.fr | some d in data.sovgate.legal_bases],
			),
		),
	)
	every text in texts {
		not contains(lower(text), "infraction")
		not contains(lower(text), "dérogation")
	}
}

test_french_names_countries if {
	d := sovgate.decision with input as us_request("test-x", "api.example.com")
	d.reasons[0].messages.fr == "l'adresse 203.0.113.7 est située hors de l'UE/EEE (États-Unis)"
}

test_french_says_adequacy_the_cnil_way if {
	d := sovgate.decision with input as request("test-x", "x.example.cn", [address("198.51.100.1", "CN")], [])
		with data.sovgate.apps as app_with_profile("test-x", "gdpr-transfer")
	contains(d.reasons[0].messages.fr, "pays qui ne bénéficie d'aucune décision d'adéquation")
}

test_country_without_a_name_keeps_its_code if {
	d := sovgate.decision with input as request("test-x", "x.example", [address("192.0.2.1", "ZZ")], [])
	d.reasons[0].messages.fr == "l'adresse 192.0.2.1 est située hors de l'UE/EEE (ZZ)"
}

test_country_names_cover_the_data if {
	every code, _ in data.sovgate.adequacy {
		data.sovgate.country_names[code].fr != ""
	}
	every code, _ in data.sovgate.eu_countries {
		data.sovgate.country_names[code].fr != ""
	}
	data.sovgate.country_names.US == {"en": "United States", "fr": "États-Unis"}
}
