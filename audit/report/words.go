package report

import (
	"strings"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/internal/lang"
)

// words are the report's words in one language. The French is the French
// of an administration's report: "écart" for a violation (never
// "infraction", which suggests an offence), "exception" (never
// "dérogation", the word of GDPR article 49), dates written out.
type words struct {
	Title, Period, Store, Generated, Totals                          string
	Decisions, Share, AllDecisions, Allowed                          string
	Violations, OfWhichForwarded, OfWhichBlocked, Refusals           string
	ClassesExplained, AppsAndBytes                                   string
	ViolationsByApp, ViolationsByCountry, ViolationsByProvider       string
	ViolationsByReason, RefusalsByReason, RefusalsByApp              string
	NoViolation, NoRefusal, NoDecision                               string
	App, Country, Provider, Reason, Count, Forwarded, Blocked        string
	TopDestinations, Host, ViolationsCol, RefusalsCol                string
	Countries, Providers, Apps                                       string
	TransfersTitle, Verdict, Class, BytesUp, BytesDown               string
	Verify, PerDay, AllowedLegend, ForwardedLegend, BlockedLegend    string
	RefusalsLegend, MonitorMode, EnforceMode, PerDayLabel, NoneKnown string
}

var english = words{
	Title:  "sovgate audit report",
	Period: "Period", Store: "Store", Generated: "Generated", Totals: "Totals",
	Decisions: "decisions", Share: "share", AllDecisions: "all decisions", Allowed: "allowed",
	Violations:       "sovereignty violations",
	OfWhichForwarded: "of which forwarded (monitor mode)",
	OfWhichBlocked:   "of which blocked",
	Refusals:         "operational refusals",
	ClassesExplained: "A sovereignty violation is a transfer the policy denied: data going outside the EU/EEA, " +
		"or to an operator subject to a non-EU law. An operational refusal is a request the gateway refused for " +
		"reasons of its own (identity, a malformed request, a rate limit, a private address, a failure): " +
		"no destination was found at fault, and it is not a transfer outside the EU.",
	AppsAndBytes:         "%s; %s sent, %s received through forwarded exchanges.",
	ViolationsByApp:      "Sovereignty violations by app",
	ViolationsByCountry:  "Sovereignty violations by destination country",
	ViolationsByProvider: "Sovereignty violations by provider",
	ViolationsByReason:   "Sovereignty violations by reason",
	RefusalsByReason:     "Operational refusals by reason",
	RefusalsByApp:        "Operational refusals by app",
	NoViolation:          "No sovereignty violation.",
	NoRefusal:            "No operational refusal.",
	NoDecision:           "No decision in this period.",
	App:                  "app", Country: "country", Provider: "provider", Reason: "reason", Count: "count",
	Forwarded: "forwarded", Blocked: "blocked",
	TopDestinations: "Top destinations", Host: "host", ViolationsCol: "violations", RefusalsCol: "refusals",
	Countries: "countries", Providers: "providers", Apps: "apps",
	TransfersTitle: "Transfers by app, country, provider and verdict",
	Verdict:        "verdict", Class: "class", BytesUp: "bytes up", BytesDown: "bytes down",
	Verify:        "Check that the log was not altered: `sovgate audit verify`.",
	PerDay:        "Decisions per day",
	AllowedLegend: "allowed", ForwardedLegend: "violation, forwarded", BlockedLegend: "violation, blocked",
	RefusalsLegend: "operational refusal", MonitorMode: "monitor mode", EnforceMode: "enforce mode",
	PerDayLabel: "%s: %s allowed, %s violations forwarded, %s violations blocked, %s operational refusals",
	NoneKnown:   "(none known)",
}

