# Unit tests of the data categories: each one's minimum profile, and the
# effective profile, the strictest of the app's and its categories'
# minimums in profile_order.
package sovgate_test

import data.sovgate

# The defaults of the categories, from the most lenient to the strictest.
category_minimums := {
	"public": "residency",
	"police": "led",
	"personal": "sovereign",
	"hr": "sovereign",
	"health": "hds",
	"social": "hds",
	"civil-status": "france",
	"elections": "france",
}

test_shipped_categories if {
	{name: c.minimum_profile | some name, c in default_categories} == category_minimums
	every _, category in data.sovgate.categories {
		category.description.en != ""
		category.description.fr != ""
	}
}

# Every category, alone, makes an app without a profile of its own take its
# minimum profile (the default profile, sovereign, when the minimum is
# more lenient: residency, led).
test_every_category_chooses_its_minimum_profile if {
	every category, minimum in category_minimums {
		d := sovgate.decision with input as category_request("test-x", [category], "FR")
			with data.sovgate.categories as default_categories
			with data.sovgate.apps as {"test-x": {"profile": "open"}}
		d.profile == minimum
	}
}

test_category_minimum_below_the_default_keeps_the_default if {
	# The default profile (sovereign) is stricter than public's residency.
	d := sovgate.decision with input as category_request("test-x", ["public"], "FR")
		with data.sovgate.categories as default_categories
	d.profile == "sovereign"
	d2 := sovgate.decision with input as category_request("test-x", ["police"], "FR")
		with data.sovgate.categories as default_categories
	d2.profile == "sovereign"
}

# ---- strictest wins ----------------------------------------------------------

effective(profile, categories) := d.profile if {
	d := sovgate.decision with input as category_request("test-x", categories, "FR")
		with data.sovgate.categories as default_categories
		with data.sovgate.apps as app_with_profile("test-x", profile)
}

test_strictest_of_the_categories_wins if {
	effective("open", ["public", "personal"]) == "sovereign"
	effective("open", ["police", "personal"]) == "sovereign"
	effective("open", ["public", "police"]) == "led"
	effective("open", ["personal", "health"]) == "hds"
	effective("open", ["health", "civil-status"]) == "france"
	effective("open", ["elections", "public", "hr"]) == "france"
}

test_explicit_profile_wins_when_stricter if {
	effective("france", ["personal"]) == "france"
	effective("sovereign", ["public"]) == "sovereign"
	effective("secnumcloud", ["personal", "hr"]) == "secnumcloud"
	effective("hds", ["police"]) == "hds"
}

test_category_wins_when_stricter if {
	effective("residency", ["personal"]) == "sovereign"
	effective("gdpr-transfer", ["police"]) == "led"
	effective("secnumcloud", ["health"]) == "hds"
	effective("sovereign", ["civil-status"]) == "france"
}

test_no_category_keeps_the_declared_profile if {
	effective("open", []) == "open"
	effective("gdpr-transfer", []) == "gdpr-transfer"
}

test_strictest_follows_profile_order if {
	# The order is data: put residency last, and it wins over sovereign.
	order := ["open", "gdpr-transfer", "led", "sovereign", "secnumcloud", "hds", "france", "residency"]
	d := sovgate.decision with input as category_request("test-x", ["personal"], "FR")
		with data.sovgate.categories as default_categories
		with data.sovgate.apps as app_with_profile("test-x", "residency")
		with data.sovgate.profile_order as order
	d.profile == "residency"
}

test_strictest_profile_is_the_one_applied if {
	# A personal-data app declared "open" is held to sovereign: refused a
	# US address.
	d := sovgate.decision with input as with_categories(us_request("test-x", "api.example.com"), ["personal"])
		with data.sovgate.categories as default_categories
		with data.sovgate.apps as app_with_profile("test-x", "open")
	d.profile == "sovereign"
	codes(d) == ["RESIDENCY_NON_EU"]
}

test_civil_status_refused_germany_allowed_france if {
	de := sovgate.decision with input as category_request("test-etat-civil", ["civil-status"], "DE")
		with data.sovgate.categories as default_categories
	de.profile == "france"
	codes(de) == ["RESIDENCY_NON_FR"]
	fr := sovgate.decision with input as category_request("test-etat-civil", ["civil-status"], "FR")
		with data.sovgate.categories as default_categories
		with data.sovgate.apps as {}
	fr == {"allow": true, "profile": "france", "reasons": []}
}

test_unknown_category_sets_no_minimum if {
	effective("open", ["persona1"]) == "open"
}

test_category_of_the_dpo_without_minimum if {
	categories := object.union(default_categories, {"library": {"description": {"en": "loans", "fr": "prêts"}}})
	d := sovgate.decision with input as category_request("test-x", ["library"], "FR")
		with data.sovgate.apps as app_with_profile("test-x", "residency")
		with data.sovgate.categories as categories
	d.profile == "residency"
}

