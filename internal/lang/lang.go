// Package lang holds the languages sovgate speaks to people, English and
// French, and what changes with them beyond words: the choice of a
// language from a browser's Accept-Language header or a --lang flag,
// country names, dates, numbers and sizes as each language writes them.
//
// English is the default: the language of logs, JSON and anything a
// program reads. French is for the people of the French administrations
// the gateway serves: a block page in a French browser, a report for a
// French DPO.
package lang

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Lang is a language sovgate speaks: "en" or "fr".
type Lang string

const (
	English Lang = "en"
	French  Lang = "fr"
)

// Supported lists the languages, the default first.
var Supported = []Lang{English, French}

// Parse reads a --lang value: "en" or "fr", or a regional form of
// either (fr-FR, en-GB); "" is English.
func Parse(s string) (Lang, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return English, nil
	}
	if tag, err := language.Parse(s); err == nil {
		switch base, _ := tag.Base(); base.String() {
		case "en":
			return English, nil
		case "fr":
			return French, nil
		}
	}
	return "", fmt.Errorf("language %q: use en or fr", s)
}

// matcher picks among the supported languages; its first tag is the
// default when nothing the client accepts matches.
var matcher = language.NewMatcher([]language.Tag{language.English, language.French})

// FromAcceptLanguage chooses the language of an answer from an
// Accept-Language header (RFC 9110): the client's preferences in the order
// of their q-values, a q-value of 0 meaning "not this one", regional
// variants (fr-CA, en-GB) matching their language. Anything else (no
// header, a malformed one, only languages sovgate does not speak) gives
// English.
func FromAcceptLanguage(header string) Lang {
	if header == "" {
		return English
	}
	// A malformed part makes ParseAcceptLanguage fail as a whole, and the
	// header is then ignored: a browser does not send one.
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return English
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return English
	}
	return Supported[i]
}

// Pick returns the text of l in messages (a policy reason's "messages",
// keyed "fr", "en"), else fallback.
func Pick(l Lang, messages map[string]string, fallback string) string {
	if m := messages[string(l)]; m != "" {
		return m
	}
	return fallback
}

// Country names an ISO 3166 country code in l ("US": "United States",
// "États-Unis"); a code CLDR does not know is returned as it is, and ""
// or "??" (no country known) as "unknown" / "inconnu".
func Country(l Lang, code string) string {
	if code == "" || code == "??" {
		return Choose(l, "unknown", "inconnu")
	}
	region, err := language.ParseRegion(code)
	if err != nil || !region.IsCountry() {
		return code
	}
	name := regionNames[l].Name(region)
	if name == "" {
		return code
	}
	return name
}

// CountryWithCode is Country followed by the code, as reports show a
// country: "États-Unis (US)".
func CountryWithCode(l Lang, code string) string {
	name := Country(l, code)
	if code == "" || code == "??" || name == code {
		return name
	}
	return name + " (" + code + ")"
}

var regionNames = map[Lang]display.Namer{
	English: display.Regions(language.English),
	French:  display.Regions(language.French),
}

// Choose returns en or fr according to l.
func Choose(l Lang, en, fr string) string {
	if l == French {
		return fr
	}
	return en
}

var frenchMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet",
	"août", "septembre", "octobre", "novembre", "décembre"}

// Date writes the day of t (in UTC): "2026-10-01" in English, as ISO 8601
// has it, and "1er octobre 2026" in French, as an administration writes it.
func Date(l Lang, t time.Time) string {
	t = t.UTC()
	if l != French {
		return t.Format(time.DateOnly)
	}
	day := strconv.Itoa(t.Day())
	if t.Day() == 1 {
		day = "1er"
	}
	return day + " " + frenchMonths[t.Month()-1] + " " + strconv.Itoa(t.Year())
}

// DateTime writes t (in UTC) to the minute: RFC 3339 in English, "1er
// octobre 2026 à 08 h 00 UTC" in French.
func DateTime(l Lang, t time.Time) string {
	t = t.UTC()
	if l != French {
		return t.Format(time.RFC3339)
	}
	return Date(l, t) + " à " + t.Format("15") + " h " + t.Format("04") + " UTC"
}

// ShortDate writes the day of t (in UTC) for a table or a chart axis:
// 2026-10-01 in English, 01/10/2026 in French.
func ShortDate(l Lang, t time.Time) string {
	if l != French {
		return t.UTC().Format(time.DateOnly)
	}
	return t.UTC().Format("02/01/2006")
}

// narrowNoBreakSpace separates thousands in French ("12 345") and keeps a
// number with its unit ("12,5 %").
const narrowNoBreakSpace = "\u202f"

// Int writes n: plain digits in English (as logs and CSV have them),
// grouped by thousands in French.
func Int(l Lang, n int64) string {
	s := strconv.FormatInt(n, 10)
	if l != French {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(narrowNoBreakSpace)
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Percent writes n out of total as a percentage with one decimal: "12.5%",
// "12,5 %".
func Percent(l Lang, n, total int64) string {
	v := 0.0
	if total != 0 {
		v = 100 * float64(n) / float64(total)
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if l != French {
		return s + "%"
	}
	return strings.Replace(s, ".", ",", 1) + narrowNoBreakSpace + "%"
}

// Bytes writes a size with binary prefixes: "2.0 KiB" in English, "2,0 Kio"
// in French (octets).
func Bytes(l Lang, n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + Choose(l, " B", narrowNoBreakSpace+"o")
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	s := strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64)
	if l == French {
		return strings.Replace(s, ".", ",", 1) + narrowNoBreakSpace + string("KMGTPE"[exp]) + "io"
	}
	return s + " " + string("KMGTPE"[exp]) + "iB"
}
