# Helpers for the unit tests: build inputs the way the gateway does.
#
# The tests name apps test-... and replace data.sovgate.apps and
# data.sovgate.exceptions (with ... as ...) when they need some: the apps
# and exceptions you add to data.json never change what these tests check.
# A test that fails after you changed a rule or a profile is telling you
# what your change does: update the test with the rule.
package sovgate_test

now := "2026-11-28T10:00:00Z"

# An address located in country, in a network whose operator is known and
# raises no jurisdiction problem (the inferred operator "as64500", listed
# nowhere else), so tests of the location check see only its reasons.
address(ip, country) := {
	"ip": ip, "country": country, "continent": "", "eu": false, "eea": false,
	"asn": 64500, "as_org": "", "provider": "as64500", "matched_by": "registration", "internal": false,
	"region": "", "region_country": "", "service": "",
}

# An address nobody knows the operator of: no catalogue entry, no
# registration data.
unknown_address(ip, country) := object.union(address(ip, country), {"asn": 0, "provider": "", "matched_by": ""})

# An address of the city's own networks (the gateway's internal option).
internal_address(ip) := object.union(unknown_address(ip, ""), {"internal": true})

# An operator the catalogue does not know, its jurisdiction inferred from
# the registration of its network.
inferred(asn, name, country) := {
	"id": sprintf("as%d", [asn]), "name": name, "headquarters": "",
	"jurisdictions": [country], "matched_by": "registration", "inferred": true,
}

# An address of a cloud provider's region.
cloud_address(ip, country, provider, region, region_country) := object.union(address(ip, country), {
	"provider": provider, "region": region, "region_country": region_country,
})

# A CONNECT request from app to host, resolved to addresses, operated by providers.
request(app, host, addresses, providers) := {
	"request": {"method": "CONNECT", "scheme": "https", "host": host, "port": 443, "path": ""},
	"source": {"app": app, "ip": "10.1.2.3", "identified_by": "basic", "categories": []},
	"destination": {"host": host, "addresses": addresses, "providers": providers},
	"time": now,
}

# The same request at another time.
request_at(app, host, addresses, providers, time) := object.union(request(app, host, addresses, providers), {"time": time})

aws := {
	"id": "aws", "name": "Amazon Web Services", "headquarters": "US",
	"jurisdictions": ["US"], "matched_by": "range", "inferred": false,
}

ovhcloud := {
	"id": "ovhcloud", "name": "OVHcloud", "headquarters": "FR",
	"jurisdictions": ["FR"], "matched_by": "asn", "inferred": false,
}

# The decision with its reasons in English only (without "messages"), for
# the tests about what a decision says rather than how it says it in
# French (messages_test.rego).
english(decision) := object.union(decision, {"reasons": [object.remove(r, ["messages"]) | some r in decision.reasons]})

# The codes of a decision's reasons, in order.
codes(decision) := [reason.code | some reason in decision.reasons]

# A request to a US address, the usual violation in these tests.
us_request(app, host) := request(app, host, [address("203.0.113.7", "US")], [])

# An exception for tests; override fields with object.union.
exception(app, host, expires) := {
	"app": app,
	"host": host,
	"reason": "migration planned",
	"approved_by": "DPO",
	"expires": expires,
}

# The same request from an app that declares data categories.
with_categories(req, categories) := object.union(req, {"source": {"categories": categories}})

# A request from app, declaring categories, to an address in country
# whose operator raises no jurisdiction problem (see address).
category_request(app, categories, country) := with_categories(
	request(app, "x.example", [address("192.0.2.70", country)], []),
	categories,
)

# An operator recognised as one of its offers, holding qualifications.
with_offer(provider, id, qualifications) := object.union(provider, {"offer": {"id": id, "name": sprintf("%s offer", [id]), "qualifications": qualifications}})

# A qualification of scheme from since to until ("" for no end date).
qualification(scheme, since, "") := {"scheme": scheme, "since": since, "source": "test"}

qualification(scheme, since, until) := {"scheme": scheme, "since": since, "until": until, "source": "test"} if until != ""

# A catalogue for the tests of certifications: a US operator certified
# under the DPF, one whose certification ended, and one without any.
fixture_operators := {
	"us-dpf": {"name": "US DPF Inc.", "headquarters": "US", "jurisdictions": ["US"], "offers": [{"id": "us-dpf-cert", "name": "DPF", "qualifications": [qualification("dpf", "2023-07-10", "")]}]},
	"us-lapsed": {"name": "US Lapsed Inc.", "headquarters": "US", "jurisdictions": ["US"], "offers": [{"id": "us-lapsed-cert", "name": "DPF", "qualifications": [qualification("dpf", "2023-07-10", "2025-07-09")]}]},
	"us-none": {"name": "US None Inc.", "headquarters": "US", "jurisdictions": ["US"], "offers": []},
}

# An operator of fixture_operators, as the gateway shows it.
us_operator(id) := {
	"id": id, "name": fixture_operators[id].name, "headquarters": "US",
	"jurisdictions": ["US"], "matched_by": "asn", "inferred": false,
}

# An address in country operated by a provider of id.
operated_address(ip, country, id) := object.union(address(ip, country), {"provider": id, "matched_by": "asn"})

# An app with a profile.
app_with_profile(app, profile) := {app: {"profile": profile}}

# A legal record of an exception, covering codes; override fields with
# object.union.
legal_exception(app, host, covers) := {
	"app": app,
	"host": host,
	"covers": covers,
	"legal_basis": "art46",
	"assessment": "AITD-2026-04",
	"reason": "videoconferencing contract, SCCs signed",
	"approved_by": "DPO, decision 2026-021",
	"starts": "2026-02-01",
	"expires": "2027-01-31",
}

# The same, as an entry of allowed_hosts.
legal_allowed_host(host, covers) := object.remove(legal_exception("", host, covers), ["app"])
