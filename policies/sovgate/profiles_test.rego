# Unit tests of each profile of data.sovgate.profiles. The apps name their
# profile explicitly; categories_test.rego tests how categories choose it.
package sovgate_test

import data.sovgate

# ---- every profile ---------------------------------------------------------

test_every_profile_described_in_english_and_french if {
	every _, profile in data.sovgate.profiles {
		profile.description.en != ""
		profile.description.fr != ""
	}
}

test_profile_order_lists_every_profile_once if {
	count(data.sovgate.profile_order) == count(data.sovgate.profiles)
	every name, _ in data.sovgate.profiles {
		name in data.sovgate.profile_order
	}
}

test_shipped_profile_order if {
	data.sovgate.profile_order == ["open", "residency", "gdpr-transfer", "led", "sovereign", "secnumcloud", "hds", "france"]
}

test_every_profile_allows_a_french_sovereign_destination if {
	# A French address of a French operator recognised as an offer with
	# every qualification: no profile has a reason to refuse it.
	offer := with_offer(ovhcloud, "ovh-qualified", [qualification("secnumcloud", "2024-01-01", "2027-01-01"), qualification("hds", "2024-01-01", "")])
	a := cloud_address("192.0.2.40", "FR", "ovhcloud", "gra", "FR")
	every name, _ in data.sovgate.profiles {
		d := sovgate.decision with input as request("test-x", "x.example.fr", [a], [offer])
			with data.sovgate.apps as app_with_profile("test-x", name)
		d == {"allow": true, "profile": name, "reasons": []}
	}
}

# ---- sovereign -------------------------------------------------------------

test_sovereign_denies_unknown_operator if {
	d := sovgate.decision with input as request("test-x", "x.example.fr", [unknown_address("192.0.2.21", "FR")], [])
		with data.sovgate.apps as app_with_profile("test-x", "sovereign")
	codes(d) == ["JURISDICTION_UNKNOWN"]
}

