package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The app registry is data.sovgate.apps: one entry per app id, saying who
// the app is (name, owner), which profile applies, which categories of data
// it handles, and how the gateway recognises it:
//
//	"apps": {
//	  "etat-civil": {
//	    "name": "État civil",
//	    "owner": "Direction de la population",
//	    "profile": "sovereign",
//	    "categories": ["personal"],
//	    "identified_by": {
//	      "basic": true,
//	      "mtls": ["etat-civil.apps.example.org"],
//	      "cidr": ["10.1.2.0/24"]
//	    }
//	  }
//	}
//
// The gateway needs it on every request, so Load turns it into an Apps
// value once per revision: identification is then a map lookup, never a
// walk through the policy data. Identification rules therefore change with
// the policy revision, like the rules that decide.

// App is one entry of the app registry.
type App struct {
	// ID is the app's key in data.sovgate.apps: the name the gateway gives
	// the app (input.source.app), and its proxy Basic-auth user name.
	ID string
	// Name and Owner are for people (status pages, reports).
	Name  string
	Owner string
	// Profile is the profile the entry names; "" when it names none (the
	// policy then applies its default profile).
	Profile string
	// Categories are the data categories the app handles; never nil.
	Categories []string
	// Basic says that the app authenticates with proxy Basic auth (its
	// password hash is in the gateway's credentials file, never in the
	// policy data).
	Basic bool
	// CertNames are the client-certificate names (subject CN, or a DNS,
	// URI or e-mail SAN) that identify the app on a TLS listener with
	// client authentication. Matched without regard to case.
	CertNames []string
	// CIDRs are the source networks whose requests are the app's.
	CIDRs []netip.Prefix
}

// Apps is the app registry of one policy revision, indexed for the
// request path. It is immutable; a nil *Apps is an empty registry.
type Apps struct {
	byID  map[string]*App
	ids   []string
	names map[string]*App
	// cidrs holds one bucket per prefix length, longest first, IPv4 and
	// IPv6 apart: a lookup is one map access per length in use.
	cidr4, cidr6 []prefixBucket
}

type prefixBucket struct {
	bits int
	apps map[netip.Prefix]*App
}

// noCategories is the categories of an app the registry does not list. It
// is shared and never modified.
var noCategories = []string{}

// Apps returns the app registry of this revision.
func (e *Engine) Apps() *Apps { return e.apps }

// Len is the number of apps in the registry.
func (r *Apps) Len() int {
	if r == nil {
		return 0
	}
	return len(r.ids)
}

// IDs lists the app ids in lexical order.
func (r *Apps) IDs() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.ids)
}

// Get returns the app with this id, or nil.
func (r *Apps) Get(id string) *App {
	if r == nil {
		return nil
	}
	return r.byID[id]
}

// Categories returns the data categories of app id: empty (not nil) for an
// app the registry does not list. The slice is shared: do not modify it.
func (r *Apps) Categories(id string) []string {
	if a := r.Get(id); a != nil {
		return a.Categories
	}
	return noCategories
}

// ByAddr returns the app whose CIDR contains ip, the longest prefix
// winning, or nil.
func (r *Apps) ByAddr(ip netip.Addr) *App {
	if r == nil || !ip.IsValid() {
		return nil
	}
	ip = ip.Unmap()
	buckets := r.cidr6
	if ip.Is4() {
		buckets = r.cidr4
	}
	for _, b := range buckets {
		p, err := ip.Prefix(b.bits)
		if err != nil {
			continue
		}
		if a := b.apps[p]; a != nil {
			return a
		}
	}
	return nil
}

// ByCertName returns the app that a client certificate name identifies, or
// nil. Names are compared without regard to case.
func (r *Apps) ByCertName(name string) *App {
	if r == nil || len(r.names) == 0 || name == "" {
		return nil
	}
	if a := r.names[name]; a != nil {
		return a
	}
	return r.names[strings.ToLower(name)]
}

// HasCertNames reports whether any app is identified by certificate.
func (r *Apps) HasCertNames() bool { return r != nil && len(r.names) > 0 }

// HasCIDRs reports whether any app is identified by source address.
func (r *Apps) HasCIDRs() bool { return r != nil && len(r.cidr4)+len(r.cidr6) > 0 }

// appsPath is where the registry lives in the data.
var appsPath = []string{"sovgate", "apps"}

