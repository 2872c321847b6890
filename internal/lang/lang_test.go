package lang

import (
	"testing"
	"time"
)

func TestFromAcceptLanguage(t *testing.T) {
	for header, want := range map[string]Lang{
		"":                             English,
		"fr-FR,fr;q=0.9,en;q=0.8":      French, // a French browser
		"fr":                           French,
		"fr-CA":                        French, // a regional variant
		"fr-BE, nl;q=0.5":              French,
		"en-GB,en;q=0.9":               English,
		"de-DE":                        English, // nothing sovgate speaks: the default
		"de, fr;q=0.5":                 French,  // the first language sovgate speaks
		"de, fr;q=0.5, en;q=0.7":       English, // q-values, not the order, rank them
		"en;q=0.1, fr;q=0.9":           French,
		"fr;q=0, en;q=0.1":             English, // q=0: not French
		"fr;q=0":                       English,
		"*":                            English,
		"es, *;q=0.1":                  English,
		"garbage;;;":                   English, // malformed: ignored
		"FR-fr":                        French,
		"fr-FR;q=0.8, en-US;q=0.8, de": French, // equal q-values keep their order
	} {
		if got := FromAcceptLanguage(header); got != want {
			t.Errorf("FromAcceptLanguage(%q) = %s, want %s", header, got, want)
		}
	}
}

func FuzzFromAcceptLanguage(f *testing.F) {
	for _, seed := range []string{"fr-FR,fr;q=0.9,en;q=0.8", "de, fr;q=0.5", "*;q=0", "fr;q=0.", "x-klingon;q=1,,", "fr-\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if got := FromAcceptLanguage(header); got != English && got != French {
			t.Fatalf("FromAcceptLanguage(%q) = %q", header, got)
		}
	})
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Lang{"": English, "en": English, "EN": English, " fr ": French, "fr-FR": French, "en-GB": English, "fr-CA": French} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"de", "français", "f", "fr_FR!"} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", bad, got)
		}
	}
}

func TestCountry(t *testing.T) {
	for _, tc := range []struct {
		l          Lang
		code, want string
	}{
		{French, "US", "États-Unis"}, {English, "US", "United States"},
		{French, "DE", "Allemagne"}, {French, "CH", "Suisse"}, {French, "GB", "Royaume-Uni"},
		{French, "", "inconnu"}, {English, "??", "unknown"},
		{French, "XK", "Kosovo"}, {French, "ZZ", "ZZ"}, {English, "not a code", "not a code"},
	} {
		if got := Country(tc.l, tc.code); got != tc.want {
			t.Errorf("Country(%s, %q) = %q, want %q", tc.l, tc.code, got, tc.want)
		}
	}
	if got := CountryWithCode(French, "US"); got != "États-Unis (US)" {
		t.Errorf("CountryWithCode = %q", got)
	}
	if got := CountryWithCode(French, "??"); got != "inconnu" {
		t.Errorf("CountryWithCode(??) = %q", got)
	}
}

func TestFormats(t *testing.T) {
	first := time.Date(2026, 10, 1, 8, 5, 0, 0, time.UTC)
	for _, tc := range []struct{ got, want string }{
		{Date(French, first), "1er octobre 2026"},
		{Date(French, first.AddDate(0, 0, 30)), "31 octobre 2026"},
		{Date(English, first), "2026-10-01"},
		{DateTime(French, first), "1er octobre 2026 à 08 h 05 UTC"},
		{DateTime(English, first), "2026-10-01T08:05:00Z"},
		{ShortDate(French, first), "01/10/2026"},
		{Date(French, time.Date(2026, 8, 15, 23, 0, 0, 0, time.FixedZone("CEST", -2*3600))), "16 août 2026"}, // in UTC
		{Int(French, 1234567), "1\u202f234\u202f567"},
		{Int(French, -1234), "-1\u202f234"},
		{Int(French, 999), "999"},
		{Int(English, 1234567), "1234567"},
		{Percent(French, 1, 8), "12,5\u202f%"},
		{Percent(English, 1, 8), "12.5%"},
		{Percent(French, 1, 0), "0,0\u202f%"},
		{Bytes(French, 2048), "2,0\u202fKio"},
		{Bytes(English, 2048), "2.0 KiB"},
		{Bytes(French, 512), "512\u202fo"},
		{Pick(French, map[string]string{"fr": "en français"}, "in English"), "en français"},
		{Pick(French, map[string]string{"en": "in English"}, "fallback"), "fallback"},
		{Pick(English, nil, "fallback"), "fallback"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
