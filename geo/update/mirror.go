package update

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/sovgate/sovgate/geo/feeds"
)

// A mirror is often a plain copy of what the providers publish, made with
// wget, a browser or a sync job, so its files keep the providers' own
// names rather than the layout sovgate writes under DIR/feeds: Cloudflare's
// ips-v4 becomes ips-v4.txt, Fastly's public-ip-list public-ip-list.json,
// Azure's weekly file keeps its date (ServiceTags_Public_20251124.json),
// and Akamai's two lists stay in the zip they come in. A mirror file is
// looked for under the layout name first, then under these.

// mirrorAliases are the other names of a layout path, by layout path.
var mirrorAliases = map[string][]string{
	"cloudflare/ips-v4":     {"cloudflare/ips-v4.txt"},
	"cloudflare/ips-v6":     {"cloudflare/ips-v6.txt"},
	"fastly/public-ip-list": {"fastly/public-ip-list.json"},
}

// mirrorDated are files published under a new dated name each time, by
// layout path: the newest name in the same directory is taken. The date
// (YYYYMMDD) sorts as text.
var mirrorDated = map[string]datedName{
	"azure/ServiceTags_Public.json": {regexp.MustCompile(`ServiceTags_Public_[0-9]{8}\.json`), "ServiceTags_Public_YYYYMMDD.json"},
}

type datedName struct {
	pattern *regexp.Regexp // unanchored: it also finds the name in an index page
	shown   string
}

// mirrorName is one place a feed file may be in a mirror.
type mirrorName struct {
	path string // slash-separated, relative to the mirror
	// zipMember, when set, means path is a zip archive holding the file.
	zipMember string
	// dated, when set, means path is a directory and the file the newest
	// entry whose name matches.
	dated *datedName
}

func (n mirrorName) String() string {
	switch {
	case n.zipMember != "":
		return n.path + "#" + n.zipMember
	case n.dated != nil:
		return n.path + "/" + n.dated.shown
	}
	return n.path
}

// mirrorNames lists where f may be in a mirror, the layout name first.
func mirrorNames(f feeds.File) []mirrorName {
	names := []mirrorName{{path: f.Path}}
	for _, alias := range mirrorAliases[f.Path] {
		names = append(names, mirrorName{path: alias})
	}
	if d, ok := mirrorDated[f.Path]; ok {
		names = append(names, mirrorName{path: path.Dir(f.Path), dated: &d})
	}
	if f.ZipMember != "" {
		// The archive as the provider serves it, beside the file.
		names = append(names, mirrorName{path: path.Join(path.Dir(f.Path), path.Base(f.URL)), zipMember: f.ZipMember})
	}
	return names
}

// fetchFromMirror reads one feed file from the mirror (a directory or an
// http(s) URL) and returns it with its source. A name that is not there
// moves on to the next; any other failure stops. When none is there, the
// error is the layout name's, with the other names tried.
func (r *run) fetchFromMirror(ctx context.Context, f feeds.File) ([]byte, string, error) {
	names := mirrorNames(f)
	var first error
	for _, n := range names {
		b, src, err := r.readMirrorName(ctx, n)
		if err == nil {
			return b, src, nil
		}
		if !isNotFound(err) {
			return nil, "", err
		}
		if first == nil {
			first = err
		}
	}
	if len(names) == 1 {
		return nil, "", first
	}
	others := make([]string, len(names)-1)
	for i, n := range names[1:] {
		others[i] = n.String()
	}
	return nil, "", fmt.Errorf("%w (also looked for %s)", first, strings.Join(others, ", "))
}

func (r *run) readMirrorName(ctx context.Context, n mirrorName) ([]byte, string, error) {
	p := n.path
	if n.dated != nil {
		name, err := r.newestInMirror(ctx, n.path, n.dated.pattern)
		if err != nil {
			return nil, "", err
		}
		p = path.Join(n.path, name)
	}
	b, src, err := r.readMirror(ctx, p)
	if err != nil || n.zipMember == "" {
		return b, src, err
	}
	if b, err = unzipMember(b, n.zipMember); err != nil {
		return nil, "", fmt.Errorf("%s: %w", src, err)
	}
	return b, src + "#" + n.zipMember, nil
}

// readMirror reads the file at p (slash-separated) in the mirror.
func (r *run) readMirror(ctx context.Context, p string) ([]byte, string, error) {
	m := r.opts.Mirror
	if isURL(m) {
		u, err := url.JoinPath(m, p)
		if err != nil {
			return nil, "", err
		}
		b, err := r.get(ctx, u, maxFeedSize)
		return b, u, err
	}
	full := filepath.Join(m, filepath.FromSlash(p))
	b, err := readFileLimit(full, maxFeedSize)
	if err != nil {
		return nil, "", fmt.Errorf("mirror: %w", err)
	}
	return b, full, nil
}

// newestInMirror returns the greatest name matching re in the mirror
// directory dir: from the directory itself, or from the index page a web
// server shows for it (Caddy's browse, nginx's autoindex, Apache's
// mod_autoindex).
func (r *run) newestInMirror(ctx context.Context, dir string, re *regexp.Regexp) (string, error) {
	var found []string
	m := r.opts.Mirror
	if isURL(m) {
		u, err := url.JoinPath(m, dir)
		if err != nil {
			return "", err
		}
		page, err := r.get(ctx, u+"/", maxFeedSize)
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusForbidden {
			// The server does not list directories: nothing found here.
			return "", fmt.Errorf("%w (%s/ cannot be listed)", fs.ErrNotExist, u)
		}
		if err != nil {
			return "", err
		}
		for _, b := range re.FindAll(page, -1) {
			found = append(found, string(b))
		}
	} else {
		entries, err := os.ReadDir(filepath.Join(m, filepath.FromSlash(dir)))
		if err != nil {
			return "", fmt.Errorf("mirror: %w", err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && re.FindString(e.Name()) == e.Name() {
				found = append(found, e.Name())
			}
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("mirror: %w", &fs.PathError{Op: "find", Path: dir + "/" + re.String(), Err: fs.ErrNotExist})
	}
	return slices.Max(found), nil
}

// isNotFound says whether err means the file is not in the mirror, so
// another name may be tried.
func isNotFound(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status == http.StatusNotFound || he.Status == http.StatusGone
	}
	return errors.Is(err, fs.ErrNotExist)
}