var french = words{
	Title:  "Rapport d'audit sovgate",
	Period: "Période", Store: "Journal", Generated: "Rapport établi le", Totals: "Synthèse",
	Decisions: "décisions", Share: "part", AllDecisions: "toutes les décisions", Allowed: "transferts autorisés",
	Violations:       "écarts de souveraineté",
	OfWhichForwarded: "dont transmis (mode surveillance)",
	OfWhichBlocked:   "dont bloqués",
	Refusals:         "refus techniques",
	ClassesExplained: "Un écart de souveraineté est un transfert que la politique refuse : des données envoyées hors " +
		"de l'Union européenne et de l'Espace économique européen (UE/EEE), ou à un opérateur soumis au droit " +
		"d'un pays tiers. Un refus technique est une requête que la passerelle a refusée pour une raison qui lui " +
		"est propre (identification, requête mal formée, limite de débit, adresse privée, panne) : aucune " +
		"destination n'est en cause, et ce n'est pas un transfert hors de l'UE.",
	AppsAndBytes:         "%s ; %s envoyés et %s reçus lors des échanges transmis.",
	ViolationsByApp:      "Écarts de souveraineté par application",
	ViolationsByCountry:  "Écarts de souveraineté par pays de destination",
	ViolationsByProvider: "Écarts de souveraineté par fournisseur",
	ViolationsByReason:   "Écarts de souveraineté par motif",
	RefusalsByReason:     "Refus techniques par motif",
	RefusalsByApp:        "Refus techniques par application",
	NoViolation:          "Aucun écart de souveraineté.",
	NoRefusal:            "Aucun refus technique.",
	NoDecision:           "Aucune décision sur la période.",
	App:                  "application", Country: "pays", Provider: "fournisseur", Reason: "motif", Count: "nombre",
	Forwarded: "transmis", Blocked: "bloqués",
	TopDestinations: "Principales destinations", Host: "hôte", ViolationsCol: "écarts", RefusalsCol: "refus techniques",
	Countries: "pays", Providers: "fournisseurs", Apps: "applications",
	TransfersTitle: "Transferts par application, pays, fournisseur et décision",
	Verdict:        "décision", Class: "nature du refus", BytesUp: "octets envoyés", BytesDown: "octets reçus",
	Verify:        "Pour vérifier que le journal n'a pas été modifié : `sovgate audit verify`.",
	PerDay:        "Décisions par jour",
	AllowedLegend: "autorisé", ForwardedLegend: "écart, transmis", BlockedLegend: "écart, bloqué",
	RefusalsLegend: "refus technique", MonitorMode: "mode surveillance", EnforceMode: "mode bloquant",
	PerDayLabel: "%s : %s autorisés, %s écarts transmis, %s écarts bloqués, %s refus techniques",
	NoneKnown:   "(aucun connu)",
}

func wordsIn(l lang.Lang) *words {
	if l == lang.French {
		return &french
	}
	return &english
}

// period says which time the report covers. In French a period that ends
// at midnight ends, inclusive, on the day before, as an administration
// writes it: "du 1er octobre 2026 au 31 octobre 2026 inclus".
func (r *Report) period(l lang.Lang) string {
	if l != lang.French {
		since, until := "the beginning", "now"
		if !r.Since.IsZero() {
			since = r.Since.Format(time.RFC3339)
		}
		if !r.Until.IsZero() {
			until = r.Until.Format(time.RFC3339)
		}
		return since + " to " + until + " (UTC)"
	}
	since := "depuis le début du journal"
	if !r.Since.IsZero() {
		since = "du " + frenchMoment(r.Since)
	}
	until := "jusqu'à la date du rapport"
	switch {
	case r.Until.IsZero():
	case r.Until.Equal(r.Until.Truncate(24 * time.Hour)):
		until = "au " + lang.Date(l, r.Until.Add(-24*time.Hour)) + " inclus"
	default:
		until = "au " + lang.DateTime(l, r.Until) + " (exclu)"
	}
	return since + " " + until + ", en temps universel (UTC)"
}

// frenchMoment writes a date, with its time when it is not midnight.
func frenchMoment(t time.Time) string {
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return lang.Date(lang.French, t)
	}
	return lang.DateTime(lang.French, t)
}

// appsAndDestinations counts the apps and destinations of the period:
// "1 app, 4 destinations".
func appsAndDestinations(l lang.Lang, apps, dests int) string {
	plural := func(n int, one string) string {
		s := lang.Int(l, int64(n)) + " " + one
		if n > 1 {
			s += "s"
		}
		return s
	}
	return plural(apps, lang.Choose(l, "app", "application")) + ", " + plural(dests, "destination")
}

// verdictText names a verdict, and the class of a denial.
func verdictText(l lang.Lang, v audit.Verdict) string {
	if l == lang.French {
		switch v {
		case audit.Allow:
			return "autorisé"
		case audit.Deny:
			return "refusé"
		}
	}
	return string(v)
}

func classText(l lang.Lang, c audit.Class) string {
	switch c {
	case audit.Sovereignty:
		return lang.Choose(l, "violation", "écart de souveraineté")
	case audit.Operational:
		return lang.Choose(l, "operational", "refus technique")
	}
	return ""
}

// reasonText is a reason code with its title: "RESIDENCY_NON_EU: Address
// outside the EU/EEA".
func reasonText(l lang.Lang, code string) string {
	title := audit.Code(code).Info().Title(l)
	if title == code {
		return code
	}
	return code + lang.Choose(l, ": ", " : ") + title
}

// countryText names a country for a report: its name, then its code.
func countryText(l lang.Lang, code string) string { return lang.CountryWithCode(l, code) }

// countriesText lists countries by name.
func countriesText(l lang.Lang, codes []string) string {
	names := make([]string, len(codes))
	for i, c := range codes {
		names[i] = countryText(l, c)
	}
	return strings.Join(names, ", ")
}

func providerText(w *words, p string) string {
	if p == noProvider {
		return w.NoneKnown
	}
	return p
}
