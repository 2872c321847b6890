package cli

import (
	"bytes"
	"io"
	"regexp"
)

// frenchTestReport puts the words of OPA's test report ('opa test', which
// `sovgate policy test` prints) into French as the report passes through:
// the outcomes (PASS, FAIL, ERROR, SKIPPED), the FAILURES heading, the
// summary lines. Test names, policy lines and messages from the policy
// are left as written. Lines are translated whole, so a line cut between
// two writes is held until its end; Flush writes what remains.
type frenchTestReport struct {
	w       io.Writer
	pending []byte
	err     error
}

// frenchTestLines are the translations, tried in order on each line.
var frenchTestLines = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`^PASS: (\d+/\d+)$`), "RÉUSSIS : $1"},
	{regexp.MustCompile(`^FAIL: (\d+/\d+)$`), "ÉCHOUÉS : $1"},
	{regexp.MustCompile(`^ERROR: (\d+/\d+)$`), "EN ERREUR : $1"},
	{regexp.MustCompile(`^SKIPPED: (\d+/\d+)$`), "IGNORÉS : $1"},
	{regexp.MustCompile(`^FAILURES$`), "ÉCHECS"},
	{regexp.MustCompile(`^no tests found$`), "aucun test trouvé"},
	{regexp.MustCompile(`^(\s*\S.*): PASS( \(.*\))?$`), "$1 : RÉUSSI$2"},
	{regexp.MustCompile(`^(\s*\S.*): FAIL( \(.*\))?$`), "$1 : ÉCHEC$2"},
	{regexp.MustCompile(`^(\s*\S.*): ERROR( \(.*\))?$`), "$1 : ERREUR$2"},
	{regexp.MustCompile(`^(\s*\S.*): SKIPPED$`), "$1 : IGNORÉ"},
}

func (f *frenchTestReport) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	f.pending = append(f.pending, p...)
	for {
		i := bytes.IndexByte(f.pending, '\n')
		if i < 0 {
			break
		}
		line := frenchTestLine(f.pending[:i])
		if _, err := f.w.Write(append(line, '\n')); err != nil {
			f.err = err
			return 0, err
		}
		f.pending = f.pending[i+1:]
	}
	return len(p), nil
}

// Flush writes a last line that had no line break.
func (f *frenchTestReport) Flush() {
	if len(f.pending) > 0 && f.err == nil {
		_, f.err = f.w.Write(frenchTestLine(f.pending))
	}
	f.pending = nil
}

func frenchTestLine(line []byte) []byte {
	for _, t := range frenchTestLines {
		if t.re.Match(line) {
			return t.re.ReplaceAll(line, []byte(t.with))
		}
	}
	return append([]byte(nil), line...)
}
