package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/audit"
)

// TestReasonCodesDocumented: the guides' tables of reason codes list every
// code of the registry, each with its class, and no other.
func TestReasonCodesDocumented(t *testing.T) {
	for _, doc := range []struct {
		path        string
		sovereignty string
		operational string
	}{
		{"../docs/admin-guide.md", "sovereignty", "operational"},
		{"../docs/auditor-guide.fr.md", "souveraineté", "technique"},
	} {
		raw, err := os.ReadFile(doc.path)
		if err != nil {
			t.Fatal(err)
		}
		_, table, ok := strings.Cut(string(raw), "<!-- test: reason-codes -->\n")
		if !ok {
			t.Fatalf("%s has no table marked reason-codes", doc.path)
		}
		documented := map[audit.Code]audit.Class{}
		for line := range strings.SplitSeq(table, "\n") {
			if !strings.HasPrefix(line, "|") {
				break
			}
			cells := strings.Split(line, "|")
			if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
				continue
			}
			code := audit.Code(strings.Trim(strings.TrimSpace(cells[1]), "`"))
			switch class := strings.TrimSpace(cells[2]); class {
			case doc.sovereignty:
				documented[code] = audit.Sovereignty
			case doc.operational:
				documented[code] = audit.Operational
			default:
				t.Errorf("%s: %s has class %q", doc.path, code, class)
			}
		}
		for _, info := range audit.Codes() {
			if class, ok := documented[info.Code]; !ok {
				t.Errorf("%s does not list %s", doc.path, info.Code)
			} else if class != info.Class {
				t.Errorf("%s: %s is %s, the registry says %s", doc.path, info.Code, class, info.Class)
			}
			delete(documented, info.Code)
		}
		for code := range documented {
			t.Errorf("%s lists %s, which the registry does not know", doc.path, code)
		}
	}
}
