package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds"
	"github.com/sovgate/sovgate/geo/update"
	"github.com/sovgate/sovgate/internal/lang"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "geo",
		Usage: "lookup|update ...",
		Short: "Show how addresses are classified; refresh provider ranges and GeoIP data",
		Long: `
Work on the data that tells sovgate where an address is and who runs it.

  sovgate geo lookup IP|HOST...   print the classification of addresses or
                                  names, as the policy sees it
  sovgate geo update --dir DIR    download the cloud providers' IP-range
                                  feeds and the network registration table
                                  (and optionally GeoIP databases), check
                                  them and swap them in atomically

sovgate carries a dated snapshot of the provider ranges and of the
registration data; 'geo lookup' shows the age of every dataset in use.
`,
		CobraFunc: func(cmd *cobra.Command) {
			lookup := &cobra.Command{
				Use:   "lookup [--config FILE] [--format text|json] IP|HOST...",
				Short: "Print the classification of addresses or host names (exit 0, 1 on a lookup error)",
				Long: `
Prints, for each argument, the destination object the policy receives
(input.destination): every address with its country, EU/EEA membership,
network (ASN), operator, cloud region, region country, service and anycast
flag, and every operator with its headquarters, jurisdictions and how it
was recognised: by the operator catalogue of the policy (range, asn or
domain), or inferred from the country its network is registered in
(registration). A host name is resolved first, with the gateway's
resolver. Nothing is sent to the destination. The text output ends with
the data sources and the age of each.

The data comes from --config (your Caddyfile or JSON config: its sovereignty
block) and the flags below override it, exactly as for 'sovgate check'.

--format json prints one JSON document per argument: the destination object
of the policy input.

Examples:
  sovgate geo lookup 35.180.0.10
  sovgate geo lookup --config /etc/caddy/Caddyfile graph.microsoft.com
  sovgate geo lookup --provider-ranges /var/lib/sovgate/providers --format json 2a05:d012::1
`,
				Args: cobra.MinimumNArgs(1),
			}
			lf := lookup.Flags()
			lf.StringP("config", "c", "", "Caddyfile or JSON config to read the sovereignty settings from")
			lf.StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile*)")
			lf.String("format", "text", "output format: text or json")
			lf.Duration("timeout", 10*time.Second, "give up after this long")
			addSettingFlags(lf)
			lookup.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runGeoLookup(fl, os.Stdout)
			})

			upd := &cobra.Command{
				Use:   "update --dir DIR [--mirror PATH|URL] [--feeds LIST] [--maxmind-account-id ID --maxmind-license-key KEY] [--dbip]",
				Short: "Download provider IP-range feeds (and GeoIP databases), check them, swap them in (exit 0, 1 on failure)",
				Long: `
Downloads the IP-range feeds the cloud and CDN providers publish (AWS, Google
Cloud and Google, Azure, Oracle, Cloudflare, Fastly, Akamai, DigitalOcean,
Linode), checks each one (it parses, it is not empty, it has not shrunk to
less than half of the version in service), compiles them into DIR/providers.mmdb
and keeps the feeds as fetched under DIR/feeds/ (in the mirror layout, so
DIR/feeds can serve as the mirror of other gateways). Point the
provider_ranges option of the gateway at DIR: a running gateway picks up
the new index within seconds, without a restart.

It also compiles iptoasn.com's network registration table (the autonomous
system of every announced range and the country it is registered in,
public domain, updated hourly) into DIR/registration.mmdb. A gateway whose
provider_ranges is DIR uses it at its next start or reload ('sovgate
reload'): it recognises operators of the catalogue by ASN, and infers the
jurisdiction of the others. --feeds registration updates it alone;
--no-registration leaves it alone.

Files are replaced atomically (written to a temporary file, then renamed).
Any failure exits 1, names the feed, and leaves every file as it was.

A feed or database whose own date is older than --data-max-age (90d, as the
gateway's data_max_age) is installed, and named in a warning on stderr: a
mirror nobody refreshes shows here, not months later in wrong verdicts.

Air-gapped networks: with --mirror, the feeds are read from a directory or
an internal web server laid out as
  aws/ip-ranges.json  gcp/cloud.json  gcp/goog.json
  azure/ServiceTags_Public.json  oracle/public_ip_ranges.json
  cloudflare/ips-v4  cloudflare/ips-v6  fastly/public-ip-list
  akamai/akamai_ipv4_CIDRs.txt  akamai/akamai_ipv6_CIDRs.txt
  digitalocean/google.csv  linode/geofeed.csv
  iptoasn/ip2asn-combined.tsv.gz
or with the providers' own names: cloudflare/ips-v4.txt, ips-v6.txt,
fastly/public-ip-list.json, azure/ServiceTags_Public_YYYYMMDD.json (the
newest), akamai/akamai_ipv4_ipv6_CIDRs-txt.zip.

GeoIP databases (optional), written to DIR too:
  --maxmind-account-id ID --maxmind-license-key KEY
      MaxMind GeoLite2 through its download API, checksum verified
      (also read from SOVGATE_MAXMIND_ACCOUNT_ID and SOVGATE_MAXMIND_LICENSE_KEY,
      which keeps the key out of the process list)
  --dbip
      DB-IP Lite, the free monthly databases (CC BY 4.0)
The gateway opens new GeoIP files at its next reload ('sovgate reload').

Downloads honour HTTPS_PROXY.

Examples:
  sovgate geo update --dir /var/lib/sovgate/providers
  sovgate geo update --dir /var/lib/sovgate/providers --mirror https://mirror.city.example/sovgate/
  sovgate geo update --dir /var/lib/sovgate/providers --dbip
`,
				Args: cobra.NoArgs,
			}
			uf := upd.Flags()
			uf.String("dir", "", "the provider_ranges directory to update (created if missing)")
			uf.String("mirror", "", "read the feeds from this directory or http(s) URL instead of the providers' sites")
			uf.StringSlice("feeds", nil, "update only these feeds (default: all of "+strings.Join(feeds.Names(), ",")+", and registration)")
			uf.Bool("no-feeds", false, "leave the provider ranges and the registration data alone (GeoIP databases only)")
			uf.Bool("no-registration", false, "leave the registration data alone")
			uf.Bool("force", false, "accept a feed or database that shrank to less than half of the version in service")
			uf.String("maxmind-account-id", "", "MaxMind account id (or SOVGATE_MAXMIND_ACCOUNT_ID)")
			uf.String("maxmind-license-key", "", "MaxMind licence key (or SOVGATE_MAXMIND_LICENSE_KEY)")
			uf.StringSlice("maxmind-editions", nil, "MaxMind editions (default "+strings.Join(update.DefaultMaxMindEditions, ",")+"; GeoLite2-City too if you want it)")
			uf.Bool("dbip", false, "download the DB-IP Lite databases")
			uf.StringSlice("dbip-editions", nil, "DB-IP Lite editions: country, city, asn (default "+strings.Join(update.DefaultDBIPEditions, ",")+")")
			uf.Duration("timeout", 15*time.Minute, "give up after this long")
			uf.String("data-max-age", "90d", "warn about a feed or database older than this, by its own date")
			uf.BoolP("quiet", "q", false, "no progress lines, only the summary and warnings")
			upd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runGeoUpdate(fl, os.Stdout, os.Stderr, nil)
			})
			cmd.AddCommand(lookup, upd)
		},
	})
}

