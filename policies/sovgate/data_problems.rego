# sovgate default policy: mistakes in data.json.
#
# data_problems lists mistakes in the data that would otherwise go unnoticed:
# a mistake never opens the gate (an incomplete exception does not apply, an
# unknown profile denies), but the person who wrote it should hear about it.
# `sovgate policy check` prints these problems with the file and line of
# the entry (from "path", relative to data.sovgate), and the gateway logs
# them when it loads a revision. A problem with "severity": "warning" (an
# exception of the earlier format, which still applies) does not make
# `policy check` fail. The unit test test_shipped_data_has_no_problems
# fails when the shipped data has one.
#
# Each problem is {"path": [...], "message": "...", "severity": "warning"
# (only for a warning)}; a policy of your own may also list plain strings.
#
# Host patterns broader than a registrable domain ("*.com", "*.co.uk") are
# refused by the gateway itself, which knows the Public Suffix List: see
# exceptions.rego.
package sovgate

# The checks a profile may list.
known_checks := {"residency", "jurisdiction", "qualification"}

# The qualification schemes of the catalogue.
known_schemes := {"secnumcloud", "hds", "dpf", "eucs", "c5", "iso27001"}

# The codes the checks of this bundle give, which exceptions may cover.
violation_codes := {
	"RESIDENCY_NON_EU", "RESIDENCY_NON_FR", "RESIDENCY_UNKNOWN",
	"JURISDICTION_NON_EU", "JURISDICTION_NON_FR", "JURISDICTION_UNKNOWN",
	"QUALIFICATION_MISSING",
}

problem(path, message) := {"path": path, "message": message}

warning(path, message) := {"path": path, "message": message, "severity": "warning"}

# ---- profiles and their order ----------------------------------------------

data_problems contains problem(["default_profile"], "default_profile is missing") if not data.sovgate.default_profile

data_problems contains problem(["default_profile"], msg) if {
	not data.sovgate.profiles[data.sovgate.default_profile]
	msg := sprintf("default_profile %q is not defined in profiles", [data.sovgate.default_profile])
}

data_problems contains problem(["unknown_profile"], msg) if {
	not data.sovgate.profiles[data.sovgate.unknown_profile]
	msg := sprintf("unknown_profile %q is not defined in profiles", [data.sovgate.unknown_profile])
}

data_problems contains problem(["profiles", name, "checks"], msg) if {
	some name, definition in data.sovgate.profiles
	some check in definition.checks
	not check in known_checks
	msg := sprintf("profiles[%q]: unknown check %q (known checks: residency, jurisdiction, qualification)", [name, check])
}

data_problems contains problem(["profiles", name, "area"], msg) if {
	some name, definition in data.sovgate.profiles
	area := definition.area
	area != "EEA"
	not data.sovgate.eu_countries[area]
	msg := sprintf("profiles[%q]: area %v is neither \"EEA\" nor a member state of eu_countries", [name, area])
}

data_problems contains problem(["profiles", name, "adequacy"], msg) if {
	some name, definition in data.sovgate.profiles
	scope := definition.adequacy
	not scope in {"gdpr", "led"}
	msg := sprintf("profiles[%q]: adequacy must be \"gdpr\" or \"led\", not %v", [name, scope])
}

data_problems contains problem(["profiles", name, "dpf"], msg) if {
	some name, definition in data.sovgate.profiles
	value := definition.dpf
	not is_boolean(value)
	msg := sprintf("profiles[%q]: dpf must be true or false, not %v", [name, value])
}

data_problems contains problem(["profiles", name, "qualifications"], msg) if {
	some name, definition in data.sovgate.profiles
	"qualification" in definition.checks
	not non_empty_list(object.get(definition, "qualifications", null))
	msg := sprintf("profiles[%q]: the qualification check needs \"qualifications\", a list of schemes (secnumcloud, hds, ...)", [name])
}

data_problems contains problem(["profiles", name, "qualifications"], msg) if {
	some name, definition in data.sovgate.profiles
	some scheme in definition.qualifications
	not scheme in known_schemes
	msg := sprintf("profiles[%q]: unknown qualification scheme %v (known: c5, dpf, eucs, hds, iso27001, secnumcloud)", [name, scheme])
}

data_problems contains problem(["profile_order"], "profile_order is missing: list the profiles from the least to the most strict") if {
	not is_array(data.sovgate.profile_order)
}

