// Package geo answers "where does this request go, and who is there?" for
// the decision pipeline: it resolves a host once per TTL (Resolver), refuses
// internal destinations (Guard), and describes every vetted address with its
// country, EU/EEA membership, network and operator (Classifier), using GeoIP
// databases, the IP ranges the cloud providers publish (ProviderRanges,
// compiled from the feeds by package geo/feeds and kept fresh by package
// geo/update), the network registration data (RegistrationDB: ASN and
// registration country), the dated snapshots of both built into the
// binary, and the sovereignty knowledge of the policy revision that
// evaluates (Knowledge: the operator catalogue and the EU territory).
//
// The pipeline uses it in this order:
//
//	ans, err := resolver.Resolve(ctx, host)      // *DNSError -> 502 DNS_FAILURE
//	for _, ip := range ans.Addrs {
//		if cat, refused := guard.Check(ip); refused { ... } // 403 DESTINATION_PRIVATE
//	}
//	dest := classifier.Classify(knowledge, ans.Host, ans.CNAMEs, ans.Addrs) // input.destination
//
// and dials only ans.Addrs afterwards. A decision cache can key on
// (ans.Key, classifier.Revision(), policy revision, ...) and keep entries
// until ans.Expires.
//
// Everything here is plain Go: no Caddy, no OPA. Values returned by the
// resolver and the catalogue are shared and must be treated as read-only.
// Test fixtures (MMDB writers, a DNS server) are in package geotest.
package geo