// geoLookupResult is one argument of `geo lookup`.
type geoLookupResult struct {
	arg     string
	dest    geo.Destination
	refused map[string]string // address -> guard category
	err     error
}

func runGeoLookup(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	format := fl.String("format")
	if format != "text" && format != "json" {
		return 1, fmt.Errorf("--format %q: use text or json", format)
	}
	app, err := loadApp(fl)
	if err != nil {
		return 1, err
	}
	cfg, err := app.ClassifierConfig()
	if err != nil {
		return 1, err
	}
	classifier, err := geo.NewClassifier(cfg)
	if err != nil {
		return 1, err
	}
	defer classifier.Close()
	ctx, cancel := context.WithTimeout(context.Background(), fl.Duration("timeout"))
	defer cancel()
	// The operator catalogue and the EU list are policy data: those of the
	// policy the gateway would run.
	engine, err := app.LoadPolicy(ctx)
	if err != nil {
		return 1, fmt.Errorf("policies: %w", err)
	}
	knowledge := engine.Knowledge()
	server, err := sovereignty.NormalizeResolver(app.Resolver)
	if err != nil {
		return 1, fmt.Errorf("resolver: %w", err)
	}
	resolver, err := geo.NewResolver(geo.ResolverConfig{Server: server})
	if err != nil {
		return 1, fmt.Errorf("resolver: %w", err)
	}
	allow, err := sovereignty.ParseAllowPrivate(app.AllowPrivate)
	if err != nil {
		return 1, fmt.Errorf("allow_private: %w", err)
	}
	guard := geo.NewGuard(append(allow, cfg.Internal...))

	var failed []string
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	for i, arg := range fl.Args() {
		res := geoLookupResult{arg: arg}
		ans, err := resolver.Resolve(ctx, strings.TrimSpace(arg))
		if err == nil && len(ans.Addrs) == 0 {
			err = errors.New("no address")
		}
		if err != nil {
			res.err = err
			failed = append(failed, arg)
		} else {
			res.dest = classifier.ClassifyAnswer(knowledge, ans)
			for _, ip := range ans.Addrs {
				if category, refused := guard.Check(ip); refused {
					if res.refused == nil {
						res.refused = map[string]string{}
					}
					res.refused[ip.String()] = category
				}
			}
		}
		if format == "json" {
			if res.err != nil {
				continue // reported on stderr through the error below
			}
			if err := enc.Encode(res.dest); err != nil {
				return 1, err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		writeGeoLookupText(stdout, &res, ans)
	}
	if format == "text" {
		fmt.Fprintln(stdout)
		writeDataSources(stdout, classifier.Info(), knowledge, time.Now())
	}
	if len(failed) > 0 {
		// Caddy's command runner turns status 1 into 0 unless an error
		// comes with it.
		return 1, fmt.Errorf("could not look up %s", strings.Join(failed, ", "))
	}
	return 0, nil
}

func writeGeoLookupText(w io.Writer, r *geoLookupResult, ans *geo.Answer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if r.err != nil {
		fmt.Fprintf(tw, "%s\tlookup failed: %v\n", r.arg, r.err)
		return
	}
	host := r.dest.Host
	if len(ans.CNAMEs) > 0 {
		host += " (via " + strings.Join(ans.CNAMEs, " -> ") + ")"
	}
	fmt.Fprintf(tw, "Host\t%s\n", host)
	for i, a := range r.dest.Addresses {
		label := ""
		if i == 0 {
			label = "Addresses"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, geoAddressText(a, r.refused[a.IP.String()], lang.English))
	}
	writeProvidersText(tw, r.dest.Providers, lang.English)
}

// writeProvidersText describes each operator on one line, in l: who,
// whose law, and how it was recognised (a catalogue fact, or a guess).
func writeProvidersText(tw io.Writer, providers []geo.Provider, l lang.Lang) {
	for i, p := range providers {
		label := ""
		if i == 0 {
			label = lang.Choose(l, "Providers", "Opérateurs")
		}
		if p.Inferred {
			fmt.Fprintf(tw, lang.Choose(l,
				"%s\t%s (%s), jurisdiction %s presumed: inferred from the registration of its network (no catalogue entry)\n",
				"%s\t%s (%s), juridiction %s présumée : déduite du pays d'enregistrement de son réseau (absent du catalogue)\n"),
				label, p.ID, p.Name, joinOr(p.Jurisdictions, lang.Choose(l, "no known", "inconnue")))
			continue
		}
		offer := ""
		if p.Offer != nil {
			offer = lang.Choose(l, ", offer ", ", offre ") + p.Offer.ID
			for _, q := range p.Offer.Qualifications {
				offer += " [" + q.Scheme + " " + q.Since + ".." + q.Until + "]"
			}
		}
		if l == lang.French {
			fmt.Fprintf(tw, "%s\t%s (%s), siège : %s, juridiction %s, reconnu par %s%s\n",
				label, p.ID, p.Name, lang.CountryWithCode(l, p.Headquarters), joinOr(p.Jurisdictions, "inconnue"), matchedByText(l, p.MatchedBy), offer)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s (%s), headquartered in %s, jurisdiction %s, matched by %s%s\n",
			label, p.ID, p.Name, orDefault(p.Headquarters, "?"), joinOr(p.Jurisdictions, "no known"), p.MatchedBy, offer)
	}
	if len(providers) == 0 {
		fmt.Fprint(tw, lang.Choose(l, "Providers\tnone recognised: nobody knows who operates it\n",
			"Opérateurs\taucun reconnu : on ne sait pas qui exploite cette destination\n"))
	}
}

// matchedByText says in l how an operator was recognised.
func matchedByText(l lang.Lang, by string) string {
	if l != lang.French {
		return by
	}
	switch by {
	case "range":
		return "ses plages d'adresses (range)"
	case "asn":
		return "son numéro de système autonome (asn)"
	case "domain":
		return "son nom de domaine (domain)"
	case "registration":
		return "l'enregistrement de son réseau (registration)"
	}
	return by
}

// geoAddressText describes one address on one line, in l; refused names
// the guard category of an address the gateway refuses.
func geoAddressText(a geo.Address, refused string, l lang.Lang) string {
	t := addressWords[l]
	var b strings.Builder
	b.WriteString(a.IP.String())
	switch {
	case a.Anycast:
		b.WriteString(t.anycast)
	case a.Country == "":
		b.WriteString(t.unknown)
	default:
		scope := t.outside
		switch {
		case a.EU:
			scope = t.eu
		case a.EEA:
			scope = t.eea
		}
		if l == lang.French {
			fmt.Fprintf(&b, "  %s (%s, %s)", lang.Country(l, a.Country), a.Country, scope)
		} else {
			fmt.Fprintf(&b, "  %s (%s)", a.Country, scope)
		}
	}
	if a.ASN != 0 {
		fmt.Fprintf(&b, "  AS%d %s", a.ASN, a.ASOrg)
	}
	if a.Internal {
		b.WriteString(t.internal)
	}
	if a.Provider != "" {
		fmt.Fprintf(&b, t.provider, a.Provider)
	}
	if a.Region != "" {
		fmt.Fprintf(&b, t.region, a.Region)
		if a.RegionCountry != "" {
			fmt.Fprintf(&b, " (%s)", a.RegionCountry)
		}
	}
	if a.Service != "" {
		fmt.Fprintf(&b, "  service %s", a.Service)
	}
	if refused != "" {
		fmt.Fprintf(&b, t.refused, refused)
	}
	return b.String()
}

// addressWords are the words of geoAddressText.
var addressWords = map[lang.Lang]struct {
	anycast, unknown, eu, eea, outside, internal, provider, region, refused string
}{
	lang.English: {"  no country (anycast)", "  country unknown", "EU", "EEA", "outside the EU/EEA",
		"  internal (the city's own network)", "  provider %s", "  region %s", "  [refused by the gateway: %s address]"},
	lang.French: {"  aucun pays (anycast)", "  pays inconnu", "UE", "EEE", "hors UE/EEE",
		"  interne (réseau de la ville)", "  fournisseur %s", "  région %s", "  [refusée par la passerelle : adresse %s]"},
}

// writeDataSources says which data answered and how old it is, so an
// admin can tell a stale database from a wrong one.
func writeDataSources(w io.Writer, info geo.DataInfo, k *geo.Knowledge, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "Country data\t%s\n", databaseText(info.Country, now))
	if info.ASN.Source == geo.SourceNone {
		fmt.Fprintf(tw, "ASN data\tfrom the registration data\n")
	} else {
		fmt.Fprintf(tw, "ASN data\t%s\n", databaseText(info.ASN, now))
	}
	fmt.Fprintf(tw, "Registration data\t%s\n", databaseText(info.Registration, now))
	r := info.ProviderRanges
	var names []string
	for _, f := range r.Feeds {
		names = append(names, f.Name)
	}
	switch r.Source {
	case geo.SourceNone, "":
		fmt.Fprintf(tw, "Provider ranges\tnone\n")
	case geo.SourceEmbedded:
		fmt.Fprintf(tw, "Provider ranges\tsnapshot built into sovgate, data of %s (%s), %d networks from %s\n",
			r.BuildTime.Format("2006-01-02"), ageText(r.BuildTime, now), r.Networks, strings.Join(names, ", "))
	default:
		fmt.Fprintf(tw, "Provider ranges\t%s, built %s (%s), %d networks from %s\n",
			r.Path, r.BuildTime.Format("2006-01-02 15:04 MST"), ageText(r.BuildTime, now), r.Networks, strings.Join(names, ", "))
	}
	fmt.Fprintf(tw, "Operator catalogue\t%d operators (policy data: data.sovgate.operators)\n", k.Operators.Len())
	fmt.Fprintf(tw, "Data revision\t%s\n", info.Revision)
}

func databaseText(d geo.DatabaseInfo, now time.Time) string {
	switch d.Source {
	case geo.SourceIPLoc:
		return fmt.Sprintf("IP2Location LITE data built into sovgate (iploc %s, %s)", d.Version, ageText(d.BuildTime, now))
	case geo.SourceEmbedded:
		return fmt.Sprintf("snapshot built into sovgate, data of %s (%s)", d.BuildTime.Format("2006-01-02"), ageText(d.BuildTime, now))
	case geo.SourceMMDB:
		return fmt.Sprintf("%s (%s, built %s, %s)", d.Path, d.DatabaseType, d.BuildTime.Format("2006-01-02"), ageText(d.BuildTime, now))
	default:
		return "none"
	}
}

// ageText says how old data is, in days.
func ageText(built, now time.Time) string {
	if built.IsZero() {
		return "date unknown"
	}
	days := int(now.Sub(built).Hours() / 24)
	switch {
	case days < 0:
		return "dated in the future"
	case days == 1:
		return "1 day old"
	}
	return fmt.Sprintf("%d days old", days)
}

// runGeoUpdate runs `geo update`; adjust, when set, changes the options
// (tests point official URLs at a local server with it).
func runGeoUpdate(fl caddycmd.Flags, stdout, stderr io.Writer, adjust func(*update.Options)) (int, error) {
	dir := fl.String("dir")
	if dir == "" {
		return 1, errors.New("--dir is required: the provider_ranges directory to update")
	}
	opts := update.Options{
		Dir:              dir,
		Mirror:           fl.String("mirror"),
		SkipFeeds:        fl.Bool("no-feeds"),
		SkipRegistration: fl.Bool("no-registration"),
		Force:            fl.Bool("force"),
		Progress:         stderr,
	}
	if fl.Bool("quiet") {
		opts.Progress = nil
	}
	maxAge, err := caddy.ParseDuration(fl.String("data-max-age"))
	if err != nil || maxAge <= 0 {
		return 1, fmt.Errorf("--data-max-age %q: want a duration such as 90d or 720h", fl.String("data-max-age"))
	}
	opts.MaxAge = maxAge
	if v, err := fl.GetStringSlice("feeds"); err == nil && len(v) > 0 {
		opts.Feeds = v
	}
	account := orDefault(fl.String("maxmind-account-id"), os.Getenv("SOVGATE_MAXMIND_ACCOUNT_ID"))
	key := orDefault(fl.String("maxmind-license-key"), os.Getenv("SOVGATE_MAXMIND_LICENSE_KEY"))
	if account != "" || key != "" {
		if account == "" || key == "" {
			return 1, errors.New("MaxMind downloads need both --maxmind-account-id and --maxmind-license-key")
		}
		editions, _ := fl.GetStringSlice("maxmind-editions")
		opts.MaxMind = &update.MaxMind{AccountID: account, LicenseKey: key, Editions: editions}
	}
	if fl.Bool("dbip") {
		editions, _ := fl.GetStringSlice("dbip-editions")
		opts.DBIP = &update.DBIP{Editions: editions}
	}
	if adjust != nil {
		adjust(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), fl.Duration("timeout"))
	defer cancel()
	rep, err := update.Run(ctx, opts)
	if err != nil {
		// Caddy's command runner turns status 1 into 0 unless an error
		// comes with it.
		return 1, fmt.Errorf("geo update failed, nothing was changed in %s: %w", dir, err)
	}
	writeUpdateSummary(stdout, rep)
	writeStaleWarnings(stderr, rep.Stale, fl.String("data-max-age"), opts.Mirror)
	return 0, nil
}

// writeStaleWarnings names each feed or database older than the limit,
// then what to do about it.
func writeStaleWarnings(w io.Writer, stale []update.Stale, maxAge, mirror string) {
	if len(stale) == 0 {
		return
	}
	for _, s := range stale {
		fmt.Fprintf(w, "warning: %s (older than --data-max-age %s)\n", s, maxAge)
	}
	if mirror != "" {
		fmt.Fprintf(w, "warning: the mirror %s holds old files: refresh it from the providers' sites, then run geo update again; until then the gateway warns at start\n", mirror)
	} else {
		fmt.Fprintln(w, "warning: nothing newer is published at the official URL; if the provider moved its feed, tell the sovgate maintainers; until then the gateway warns at start")
	}
}

func writeUpdateSummary(w io.Writer, rep *update.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Feeds) > 0 {
		fmt.Fprintln(tw, "feed\tprovider\tprefixes\tIPv4\tIPv6\tchange\tpublished\tversion\t")
		for _, f := range rep.Feeds {
			change := "new"
			switch {
			case f.Previous >= 0 && !f.Changed:
				change = "same"
			case f.Previous >= 0:
				change = fmt.Sprintf("%+d", f.Prefixes-f.Previous)
			}
			date := "-"
			if !f.Date.IsZero() {
				date = f.Date.UTC().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t\n", f.Name, f.Provider, f.Prefixes, f.IPv4, f.IPv6, change, date, orDefault(f.SyncToken, "-"))
		}
	}
	tw.Flush()
	if len(rep.Feeds) > 0 {
		if rep.IndexChanged {
			fmt.Fprintf(w, "\nwrote %s: %d networks, compiled in %s\n", rep.Index, rep.Networks, rep.BuildTime.Round(time.Millisecond))
		} else {
			fmt.Fprintf(w, "\n%s is up to date (%d networks)\n", rep.Index, rep.Networks)
		}
		if len(rep.Conflicts) > 0 {
			fmt.Fprintf(w, "%d prefixes listed by two feeds (kept by the first in precedence order), e.g. %s in %s and %s\n",
				len(rep.Conflicts), rep.Conflicts[0].Prefix, rep.Conflicts[0].Kept, rep.Conflicts[0].Dropped)
		}
		if len(rep.Unmapped) > 0 {
			fmt.Fprintf(w, "regions missing from sovgate's region table (their addresses get their country from GeoIP): %s\n", strings.Join(rep.Unmapped, ", "))
		}
	}
	if r := rep.Registration; r != nil {
		if r.Changed {
			fmt.Fprintf(w, "wrote %s: %d networks", r.Path, r.Networks)
			if r.Previous >= 0 {
				fmt.Fprintf(w, " (%+d)", r.Networks-r.Previous)
			}
			fmt.Fprintln(w)
		} else {
			fmt.Fprintf(w, "%s is up to date (%d networks)\n", r.Path, r.Networks)
		}
	}
	for _, d := range rep.Databases {
		state := "updated"
		if !d.Changed {
			state = "unchanged"
		}
		fmt.Fprintf(w, "%s %s: %s, built %s\n", state, d.Path, d.DatabaseType, d.BuildTime.Format("2006-01-02"))
	}
	fmt.Fprintf(w, "done in %s\n", rep.Duration.Round(time.Millisecond))
}