test_categories_of_the_earlier_format_set_no_minimum if {
	# Categories used to be a description only.
	d := sovgate.decision with input as category_request("test-x", ["personal"], "FR")
		with data.sovgate.apps as app_with_profile("test-x", "residency")
		with data.sovgate.categories as {"personal": "personal data"}
	d.profile == "residency"
}

test_profile_missing_from_the_order_denies_with_categories if {
	profiles := object.union(data.sovgate.profiles, {"custom": {"checks": ["residency"]}})
	d := sovgate.decision with input as category_request("test-x", ["personal"], "FR")
		with data.sovgate.categories as default_categories
		with data.sovgate.profiles as profiles
		with data.sovgate.apps as app_with_profile("test-x", "custom")
	english(d) == {"allow": false, "profile": "custom", "reasons": [{
		"code": "PROFILE_UNKNOWN",
		"message": "app \"test-x\" uses profile \"custom\", which is not in data.sovgate.profile_order: it cannot be compared with the minimum profiles of the app's categories (sovereign)",
	}]}
	startswith(d.reasons[0].messages.fr, "l'application « test-x » utilise le profil « custom », absent de data.sovgate.profile_order")

	# Without categories there is nothing to compare: the profile applies.
	alone := sovgate.decision with input as category_request("test-x", [], "FR")
		with data.sovgate.categories as default_categories
		with data.sovgate.profiles as profiles
		with data.sovgate.apps as app_with_profile("test-x", "custom")
	alone == {"allow": true, "profile": "custom", "reasons": []}
}

test_unidentified_traffic_gets_unknown_profile_whatever_its_categories if {
	req := object.union(category_request("unknown", ["civil-status"], "DE"), {"source": {"identified_by": "none"}})
	d := sovgate.decision with input as req
		with data.sovgate.categories as default_categories
		with data.sovgate.unknown_profile as "residency"
	d.profile == "residency"
	d.allow
}

test_profile_given_by_the_gateway_is_used if {
	# The gateway computes the effective profile once per revision and app
	# and passes it as input.source.profile.
	req := object.union(category_request("test-x", ["personal"], "DE"), {"source": {"profile": "france"}})
	d := sovgate.decision with input as req
		with data.sovgate.categories as default_categories
	d.profile == "france"
	codes(d) == ["RESIDENCY_NON_FR"]
}

test_effective_profile_depends_on_the_source_only if {
	# What the gateway computes once per app: the same for any destination.
	src := {"app": "test-x", "ip": "10.1.2.3", "identified_by": "basic", "categories": ["health", "personal"]}
	p := sovgate.effective_profile with input as {"source": src}
		with data.sovgate.apps as app_with_profile("test-x", "open")
	p == "hds"
}

# SCRATCH ONLY: the default categories, so that a DPO who changes a minimum
# does not break these tests.
default_categories := {
	"personal": {
		"description": {
			"en": "personal data (GDPR article 4): any information relating to an identified or identifiable person",
			"fr": "données à caractère personnel (article 4 du RGPD) : toute information se rapportant à une personne physique identifiée ou identifiable",
		},
		"minimum_profile": "sovereign",
	},
	"health": {
		"description": {
			"en": "health data, a special category (GDPR article 9), which only a certified health data host (HDS, French public health code, article L1111-8) may host",
			"fr": "données de santé, catégorie particulière (article 9 du RGPD), que seul un hébergeur certifié de données de santé (HDS, article L1111-8 du code de la santé publique) peut héberger",
		},
		"minimum_profile": "hds",
	},
	"social": {
		"description": {
			"en": "social welfare data (social assistance, child welfare, disability): sensitive, often health-related",
			"fr": "données sociales (aide sociale, aide sociale à l'enfance, handicap) : sensibles, souvent liées à la santé",
		},
		"minimum_profile": "hds",
	},
	"civil-status": {
		"description": {
			"en": "civil-status records (births, marriages, deaths): public archives (French heritage code, book II), to be kept in France",
			"fr": "actes d'état civil (naissances, mariages, décès) : archives publiques (code du patrimoine, livre II), à conserver en France",
		},
		"minimum_profile": "france",
	},
	"elections": {
		"description": {
			"en": "electoral rolls and election results: public archives, to be kept in France",
			"fr": "listes électorales et résultats des élections : archives publiques, à conserver en France",
		},
		"minimum_profile": "france",
	},
	"hr": {
		"description": {
			"en": "human-resources data of the city's staff (careers, pay, absences)",
			"fr": "données de ressources humaines des agents (carrière, paie, absences)",
		},
		"minimum_profile": "sovereign",
	},
	"police": {
		"description": {
			"en": "municipal police data, processed under the Law Enforcement Directive (EU) 2016/680",
			"fr": "données de la police municipale, traitées au titre de la directive (UE) 2016/680 « police-justice »",
		},
		"minimum_profile": "led",
	},
	"public": {
		"description": {
			"en": "public data, or data published as open data",
			"fr": "données publiques, ou publiées en données ouvertes (open data)",
		},
		"minimum_profile": "residency",
	},
}
