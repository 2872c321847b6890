// Package update refreshes a provider_ranges directory: it fetches the
// providers' IP-range feeds and the network registration table (from their
// official URLs or from a mirror), and optionally GeoIP databases (MaxMind
// GeoLite2, DB-IP Lite), checks everything, and only then replaces the
// files, each atomically (a temporary file in the same directory, synced,
// then renamed over the old one). A running gateway watching the directory
// picks the new index up.
//
// Layout of the directory it maintains:
//
//	DIR/providers.mmdb        the compiled index provider_ranges loads
//	DIR/registration.mmdb     the registration dataset (autonomous system
//	                          and registration country of every network)
//	DIR/feeds/aws/ip-ranges.json, DIR/feeds/gcp/cloud.json, ...,
//	DIR/feeds/iptoasn/ip2asn-combined.tsv.gz
//	                          the feeds as fetched, in the mirror layout (so
//	                          DIR/feeds can serve as the mirror of other
//	                          gateways)
//	DIR/GeoLite2-Country.mmdb, DIR/dbip-country-lite.mmdb, ...
//	                          GeoIP databases, when asked for
//
// Any failure (a feed that cannot be fetched, does not parse, is empty, or
// shrank to less than half of the previous version) stops the update before
// anything is written, and the error names the feed.
package update

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds"
)

// Options says what to update and from where.
type Options struct {
	// Dir is the provider_ranges directory; created if missing.
	Dir string
	// Mirror, when set, is where the feeds are read instead of the
	// providers' sites: a local directory or an http(s) URL, laid out as
	// aws/ip-ranges.json, gcp/cloud.json, ... (see package feeds), or
	// with the providers' own file names (cloudflare/ips-v4.txt,
	// azure/ServiceTags_Public_YYYYMMDD.json, ...: see mirror.go).
	Mirror string
	// Feeds restricts the update to these feeds (names as in feeds.Names);
	// nil means every feed. The index then holds only these feeds.
	Feeds []string
	// SkipFeeds leaves the provider ranges alone (GeoIP databases only).
	SkipFeeds bool
	// SkipRegistration leaves the registration dataset alone.
	SkipRegistration bool
	// Force accepts a feed or database that shrank to less than half of
	// the previous version.
	Force bool
	// MaxMind, when set, downloads GeoLite2 databases.
	MaxMind *MaxMind
	// DBIP, when set, downloads DB-IP Lite databases.
	DBIP *DBIP
	// Client makes the HTTP requests; nil uses one with sane timeouts that
	// honours HTTPS_PROXY.
	Client *http.Client
	// Rewrite, when set, changes every URL before it is fetched (tests point
	// official URLs at a local server with it).
	Rewrite func(string) string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// MaxAge is the age beyond which a feed or GeoIP database is reported
	// stale (Report.Stale), as the gateway's data_max_age; zero is
	// geo.DefaultDataMaxAge.
	MaxAge time.Duration
}

// Limits on what is downloaded: feeds are a few megabytes, GeoIP archives
// some tens.
const (
	maxFeedSize  = 128 << 20
	maxGeoIPSize = 512 << 20
)

// Report is what an update did.
type Report struct {
	Dir   string
	Feeds []FeedReport
	// Index is the path of the compiled index; IndexChanged says whether
	// it was rewritten (false when every feed was unchanged).
	Index        string
	IndexChanged bool
	Networks     int
	// Conflicts are prefixes that two feeds list; the first in precedence
	// order keeps them.
	Conflicts []feeds.Conflict
	// Unmapped are regions a feed uses that the region table lacks: their
	// addresses get their country from GeoIP. Each is "feed region".
	Unmapped  []string
	Databases []DatabaseReport
	// Registration is the registration dataset's report; nil when it was
	// not updated.
	Registration *RegistrationReport
	BuildTime    time.Duration
	Duration     time.Duration
	// Stale are the feeds and databases installed although older than
	// Options.MaxAge, by their own date: a mirror nobody refreshes, or a
	// provider that stopped publishing, shows here rather than months
	// later in wrong verdicts.
	Stale []Stale
}

// Stale is a feed or database older than the limit.
type Stale struct {
	Name   string // the feed or GeoIP edition
	Date   time.Time
	Age    time.Duration
	Source string // where it was read
}

func (s Stale) String() string {
	return fmt.Sprintf("%s is dated %s, %d days old: read from %s", s.Name, s.Date.UTC().Format(time.DateOnly), int(s.Age.Hours()/24), s.Source)
}