// buildApps reads data.sovgate.apps. Mistakes that would make
// identification ambiguous or impossible (a CIDR that does not parse, one
// certificate name for two apps) are diagnostics: a revision with them is
// not loaded, and the revision in service stays.
func buildApps(b *parsedBundle) (*Apps, Diagnostics) {
	r := &Apps{byID: map[string]*App{}, names: map[string]*App{}}
	raw, ok := lookupData(b.data, appsPath)
	if !ok || raw == nil {
		return r, nil
	}
	loc := b.locator(appsPath)
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, Diagnostics{loc.diag(nil, "data.sovgate.apps must be an object keyed by app id, not %s", jsonKind(raw))}
	}
	var diags Diagnostics
	ids := make([]string, 0, len(obj))
	for id := range obj {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	cidrOwner := map[netip.Prefix]*App{}
	for _, id := range ids {
		where := fmt.Sprintf("apps[%q]", id)
		at := []string{id}
		if !ValidAppName(id) {
			diags = append(diags, loc.diag(at, "%s: an app id is 1 to 64 letters, digits, '.', '_' or '-' (it is also the proxy user name)", where))
			continue
		}
		entry, ok := obj[id].(map[string]any)
		if !ok {
			diags = append(diags, loc.diag(at, "%s must be an object, not %s", where, jsonKind(obj[id])))
			continue
		}
		app := &App{ID: id, Categories: noCategories}
		for _, f := range []struct {
			key  string
			into *string
		}{{"name", &app.Name}, {"owner", &app.Owner}, {"profile", &app.Profile}} {
			if v, present := entry[f.key]; present {
				s, ok := v.(string)
				if !ok {
					diags = append(diags, loc.diag(append(at, f.key), "%s.%s must be a string, not %s", where, f.key, jsonKind(v)))
					continue
				}
				*f.into = s
			}
		}
		if v, present := entry["categories"]; present {
			list, d := stringList(v)
			if d != "" {
				diags = append(diags, loc.diag(append(at, "categories"), "%s.categories %s", where, d))
			} else {
				app.Categories = list
			}
		}
		if v, present := entry["identified_by"]; present {
			ident, ok := v.(map[string]any)
			if !ok {
				diags = append(diags, loc.diag(append(at, "identified_by"), "%s.identified_by must be an object such as {\"cidr\": [\"10.1.2.0/24\"]}, not %s", where, jsonKind(v)))
			} else {
				diags = append(diags, r.readIdentification(app, ident, where, at, loc, cidrOwner)...)
			}
		}
		if id == "unknown" && (app.Basic || len(app.CertNames) > 0 || len(app.CIDRs) > 0) {
			diags = append(diags, loc.diag(append(at, "identified_by"), "%s: \"unknown\" is the app of traffic nobody identified; it cannot have identified_by", where))
		}
		r.byID[id] = app
		r.ids = append(r.ids, id)
	}
	if len(diags) > 0 {
		return nil, diags
	}
	r.indexCIDRs(cidrOwner)
	return r, nil
}

func (r *Apps) readIdentification(app *App, ident map[string]any, where string, at []string, loc dataLocator, cidrOwner map[netip.Prefix]*App) Diagnostics {
	var diags Diagnostics
	keys := make([]string, 0, len(ident))
	for k := range ident {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := ident[k]
		path := append(slices.Clone(at), "identified_by", k)
		switch k {
		case "basic":
			b, ok := v.(bool)
			if !ok {
				diags = append(diags, loc.diag(path, "%s.identified_by.basic must be true or false, not %s", where, jsonKind(v)))
				continue
			}
			app.Basic = b
		case "mtls":
			names, d := stringList(v)
			if d != "" {
				diags = append(diags, loc.diag(path, "%s.identified_by.mtls %s", where, d))
				continue
			}
			for _, n := range names {
				key := strings.ToLower(n)
				if other := r.names[key]; other != nil && other != app {
					diags = append(diags, loc.diagValue(n, "%s.identified_by.mtls: certificate name %q already identifies app %q", where, n, other.ID))
					continue
				}
				r.names[key] = app
				app.CertNames = append(app.CertNames, n)
			}
		case "cidr":
			list, d := stringList(v)
			if d != "" {
				diags = append(diags, loc.diag(path, "%s.identified_by.cidr %s", where, d))
				continue
			}
			for _, s := range list {
				p, err := parseCIDR(s)
				if err != nil {
					diags = append(diags, loc.diagValue(s, "%s.identified_by.cidr: %v", where, err))
					continue
				}
				if other := cidrOwner[p]; other != nil && other != app {
					diags = append(diags, loc.diagValue(s, "%s.identified_by.cidr: %s already identifies app %q", where, p, other.ID))
					continue
				}
				cidrOwner[p] = app
				app.CIDRs = append(app.CIDRs, p)
			}
		default:
			diags = append(diags, loc.diag(path, "%s.identified_by: unknown method %q (known: basic, mtls, cidr)", where, k))
		}
	}
	return diags
}

