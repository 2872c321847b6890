package update_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/geo/feeds"
	"github.com/sovgate/sovgate/geo/feeds/feedtest"
	"github.com/sovgate/sovgate/geo/update"
)

// An older weekly Azure file, which a mirror keeps beside the newest.
const (
	azureOld    = "azure/ServiceTags_Public_20251117.json"
	azureNewest = "azure/ServiceTags_Public_20251124.json"
	akamaiZip   = "akamai/akamai_ipv4_ipv6_CIDRs-txt.zip"
)

// providerNamed returns the set's files as a mirror that copies the
// providers' downloads keeps them: Cloudflare's and Fastly's with the
// extension a download adds, Azure's under their weekly dated names (an
// older week with other content beside the newest), Akamai's in the zip
// they come in.
func providerNamed(t *testing.T, set *feedtest.Set) map[string][]byte {
	t.Helper()
	files := set.Files()
	older := *set
	older.Azure = older.Azure[:2]
	renames := map[string]string{
		"cloudflare/ips-v4":             "cloudflare/ips-v4.txt",
		"cloudflare/ips-v6":             "cloudflare/ips-v6.txt",
		"fastly/public-ip-list":         "fastly/public-ip-list.json",
		"azure/ServiceTags_Public.json": azureNewest,
	}
	for from, to := range renames {
		files[to] = files[from]
		delete(files, from)
	}
	files[azureOld] = older.Files()["azure/ServiceTags_Public.json"]
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, name := range []string{"akamai_ipv4_CIDRs.txt", "akamai_ipv6_CIDRs.txt"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files["akamai/"+name])
		delete(files, "akamai/"+name)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	files[akamaiZip] = zb.Bytes()
	return files
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// feedHashes maps each feed of a report to its SHA-256 (over the layout
// names and the contents): equal hashes mean the same data was read.
func feedHashes(rep *update.Report) map[string]string {
	out := map[string]string{}
	for _, f := range rep.Feeds {
		out[f.Name] = f.SHA256
	}
	return out
}

func TestUpdateFromMirrorWithProvidersFileNames(t *testing.T) {
	set := feedtest.Default()
	canonical := t.TempDir()
	set.WriteMirror(t, canonical)
	want := feedHashes(mustRun(t, update.Options{Dir: t.TempDir(), Mirror: canonical}))

	named := t.TempDir()
	writeFiles(t, named, providerNamed(t, set))
	listing := httptest.NewServer(http.FileServer(http.Dir(named))) // lists directories, as Caddy's browse or nginx's autoindex do
	t.Cleanup(listing.Close)

	for _, tc := range []struct{ name, mirror string }{{"directory", named}, {"web server", listing.URL}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rep := mustRun(t, update.Options{Dir: dir, Mirror: tc.mirror})
			if got := feedHashes(rep); !maps.Equal(got, want) {
				t.Errorf("feeds read from the providers' names differ from the layout's:\n got %v\nwant %v", got, want)
			}
			sources := map[string]string{}
			for _, f := range rep.Feeds {
				sources[f.Name] = f.Source
			}
			for feed, suffix := range map[string]string{
				"cloudflare": "cloudflare/ips-v4.txt",
				"fastly":     "fastly/public-ip-list.json",
				"azure":      azureNewest, // the newest week, not the older one
				"akamai":     akamaiZip + "#akamai_ipv4_CIDRs.txt",
				"aws":        "aws/ip-ranges.json",
			} {
				if !strings.HasSuffix(filepath.ToSlash(sources[feed]), suffix) {
					t.Errorf("%s read from %q, want …%s", feed, sources[feed], suffix)
				}
			}
			// DIR/feeds keeps the layout names: it is a mirror in turn.
			for _, p := range feedtest.MirrorPaths {
				if _, err := os.Stat(filepath.Join(dir, "feeds", filepath.FromSlash(p))); err != nil {
					t.Errorf("feeds/%s: %v", p, err)
				}
			}
		})
	}
}

func TestMirrorPrefersTheLayoutName(t *testing.T) {
	set := feedtest.Default()
	mirror := t.TempDir()
	set.WriteMirror(t, mirror)
	// A stale copy under the provider's name, and an older dated Azure
	// file, beside the files of the layout: the layout wins.
	stale := *set
	stale.CloudflareV4 = []string{"198.51.100.0/24"}
	stale.Azure = stale.Azure[:1]
	writeFiles(t, mirror, map[string][]byte{
		"cloudflare/ips-v4.txt": stale.Files()["cloudflare/ips-v4"],
		azureNewest:             stale.Files()["azure/ServiceTags_Public.json"],
	})
	rep := mustRun(t, update.Options{Dir: t.TempDir(), Mirror: mirror})
	want := map[string]string{"cloudflare": "cloudflare/ips-v4", "azure": "azure/ServiceTags_Public.json"}
	for _, f := range rep.Feeds {
		if w, ok := want[f.Name]; ok && f.Source != filepath.Join(mirror, filepath.FromSlash(w)) {
			t.Errorf("%s read from %s, want the layout name %s", f.Name, f.Source, w)
		}
	}
}