// FeedReport is one feed's part of the report.
type FeedReport struct {
	geo.FeedInfo
	// Previous is the prefix count of the version in service, -1 if none.
	Previous int
	Changed  bool
	Bytes    int
}

// DatabaseReport is one GeoIP database's part of the report.
type DatabaseReport struct {
	Edition      string
	Path         string
	DatabaseType string
	BuildTime    time.Time
	SHA256       string
	Changed      bool
	Bytes        int
}

// Error is a failed update; Feed names the feed or database at fault.
type Error struct {
	Feed string
	Err  error
}

func (e *Error) Error() string { return e.Feed + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// pendingFile is a file to write once everything is checked: data, or a
// temporary file already written and checked in the same directory.
type pendingFile struct {
	path string
	data []byte
	tmp  string
}

type run struct {
	opts    Options
	client  *http.Client
	now     func() time.Time
	fetched map[string][]byte // by URL or mirror path, so a file shared by two feeds is fetched once
}

// Run updates opts.Dir. On error nothing in the directory was changed.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Dir == "" {
		return nil, errors.New("no directory given")
	}
	r := &run{opts: opts, client: opts.Client, now: opts.Now, fetched: map[string][]byte{}}
	if r.client == nil {
		r.client = defaultClient()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.opts.Progress == nil {
		r.opts.Progress = io.Discard
	}
	start := r.now()
	if !opts.SkipFeeds {
		if _, err := r.selectedFeeds(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Dir: opts.Dir, Index: filepath.Join(opts.Dir, geo.ProviderRangesFile)}
	var pending []pendingFile
	defer func() {
		for _, f := range pending {
			if f.tmp != "" {
				os.Remove(f.tmp) // after the rename: no such file
			}
		}
	}()
	if selected, _ := r.selectedFeeds(); !opts.SkipFeeds && len(selected) > 0 {
		files, err := r.updateFeeds(ctx, rep)
		if err != nil {
			return nil, err
		}
		pending = append(pending, files...)
	}
	if r.updatesRegistration() {
		files, err := r.registration(ctx, rep)
		if err != nil {
			return nil, err
		}
		pending = append(pending, files...)
	}
	if opts.MaxMind != nil {
		files, err := r.maxmind(ctx, rep)
		pending = append(pending, files...) // staged temporary files: removed on error
		if err != nil {
			return nil, err
		}
	}
	if opts.DBIP != nil {
		files, err := r.dbip(ctx, rep)
		pending = append(pending, files...)
		if err != nil {
			return nil, err
		}
	}
	// Everything checked: write. The index goes last, so a gateway that
	// sees it change finds the feed files it came from in place.
	for _, f := range pending {
		var err error
		if f.tmp != "" {
			err = renameSync(f.tmp, f.path)
		} else {
			err = writeAtomic(f.path, f.data)
		}
		if err != nil {
			return nil, &Error{Feed: filepath.Base(f.path), Err: err}
		}
	}
	rep.Duration = r.now().Sub(start)
	rep.Stale = r.stale(rep)
	return rep, nil
}

// stale lists what the report installed that is older than MaxAge by its
// own date. Undated feeds (Cloudflare's, Fastly's, Akamai's and
// DigitalOcean's lists) and the registration table, dated when fetched,
// cannot be judged here.
func (r *run) stale(rep *Report) []Stale {
	maxAge := r.opts.MaxAge
	if maxAge <= 0 {
		maxAge = geo.DefaultDataMaxAge
	}
	now := r.now()
	var out []Stale
	for _, f := range rep.Feeds {
		if !f.Date.IsZero() && now.Sub(f.Date) > maxAge {
			out = append(out, Stale{Name: "feed " + f.Name, Date: f.Date, Age: now.Sub(f.Date), Source: f.Source})
		}
	}
	for _, d := range rep.Databases {
		if !d.BuildTime.IsZero() && now.Sub(d.BuildTime) > maxAge {
			out = append(out, Stale{Name: d.Edition, Date: d.BuildTime, Age: now.Sub(d.BuildTime), Source: d.Path})
		}
	}
	return out
}

func (r *run) progress(format string, args ...any) {
	fmt.Fprintf(r.opts.Progress, format+"\n", args...)
}

// RegistrationFeed is the name that selects the registration dataset in
// Options.Feeds.
const RegistrationFeed = "registration"

// updatesRegistration says whether this run refreshes the registration
// dataset: with the feeds, unless skipped, or when Feeds names it.
func (r *run) updatesRegistration() bool {
	if r.opts.SkipFeeds || r.opts.SkipRegistration {
		return false
	}
	return r.opts.Feeds == nil || slices.Contains(r.opts.Feeds, RegistrationFeed)
}

// selectedFeeds returns the feeds to update, in precedence order.
func (r *run) selectedFeeds() ([]feeds.Feed, error) {
	if r.opts.Feeds == nil {
		return feeds.All(), nil
	}
	var out []feeds.Feed
	for _, f := range feeds.All() {
		if slices.Contains(r.opts.Feeds, f.Name) {
			out = append(out, f)
		}
	}
	for _, name := range r.opts.Feeds {
		if _, ok := feeds.ByName(name); !ok && name != RegistrationFeed {
			return nil, fmt.Errorf("unknown feed %q (known: %s, %s)", name, strings.Join(feeds.Names(), ", "), RegistrationFeed)
		}
	}
	if len(out) == 0 && slices.Contains(r.opts.Feeds, RegistrationFeed) {
		return nil, nil
	}
	if len(out) == 0 {
		return nil, errors.New("no feed selected")
	}
	return out, nil
}

func (r *run) updateFeeds(ctx context.Context, rep *Report) ([]pendingFile, error) {
	selected, err := r.selectedFeeds()
	if err != nil {
		return nil, err
	}
	previous := previousFeeds(rep.Index, r.opts.Progress)

	var parsed []*feeds.Parsed
	var pending []pendingFile
	unchanged := len(previous) == len(selected)
	for _, f := range selected {
		data := make([][]byte, len(f.Files))
		source := ""
		size := 0
		for i, file := range f.Files {
			b, src, err := r.fetchFeedFile(ctx, file)
			if err != nil {
				return nil, &Error{Feed: f.Name, Err: err}
			}
			data[i], size = b, size+len(b)
			if source == "" {
				source = src
			}
			pending = append(pending, pendingFile{path: filepath.Join(r.opts.Dir, "feeds", filepath.FromSlash(file.Path)), data: b})
		}
		p, err := f.Parse(data, nil)
		if err != nil {
			return nil, &Error{Feed: f.Name, Err: fmt.Errorf("%s: %w", source, err)}
		}
		p.Info.Source = source
		if p.Info.Date.IsZero() {
			p.Info.Date = dateInName(source)
		}
		fr := FeedReport{FeedInfo: p.Info, Previous: -1, Bytes: size, Changed: true}
		if prev, ok := previous[f.Name]; ok {
			fr.Previous = prev.Prefixes
			fr.Changed = prev.SHA256 != p.Info.SHA256
			if !r.opts.Force && p.Info.Prefixes*2 < prev.Prefixes {
				return nil, &Error{Feed: f.Name, Err: fmt.Errorf("%d prefixes, down from %d in the version in service: implausible, refusing it (use --force to accept)", p.Info.Prefixes, prev.Prefixes)}
			}
		}
		if fr.Changed {
			unchanged = false
		}
		table := feeds.Regions()
		for _, region := range p.Regions {
			if _, ok := table.Lookup(f.Provider, region); !ok {
				rep.Unmapped = append(rep.Unmapped, f.Name+" "+region)
			}
		}
		r.progress("%-13s %6d prefixes  %s", f.Name, p.Info.Prefixes, source)
		rep.Feeds = append(rep.Feeds, fr)
		parsed = append(parsed, p)
	}

	if unchanged {
		if idx, err := geo.OpenProviderRanges(rep.Index); err == nil {
			rep.Networks = idx.Info().Networks
			r.progress("every feed is unchanged: %s stays as it is", rep.Index)
			return nil, nil
		}
	}
	buildStart := r.now()
	entries, conflicts := feeds.Combine(parsed)
	rep.Conflicts = conflicts
	m := geo.RangesManifest{Built: r.now()}
	for _, p := range parsed {
		m.Feeds = append(m.Feeds, p.Info)
	}
	var buf bytes.Buffer
	if err := geo.WriteProviderRanges(&buf, entries, m); err != nil {
		return nil, &Error{Feed: geo.ProviderRangesFile, Err: err}
	}
	// Read back what was written, exactly as the gateway will.
	index, err := geo.ParseProviderRanges(buf.Bytes())
	if err != nil {
		return nil, &Error{Feed: geo.ProviderRangesFile, Err: fmt.Errorf("the new index does not validate: %w", err)}
	}
	rep.BuildTime = r.now().Sub(buildStart)
	rep.Networks = index.Info().Networks
	rep.IndexChanged = true
	r.progress("compiled %d prefixes into %d networks in %s", len(entries), rep.Networks, rep.BuildTime.Round(time.Millisecond))
	return append(pending, pendingFile{path: rep.Index, data: buf.Bytes()}), nil
}

// previousFeeds reads the manifest of the index in service, if any.
func previousFeeds(index string, progress io.Writer) map[string]geo.FeedInfo {
	out := map[string]geo.FeedInfo{}
	if _, err := os.Stat(index); err != nil {
		return out
	}
	p, err := geo.OpenProviderRanges(index)
	if err != nil {
		fmt.Fprintf(progress, "the index in service is unusable, replacing it: %v\n", err)
		return out
	}
	for _, f := range p.Manifest().Feeds {
		out[f.Name] = f
	}
	return out
}

// fetchFeedFile reads one feed file from the mirror or the official URL,
// and returns it with a description of its source.
func (r *run) fetchFeedFile(ctx context.Context, f feeds.File) ([]byte, string, error) {
	if r.opts.Mirror != "" {
		return r.fetchFromMirror(ctx, f)
	}
	u := f.URL
	if f.Discover != nil {
		page, err := r.get(ctx, u, maxFeedSize)
		if err != nil {
			return nil, "", err
		}
		found := f.Discover.Find(page)
		if found == nil {
			return nil, "", fmt.Errorf("%s: no link to the file in the page (the page layout may have changed: use a mirror)", u)
		}
		u = string(found)
	}
	b, err := r.get(ctx, u, maxFeedSize)
	if err != nil {
		return nil, "", err
	}
	if f.ZipMember != "" {
		if b, err = unzipMember(b, f.ZipMember); err != nil {
			return nil, "", fmt.Errorf("%s: %w", u, err)
		}
		return b, u + "#" + f.ZipMember, nil
	}
	return b, u, nil
}

// nameDate is the date in the name of a file published under a new name
// each week, as Azure's ServiceTags_Public_20251124.json: the content has
// no date, the name has.
var nameDate = regexp.MustCompile(`_([0-9]{8})\.json$`)

// dateInName returns the date in a dated feed file's name, or zero.
func dateInName(source string) time.Time {
	m := nameDate.FindStringSubmatch(path.Base(source))
	if m == nil {
		return time.Time{}
	}
	d, err := time.Parse("20060102", m[1])
	if err != nil {
		return time.Time{}
	}
	return d
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func unzipMember(archive []byte, name string) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		return nil, fmt.Errorf("not a zip archive: %w", err)
	}
	for _, f := range zr.File {
		if path.Base(f.Name) != name {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, maxFeedSize+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxFeedSize {
			return nil, fmt.Errorf("%s larger than %d bytes", name, maxFeedSize)
		}
		return b, nil
	}
	return nil, fmt.Errorf("no %s in the archive", name)
}

func defaultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: tr, Timeout: 10 * time.Minute}
}

