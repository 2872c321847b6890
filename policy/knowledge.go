package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sovgate/sovgate/geo"
)

// The sovereignty knowledge of a revision (geo.Knowledge) is policy data:
//
//   - data.sovgate.operators, the operator catalogue (who runs which
//     networks, names and ranges, and whose law reaches them), written in
//     sovgate/operators/data.json;
//   - data.sovgate.eu_countries and data.sovgate.eu_territories (the
//     member states, and the parts of them that GeoIP codes apart: the
//     outermost regions and Åland), and data.sovgate.eea_extra_countries.
//
// Load turns them into a geo.Knowledge once per revision; the gateway
// classifies every destination with the knowledge of the revision that
// evaluates it, so an edit to the catalogue is tested, signed and
// hot-reloaded exactly like a rule.

var (
	operatorsPath   = []string{"sovgate", "operators"}
	euPaths         = [][]string{{"sovgate", "eu_countries"}, {"sovgate", "eu_territories"}}
	eeaOutsideEU    = []string{"sovgate", "eea_extra_countries"}
	operatorsDataID = strings.Join(operatorsPath, ".")
)

// Knowledge returns the operator catalogue and the EU/EEA territory of this
// revision.
func (e *Engine) Knowledge() *geo.Knowledge { return e.knowledge }

// EmbeddedKnowledge reads the knowledge of the embedded policy bundle
// without compiling its rules (tests and tools that classify without a
// policy).
func EmbeddedKnowledge() (*geo.Knowledge, error) {
	files, diags, err := readSource(EmbeddedBundle(), false)
	if err != nil {
		return nil, err
	}
	b, parseDiags := parseFiles(files)
	if diags = append(diags, parseDiags...); len(diags) > 0 {
		return nil, diags
	}
	k, diags := buildKnowledge(b, time.Time{})
	if len(diags) > 0 {
		return nil, diags
	}
	return k, nil
}

// buildKnowledge reads the catalogue and the territory of a bundle. With a
// non-zero now it also warns about qualifications that ended before now
// (`sovgate policy check`); Load passes zero, so a revision loads the same
// whatever the day.
func buildKnowledge(b *parsedBundle, now time.Time) (*geo.Knowledge, Diagnostics) {
	var diags Diagnostics
	k := &geo.Knowledge{}
	if raw, file, ok := b.operatorsDocument(); ok {
		cat, err := geo.ParseCatalogue(raw)
		var problems []geo.CatalogueProblem
		if !now.IsZero() || err != nil {
			problems = geo.CheckCatalogue(raw, now)
		}
		exact := b.dataFiles[operatorsDataID] == file
		for _, p := range problems {
			d := Diagnostic{File: file, Code: CodeDataProblem, Message: p.Message}
			if p.Warning {
				d.Code, d.Severity = CodeQualificationExpiry, SeverityWarning
			}
			if exact {
				d.Row, d.Col = lineCol(b.dataRaw[operatorsDataID], p.Offset)
			}
			diags = append(diags, d)
		}
		k.Operators = cat
	}
	t, err := territory(b)
	if err != nil {
		diags = append(diags, b.locator([]string{"sovgate"}).diag(nil, "%v", err))
	}
	k.Territory = t
	return k, diags
}

// operatorsDocument returns the catalogue as JSON bytes with the file it
// comes from. When sovgate/operators/data.json holds it, the bytes are the
// file's, so problems point at their line; otherwise (YAML, or operators
// inside data.json) the document is encoded again and problems name the
// file only.
func (b *parsedBundle) operatorsDocument() ([]byte, string, bool) {
	if file, ok := b.dataFiles[operatorsDataID]; ok && strings.HasSuffix(file, ".json") {
		return b.dataRaw[operatorsDataID], file, true
	}
	v, ok := lookupData(b.data, operatorsPath)
	if !ok {
		return nil, "", false
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return []byte("null"), b.locator(operatorsPath).file, true
	}
	return raw, b.locator(operatorsPath).file, true
}

// territory reads the EU and EEA lists: the keys of the objects that name
// them.
func territory(b *parsedBundle) (*geo.Territory, error) {
	var eu []string
	for _, p := range euPaths {
		eu = append(eu, dataKeys(b.data, p)...)
	}
	slices.Sort(eu)
	eu = slices.Compact(eu)
	t, err := geo.NewTerritory(eu, dataKeys(b.data, eeaOutsideEU))
	if err != nil {
		return &geo.Territory{}, fmt.Errorf("%s: %w", strings.Join(euPaths[0], "."), err)
	}
	return t, nil
}

func dataKeys(data map[string]any, path []string) []string {
	v, _ := lookupData(data, path)
	obj, _ := v.(map[string]any)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