data_problems contains problem(["profile_order"], msg) if {
	some name in data.sovgate.profile_order
	not data.sovgate.profiles[name]
	msg := sprintf("profile_order: %v is not defined in profiles", [name])
}

data_problems contains problem(["profile_order"], msg) if {
	some name in data.sovgate.profile_order
	count([n | some n in data.sovgate.profile_order; n == name]) > 1
	msg := sprintf("profile_order: %v is listed twice", [name])
}

data_problems contains problem(["profiles", name], msg) if {
	is_array(data.sovgate.profile_order)
	some name, _ in data.sovgate.profiles
	not name in data.sovgate.profile_order
	msg := sprintf("profiles[%q] is not in profile_order: an app with data categories cannot use it (PROFILE_UNKNOWN)", [name])
}

# ---- categories ------------------------------------------------------------

data_problems contains problem(["categories", name, "minimum_profile"], msg) if {
	some name, category in data.sovgate.categories
	minimum := category.minimum_profile
	not data.sovgate.profiles[minimum]
	msg := sprintf("categories[%q]: minimum_profile %v is not defined in profiles", [name, minimum])
}

# ---- apps ------------------------------------------------------------------

data_problems contains problem(["apps"], "apps is missing: write \"apps\": {} when no app needs a setting") if not data.sovgate.apps

data_problems contains problem(["apps", name, "categories"], msg) if {
	some name, settings in data.sovgate.apps
	some category in settings.categories
	data.sovgate.categories
	not data.sovgate.categories[category]
	msg := sprintf("apps[%q]: category %q is not defined in categories (a typing mistake would hide personal data from the rules)", [name, category])
}

data_problems contains problem(["apps", name, "profile"], msg) if {
	some name, settings in data.sovgate.apps
	profile := settings.profile
	not data.sovgate.profiles[profile]
	msg := sprintf("apps[%q]: profile %q is not defined in profiles", [name, profile])
}

data_problems contains problem(["apps", name, "accept_adequacy"], msg) if {
	some name, settings in data.sovgate.apps
	value := settings.accept_adequacy
	not is_boolean(value)
	msg := sprintf("apps[%q]: accept_adequacy must be true or false, not %v", [name, value])
}

data_problems contains problem(["apps", name, "allowed_hosts"], msg) if {
	some name, settings in data.sovgate.apps
	hosts := settings.allowed_hosts
	not is_array(hosts)
	msg := sprintf("apps[%q]: allowed_hosts must be a list of records (or host names)", [name])
}

data_problems contains problem(["apps", name, "allowed_hosts", i], msg) if {
	some name, settings in data.sovgate.apps
	some i, host in settings.allowed_hosts
	is_string(host)
	not valid_host_pattern(host)
	msg := sprintf("apps[%q]: allowed_hosts: %v is not a host name or \"*.domain\"", [name, host])
}

data_problems contains problem(["apps", name, "allowed_hosts", i], msg) if {
	some name, settings in data.sovgate.apps
	some i, entry in settings.allowed_hosts
	not is_string(entry)
	not is_object(entry)
	msg := sprintf("apps[%q]: allowed_hosts[%d] must be a record or a host name, not %v", [name, i, entry])
}

data_problems contains warning(["apps", name, "allowed_hosts", i], msg) if {
	some name, settings in data.sovgate.apps
	some i, host in settings.allowed_hosts
	valid_host_pattern(host)
	msg := sprintf("apps[%q]: allowed_hosts: %q is a plain host name, the earlier format: it tolerates every violation and never expires; replace it with a record with %s", [name, host, concat(", ", array.concat(["host"], array.concat(legal_record_fields, ["reason", "approved_by", "expires"])))])
}

# An allowed host record: the problems of a record (below).
data_problems contains object.union(p, {"path": array.concat(["apps", name, "allowed_hosts", i], p.path)}) if {
	some name, settings in data.sovgate.apps
	some i, entry in settings.allowed_hosts
	is_object(entry)
	some p in record_problems(sprintf("apps[%q]: allowed_hosts[%d]", [name, i]), entry)
}

# ---- exceptions ------------------------------------------------------------

data_problems contains problem(["exceptions"], "exceptions is missing: write \"exceptions\": {} when there is none") if not data.sovgate.exceptions