test_sovereign_denies_adequacy_country if {
	d := sovgate.decision with input as request("test-x", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as app_with_profile("test-x", "sovereign")
	codes(d) == ["RESIDENCY_NON_EU"]
}

# ---- gdpr-transfer ---------------------------------------------------------

gdpr(req) := d if {
	d := sovgate.decision with input as req
		with data.sovgate.apps as app_with_profile("test-x", "gdpr-transfer")
		with data.sovgate.operators as fixture_operators
}

test_gdpr_transfer_allows_eea if {
	gdpr(request("test-x", "x.example.de", [address("192.0.2.60", "DE")], [])).allow
	gdpr(request("test-x", "x.example.no", [address("192.0.2.60", "NO")], [])).allow
}

test_gdpr_transfer_allows_adequacy_countries if {
	every country in ["CH", "GB", "JP", "KR", "BR", "IL", "NZ", "UY", "AR", "AD", "FO", "GG", "IM", "JE"] {
		gdpr(request("test-x", "x.example", [address("192.0.2.60", country)], [])).allow
	}
}

test_gdpr_transfer_allows_law_of_adequacy_country if {
	provider := {"id": "infomaniak", "name": "Infomaniak", "headquarters": "CH", "jurisdictions": ["CH"], "matched_by": "asn", "inferred": false}
	d := gdpr(request("test-x", "x.example.ch", [operated_address("192.0.2.60", "CH", "infomaniak")], [provider]))
	d == {"allow": true, "profile": "gdpr-transfer", "reasons": []}
}

test_gdpr_transfer_denies_countries_without_adequacy if {
	d := gdpr(request("test-x", "x.example.cn", [address("198.51.100.1", "CN")], []))
	english(d).reasons == [{
		"code": "RESIDENCY_NON_EU", "ip": "198.51.100.1",
		"message": "198.51.100.1 is in CN, outside the EU/EEA, in a country without an adequacy decision in force that covers this transfer",
	}]
	d.reasons[0].messages.fr == "l'adresse 198.51.100.1 est située hors de l'UE/EEE, dans un pays qui ne bénéficie d'aucune décision d'adéquation en vigueur couvrant ce transfert (Chine)"
}

test_gdpr_transfer_denies_sectoral_decision if {
	# Canada's decision covers only PIPEDA organisations.
	codes(gdpr(request("test-x", "x.example.ca", [address("192.0.2.62", "CA")], []))) == ["RESIDENCY_NON_EU"]
}

test_gdpr_transfer_denies_expired_adequacy if {
	d := gdpr(request_at("test-x", "x.example.uk", [address("192.0.2.61", "GB")], [], "2031-12-28T00:00:00Z"))
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_gdpr_transfer_denies_adequacy_out_of_scope if {
	adequacy := object.union(data.sovgate.adequacy, {"CH": object.union(data.sovgate.adequacy.CH, {"scope": ["led"]})})
	d := gdpr(request("test-x", "x.example.ch", [address("192.0.2.60", "CH")], [])) with data.sovgate.adequacy as adequacy
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_gdpr_transfer_allows_us_for_dpf_certified_operator if {
	a := operated_address("203.0.113.7", "US", "us-dpf")
	d := gdpr(request("test-x", "api.us-dpf.example", [a], [us_operator("us-dpf")]))
	d == {"allow": true, "profile": "gdpr-transfer", "reasons": []}
}

test_gdpr_transfer_allows_us_law_of_dpf_certified_operator_in_eu if {
	a := operated_address("192.0.2.30", "FR", "us-dpf")
	gdpr(request("test-x", "api.us-dpf.example", [a], [us_operator("us-dpf")])).allow
}

test_gdpr_transfer_denies_us_for_operator_without_dpf if {
	a := operated_address("203.0.113.7", "US", "us-none")
	d := gdpr(request("test-x", "api.us-none.example", [a], [us_operator("us-none")]))
	english(d).reasons == [
		{
			"code": "RESIDENCY_NON_EU", "ip": "203.0.113.7",
			"message": "203.0.113.7 is in US, outside the EU/EEA, in a country without an adequacy decision in force that covers this transfer; the adequacy decision for US covers only organisations certified under it (DPF), and the catalogue records no DPF certification in force for us-none",
		},
		{
			"code": "JURISDICTION_NON_EU",
			"message": "us-none (US None Inc., headquartered in US) is subject to US law, a country outside the EU/EEA without an adequacy decision in force that covers this transfer; the adequacy decision for US covers only organisations certified under it (DPF), and the catalogue records no DPF certification in force for us-none",
		},
	]
	d.reasons[1].messages.fr == "us-none (US None Inc., siège : États-Unis) est soumis au droit d'un pays hors de l'UE/EEE qui ne bénéficie d'aucune décision d'adéquation en vigueur couvrant ce transfert (États-Unis) ; la décision d'adéquation pour ce pays (États-Unis) ne couvre que les organisations certifiées (DPF), et le catalogue n'indique aucune certification DPF en vigueur pour us-none"
}

test_gdpr_transfer_denies_us_for_lapsed_certification if {
	a := operated_address("203.0.113.7", "US", "us-lapsed")
	codes(gdpr(request("test-x", "api.example", [a], [us_operator("us-lapsed")]))) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

test_gdpr_transfer_dpf_not_before_the_framework if {
	a := operated_address("203.0.113.7", "US", "us-dpf")
	d := gdpr(request_at("test-x", "api.example", [a], [us_operator("us-dpf")], "2023-07-09T12:00:00Z"))
	not d.allow
}

test_gdpr_transfer_denies_us_operator_the_catalogue_does_not_know if {
	# Known only from the registration of its network: nothing can say
	# whether it is certified.
	a := object.union(address("203.0.113.8", "US"), {"asn": 64510, "provider": "as64510"})
	d := gdpr(request("test-x", "crm.example.com", [a], [inferred(64510, "Example CRM, Inc.", "US")]))
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
	endswith(d.reasons[1].message, "; the adequacy decision for US covers only organisations certified under it (DPF), and as64510 has no catalogue entry that could record one")
}

test_gdpr_transfer_denies_us_address_nobody_operates if {
	d := gdpr(request("test-x", "x.example", [unknown_address("203.0.113.9", "US")], []))
	codes(d) == ["RESIDENCY_NON_EU", "JURISDICTION_UNKNOWN"]
	endswith(d.reasons[0].message, "and nobody knows who operates it")
}

test_gdpr_transfer_reads_dpf_from_the_shipped_catalogue if {
	# Amazon Web Services is listed on the DPF List (its catalogue entry
	# holds a dpf qualification): a US region is a lawful transfer.
	a := cloud_address("203.0.113.7", "US", "aws", "us-east-1", "US")
	d := sovgate.decision with input as request("test-x", "x.amazonaws.com", [a], [aws])
		with data.sovgate.apps as app_with_profile("test-x", "gdpr-transfer")
	d.allow
}

# ---- led -------------------------------------------------------------------

led(req) := d if {
	d := sovgate.decision with input as req
		with data.sovgate.apps as app_with_profile("test-x", "led")
		with data.sovgate.operators as fixture_operators
}

test_led_allows_eea_and_uk if {
	led(request("test-x", "x.example.fr", [address("192.0.2.60", "FR")], [])).allow
	led(request("test-x", "x.example.uk", [address("192.0.2.61", "GB")], [])).allow
}

test_led_only_the_uk_has_an_adequacy_decision_under_the_directive if {
	led_countries := {code | some code, adequacy in data.sovgate.adequacy; "led" in adequacy.scope}
	led_countries == {"GB"}
}

test_led_denies_gdpr_only_adequacy if {
	d := led(request("test-x", "x.example.ch", [address("192.0.2.60", "CH")], []))
	english(d).reasons == [{
		"code": "RESIDENCY_NON_EU", "ip": "192.0.2.60",
		"message": "192.0.2.60 is in CH, outside the EU/EEA, in a country without an adequacy decision under the Law Enforcement Directive in force",
	}]
	d.reasons[0].messages.fr == "l'adresse 192.0.2.60 est située hors de l'UE/EEE, dans un pays qui ne bénéficie d'aucune décision d'adéquation en vigueur au titre de la directive « police-justice » (Suisse)"
}

test_led_denies_dpf if {
	a := operated_address("203.0.113.7", "US", "us-dpf")
	codes(led(request("test-x", "api.example", [a], [us_operator("us-dpf")]))) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

test_led_denies_uk_after_its_decision if {
	d := led(request_at("test-x", "x.example.uk", [address("192.0.2.61", "GB")], [], "2032-01-01T00:00:00Z"))
	codes(d) == ["RESIDENCY_NON_EU"]
}

# ---- france ----------------------------------------------------------------

france(req) := d if {
	d := sovgate.decision with input as req
		with data.sovgate.apps as app_with_profile("test-x", "france")
}

hetzner := {"id": "hetzner", "name": "Hetzner Online", "headquarters": "DE", "jurisdictions": ["DE"], "matched_by": "asn", "inferred": false}

test_france_allows_france_and_its_outermost_regions if {
	every country in ["FR", "GP", "GF", "MQ", "RE", "YT", "MF"] {
		france(request("test-x", "x.example.fr", [address("192.0.2.60", country)], [inferred(64500, "", "FR")])).allow
	}
}

test_france_denies_other_member_states if {
	d := france(request("test-x", "x.example.de", [address("192.0.2.60", "DE")], []))
	english(d) == {"allow": false, "profile": "france", "reasons": [{
		"code": "RESIDENCY_NON_FR", "ip": "192.0.2.60",
		"message": "192.0.2.60 is in DE, outside France",
	}]}
	d.reasons[0].messages.fr == "l'adresse 192.0.2.60 est située hors de France (Allemagne)"
	codes(france(request("test-x", "x.example.ax", [address("192.0.2.60", "AX")], []))) == ["RESIDENCY_NON_FR"]
}

test_france_denies_outside_the_eu_as_non_eu if {
	codes(france(us_request("test-x", "api.example.com"))) == ["RESIDENCY_NON_EU"]

	# French overseas collectivities outside the EU are outside eu_territories.
	codes(france(request("test-x", "x.example.nc", [address("192.0.2.60", "NC")], []))) == ["RESIDENCY_NON_EU"]
}

test_france_allows_french_operator if {
	a := cloud_address("192.0.2.40", "FR", "ovhcloud", "gra", "FR")
	france(request("test-x", "x.example.fr", [a], [ovhcloud])).allow
}

test_france_denies_operator_of_another_member_state if {
	d := france(request("test-x", "x.example.fr", [operated_address("192.0.2.41", "FR", "hetzner")], [hetzner]))
	english(d).reasons == [{"code": "JURISDICTION_NON_FR", "message": "hetzner (Hetzner Online, headquartered in DE) is subject to DE law, a country other than France"}]
	d.reasons[0].messages.fr == "hetzner (Hetzner Online, siège : Allemagne) est soumis au droit d'un pays autre que la France (Allemagne)"
}

test_france_denies_operator_outside_the_eu if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	codes(france(request("test-x", "x.amazonaws.com", [a], [aws]))) == ["JURISDICTION_NON_EU"]
}

test_france_denies_unknown_operator if {
	codes(france(request("test-x", "x.example.fr", [unknown_address("192.0.2.21", "FR")], []))) == ["JURISDICTION_UNKNOWN"]
}

test_france_ignores_adequacy_opt_in if {
	d := sovgate.decision with input as request("test-x", "x.example.ch", [address("192.0.2.60", "CH")], [])
		with data.sovgate.apps as {"test-x": {"profile": "france", "accept_adequacy": true}}
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_area_of_another_member_state if {
	profiles := object.union(data.sovgate.profiles, {"germany": {"checks": ["residency"], "area": "DE"}})
	d := sovgate.decision with input as request("test-x", "x.example.fr", [address("192.0.2.60", "FR")], [])
		with data.sovgate.profiles as profiles
		with data.sovgate.apps as app_with_profile("test-x", "germany")
	english(d).reasons == [{"code": "RESIDENCY_NON_FR", "ip": "192.0.2.60", "message": "192.0.2.60 is in FR, outside Germany"}]
	d.reasons[0].messages.fr == "l'adresse 192.0.2.60 est située hors de l'État membre Allemagne (France)"
}

# ---- secnumcloud -----------------------------------------------------------

snc(req) := d if {
	d := sovgate.decision with input as req
		with data.sovgate.apps as app_with_profile("test-x", "secnumcloud")
}

snc_offer(until) := with_offer(ovhcloud, "ovh-snc", [qualification("secnumcloud", "2024-12-04", until)])

ovh_address := cloud_address("192.0.2.40", "FR", "ovhcloud", "gra", "FR")

test_secnumcloud_allows_qualified_offer if {
	d := snc(request("test-x", "x.snc.example.fr", [ovh_address], [snc_offer("2027-12-04")]))
	d == {"allow": true, "profile": "secnumcloud", "reasons": []}
	snc(request("test-x", "x.snc.example.fr", [ovh_address], [snc_offer("")])).allow
}

test_secnumcloud_qualification_valid_through_its_last_day if {
	snc(request_at("test-x", "x.snc.example.fr", [ovh_address], [snc_offer("2026-11-28")], "2026-11-28T23:59:59Z")).allow
	not snc(request_at("test-x", "x.snc.example.fr", [ovh_address], [snc_offer("2026-11-28")], "2026-11-29T00:00:00Z")).allow
}

test_secnumcloud_denies_operator_without_recognised_offer if {
	d := snc(request("test-x", "x.ovh.example", [ovh_address], [ovhcloud]))
	english(d).reasons == [{
		"code": "QUALIFICATION_MISSING",
		"message": "ovhcloud (OVHcloud): the catalogue recognises no offer of this operator at x.ovh.example, so nothing says it holds a SecNumCloud qualification in force (an offer is recognised by its domain suffixes or address ranges in the catalogue)",
	}]
	d.reasons[0].messages.fr == "ovhcloud (OVHcloud) : le catalogue ne reconnaît aucune offre de cet opérateur pour x.ovh.example, rien n'indique donc une qualification SecNumCloud en vigueur (une offre se reconnaît à ses suffixes de domaine ou à ses plages d'adresses dans le catalogue)"
}

test_secnumcloud_denies_offer_without_the_qualification if {
	offer := with_offer(ovhcloud, "ovh-public", [qualification("iso27001", "2024-01-01", "")])
	d := snc(request("test-x", "x.ovh.example", [ovh_address], [offer]))
	english(d).reasons == [{"code": "QUALIFICATION_MISSING", "message": "offer ovh-public (ovh-public offer) of ovhcloud holds no SecNumCloud qualification in the catalogue"}]
}

test_secnumcloud_denies_expired_qualification if {
	d := snc(request("test-x", "x.ovh.example", [ovh_address], [snc_offer("2025-12-04")]))
	english(d).reasons == [{"code": "QUALIFICATION_MISSING", "message": "offer ovh-snc (ovh-snc offer) of ovhcloud: its SecNumCloud qualification is not in force on 2026-11-28 (from 2024-12-04 to 2025-12-04)"}]
	d.reasons[0].messages.fr == "l'offre ovh-snc (ovh-snc offer) de ovhcloud : sa qualification SecNumCloud n'est pas en vigueur le 2026-11-28 (du 2024-12-04 au 2025-12-04)"
}

test_secnumcloud_denies_qualification_not_yet_granted if {
	offer := with_offer(ovhcloud, "ovh-snc", [qualification("secnumcloud", "2027-01-01", "")])
	d := snc(request("test-x", "x.ovh.example", [ovh_address], [offer]))
	endswith(d.reasons[0].message, "is not in force on 2026-11-28 (since 2027-01-01)")
}

test_secnumcloud_denies_address_nobody_operates if {
	d := snc(request("test-x", "x.example.fr", [unknown_address("192.0.2.21", "FR")], []))
	codes(d) == ["JURISDICTION_UNKNOWN", "QUALIFICATION_MISSING"]
	d.reasons[1].message == "nobody knows who operates 192.0.2.21, so nothing says it is an offer with a SecNumCloud qualification in force"
}

test_secnumcloud_every_address_in_the_offer if {
	# The name is the offer's, but one address belongs to another operator
	# (a CDN in front of it): data sent there is not in the offer.
	cdn := {"id": "cdn-eu", "name": "CDN EU", "headquarters": "FR", "jurisdictions": ["FR"], "matched_by": "asn", "inferred": false}
	addresses := [ovh_address, operated_address("192.0.2.42", "FR", "cdn-eu")]
	d := snc(request("test-x", "x.snc.example.fr", addresses, [snc_offer(""), cdn]))
	codes(d) == ["QUALIFICATION_MISSING"]
	startswith(d.reasons[0].message, "cdn-eu (CDN EU): ")
}

test_secnumcloud_still_checks_jurisdiction_and_residency if {
	us_offer := with_offer(aws, "aws-x", [qualification("secnumcloud", "2024-01-01", "")])
	a := cloud_address("203.0.113.7", "US", "aws", "us-east-1", "US")
	codes(snc(request("test-x", "x.example", [a], [us_offer]))) == ["RESIDENCY_NON_EU", "JURISDICTION_NON_EU"]
}

# ---- hds -------------------------------------------------------------------

hds(req) := d if {
	d := sovgate.decision with input as req
		with data.sovgate.apps as app_with_profile("test-x", "hds")
}

aws_hds := with_offer(aws, "aws-hds", [qualification("hds", "2026-04-21", "2029-04-21")])

test_hds_allows_certified_offer_in_the_eea if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	d := hds(request("test-x", "x.health.example", [a], [aws_hds]))
	d == {"allow": true, "profile": "hds", "reasons": []}
}

test_hds_denies_certified_offer_outside_the_eea if {
	a := cloud_address("203.0.113.7", "US", "aws", "us-east-1", "US")
	codes(hds(request("test-x", "x.health.example", [a], [aws_hds]))) == ["RESIDENCY_NON_EU"]
}

test_hds_denies_uncertified_destination if {
	d := hds(request("test-x", "x.example.fr", [ovh_address], [ovhcloud]))
	codes(d) == ["QUALIFICATION_MISSING"]
	contains(d.reasons[0].message, "health data hosting (HDS)")
	contains(d.reasons[0].messages.fr, "hébergeur de données de santé (HDS)")
}

test_hds_denies_certificate_before_it_starts if {
	a := cloud_address("192.0.2.30", "FR", "aws", "eu-west-3", "FR")
	not hds(request_at("test-x", "x.health.example", [a], [aws_hds], "2026-04-20T23:59:59Z")).allow
}

test_hds_denies_unknown_country if {
	a := object.union(cloud_address("192.0.2.30", "", "aws", "", ""), {"anycast": true})
	codes(hds(request("test-x", "x.health.example", [a], [aws_hds]))) == ["RESIDENCY_UNKNOWN"]
}

# ---- a profile of the DPO's own --------------------------------------------

test_profile_with_two_qualifications_needs_both if {
	profiles := object.union(data.sovgate.profiles, {"hds-secnumcloud": {
		"checks": ["residency", "jurisdiction", "qualification"],
		"qualifications": ["hds", "secnumcloud"],
	}})
	both := with_offer(ovhcloud, "ovh-both", [qualification("hds", "2024-01-01", ""), qualification("secnumcloud", "2024-01-01", "")])
	allowed := sovgate.decision with input as request("test-x", "x.example.fr", [ovh_address], [both])
		with data.sovgate.profiles as profiles
		with data.sovgate.apps as app_with_profile("test-x", "hds-secnumcloud")
	allowed.allow
	denied := sovgate.decision with input as request("test-x", "x.example.fr", [ovh_address], [snc_offer("")])
		with data.sovgate.profiles as profiles
		with data.sovgate.apps as app_with_profile("test-x", "hds-secnumcloud")
	codes(denied) == ["QUALIFICATION_MISSING"]
}
