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