func TestMirrorMissingFileNamesEveryNameTried(t *testing.T) {
	set := feedtest.Default()
	files := providerNamed(t, set)
	delete(files, "cloudflare/ips-v4.txt")
	dir := t.TempDir()
	writeFiles(t, dir, files)
	_, err := run(t, update.Options{Dir: t.TempDir(), Mirror: dir})
	var ue *update.Error
	if !errors.As(err, &ue) || ue.Feed != "cloudflare" || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v, want a missing file of feed cloudflare", err)
	}
	for _, name := range []string{"cloudflare/ips-v4:", "also looked for cloudflare/ips-v4.txt"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %q", err, name)
		}
	}

	// Azure: no layout name and no dated file.
	files = providerNamed(t, set)
	delete(files, azureOld)
	delete(files, azureNewest)
	dir = t.TempDir()
	writeFiles(t, dir, files)
	_, err = run(t, update.Options{Dir: t.TempDir(), Mirror: dir})
	if !errors.As(err, &ue) || ue.Feed != "azure" || !strings.Contains(err.Error(), "also looked for azure/ServiceTags_Public_YYYYMMDD.json") {
		t.Errorf("error %v", err)
	}

	// Akamai: a zip without the file is an error about the zip, not a
	// missing file.
	files = providerNamed(t, set)
	files[akamaiZip] = files[akamaiZip][:len(files[akamaiZip])/2]
	dir = t.TempDir()
	writeFiles(t, dir, files)
	_, err = run(t, update.Options{Dir: t.TempDir(), Mirror: dir})
	if !errors.As(err, &ue) || ue.Feed != "akamai" || !strings.Contains(err.Error(), "zip") {
		t.Errorf("error %v", err)
	}
}

func TestMirrorWebServerWithoutListings(t *testing.T) {
	files := providerNamed(t, feedtest.Default())
	srv := feedtest.ServeFiles(t, files) // answers 404 to a directory
	_, err := run(t, update.Options{Dir: t.TempDir(), Mirror: srv.URL})
	var ue *update.Error
	var he *update.HTTPError
	if !errors.As(err, &ue) || ue.Feed != "azure" || !errors.As(err, &he) || he.Status != http.StatusNotFound ||
		!strings.Contains(err.Error(), "ServiceTags_Public.json") || !strings.Contains(err.Error(), "YYYYMMDD") {
		t.Errorf("error %v, want the Azure file not found under either name", err)
	}
	if srv.Hits("azure/") != 1 {
		t.Errorf("the directory page was asked %d times, want once", srv.Hits("azure/"))
	}

	// A server that refuses to list the directory (403) is the same as
	// no dated file; the layout name still works there.
	plain := t.TempDir()
	writeFiles(t, plain, files)
	forbidding := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.Error(w, "directory listing is off", http.StatusForbidden)
			return
		}
		http.FileServer(http.Dir(plain)).ServeHTTP(w, r)
	}))
	t.Cleanup(forbidding.Close)
	_, err = run(t, update.Options{Dir: t.TempDir(), Mirror: forbidding.URL})
	if !errors.As(err, &ue) || ue.Feed != "azure" || !strings.Contains(err.Error(), "YYYYMMDD") {
		t.Errorf("error %v", err)
	}
	srv.Set("azure/ServiceTags_Public.json", files[azureNewest])
	if _, err := run(t, update.Options{Dir: t.TempDir(), Mirror: srv.URL}); err != nil {
		t.Errorf("with the layout name: %v", err)
	}
}

// TestMirrorRealSnapshots reads the real feed snapshots, as a mirror copied
// them from the providers, with their own file names (ips-v4.txt,
// public-ip-list.json, ...):
//
//	SOVGATE_SHARED_DATA=/path/to/shared/data go test ./geo/update -run RealSnapshots -v
func TestMirrorRealSnapshots(t *testing.T) {
	root := os.Getenv("SOVGATE_SHARED_DATA")
	if root == "" {
		t.Skip("set SOVGATE_SHARED_DATA to the shared data directory to read its feeds/ as a mirror")
	}
	mirror := filepath.Join(root, "feeds")
	if _, err := os.Stat(mirror); err != nil {
		t.Skipf("SOVGATE_SHARED_DATA: %v", err)
	}
	var progress bytes.Buffer
	rep, err := run(t, update.Options{Dir: t.TempDir(), Mirror: mirror, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rep.Feeds) != len(feeds.Names()) || rep.Networks == 0 {
		t.Errorf("%d feeds, %d networks", len(rep.Feeds), rep.Networks)
	}
	for _, f := range rep.Feeds {
		if f.Prefixes == 0 || !strings.HasPrefix(f.Source, mirror) {
			t.Errorf("feed %s: %d prefixes from %s", f.Name, f.Prefixes, f.Source)
		}
	}
	t.Logf("%s%d networks", progress.String(), rep.Networks)
}