func (r *Apps) indexCIDRs(owner map[netip.Prefix]*App) {
	add := func(buckets []prefixBucket, p netip.Prefix, a *App) []prefixBucket {
		for i := range buckets {
			if buckets[i].bits == p.Bits() {
				buckets[i].apps[p] = a
				return buckets
			}
		}
		return append(buckets, prefixBucket{bits: p.Bits(), apps: map[netip.Prefix]*App{p: a}})
	}
	for p, a := range owner {
		if p.Addr().Is4() {
			r.cidr4 = add(r.cidr4, p, a)
		} else {
			r.cidr6 = add(r.cidr6, p, a)
		}
	}
	longestFirst := func(a, b prefixBucket) int { return b.bits - a.bits }
	slices.SortFunc(r.cidr4, longestFirst)
	slices.SortFunc(r.cidr6, longestFirst)
}

// parseCIDR reads a CIDR or a single address. A CIDR with host bits set is
// refused: "10.1.2.3/24" is more likely a typing mistake than a wish for
// 10.1.2.0/24.
func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.1.2.0/24", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			if p.Bits() < 0 {
				return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.1.2.0/24", s)
			}
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
		}
		return p, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// ValidAppName reports whether s can name an app: 1 to 64 letters, digits,
// '.', '_' or '-'. App names appear in logs, headers and proxy user names.
func ValidAppName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// stringList reads a JSON array of non-empty strings; the second result
// says what is wrong, or is "".
func stringList(v any) ([]string, string) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Sprintf("must be a list of strings, not %s", jsonKind(v))
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok || s == "" {
			return nil, fmt.Sprintf("must be a list of non-empty strings; found %s", jsonKind(e))
		}
		out = append(out, s)
	}
	return out, ""
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case json.Number, float64, int:
		return fmt.Sprintf("the number %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// lookupData walks path in the data document.
func lookupData(data map[string]any, path []string) (any, bool) {
	var cur any = data
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = obj[k]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// dataLocator points diagnostics about a data document at the file that
// defines it and, as well as a text search can, at the line.
type dataLocator struct {
	file string
	raw  []byte
	// start is where to search from: the key of the document in its file.
	start int
}

// locator finds the data file that defines the document at path (the most
// specific file whose directory is a prefix of path).
func (b *parsedBundle) locator(path []string) dataLocator {
	for i := len(path); i >= 0; i-- {
		key := strings.Join(path[:i], ".")
		f, ok := b.dataFiles[key]
		if !ok {
			continue
		}
		loc := dataLocator{file: f, raw: b.dataRaw[key]}
		// Find the keys of the rest of the path, in order.
		for _, k := range path[i:] {
			loc.start = loc.find(quoteJSON(k), loc.start)
		}
		return loc
	}
	return dataLocator{file: "data.json"}
}

// find returns the offset of needle at or after from, or from when it is
// not there.
func (l dataLocator) find(needle []byte, from int) int {
	if from > len(l.raw) {
		return from
	}
	if i := bytes.Index(l.raw[from:], needle); i >= 0 {
		return from + i
	}
	return from
}

// diag is a diagnostic at the key path (relative to the located document).
func (l dataLocator) diag(path []string, format string, args ...any) Diagnostic {
	d := Diagnostic{File: l.file, Code: CodeDataProblem, Message: fmt.Sprintf(format, args...)}
	if l.raw == nil {
		return d
	}
	off := l.start
	for _, k := range path {
		off = l.find(quoteJSON(k), off)
	}
	d.Row, d.Col = lineCol(l.raw, int64(off))
	return d
}

// diagValue is a diagnostic at a string value inside the document.
func (l dataLocator) diagValue(value string, format string, args ...any) Diagnostic {
	d := Diagnostic{File: l.file, Code: CodeDataProblem, Message: fmt.Sprintf(format, args...)}
	if l.raw == nil {
		return d
	}
	off := l.find(quoteJSON(value), l.start)
	d.Row, d.Col = lineCol(l.raw, int64(off))
	return d
}

func quoteJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
