package geo

import (
	_ "embed"
	"fmt"
	"sync"
)

// The binary carries a dated snapshot of the data `sovgate geo update`
// builds, so a gateway with no data files configured still knows who runs
// the big clouds and where each network is registered:
//
//   - embedded/providers.mmdb: the provider IP ranges compiled from the
//     providers' own feeds (about 400 KB), dated with the newest feed;
//   - embedded/registration.mmdb: the network registration dataset
//     (autonomous system, organisation, registration country), dated with
//     its sources (about 11 MB; see NOTICE for the sources' licences).
//
// A file configured with provider_ranges or geoip_registration (or written
// by `sovgate geo update` in the provider_ranges directory) replaces the
// snapshot. Rebuild the snapshot from the feed and ipdb files with:
//
//go:generate go run ../tools/embeddata -data $SOVGATE_SHARED_DATA -out embedded

//go:embed embedded/providers.mmdb
var embeddedProviderRanges []byte

//go:embed embedded/registration.mmdb
var embeddedRegistration []byte

// The provider ranges are decoded once per process: their records live on
// the heap and are shared by every classifier that uses the snapshot.
var embeddedRanges = sync.OnceValues(func() (*ProviderRanges, error) {
	p, err := ParseProviderRanges(embeddedProviderRanges)
	if err != nil {
		return nil, fmt.Errorf("embedded provider ranges: %w", err)
	}
	p.info.Source = SourceEmbedded
	return p, nil
})

// EmbeddedProviderRanges returns the provider-ranges snapshot compiled into
// the binary. Its validity is checked by the tests, so an error here is a
// broken build.
func EmbeddedProviderRanges() (*ProviderRanges, error) { return embeddedRanges() }

// EmbeddedRegistration opens the registration snapshot compiled into the
// binary. It reads the embedded bytes in place: pages of the table that no
// lookup touches are never loaded into memory.
func EmbeddedRegistration() (*RegistrationDB, error) {
	db, err := parseRegistration(embeddedRegistration)
	if err != nil {
		return nil, fmt.Errorf("embedded registration data: %w", err)
	}
	db.info.Source = SourceEmbedded
	return db, nil
}
