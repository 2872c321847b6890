# sovgate default policy: mistakes in data.json.
#
# data_problems lists mistakes in the data that would otherwise go unnoticed:
# a mistake never opens the gate (an incomplete exception does not apply, an
# unknown profile denies), but the person who wrote it should hear about it.
# `sovgate policy check` prints these problems, and the unit test
# test_shipped_data_has_no_problems fails when there is one.
package sovgate

# The checks a profile may list.
known_checks := {"residency", "jurisdiction", "qualification"}

data_problems contains "default_profile is missing" if not data.sovgate.default_profile

data_problems contains msg if {
	not data.sovgate.profiles[data.sovgate.default_profile]
	msg := sprintf("default_profile %q is not defined in profiles", [data.sovgate.default_profile])
}

data_problems contains "apps is missing: write \"apps\": {} when no app needs a setting" if not data.sovgate.apps

data_problems contains msg if {
	not data.sovgate.profiles[data.sovgate.unknown_profile]
	msg := sprintf("unknown_profile %q is not defined in profiles", [data.sovgate.unknown_profile])
}

data_problems contains msg if {
	some name, settings in data.sovgate.apps
	some category in settings.categories
	data.sovgate.categories
	not data.sovgate.categories[category]
	msg := sprintf("apps[%q]: category %q is not defined in categories (a typing mistake would hide personal data from the rules)", [name, category])
}

data_problems contains "exceptions is missing: write \"exceptions\": {} when there is none" if not data.sovgate.exceptions

data_problems contains msg if {
	some name, settings in data.sovgate.apps
	profile := settings.profile
	not data.sovgate.profiles[profile]
	msg := sprintf("apps[%q]: profile %q is not defined in profiles", [name, profile])
}

data_problems contains msg if {
	some name, settings in data.sovgate.apps
	value := settings.accept_adequacy
	not is_boolean(value)
	msg := sprintf("apps[%q]: accept_adequacy must be true or false, not %v", [name, value])
}

data_problems contains msg if {
	some name, definition in data.sovgate.profiles
	some check in definition.checks
	not check in known_checks
	msg := sprintf("profiles[%q]: unknown check %q (known checks: residency, jurisdiction, qualification)", [name, check])
}

data_problems contains msg if {
	some id, exception in data.sovgate.exceptions
	some field in ["app", "host", "reason", "approved_by", "expires"]
	not non_empty_string(object.get(exception, field, null))
	msg := sprintf("exceptions[%q]: %s is missing or empty; the exception does not apply", [id, field])
}

data_problems contains msg if {
	some id, exception in data.sovgate.exceptions
	is_string(exception.expires)
	exception.expires != ""
	not valid_date(exception.expires)
	msg := sprintf("exceptions[%q]: expires %q is not a date YYYY-MM-DD; the exception does not apply", [id, exception.expires])
}

data_problems contains msg if {
	some id, exception in data.sovgate.exceptions
	is_string(exception.host)
	contains(exception.host, "*")
	not regex.match(`^\*\.[^*]+$`, exception.host)
	msg := sprintf("exceptions[%q]: host %q: a wildcard is only allowed as a leading \"*.\"", [id, exception.host])
}

data_problems contains msg if {
	some name, settings in data.sovgate.apps
	hosts := settings.allowed_hosts
	not is_array(hosts)
	msg := sprintf("apps[%q]: allowed_hosts must be a list of host names", [name])
}

data_problems contains msg if {
	some name, settings in data.sovgate.apps
	some host in settings.allowed_hosts
	not valid_host_pattern(host)
	msg := sprintf("apps[%q]: allowed_hosts: %v is not a host name or \"*.domain\"", [name, host])
}

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

valid_date(text) if {
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, text)
	time.parse_ns("2006-01-02", text)
}
