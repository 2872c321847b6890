package chain

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/sovgate/sovgate/audit"
)

// Tags returns the index terms of a decision entry for the multi-valued
// filters (country, provider, reason), sorted and without duplicates.
func (e *Entry) Tags() ([]string, error) {
	if e.Kind != KindDecision {
		return nil, nil
	}
	if e.hasTags {
		return e.tagList, nil
	}
	if tags, ok := fastTags(e.Addresses, e.Reasons); ok {
		return tags, nil
	}
	var addrs []audit.Address
	if e.Addresses != "" {
		if err := json.Unmarshal([]byte(e.Addresses), &addrs); err != nil {
			return nil, err
		}
	}
	var reasons []audit.Code
	if e.Reasons != "" {
		if err := json.Unmarshal([]byte(e.Reasons), &reasons); err != nil {
			return nil, err
		}
	}
	return recordTags(addrs, reasons), nil
}

// fastTags reads the countries, providers and reasons out of the JSON this
// package writes (encoding/json of []Address and []string) without a full
// decode: verification reads a million of them. Anything unusual (an
// escape sequence, another shape) makes it give up; tags then falls back
// to encoding/json.
func fastTags(addrs, reasons string) ([]string, bool) {
	if strings.IndexByte(addrs, '\\') >= 0 || strings.IndexByte(reasons, '\\') >= 0 ||
		len(addrs) < 2 || addrs[0] != '[' || addrs[len(addrs)-1] != ']' ||
		len(reasons) < 2 || reasons[0] != '[' || reasons[len(reasons)-1] != ']' {
		return nil, false
	}
	var found [8]audit.Address
	list := found[:0]
	for rest := addrs; ; {
		i := strings.Index(rest, `"country":"`)
		if i < 0 {
			break
		}
		rest = rest[i+len(`"country":"`):]
		j := strings.IndexByte(rest, '"')
		if j < 0 {
			return nil, false
		}
		list = append(list, audit.Address{Country: rest[:j]})
		rest = rest[j:]
		k := strings.Index(rest, `"provider":"`)
		next := strings.Index(rest, `"country":"`)
		if k < 0 || next >= 0 && next < k {
			return nil, false
		}
		rest = rest[k+len(`"provider":"`):]
		j = strings.IndexByte(rest, '"')
		if j < 0 {
			return nil, false
		}
		list[len(list)-1].Provider = rest[:j]
		rest = rest[j:]
	}
	if strings.Count(addrs, `"ip":`) != len(list) {
		return nil, false
	}
	var codes []string
	if inner := reasons[1 : len(reasons)-1]; inner != "" {
		if len(inner) < 2 || inner[0] != '"' || inner[len(inner)-1] != '"' {
			return nil, false
		}
		codes = strings.Split(inner[1:len(inner)-1], `","`)
	}
	return recordTags(list, codes), true
}

// recordTags lists the index terms of a decision's addresses and reasons
// (reason codes, as audit.Code or as the strings read from the column).
func recordTags[C ~string](addrs []audit.Address, reasons []C) []string {
	tags := make([]string, 0, 2*len(addrs)+len(reasons))
	for _, a := range addrs {
		if a.Country != "" {
			tags = append(tags, TagCountry+strings.ToUpper(a.Country))
		}
		if a.Provider != "" {
			tags = append(tags, TagProvider+strings.ToLower(a.Provider))
		}
	}
	for _, r := range reasons {
		if r != "" {
			tags = append(tags, TagReason+string(r))
		}
	}
	sort.Strings(tags)
	out := tags[:0]
	for i, t := range tags {
		if i == 0 || t != tags[i-1] {
			out = append(out, t)
		}
	}
	return out
}

// Prefixes of the index terms in the audit_tags table.
const (
	TagCountry  = "country:"
	TagProvider = "provider:"
	TagReason   = "reason:"
)