// get fetches a URL (once per run) and returns its body, at most limit
// bytes.
func (r *run) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	return r.getAuth(ctx, u, limit, "", "")
}

func (r *run) getAuth(ctx context.Context, u string, limit int64, user, password string) ([]byte, error) {
	if b, ok := r.fetched[u]; ok {
		return b, nil
	}
	target := u
	if r.opts.Rewrite != nil {
		target = r.opts.Rewrite(u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "sovgate-geo-update/1")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{URL: u, Status: resp.StatusCode}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", u, limit)
	}
	r.fetched[u] = b
	return b, nil
}

// HTTPError is a download answered with another status than 200.
type HTTPError struct {
	URL    string
	Status int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: HTTP %d %s", redactURL(e.URL), e.Status, http.StatusText(e.Status))
}

// redactURL drops the query string, which may hold a licence key.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

func readFileLimit(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, limit)
	}
	return b, nil
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, renamed over path, and the directory synced, so a
// reader sees the old file or the new one, never a part.
func writeAtomic(p string, data []byte) error {
	tmp, err := writeTemp(p, bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after a successful rename: no such file
	return renameSync(tmp, p)
}

// writeTemp writes r to a synced temporary file next to p and returns its
// name.
func writeTemp(p string, r io.Reader) (string, error) {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// renameSync renames tmp over p and syncs the directory.
func renameSync(tmp, p string) error {
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func newSHA256() hash.Hash { return sha256.New() }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
