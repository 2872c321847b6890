package geo

import "net/netip"

// Address is everything sovgate knows about one resolved IP address of a
// destination. It is the element of input.destination.addresses in the policy
// input, so the JSON names are part of the public contract: DPO staff write
// rules against them.
type Address struct {
	IP netip.Addr `json:"ip"`
	// Country is the ISO 3166-1 alpha-2 code where the address is located,
	// empty when no source knows it (anycast, unallocated, no database).
	Country string `json:"country"`
	// Continent is the two-letter continent code (EU, NA, AS, ...), or empty.
	Continent string `json:"continent"`
	// EU and EEA say whether Country is a member state. EEA is true for the
	// EU-27 plus Iceland, Liechtenstein and Norway.
	EU  bool `json:"eu"`
	EEA bool `json:"eea"`
	// ASN and ASOrg come from the ASN database; 0 and "" when unknown.
	ASN   uint32 `json:"asn"`
	ASOrg string `json:"as_org"`
	// Provider is the id of the operator of this address: a catalogue id
	// (aws, ovhcloud, ...), or for an operator the catalogue does not know,
	// its autonomous system ("as64500", see MatchedBy "registration").
	// Empty when nothing at all is known about who runs the address.
	Provider string `json:"provider"`
	// MatchedBy says how the operator of this address was recognised:
	// "range", "asn" or "domain" (the catalogue), "registration" (inferred
	// from the network's registration), "" (not at all).
	MatchedBy string `json:"matched_by"`
	// Internal marks an address of the city's own networks (the internal
	// option): reachable, and allowed by the default policy in every
	// profile.
	Internal bool `json:"internal"`
	// Region, RegionCountry and Service come from the provider's published
	// IP ranges (provider_ranges, written by `sovgate geo update`): the
	// cloud region as the feed names it (eu-west-3, francecentral, GLOBAL),
	// the ISO code of the country that region is in (from sovgate's region
	// table, or the feed itself for geofeeds), and the service the feed
	// names (EC2, S3, ...). Empty when no feed lists the address.
	Region        string `json:"region"`
	RegionCountry string `json:"region_country"`
	Service       string `json:"service"`
	// Anycast is true when the provider's feed says the range is announced
	// from many places at once (CDNs, global load balancers). Such an
	// address has no country: Country stays empty, whatever GeoIP says.
	Anycast bool `json:"anycast"`
}

// Provider is one operator reached by a destination, with the facts a policy
// needs to reason about the law that applies to it.
type Provider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Headquarters is the ISO country code of the operator's parent company.
	Headquarters string `json:"headquarters"`
	// Jurisdictions lists the ISO country codes whose law reaches the operator
	// (e.g. ["US"] for a US-headquartered provider, even in its EU regions).
	Jurisdictions []string `json:"jurisdictions"`
	// MatchedBy says how the provider was recognised: "range", "asn" or
	// "domain" (a catalogue entry), or "registration": no entry matched,
	// so the provider is the address's autonomous system and its
	// jurisdiction the country that system is registered in.
	MatchedBy string `json:"matched_by"`
	// Inferred is true when the jurisdiction is a guess from the
	// registration country rather than a catalogue fact. Headquarters is
	// then unknown ("").
	Inferred bool `json:"inferred"`
	// Offer is the catalogue offer the destination was recognised as (by
	// one of the offer's domain suffixes or ranges), with its
	// qualifications; nil when no offer matched. Shared with the
	// catalogue: do not modify it.
	Offer *OfferMatch `json:"offer,omitempty"`
}

// Destination is the classification of one target host: every address it
// resolved to, and every provider that operates one of those addresses.
type Destination struct {
	Host      string     `json:"host"`
	Addresses []Address  `json:"addresses"`
	Providers []Provider `json:"providers"`
}