data_problems contains problem(["exceptions", id, "app"], msg) if {
	some id, exception in data.sovgate.exceptions
	not non_empty_string(object.get(exception, "app", null))
	msg := sprintf("exceptions[%q]: app is missing or empty; the exception does not apply", [id])
}

data_problems contains object.union(p, {"path": array.concat(["exceptions", id], p.path)}) if {
	some id, exception in data.sovgate.exceptions
	some p in record_problems(sprintf("exceptions[%q]", [id]), exception)
}

data_problems contains problem(["exception_max_days"], msg) if {
	value := data.sovgate.exception_max_days
	not positive_integer(value)
	msg := sprintf("exception_max_days must be a number of days, not %v", [value])
}

# The problems of a record (an exception or an allowed host), their path
# relative to the record; where names it in messages.
record_problems(where, record) := ({p |
	some p in record_field_problems(where, record)
} | {p |
	some p in record_date_problems(where, record)
}) | {p |
	some p in record_legal_problems(where, record)
}

record_field_problems(where, record) := {problem([field], msg) |
	some field in record_fields
	not non_empty_string(object.get(record, field, null))
	msg := sprintf("%s: %s is missing or empty; it does not apply", [where, field])
}

record_date_problems(where, record) := (({problem([field], msg) |
	some field in ["expires", "starts"]
	value := record[field]
	non_empty_string(value)
	not valid_date(value)
	msg := sprintf("%s: %s %q is not a date YYYY-MM-DD; it does not apply", [where, field, value])
} | {problem(["host"], msg) |
	host := record.host
	is_string(host)
	contains(host, "*")
	not regex.match(`^\*\.[^*]+$`, host)
	msg := sprintf("%s: host %q: a wildcard is only allowed as a leading \"*.\"", [where, host])
}) | {problem(["expires"], msg) |
	valid_date(record.starts)
	valid_date(record.expires)
	record.starts > record.expires
	msg := sprintf("%s: starts %s is after expires %s; it never applies", [where, record.starts, record.expires])
}) | {problem(["expires"], msg) |
	valid_date(record.starts)
	valid_date(record.expires)
	days := record_days(record)
	days > record_max_days
	msg := sprintf("%s: from %s to %s is %d days, more than exception_max_days (%d); it does not apply", [where, record.starts, record.expires, days, record_max_days])
}

record_legal_problems(where, record) := ((({warning([], msg) |
	missing := [field | some field in legal_record_fields; not field in object.keys(record)]
	count(missing) > 0
	msg := sprintf("%s: written in the earlier format, without %s: it tolerates every violation, with no limit on its duration, until it expires (%v); add the fields to make it a legal record", [where, concat(", ", missing), object.get(record, "expires", "no date")])
} | {problem(["covers"], msg) |
	covers := record.covers
	not valid_covers(covers)
	msg := sprintf("%s: covers must be a non-empty list of reason codes, not %v; it does not apply", [where, covers])
}) | {warning(["covers"], msg) |
	some code in record.covers
	is_string(code)
	not code in violation_codes
	msg := sprintf("%s: covers %q, which no check of this policy gives (known: %s)", [where, code, concat(", ", sort(violation_codes))])
}) | {problem(["legal_basis"], msg) |
	basis := record.legal_basis
	not data.sovgate.legal_bases[basis]
	msg := sprintf("%s: legal_basis %v is not one of %s; it does not apply", [where, basis, concat(", ", sort(object.keys(data.sovgate.legal_bases)))])
}) | {problem(["assessment"], msg) |
	assessment := record.assessment
	not non_empty_string(assessment)
	msg := sprintf("%s: assessment must name the transfer impact assessment or DPIA, not %v; it does not apply", [where, assessment])
}

# ---- helpers ---------------------------------------------------------------

valid_host_pattern(host) if {
	non_empty_string(host)
	not contains(host, "*")
}

valid_host_pattern(host) if {
	non_empty_string(host)
	regex.match(`^\*\.[^*]+$`, host)
}

non_empty_string(value) if {
	is_string(value)
	value != ""
}

non_empty_list(value) if {
	is_array(value)
	count(value) > 0
}

positive_integer(value) if {
	is_number(value)
	value > 0
	value == round(value)
}

valid_date(text) if {
	is_string(text)
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, text)
	time.parse_ns("2006-01-02", text)
}
