package update

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/sovgate/sovgate/geo"
)

// MaxMind downloads GeoLite2 (or GeoIP2) databases through MaxMind's
// download API, with an account id and a licence key, and checks each
// archive against the SHA-256 MaxMind publishes for it.
type MaxMind struct {
	AccountID  string
	LicenseKey string
	// Editions are the edition ids; default GeoLite2-Country and
	// GeoLite2-ASN (add GeoLite2-City for city-level databases).
	Editions []string
	// BaseURL is the API's address; default https://download.maxmind.com.
	BaseURL string
}

// DefaultMaxMindEditions are the editions downloaded when none are named.
var DefaultMaxMindEditions = []string{"GeoLite2-Country", "GeoLite2-ASN"}

// DBIP downloads DB-IP's free monthly Lite databases (CC BY 4.0: credit
// DB-IP.com where the data is shown).
type DBIP struct {
	// Editions are country, city or asn; default country and asn.
	Editions []string
	// BaseURL is the download site; default https://download.db-ip.com.
	BaseURL string
}

// DefaultDBIPEditions are the editions downloaded when none are named.
var DefaultDBIPEditions = []string{"country", "asn"}

var editionPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func (r *run) maxmind(ctx context.Context, rep *Report) ([]pendingFile, error) {
	mm := r.opts.MaxMind
	if mm.AccountID == "" || mm.LicenseKey == "" {
		return nil, &Error{Feed: "maxmind", Err: errors.New("both an account id and a licence key are needed")}
	}
	base := mm.BaseURL
	if base == "" {
		base = "https://download.maxmind.com"
	}
	editions := mm.Editions
	if len(editions) == 0 {
		editions = DefaultMaxMindEditions
	}
	var pending []pendingFile
	for _, ed := range editions {
		if !editionPattern.MatchString(ed) {
			return pending, &Error{Feed: "maxmind", Err: fmt.Errorf("edition %q: not an edition id such as GeoLite2-Country", ed)}
		}
		p, err := r.maxmindEdition(ctx, base, ed, rep)
		if err != nil {
			return pending, &Error{Feed: ed, Err: err}
		}
		if p.tmp != "" {
			pending = append(pending, p)
		}
	}
	return pending, nil
}

func (r *run) maxmindEdition(ctx context.Context, base, edition string, rep *Report) (pendingFile, error) {
	mm := r.opts.MaxMind
	u, err := url.JoinPath(base, "geoip/databases", edition, "download")
	if err != nil {
		return pendingFile{}, err
	}
	sumBody, err := r.getAuth(ctx, u+"?suffix=tar.gz.sha256", 4096, mm.AccountID, mm.LicenseKey)
	if err != nil {
		return pendingFile{}, maxmindAuthHint(err)
	}
	want, _, _ := strings.Cut(strings.TrimSpace(string(sumBody)), " ")
	if len(want) != 64 {
		return pendingFile{}, fmt.Errorf("checksum file: %q is not a SHA-256", want)
	}
	r.progress("%-13s downloading %s", edition, redactURL(u))
	archive, err := r.getAuth(ctx, u+"?suffix=tar.gz", maxGeoIPSize, mm.AccountID, mm.LicenseKey)
	if err != nil {
		return pendingFile{}, maxmindAuthHint(err)
	}
	if got := sha256Hex(archive); !strings.EqualFold(got, want) {
		return pendingFile{}, fmt.Errorf("checksum mismatch: the archive's SHA-256 is %s, MaxMind publishes %s", got, want)
	}
	mmdb, err := untarMember(archive, edition+".mmdb")
	if err != nil {
		return pendingFile{}, err
	}
	return r.stageDatabase(edition, edition+".mmdb", mmdb, strings.HasSuffix(edition, "-ASN"), rep)
}

func maxmindAuthHint(err error) error {
	var he *HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
		return fmt.Errorf("%w (check the account id and licence key, and that the account may download this edition)", err)
	}
	return err
}

// untarMember returns the file named name (at any depth) of a .tar.gz.
func untarMember(archive []byte, name string) (io.Reader, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("not a gzip archive: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("no %s in the archive", name)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		if h.Typeflag == tar.TypeReg && path.Base(h.Name) == name {
			if h.Size > maxGeoIPSize {
				return nil, fmt.Errorf("%s larger than %d bytes", name, maxGeoIPSize)
			}
			return io.LimitReader(tr, h.Size), nil
		}
	}
}

func (r *run) dbip(ctx context.Context, rep *Report) ([]pendingFile, error) {
	d := r.opts.DBIP
	base := d.BaseURL
	if base == "" {
		base = "https://download.db-ip.com"
	}
	editions := d.Editions
	if len(editions) == 0 {
		editions = DefaultDBIPEditions
	}
	var pending []pendingFile
	for _, ed := range editions {
		if ed != "country" && ed != "city" && ed != "asn" {
			return pending, &Error{Feed: "dbip", Err: fmt.Errorf("edition %q: want country, city or asn", ed)}
		}
		name := "dbip-" + ed + "-lite"
		p, err := r.dbipEdition(ctx, base, ed, rep)
		if err != nil {
			return pending, &Error{Feed: name, Err: err}
		}
		if p.tmp != "" {
			pending = append(pending, p)
		}
	}
	return pending, nil
}

// dbipEdition fetches this month's file, or last month's when this month's
// is not out yet.
func (r *run) dbipEdition(ctx context.Context, base, edition string, rep *Report) (pendingFile, error) {
	now := r.now().UTC()
	months := []string{now.Format("2006-01"), now.AddDate(0, 0, -now.Day()).Format("2006-01")}
	var lastErr error
	for _, month := range months {
		u, err := url.JoinPath(base, "free", "dbip-"+edition+"-lite-"+month+".mmdb.gz")
		if err != nil {
			return pendingFile{}, err
		}
		r.progress("%-13s downloading %s", "dbip-"+edition, u)
		gz, err := r.get(ctx, u, maxGeoIPSize)
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusNotFound {
			lastErr = err
			continue
		}
		if err != nil {
			return pendingFile{}, err
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return pendingFile{}, fmt.Errorf("%s: not gzip data: %w", u, err)
		}
		name := "dbip-" + edition + "-lite"
		return r.stageDatabase(name, name+".mmdb", io.LimitReader(zr, maxGeoIPSize), edition == "asn", rep)
	}
	return pendingFile{}, lastErr
}

// stageDatabase writes a downloaded database to a temporary file in the
// directory and checks it: a sound MaxMind DB (search tree and data
// section verified) of a kind sovgate reads for countries or ASNs, not
// shrunk to less than half of the file it replaces. It returns the pending
// rename, or no temporary file when the content is unchanged.
func (r *run) stageDatabase(edition, file string, data io.Reader, asn bool, rep *Report) (pendingFile, error) {
	dest := filepath.Join(r.opts.Dir, file)
	tmp, err := writeTemp(dest, data)
	if err != nil {
		return pendingFile{}, err
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	info, nodes, err := checkDatabase(tmp, asn)
	if err != nil {
		return pendingFile{}, err
	}
	sum, size, err := fileSHA256(tmp)
	if err != nil {
		return pendingFile{}, err
	}
	dr := DatabaseReport{Edition: edition, Path: dest, DatabaseType: info.DatabaseType, BuildTime: info.BuildTime, SHA256: sum, Bytes: int(size), Changed: true}
	if old, _, err := fileSHA256(dest); err == nil {
		if old == sum {
			dr.Changed = false
			rep.Databases = append(rep.Databases, dr)
			r.progress("%-13s unchanged (%s, built %s)", edition, info.DatabaseType, info.BuildTime.Format("2006-01-02"))
			return pendingFile{}, nil // the deferred Remove drops the copy
		}
		if _, oldNodes, err := checkDatabase(dest, asn); err == nil && !r.opts.Force && nodes*2 < oldNodes {
			return pendingFile{}, fmt.Errorf("%d search-tree nodes, down from %d in the file in service: implausible, refusing it (use --force to accept)", nodes, oldNodes)
		}
	}
	rep.Databases = append(rep.Databases, dr)
	r.progress("%-13s %s, built %s, %d bytes", edition, info.DatabaseType, info.BuildTime.Format("2006-01-02"), size)
	ok = true
	return pendingFile{path: dest, tmp: tmp}, nil
}

// checkDatabase verifies a MaxMind DB file and opens it the way the
// gateway will.
func checkDatabase(p string, asn bool) (geo.DatabaseInfo, uint, error) {
	mr, err := maxminddb.Open(p)
	if err != nil {
		return geo.DatabaseInfo{}, 0, fmt.Errorf("not a MaxMind DB: %w", err)
	}
	defer mr.Close()
	if err := mr.Verify(); err != nil {
		return geo.DatabaseInfo{}, 0, fmt.Errorf("corrupt database: %w", err)
	}
	nodes := mr.Metadata.NodeCount
	if asn {
		db, err := geo.OpenASNDB(p)
		if err != nil {
			return geo.DatabaseInfo{}, 0, err
		}
		defer db.Close()
		return db.Info(), nodes, nil
	}
	db, err := geo.OpenCountryDB(p)
	if err != nil {
		return geo.DatabaseInfo{}, 0, err
	}
	defer db.Close()
	return db.Info(), nodes, nil
}

func fileSHA256(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := newSHA256()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n, nil
}
